"""The engine's own HTTPS (``RUSTFS_TLS_PATH``, docs/tls.md), as a real process and real clients.

Every client trusts only a test CA made with ``cryptography`` (``tests/tls_helpers.py``) and checks host
names, so a handshake that succeeds proves which certificate the engine served; the serial number tells
the pairs apart. Reloads are waited for by what a client observes (a new serial, a log line), never by
sleeping for the watcher's period.

    serving        boto3 (its aws-chunked checksum trailers need https) and httpx; TLS 1.2+ only
    SNI            two names, two pairs in subdirectories, the default pair without SNI
    reload         a Secret-volume rotation (``..data`` symlink swap) under keep-alive PUT/GET load:
                   no failed request, open connections kept, new handshakes see the new serial
    broken pair    refused, logged, the old certificate kept; a later good pair is taken
    plain HTTP     a TLS directory without the pair serves http as before; half a pair stops the start
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from tls_helpers import CERT_FILE, KEY_FILE, Leaf, TestCA, tls_files, write_secret_volume, write_tls_dir

from storage_engine.http.tls import ServerTls

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = ("127.0.0.1", "localhost")


# --- helpers ---------------------------------------------------------------------------------------
def serial_of(sock: ssl.SSLSocket) -> int:
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def handshake_serial(port: int, context: ssl.SSLContext, server_name: str | None = None) -> int:
    """A fresh handshake to the engine (SNI ``server_name``, else none); the served certificate's serial."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name or "127.0.0.1") as tls:
            return serial_of(tls)


def https_request(server: Any, conn: http.client.HTTPSConnection, method: str, path: str,
                  body: bytes = b"") -> tuple[int, bytes]:
    headers = server.sign(method, path, "", hashlib.sha256(body).hexdigest())
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def wait_https(server: Any, context: ssl.SSLContext, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not server.is_running():
            raise RuntimeError(f"{server.name} exited before it was ready\n{server.log_tail()}")
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=2)
        try:
            conn.request("GET", "/rustfs/health/ready")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        finally:
            conn.close()
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready over https after {timeout}s ({last})\n{server.log_tail()}")


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 30) -> None:
    """Poll ``predicate`` (an observation: a served serial, a log line) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not observed within {timeout}s: {what}")
        time.sleep(0.02)


def log_count(server: Any, text: str) -> int:
    return server.log_path.read_text(errors="replace").count(text)


def start_tls_engine(engine_factory: Callable[..., Any], tls_dir: Path, ca: TestCA, name: str,
                     reload_seconds: float | None = None) -> Any:
    env = {"RUSTFS_TLS_PATH": str(tls_dir)}
    if reload_seconds is not None:
        env["RUSTFS_TLS_RELOAD_SECONDS"] = str(reload_seconds)
    server = engine_factory(env=env, start=False, name=name)
    server.start(wait=False)
    wait_https(server, ca.client_context())
    server.https_url = f"https://127.0.0.1:{server.port}"
    server.ca_file = str(ca.bundle(tls_dir.parent / f"{name}-ca.pem"))
    return server


# --- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA("engine TLS test CA")


@pytest.fixture(scope="module")
def sni_setup(engine_factory: Callable[..., Any], ca: TestCA,
              tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str | None, Leaf]]:
    """An engine with a default pair (loopback) and pairs for a.example.test and b.example.test."""
    tls_dir = tmp_path_factory.mktemp("tls-sni") / "tls"
    leaves: dict[str | None, Leaf] = {None: ca.issue(LOOPBACK)}
    write_tls_dir(tls_dir, leaves[None], ca)
    for name in ("a.example.test", "b.example.test"):
        leaves[name] = ca.issue([name])
        write_tls_dir(tls_dir / name, leaves[name])
    return start_tls_engine(engine_factory, tls_dir, ca, "tls-sni"), leaves


@pytest.fixture(scope="module")
def rotating(engine_factory: Callable[..., Any], ca: TestCA,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """An engine whose TLS directory is laid out as a Kubernetes Secret volume, reloading every 0.1 s."""
    volume = tmp_path_factory.mktemp("tls-volume") / "tls"
    write_secret_volume(volume, tls_files(ca.issue(LOOPBACK), ca))
    return start_tls_engine(engine_factory, volume, ca, "tls-rotating", reload_seconds=0.1), volume


# --- serving -----------------------------------------------------------------------------------------
def test_boto3_and_httpx_over_https(sni_setup: tuple[Any, dict[str | None, Leaf]], ca: TestCA,
                                    unique_name: Callable[[str], str]) -> None:
    server, _ = sni_setup
    assert "listening on https://127.0.0.1:" in server.log_path.read_text()
    s3 = server.client(endpoint_url=server.https_url, verify=server.ca_file)
    sent: list[dict[str, str]] = []
    s3.meta.events.register("before-send.s3", lambda request, **_: sent.append(
        {k.lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}))
    bucket = unique_name("tls")
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(3 * (1 << 20) + 11)
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    assert sent[-1].get("x-amz-trailer") == "x-amz-checksum-crc32", sent[-1]   # boto3's https upload path
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data

    with httpx.Client(verify=ca.client_context(), base_url=server.https_url) as client:
        response = client.get("/rustfs/health/ready")
        assert response.status_code == 200
        assert response.extensions["network_stream"].get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        # An unsigned S3 request is refused by S3, over TLS like any other.
        assert client.get(f"/{bucket}/k").status_code == 403


def test_old_protocols_and_plain_http_are_refused(sni_setup: tuple[Any, dict[str | None, Leaf]],
                                                  ca: TestCA) -> None:
    server, _ = sni_setup
    old = ca.client_context()
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake_serial(server.port, old)
    tls12 = ca.client_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    handshake_serial(server.port, tls12)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        server.request("GET", "/rustfs/health/ready", sign=False)


def test_sni_picks_each_domains_pair(sni_setup: tuple[Any, dict[str | None, Leaf]], ca: TestCA) -> None:
    server, leaves = sni_setup
    context = ca.client_context()        # checks the host name: the right pair or no handshake at all
    assert handshake_serial(server.port, context, "a.example.test") == leaves["a.example.test"].serial
    assert handshake_serial(server.port, context, "b.example.test") == leaves["b.example.test"].serial
    assert handshake_serial(server.port, context, "localhost") == leaves[None].serial
    assert handshake_serial(server.port, context) == leaves[None].serial            # an IP: no SNI
    # A name without a pair of its own gets the default certificate (which does not cover it).
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake_serial(server.port, context, "c.example.test")


def test_trailer_checksum_is_checked_over_https(sni_setup: tuple[Any, dict[str | None, Leaf]], ca: TestCA,
                                                unique_name: Callable[[str], str]) -> None:
    """STREAMING-UNSIGNED-PAYLOAD-TRAILER, as boto3 sends it over https: a wrong CRC32 trailer is BadDigest."""
    server, _ = sni_setup
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ca.client_context(), timeout=30)
    bucket = unique_name("trailer")
    assert https_request(server, conn, "PUT", f"/{bucket}")[0] == 200
    data = os.urandom(200 * 1024)

    def put(key: str, checksum: bytes) -> tuple[int, bytes]:
        value = base64.b64encode(checksum).decode()
        body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (data[:65536], data[65536:]))
        body += f"0\r\nx-amz-checksum-crc32:{value}\r\n\r\n".encode()
        headers = server.sign("PUT", f"/{bucket}/{key}", "", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", {
            "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
            "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm": "CRC32"})
        conn.request("PUT", f"/{bucket}/{key}", body=body, headers={**headers, "Content-Length": str(len(body))})
        response = conn.getresponse()
        return response.status, response.read()

    status, body = put("bad", zlib.crc32(data + b"x").to_bytes(4, "big"))
    assert status == 400 and b"<Code>BadDigest</Code>" in body, body
    assert https_request(server, conn, "GET", f"/{bucket}/bad")[0] == 404
    status, body = put("good", zlib.crc32(data).to_bytes(4, "big"))
    assert status == 200, body
    assert https_request(server, conn, "GET", f"/{bucket}/good") == (200, data)
    conn.close()


# --- reload ------------------------------------------------------------------------------------------
def test_rotation_under_load_drops_nothing(rotating: tuple[Any, Path], ca: TestCA,
                                           unique_name: Callable[[str], str]) -> None:
    server, volume = rotating
    context = ca.client_context()
    bucket = unique_name("rot")
    setup = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=30)
    assert https_request(server, setup, "PUT", f"/{bucket}")[0] == 200
    setup.close()
    old_serial = handshake_serial(server.port, context)

    rotated = threading.Event()
    stop = threading.Event()
    failures: list[str] = []
    after_rotation = [0] * 4
    kept_serials: list[int] = []
    connected = [threading.Event() for _ in range(4)]   # every worker's connection is open before the rotation

    def worker(index: int) -> None:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=30)
        try:
            conn.connect()
            sock = conn.sock
            serial = serial_of(sock)
            connected[index].set()
            n = 0
            while not (stop.is_set() and after_rotation[index] >= 5):
                body = f"{index}:{n}".encode() * 100
                path = f"/{bucket}/w{index}-{n % 3}"
                status, _ = https_request(server, conn, "PUT", path, body)
                if status != 200:
                    failures.append(f"PUT {path}: {status}")
                status, got = https_request(server, conn, "GET", path)
                if (status, got) != (200, body):
                    failures.append(f"GET {path}: {status}, {len(got)} bytes")
                if conn.sock is not sock:
                    failures.append(f"worker {index}: the connection was replaced")
                    return
                if rotated.is_set():
                    after_rotation[index] += 1
                n += 1
            kept_serials.append(serial_of(sock))
        except Exception as exc:    # any failed request fails the test
            failures.append(f"worker {index}: {exc!r}")
        finally:
            connected[index].set()
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        assert all(event.wait(60) for event in connected)
        new = ca.issue(LOOPBACK)
        write_secret_volume(volume, tls_files(new, ca))          # cert-manager's renewal, as a pod sees it
        wait_for("new handshakes see the rotated certificate",
                 lambda: handshake_serial(server.port, context) == new.serial)
        rotated.set()
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not failures, failures[:10]
    assert all(count >= 5 for count in after_rotation), after_rotation
    assert kept_serials == [old_serial] * 4        # the open connections kept their session throughout
    assert new.serial != old_serial


def test_broken_pair_is_refused_and_the_old_kept(rotating: tuple[Any, Path], ca: TestCA) -> None:
    server, volume = rotating
    context = ca.client_context()
    current = handshake_serial(server.port, context)
    refused = log_count(server, "refused")
    a, b = ca.issue(LOOPBACK), ca.issue(LOOPBACK)
    broken = tls_files(a, ca) | {KEY_FILE: b.key_pem}                  # a key that does not match
    write_secret_volume(volume, broken)
    wait_for("the engine logs the refused pair", lambda: log_count(server, "refused") > refused)
    assert handshake_serial(server.port, context) == current
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=10)
    conn.request("GET", "/rustfs/health/ready")
    assert conn.getresponse().status == 200
    conn.close()
    # Garbage in the certificate file: refused as well.
    write_secret_volume(volume, tls_files(a, ca) | {CERT_FILE: b"not a certificate"})
    wait_for("the engine logs the refused pair", lambda: log_count(server, "refused") > refused + 1)
    assert handshake_serial(server.port, context) == current
    # A good pair afterwards is taken.
    write_secret_volume(volume, tls_files(b, ca))
    wait_for("the good pair is served", lambda: handshake_serial(server.port, context) == b.serial)
    assert server.is_running()


# --- plain HTTP and startup errors -----------------------------------------------------------------
def test_plain_http_without_the_files(make_engine: Callable[..., Any], tmp_path: Path) -> None:
    empty = tmp_path / "tls"
    empty.mkdir()
    server = make_engine(env={"RUSTFS_TLS_PATH": str(empty)}, name="tls-empty")
    status, _ = server.request("GET", "/rustfs/health/ready", sign=False)
    assert status == 200
    log = server.log_path.read_text()
    assert "listening on http://127.0.0.1:" in log and "serving plain HTTP" in log


@pytest.mark.parametrize("present", [CERT_FILE, KEY_FILE])
def test_half_a_pair_stops_the_start(ca: TestCA, tmp_path: Path, present: str) -> None:
    tls_dir = tmp_path / "tls"
    write_tls_dir(tls_dir, ca.issue(LOOPBACK))
    missing = KEY_FILE if present == CERT_FILE else CERT_FILE
    (tls_dir / missing).unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
    env.update(RUSTFS_TLS_PATH=str(tls_dir), RUSTFS_ACCESS_KEY="tlsaccess", RUSTFS_SECRET_KEY="tlssecret-0123456789",
               PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), str(REPO)) if p))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "storage_engine", "server", "--address", f"127.0.0.1:{port}",
                           f"{tmp_path}/d{{1...4}}"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: TLS") and missing in lines[-1], done.stderr
    assert "Traceback" not in done.stderr


# --- logging -------------------------------------------------------------------------------------------------------
def test_writes_to_a_connection_the_peer_closed_are_not_logged_as_warnings(
        ca: TestCA, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A client that drops a TLS connection mid-response (wrk, at the end of every run) made uvloop warn
    `asyncio: SSL connection is closed` for every discarded write past the fifth. Serving TLS quiets exactly
    those; any other asyncio record still shows."""
    write_tls_dir(tmp_path / "tls", ca.issue(LOOPBACK), ca)
    assert ServerTls.load(str(tmp_path / "tls")) is not None
    asyncio_log = logging.getLogger("asyncio")      # the logger uvloop's SSL protocol writes to
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            asyncio_log.warning("SSL connection is closed")
        asyncio_log.warning("Fatal error on SSL protocol")
        asyncio_log.error("SSL connection is closed")   # not the expected warning: kept
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "asyncio"] == [
        ("WARNING", "Fatal error on SSL protocol"), ("ERROR", "SSL connection is closed")]
