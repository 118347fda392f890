"""Fixtures of the end-to-end tests: a TLS front for the engine (so boto3 sends checksum trailers)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .helpers import run

NGINX_CONF = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
daemon off;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        client_max_body_size 0;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
        }}
    }}
}}
"""


@dataclass
class TlsFront:
    url: str
    ca_file: str


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nginx did not listen on {port} within {timeout}s")


@pytest.fixture(scope="session")
def tls_front(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsFront]:
    """nginx terminating TLS in front of ``engine``, passing requests through unbuffered.

    botocore sends flexible checksums as aws-chunked trailers only over https; this is how the
    default boto3 upload path (STREAMING-UNSIGNED-PAYLOAD-TRAILER, CRC32) reaches the engine.
    """
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None or shutil.which("openssl") is None:
        pytest.fail("nginx and openssl are needed for the TLS front (scripts/test installs them)")
    root = tmp_path_factory.mktemp("tls")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")], timeout=60)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=port, upstream=engine.port))
    proc = subprocess.Popen([nginx, "-p", str(root), "-c", str(root / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=open(root / "stderr.log", "wb"),
                            start_new_session=True)
    try:
        _wait_port(port, proc)
        yield TlsFront(url=f"https://127.0.0.1:{port}", ca_file=str(root / "cert.pem"))
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
