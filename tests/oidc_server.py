"""A real OpenID provider for the OIDC tests: npm ``oidc-provider`` (v9, pinned by
``tests/oidc_provider/package-lock.json``) on Debian's Node.js, plain HTTP on 127.0.0.1.

The npm packages are installed once with ``npm ci`` into a cache dir named after the lock file's hash
(``$XDG_CACHE_HOME/rustfs-tests/oidc-provider-<hash>``, built in a tmp dir and renamed into place, so
concurrent sessions never see half an install); ``node_modules_unavailable()`` says why that is impossible
(no node/npm, no network), and the tests skip with that reason.

Tokens without a browser: the client_credentials grant with a resource indicator, which makes the provider
issue an RS256 JWT access token (``iss`` = the issuer, ``aud`` = the requested audience, ``sub`` and the
test user's claims, ``kid`` of its current key). The signing keys are made here, so a test can also sign
tokens the provider never would (expired, another issuer) with the provider's own key.

    idp = OidcServer(tmp_dir, user={"sub": "alice", "groups": ["readers"]}); idp.start()
    idp.issuer, idp.client_id
    idp.token(audience=idp.client_id) -> str          # from the provider's token endpoint
    idp.sign(claims) -> str                           # signed with the provider's current key (and kid)
    idp.rotate()                                      # a new current key (new kid); the old one stays published
    idp.stop()
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from processes import stop_process

SOURCE = Path(__file__).resolve().parent / "oidc_provider"
START_TIMEOUT = 30.0
INSTALL_TIMEOUT = 300.0


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rustfs-tests"


def install_dir() -> Path:
    digest = hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()[:16]
    return _cache_root() / f"oidc-provider-{digest}"


def node_modules_unavailable() -> str | None:
    """None once ``oidc-provider`` is installed in the cache (installing it if needed), else why not."""
    target = install_dir()
    if (target / "node_modules" / "oidc-provider" / "package.json").exists():
        return None
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "no node/npm (Debian's nodejs and npm; scripts/test installs them)"
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="oidc-provider-", dir=target.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SOURCE / name, work / name)
        try:
            result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=work,
                                    capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"npm ci of oidc-provider took over {INSTALL_TIMEOUT:.0f}s (no network?)"
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["?"])[-1]
            return f"npm could not install oidc-provider (no network?): {last}"
        try:
            work.rename(target)
        except OSError:
            if not (target / "node_modules").exists():   # another session won the race: theirs is fine
                raise
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_rsa_jwk(kid: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return jwk


class OidcServer:
    def __init__(self, root: Path, *, user: dict[str, Any], client_id: str = "rustfs",
                 client_secret: str = "rustfs-client-secret", ttl: int = 300) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id, self.client_secret, self.ttl, self.user = client_id, client_secret, ttl, user
        self.keys: list[dict[str, Any]] = [new_rsa_jwk("key-1")]      # the first one signs
        self.log_file = root / "oidc-provider.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        modules = install_dir()
        script = modules / "server.mjs"
        shutil.copy(SOURCE / "server.mjs", script)       # ESM resolves packages next to the script
        config = self.root / "config.json"
        config.write_text(json.dumps({
            "port": self.port, "issuer": self.issuer, "jwks": {"keys": self.keys},
            "client_id": self.client_id, "client_secret": self.client_secret, "ttl": self.ttl, "user": self.user}))
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(["node", str(script), str(config)], stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                if not self.running or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"oidc-provider did not start within {START_TIMEOUT}s:\n{self.log_tail()}")
                time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc, timeout=10)

    def rotate(self) -> str:
        """A new signing key in front (the old ones stay in the JWKS), the provider restarted; its kid."""
        kid = f"key-{len(self.keys) + 1}"
        self.keys.insert(0, new_rsa_jwk(kid))
        self.stop()
        self.start()
        return kid

    def token(self, *, audience: str | None = None) -> str:
        """A JWT access token from the provider's token endpoint (client_credentials + resource)."""
        body = f"grant_type=client_credentials&resource=urn:{audience or self.client_id}".encode()
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        request = urllib.request.Request(f"{self.issuer}/token", data=body, method="POST", headers={
            "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return str(json.loads(resp.read())["access_token"])

    def sign(self, claims: dict[str, Any], *, key: dict[str, Any] | None = None) -> str:
        """``claims`` signed RS256 with ``key`` (a private JWK; default the provider's current key)."""
        jwk = key or self.keys[0]
        private = RSAAlgorithm.from_jwk(json.dumps(jwk))
        return jwt.encode(claims, private, algorithm="RS256", headers={"kid": jwk["kid"]})  # type: ignore[arg-type]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
