"""GET /rustfs/metrics of a real engine: docs/metrics.md lists exactly the rustfs_* families it exports
(after S3 traffic, SSE included), with their types; with RUSTFS_WORKERS=2 a scrape, whichever worker
answers, counts the requests both workers served (and the audit records both wrote).
"""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.conftest import REPO, EngineServer

TOKEN = "e2e-metrics-token-" + uuid.uuid4().hex
DOC = REPO / "docs" / "metrics.md"
ROW = re.compile(r"^\|\s*`(rustfs_[a-z0-9_]+)`\s*\|\s*(counter|gauge|histogram)\s*\|", re.M)
TYPE = re.compile(r"^# TYPE (rustfs_[a-z0-9_]+) (\w+)$", re.M)


def get(server: EngineServer, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request over a fresh connection: (status, headers lower-cased, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def scrape(server: EngineServer) -> str:
    status, headers, body = get(server, "/rustfs/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return body.decode()


def documented() -> dict[str, str]:
    return dict(ROW.findall(DOC.read_text()))


def test_docs_list_exactly_the_exported_families(make_engine: Callable[..., Any]) -> None:
    server = make_engine(env={"RUSTFS_METRICS_TOKEN": TOKEN}, name="metrics-doc")
    client = server.client()
    bucket = f"doc-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="plain", Body=b"p" * 100)
    client.put_object(Bucket=bucket, Key="sse", Body=b"s" * 100, ServerSideEncryption="AES256")
    assert client.get_object(Bucket=bucket, Key="sse")["Body"].read() == b"s" * 100
    text = scrape(server)
    exported = dict(TYPE.findall(text))
    docs = documented()
    assert "rustfs_s3_requests_total" in docs      # the table parses
    assert sorted(set(exported) - set(docs)) == [], "exported but not in docs/metrics.md"
    assert sorted(set(docs) - set(exported)) == [], "in docs/metrics.md but not exported"
    assert {name: kind for name, kind in exported.items()} == docs
    # The SSE-S3 PUT and GET went through the KMS.
    assert re.search(r'^rustfs_kms_requests_total\{op="generate_data_key"\} [1-9]', text, re.M)
    assert re.search(r'^rustfs_kms_requests_total\{op="decrypt"\} [1-9]', text, re.M)
    assert re.search(r"^rustfs_kms_online 1\.0$", text, re.M)


def test_a_scrape_sums_the_workers(make_engine: Callable[..., Any]) -> None:
    server = make_engine(env={"RUSTFS_METRICS_TOKEN": TOKEN, "RUSTFS_WORKERS": "2"}, name="metrics-workers")
    bucket = f"wrk-{uuid.uuid4().hex[:10]}"
    server.client().create_bucket(Bucket=bucket)
    # HeadBucket over fresh connections until both workers answered some (a request id's first 8 hex
    # digits are its process's).
    served: dict[str, int] = {}
    sent = 0
    while sent < 400 and (len(served) < 2 or sent < 40):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request("HEAD", f"/{bucket}", headers=server.sign("HEAD", f"/{bucket}"))
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            worker = response.getheader("x-amz-request-id", "")[:8]
        finally:
            conn.close()
        served[worker] = served.get(worker, 0) + 1
        sent += 1
    assert len(served) == 2, f"one worker answered all {sent} requests: {served}"
    time.sleep(3.5)            # each worker moves its counts into its file every second (audit: batches of 1 s)
    series = f'rustfs_s3_requests_total{{api="HeadBucket",bucket="{bucket}"}}'
    audited: set[float] = set()
    for _ in range(8):
        text = scrape(server)
        match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        assert match, text[:2000]
        assert float(match.group(1)) == sent, (served, match.group(0))
        # A collector's counters (the audit log's, per worker) are summed too: the same from any worker.
        records = re.search(r'^rustfs_audit_records_total\{target="stdout"\} (\S+)$', text, re.M)
        assert records, text[:3000]
        audited.add(float(records.group(1)))
        # ... and exported before their first increment, at 0 (rate() would miss that increment)
        assert re.search(r'^rustfs_audit_records_dropped_total\{target="stdout"\} 0\.0$', text, re.M), text[:3000]
    assert len(audited) == 1 and audited.pop() >= sent + 1, served
    assert re.search(r"^rustfs_s3_requests_inflight 0\.0$", text, re.M)
    # The summed exposition is as valid as a single process's (tests/protocol/test_metrics.py skips
    # saying why when promtool is missing).
    promtool = shutil.which("promtool")
    if promtool is not None:
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
