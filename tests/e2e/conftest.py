"""Fixtures of the end-to-end tests: the engine over its own HTTPS (so boto3 sends checksum trailers)."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from typing import Any

import pytest

from tls_helpers import TestCA, write_tls_dir


@pytest.fixture(scope="session")
def tls_engine(engine_factory: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An engine serving HTTPS itself (``RUSTFS_TLS_PATH``), with a certificate from a test CA.

    botocore sends flexible checksums as aws-chunked trailers only over https; this is how the
    default boto3 upload path (STREAMING-UNSIGNED-PAYLOAD-TRAILER, CRC32) reaches the engine.
    ``https_url`` and ``ca_file`` (the CA, for clients' ``verify``) are set on it; ``tls_client`` is a
    default boto3 client for it.
    """
    root = tmp_path_factory.mktemp("tls")
    ca = TestCA("e2e test CA")
    write_tls_dir(root / "tls", ca.issue(["127.0.0.1", "localhost"]), ca)
    server = engine_factory(env={"RUSTFS_TLS_PATH": str(root / "tls")}, start=False, name="tls-engine")
    server.start(wait=False)
    context = ca.client_context()
    deadline = time.monotonic() + 60
    while True:
        if not server.is_running() or time.monotonic() > deadline:
            raise RuntimeError(f"the TLS engine did not start\n{server.log_tail()}")
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=2)
        try:
            conn.request("GET", "/rustfs/health/ready")
            if conn.getresponse().status == 200:
                break
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    server.https_url = f"https://127.0.0.1:{server.port}"
    server.ca_file = str(ca.bundle(root / "ca.pem"))
    server.tls_client = server.client(endpoint_url=server.https_url, verify=server.ca_file)
    return server
