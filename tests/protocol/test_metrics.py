"""GET /rustfs/metrics (docs/observability.md, docs/metrics.md): its access rules, the request metrics of
real S3 traffic over the real HTTP server (S3App over the in-memory FakeLayer, in this process), the KMS
metrics of real KMS backends, and the exposition passing ``promtool check metrics``.

The registry is the process's: every assertion on a counter is on its increase over the test.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from storage_engine.api.app import S3App
from storage_engine.config import EngineSettings
from storage_engine.crypto.kms import KmsInvalidCiphertext, KmsUnavailable, open_kms
from storage_engine.http.types import Response
from storage_engine.metrics import exposition

from api.fake_layer import FakeLayer
from api.live import Endpoint, InProcessServer
from .helpers import make_request, settings

BUCKETS = ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0",
           "10.0", "30.0", "60.0", "+Inf"]
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value, for every sample of an exposition."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out


def scrape_local() -> dict[str, float]:
    return samples(exposition().decode())


def call(app: S3App, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Response:
    return asyncio.run(app(make_request(method, f"http://127.0.0.1:9000{path}", headers or {})))


# --- access --------------------------------------------------------------------------------------------
def test_token_access_answers_401_without_a_token_and_403_with_a_wrong_one() -> None:
    app = S3App(FakeLayer(), settings(metrics_token=SecretStr("s3cr3t-token")))
    missing = call(app, "/rustfs/metrics")
    assert missing.status == 401
    assert ("WWW-Authenticate", 'Bearer realm="rustfs-metrics"') in missing.headers
    assert b"Authorization: Bearer" in cast(bytes, missing.body)
    assert call(app, "/rustfs/metrics", {"Authorization": "Basic czNjcjN0LXRva2Vu"}).status == 401
    wrong = call(app, "/rustfs/metrics", {"Authorization": "Bearer s3cr3t-tokeN"})
    assert wrong.status == 403
    ok = call(app, "/rustfs/metrics", {"Authorization": "Bearer s3cr3t-token"})
    assert ok.status == 200
    assert dict(ok.headers)["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE rustfs_s3_requests_inflight gauge" in cast(bytes, ok.body)
    head = call(app, "/rustfs/metrics", {"Authorization": "Bearer s3cr3t-token"}, method="HEAD")
    assert head.status == 200 and head.body == b""


def test_token_access_without_a_configured_token_says_how_to_configure_one() -> None:
    app = S3App(FakeLayer(), settings())            # the default: metrics_auth token, no token
    for headers in ({}, {"Authorization": "Bearer anything"}):
        response = call(app, "/rustfs/metrics", headers)
        assert response.status == 403
        body = cast(bytes, response.body).decode()
        assert "RUSTFS_METRICS_TOKEN" in body and "RUSTFS_METRICS_AUTH=public" in body
        assert "<Error>" not in body and "Traceback" not in body


def test_public_access_needs_nothing() -> None:
    app = S3App(FakeLayer(), settings(metrics_auth="public"))
    response = call(app, "/rustfs/metrics")
    assert response.status == 200
    assert b"process_cpu_seconds_total" in cast(bytes, response.body)


def test_metrics_switched_off_answer_404_and_count_nothing() -> None:
    app = S3App(FakeLayer(), settings(metrics_enabled=False, metrics_auth="public"))
    response = call(app, "/rustfs/metrics")
    assert response.status == 404
    assert b"RUSTFS_METRICS_ENABLED" in cast(bytes, response.body)
    before = scrape_local()
    served = call(app, "/")                         # ListBuckets, straight to the app: nobody finishes it
    assert served.status < 500
    # With metrics on, the request would be in flight until its hook ran; off, it was never counted.
    assert scrape_local().get("rustfs_s3_requests_inflight") == before.get("rustfs_s3_requests_inflight")


def test_metrics_auth_setting_is_validated() -> None:
    with pytest.raises(ValueError, match="metrics_auth"):
        EngineSettings.model_validate({"metrics_auth": "none"})


# --- request metrics over HTTP ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[Endpoint]:
    srv = InProcessServer()
    srv.settings = srv.settings.model_copy(update={"metrics_auth": "public"})
    endpoint = srv.start()
    try:
        yield endpoint
    finally:
        srv.stop()


def scrape(endpoint: Endpoint) -> tuple[dict[str, float], str]:
    import http.client

    host, port = endpoint.host_port
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/rustfs/metrics")
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, body
        return samples(body), body
    finally:
        conn.close()


def delta(after: dict[str, float], before: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_requests_errors_bytes_and_latency_of_real_traffic(server: Endpoint) -> None:
    client = server.client()
    bucket = f"m-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    before, _ = scrape(server)
    client.put_object(Bucket=bucket, Key="a", Body=b"x" * 1000)
    client.put_object(Bucket=bucket, Key="b", Body=b"y" * 24)
    assert client.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x" * 1000
    with pytest.raises(ClientError):
        client.get_object(Bucket=bucket, Key="missing")
    stranger = f"nope-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError):
        client.list_objects_v2(Bucket=stranger)
    after, text = scrape(server)

    put = f'{{api="PutObject",bucket="{bucket}"}}'
    get = f'{{api="GetObject",bucket="{bucket}"}}'
    assert delta(after, before, f"rustfs_s3_requests_total{put}") == 2
    assert delta(after, before, f"rustfs_s3_requests_total{get}") == 2
    assert delta(after, before, f"rustfs_s3_received_bytes_total{put}") == 1024
    assert delta(after, before, f"rustfs_s3_sent_bytes_total{get}") >= 1000     # the object, then the error XML
    assert delta(after, before,
                 f'rustfs_s3_errors_total{{api="GetObject",bucket="{bucket}",code="NoSuchKey",status="404"}}') == 1
    # A bucket that does not exist never becomes a label value (cardinality): it counts under bucket="".
    assert delta(after, before,
                 'rustfs_s3_errors_total{api="ListObjectsV2",bucket="",code="NoSuchBucket",status="404"}') == 1
    assert stranger not in text
    # The scrapes themselves are not S3 requests.
    assert 'api="Metrics"' not in text
    for histogram in ("rustfs_s3_request_duration_seconds", "rustfs_s3_ttfb_seconds"):
        assert delta(after, before, f"{histogram}_count{put}") == 2
        les = re.findall(rf'^{histogram}_bucket{{api="PutObject",bucket="{bucket}",le="([^"]+)"}}', text, re.M)
        assert les == BUCKETS
    ttfb = delta(after, before, f"rustfs_s3_ttfb_seconds_sum{get}")
    total = delta(after, before, f"rustfs_s3_request_duration_seconds_sum{get}")
    assert 0 < ttfb <= total < 10
    # Every request this test started has finished (absolute values include other tests' requests made
    # straight to an S3App, without the server that would finish them).
    assert delta(after, before, "rustfs_s3_requests_inflight") == 0


def test_unauthenticated_requests_never_label_their_bucket(server: Endpoint) -> None:
    import http.client

    host, port = server.host_port
    name = f"anon-{uuid.uuid4().hex[:12]}"
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", f"/{name}/key")
        status = conn.getresponse().status
        assert status in (403, 404)      # AccessDenied, or NoSuchBucket when that is checked first
    finally:
        conn.close()
    _, text = scrape(server)
    assert name not in text
    assert re.search(rf'^rustfs_s3_errors_total\{{api="GetObject",bucket="",code="\w+",status="{status}"\}} ',
                     text, re.M)


# --- KMS ------------------------------------------------------------------------------------------------
def test_kms_calls_errors_and_reachability(tmp_path: Any) -> None:
    async def static() -> None:
        key = "k1:" + __import__("base64").b64encode(b"\x01" * 32).decode()
        kms = await open_kms(EngineSettings.model_validate({"kms_secret_key": key}), cast(Any, None))
        data_key = await kms.generate_data_key("k1")
        assert await kms.decrypt("k1", data_key.wrapped) == data_key.plaintext
        with pytest.raises(KmsInvalidCiphertext):
            await kms.decrypt("k1", b"garbage")
        await kms.close()

    async def unreachable() -> None:
        kms = await open_kms(EngineSettings.model_validate({
            "kms_backend": "vault", "kms_vault_address": "http://127.0.0.1:9", "kms_vault_token": "t",
            "kms_default_key_id": "k1", "kms_retries": 1, "kms_timeout_seconds": 2}), cast(Any, None))
        with pytest.raises(KmsUnavailable):
            await kms.generate_data_key("k1")
        await kms.close()

    before = scrape_local()
    asyncio.run(static())
    middle = scrape_local()
    assert delta(middle, before, 'rustfs_kms_requests_total{op="generate_data_key"}') == 1
    assert delta(middle, before, 'rustfs_kms_requests_total{op="decrypt"}') == 2
    assert delta(middle, before, 'rustfs_kms_errors_total{op="decrypt"}') == 1
    assert middle["rustfs_kms_online"] == 1       # a refused call still reached the KMS
    asyncio.run(unreachable())
    after = scrape_local()
    assert delta(after, middle, 'rustfs_kms_errors_total{op="generate_data_key"}') == 1
    assert after["rustfs_kms_online"] == 0


# --- the exposition -------------------------------------------------------------------------------------
def test_promtool_accepts_the_exposition_and_process_metrics_are_there(server: Endpoint) -> None:
    client = server.client()
    bucket = f"p-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="k", Body=b"z")
    _, text = scrape(server)
    for family in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                   "python_gc_collections_total", "python_info"):
        assert re.search(rf"^{family}[{{ ]", text, re.M), family
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus'; scripts/test installs it)")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
