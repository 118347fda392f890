"""Fixtures shared by the whole test tree: a real engine process, S3 clients for it, unique buckets.

Nothing here imports the engine: the server runs as a subprocess, exactly as users start it
(``python -m storage_engine server --address 127.0.0.1:PORT <tmp>/d{1...4}``), and tests talk to it
over loopback HTTP. The engine starts lazily, on the first test that asks for it.

    engine          session-scoped server on 4 drives (fixed root credentials); ``engine.restart()``
    make_engine     factory for dedicated servers (crash, heal and memory tests own their drives),
                    removed after the test; ``engine_factory`` is the session-scoped variant
    s3              boto3 client for ``engine``, default settings (checksums as boto3 chooses)
    bucket          a fresh bucket on ``engine``, emptied and removed after the test
    unique_name     per-test unique, valid bucket-style names
    slapd           a real slapd (Debian's), oidc_server a real OpenID provider (npm oidc-provider): one per
                    session, skipped (saying why) when unavailable

Markers: ``heavy`` (minutes of I/O, e.g. 16 x 1 GiB uploads; deselect with ``-m "not heavy"``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
ACCESS_KEY = "e2e-root-access"
SECRET_KEY = "e2e-root-secret-0123456789abcdefghij"
REGION = "us-east-1"
READY_TIMEOUT = float(os.environ.get("RUSTFS_TEST_READY_TIMEOUT", "60"))
# Engines the tests start inherit this unless they set it: one worker each (the default is one per CPU,
# test_server_workers.py checks it), so a suite of many servers stays light.
os.environ.setdefault("RUSTFS_WORKERS", "1")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "heavy: moves gigabytes or runs for minutes (deselect with -m 'not heavy')")


# Every server started in this session, so a failing test's report can show the servers' logs.
_SERVERS: list["EngineServer"] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and _SERVERS:
        for server in _SERVERS:
            if server.starts and (server.is_running() or server.name != "engine"):
                report.sections.append((f"{server.name} log ({server.url})", server.log_tail(40)))
    return report


# --- the image test's report (tests/image: build time, size, readiness), in the terminal summary ------
# Here, not in tests/image/conftest.py: under pytest-xdist (scripts/test) the controller, which prints the
# summary, loads only this conftest; the worker that ran the image test hands its report over in
# ``workeroutput``.
IMAGE_REPORT = pytest.StashKey[dict[str, str]]()
_IMAGE_REPORT_OUTPUT = "rustfs_image_report"


@pytest.fixture(scope="session")
def image_report(request: pytest.FixtureRequest) -> dict[str, str]:
    return request.config.stash.setdefault(IMAGE_REPORT, {})


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_output = getattr(session.config, "workeroutput", None)   # set in an xdist worker only
    report = session.config.stash.get(IMAGE_REPORT, {})
    if worker_output is not None and report:
        worker_output[_IMAGE_REPORT_OUTPUT] = json.dumps(report)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    output = getattr(node, "workeroutput", {})
    if _IMAGE_REPORT_OUTPUT in output:
        node.config.stash.setdefault(IMAGE_REPORT, {}).update(json.loads(output[_IMAGE_REPORT_OUTPUT]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = terminalreporter.config.stash.get(IMAGE_REPORT, {})
    if report:
        terminalreporter.section("engine image")
        for key, value in report.items():
            terminalreporter.write_line(f"{key}: {value}")


@pytest.fixture(autouse=True)
def _current_event_loop() -> None:
    """Give every test a current asyncio event loop.

    The whole tree runs in one process: ``asyncio.run()`` in one test (api, protocol, storage) leaves
    the main thread with *no* current loop, and Pulumi's runtime under mocks (tests/component) calls
    ``asyncio.get_event_loop()``, which then raises. A loop is created only when none is set.
    """
    import asyncio

    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all bound at once, so none is handed out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


class EngineServer:
    """One engine process over ``drives`` drives under ``root``; restartable on the same port and drives."""

    def __init__(self, root: Path, drives: int = 4, port: int | None = None,
                 env: dict[str, str] | None = None, name: str = "engine") -> None:
        self.root = root
        self.drive_count = drives
        self.port = port or free_port()
        self.name = name
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = REGION
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / f"{name}.log"
        self.starts = 0
        _SERVERS.append(self)
        for d in self.drives:
            d.mkdir(parents=True, exist_ok=True)

    # --- topology --------------------------------------------------------------------------------
    @property
    def drives(self) -> list[Path]:
        return [self.root / f"d{i}" for i in range(1, self.drive_count + 1)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
        env.update({
            "RUSTFS_ACCESS_KEY": self.access_key,
            "RUSTFS_SECRET_KEY": self.secret_key,
            "RUSTFS_REGION": self.region,
            "RUSTFS_WORKERS": "1",         # the default is one per CPU; tests that want more say so
            "PYTHONUNBUFFERED": "1",
        })
        # A PYTHONPATH given to the tests goes first (e.g. a snapshot of the engine's source).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(REPO)) if p)
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        return [sys.executable, "-m", "storage_engine", "server", "--address", self.address,
                f"{self.root}/d{{1...{self.drive_count}}}"]

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self, wait: bool = True) -> EngineServer:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts} at {time.strftime('%H:%M:%S')}: {' '.join(self.command())}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.command(), cwd=self.root, env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it was ready\n{self.log_tail()}")
            ok, last = self.probe()
            if ok:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s (last: {last})\n{self.log_tail()}")

    def probe(self) -> tuple[bool, str]:
        """Ready when /rustfs/health/ready answers 200, or a signed ListBuckets does."""
        try:
            status, _ = raw_request(self.port, "GET", "/rustfs/health/ready", timeout=2)
            if status == 200:
                return True, "health 200"
        except (OSError, http.client.HTTPException) as exc:
            return False, repr(exc)
        try:
            headers = sigv4_headers("GET", self.address, "/", "", self.access_key, self.secret_key, self.region)
            status, body = raw_request(self.port, "GET", "/", headers=headers, timeout=2)
            if status == 200:
                return True, "ListBuckets 200"
            return False, f"ListBuckets {status}: {body[:200]!r}"
        except (OSError, http.client.HTTPException) as exc:
            return False, repr(exc)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(10)
        self._reap_group()
        return self.proc.returncode

    def kill9(self) -> None:
        """SIGKILL the server (and any worker processes it forked), no chance to clean up."""
        if self.proc is None:
            return
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._reap_group()

    def restart(self, wait: bool = True) -> EngineServer:
        self.stop()
        return self.start(wait=wait)

    def discard(self) -> None:
        """Stop the server and delete its drives (they can hold gigabytes)."""
        self.stop()
        if self in _SERVERS:
            _SERVERS.remove(self)
        shutil.rmtree(self.root, ignore_errors=True)

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)   # the server and its workers (own session)
        except ProcessLookupError:
            pass

    def _reap_group(self) -> None:
        # Workers left behind by a dead parent would hold the port and the drives.
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return f"--- last lines of {self.log_path} ---\n" + "\n".join(text.splitlines()[-lines:])

    # --- raw requests ----------------------------------------------------------------------------
    def sign(self, method: str, path: str, query: str = "", payload_hash: str = "UNSIGNED-PAYLOAD",
             headers: dict[str, str] | None = None, now: float | None = None,
             access_key: str | None = None, secret_key: str | None = None) -> dict[str, str]:
        """SigV4 headers for a request to this server (``path`` already URI-encoded)."""
        return sigv4_headers(method, self.address, path, query, access_key or self.access_key,
                             secret_key or self.secret_key, self.region, payload_hash, headers, now)

    def request(self, method: str, path: str, query: str = "", body: bytes = b"",
                headers: dict[str, str] | None = None, sign: bool = True,
                timeout: float = 30) -> tuple[int, bytes]:
        """One request over a fresh connection; signed with the body's SHA-256 unless ``sign=False``."""
        import hashlib

        hdrs = dict(headers or {})
        if sign:
            hdrs = self.sign(method, path, query, hashlib.sha256(body).hexdigest(), hdrs)
        target = path + ("?" + query if query else "")
        return raw_request(self.port, method, target, hdrs, body, timeout)

    # --- clients ---------------------------------------------------------------------------------
    def client(self, endpoint_url: str | None = None, **config: Any) -> Any:
        """A boto3 S3 client with default settings except path-style addressing and bounded retries."""
        import boto3
        from botocore.config import Config

        verify = config.pop("verify", None)
        access_key = config.pop("access_key", self.access_key)
        secret_key = config.pop("secret_key", self.secret_key)
        s3cfg = {"addressing_style": "path"}
        s3cfg.update(config.pop("s3", {}))
        config.setdefault("retries", {"max_attempts": 2, "mode": "standard"})
        config.setdefault("connect_timeout", 10)
        config.setdefault("read_timeout", 120)
        cfg = Config(s3=s3cfg, **config)
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or self.url, region_name=self.region,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, config=cfg, verify=verify)


# --- raw HTTP and SigV4, for readiness probes and fixtures that must not depend on boto3 ---------------
def raw_request(port: int, method: str, target: str, headers: dict[str, str] | None = None,
                body: bytes = b"", timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, target, body=body or None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def sigv4_headers(method: str, host: str, path: str, query: str, access_key: str, secret_key: str,
                  region: str = REGION, payload_hash: str = "UNSIGNED-PAYLOAD",
                  extra: dict[str, str] | None = None, now: float | None = None) -> dict[str, str]:
    """Headers (Host, X-Amz-Date, X-Amz-Content-Sha256, Authorization, plus ``extra``) of a SigV4
    request. ``path`` is sent as-is (already URI-encoded); ``query`` is the raw query string."""
    import datetime
    import hashlib
    import hmac
    from urllib.parse import parse_qsl, quote

    t = datetime.datetime.fromtimestamp(time.time() if now is None else now, datetime.timezone.utc)
    amz_date = t.strftime("%Y%m%dT%H%M%SZ")
    date = t.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    for k, v in (extra or {}).items():
        headers[k.lower()] = v
    pairs = parse_qsl(query, keep_blank_values=True)
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))
    signed = sorted(headers)
    canonical_headers = "".join(f"{k}:{' '.join(headers[k].strip().split())}\n" for k in signed)
    creq = "\n".join([method, path, canonical_query, canonical_headers, ";".join(signed), payload_hash])
    scope = f"{date}/{region}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return headers


# --- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineServer]:
    server = EngineServer(tmp_path_factory.mktemp("engine"), name="engine")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def engine_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., EngineServer]]:
    """``engine_factory(drives=4, env={...}, start=True, name=...)``: a dedicated server on its own
    drives, for fixtures of any scope; whatever is still running is stopped at the end of the session."""
    servers: list[EngineServer] = []

    def make(drives: int = 4, env: dict[str, str] | None = None, start: bool = True,
             name: str = "dedicated") -> EngineServer:
        server = EngineServer(tmp_path_factory.mktemp(name), drives=drives, env=env, name=name)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def make_engine(engine_factory: Callable[..., EngineServer]) -> Iterator[Callable[..., EngineServer]]:
    """Like ``engine_factory``, but the servers are stopped and their drives deleted after the test."""
    servers: list[EngineServer] = []

    def make(*args: Any, **kwargs: Any) -> EngineServer:
        server = engine_factory(*args, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.discard()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("mp")`` -> e.g. ``"mp-test-put-get-3f9a1c2b7d"``: valid as a bucket name."""
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:28].strip("-")

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{stem}-{uuid.uuid4().hex[:10]}".replace("--", "-")[:63]

    return make


@pytest.fixture(scope="session")
def s3(engine: EngineServer) -> Any:
    return engine.client()


def empty_bucket(client: Any, bucket: str) -> None:
    """Remove every version, delete marker and multipart upload (best effort, bounded)."""
    from botocore.exceptions import ClientError

    with contextlib.suppress(ClientError):
        for _ in range(100):
            uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            for u in uploads:
                with contextlib.suppress(ClientError):
                    client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
            if len(uploads) == 0:
                break
    with contextlib.suppress(ClientError):
        for _ in range(1000):
            resp = client.list_object_versions(Bucket=bucket)
            items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                     for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])]
            if not items:
                break
            for v in items:
                with contextlib.suppress(ClientError):
                    client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    with contextlib.suppress(ClientError):
        for _ in range(1000):
            objs = client.list_objects_v2(Bucket=bucket).get("Contents", [])
            if not objs:
                break
            for o in objs:
                with contextlib.suppress(ClientError):
                    client.delete_object(Bucket=bucket, Key=o["Key"])


@pytest.fixture
def bucket(engine: EngineServer, s3: Any, unique_name: Callable[[str], str]) -> Iterator[str]:
    name = unique_name("b")
    s3.create_bucket(Bucket=name)
    yield name
    if engine.is_running():
        from botocore.exceptions import ClientError, EndpointConnectionError

        with contextlib.suppress(ClientError, EndpointConnectionError):
            empty_bucket(s3, name)
            s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real OpenBao server (``tests/openbao_server.py``: persistent Raft storage, transit at 'transit'),
    started once per session. A test that stops or seals it starts or unseals it again before it ends."""
    from openbao_server import OpenBao

    server = OpenBao(tmp_path_factory.mktemp("openbao"))
    server.start()
    yield server
    server.stop()


# --- identity providers (tests/iam, tests/e2e/test_sts_*): one of each per session ----------------------
# slapd: alice (groups readers, writers), bob (writers), and a user whose uid holds LDAP filter metacharacters.
LDAP_USERS = {"alice": "alice-password", "bob": "bob-password", "o*brien(x)": "obrien-password"}
LDAP_GROUPS = {"readers": ["alice"], "writers": ["alice", "bob"]}
OIDC_USER = {"sub": "alice", "preferred_username": "alice", "groups": ["readers"]}


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real slapd (``tests/ldap_server.Slapd``) with LDAP_USERS / LDAP_GROUPS; skipped without Debian's slapd."""
    from ldap_server import Slapd, slapd_binary

    if slapd_binary() is None:
        pytest.skip("no slapd: install Debian's slapd and ldap-utils (scripts/test does)")
    server = Slapd(tmp_path_factory.mktemp("slapd"), users=LDAP_USERS, groups=LDAP_GROUPS)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real OpenID provider (``tests/oidc_server.OidcServer``) issuing tokens for OIDC_USER; skipped (with
    npm's reason) when oidc-provider cannot be installed."""
    from oidc_server import OidcServer, node_modules_unavailable

    reason = node_modules_unavailable()
    if reason is not None:
        pytest.skip(reason)
    server = OidcServer(tmp_path_factory.mktemp("oidc"), user=OIDC_USER)
    server.start()
    yield server
    server.stop()
