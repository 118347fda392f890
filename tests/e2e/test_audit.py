"""The audit log end to end: real engine processes POST their records to local receivers.

- an NDJSON webhook receiver and an Elasticsearch-like ``_bulk`` receiver (http.server on loopback) get
  one record per request, with the right fields;
- no secret reaches a record: SigV4 header auth, presigned URLs (SigV4 and SigV2), SSE-C keys (and the
  copy source's), STS session tokens, cookies, STS WebIdentityToken / LDAPPassword, POST policies;
- a dead target (connection refused, or one that never answers) neither fails nor blocks S3 requests,
  and its drops are counted (``rustfs_audit_records_dropped_total`` in /rustfs/metrics).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import urllib3
from botocore.config import Config

from tests.conftest import EngineServer, free_port, raw_request

METRICS_TOKEN = "audit-test-metrics-token"


class Receiver:
    """A loopback HTTP server that keeps every POSTed body; ``bulk`` answers like Elasticsearch's _bulk."""

    def __init__(self, bulk: bool = False) -> None:
        self.bodies: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:          # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.bodies.append((self.path, dict(self.headers.items()), body))
                if bulk:
                    lines = body.splitlines()
                    items = [{"index": {"_index": json.loads(a)["index"]["_index"], "_id": uuid.uuid4().hex,
                                        "status": 201, "result": "created"}} for a in lines[0::2]]
                    answer = json.dumps({"took": 1, "errors": False, "items": items}).encode()
                else:
                    answer = b""
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base name)
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def records(self) -> list[dict[str, Any]]:
        with self.lock:
            bodies = list(self.bodies)
        out = []
        for path, _, body in bodies:
            lines = body.splitlines()
            if path.endswith("/_bulk"):
                lines = lines[1::2]
            out.extend(json.loads(line) for line in lines)
        return out

    def text(self) -> str:
        with self.lock:
            return "".join(body.decode() for _, _, body in self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def audited_engine(engine_factory: Callable[..., EngineServer], name: str, **env: str) -> EngineServer:
    base = {"RUSTFS_AUDIT_STDOUT": "false", "RUSTFS_AUDIT_FLUSH_SECONDS": "0.1",
            "RUSTFS_METRICS_TOKEN": METRICS_TOKEN, "RUSTFS_SSE_C_ALLOW_INSECURE": "true"}
    base.update(env)
    return engine_factory(env=base, name=name)


@pytest.fixture(scope="module")
def webhook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def bulk() -> Iterator[Receiver]:
    receiver = Receiver(bulk=True)
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def json_engine(engine_factory: Callable[..., EngineServer], webhook: Receiver) -> EngineServer:
    return audited_engine(engine_factory, "audit-json", RUSTFS_AUDIT_WEBHOOK_URL=webhook.url + "/audit",
                          RUSTFS_AUDIT_WEBHOOK_AUTH_TOKEN="webhook-bearer-token")


@pytest.fixture(scope="module")
def bulk_engine(engine_factory: Callable[..., EngineServer], bulk: Receiver) -> EngineServer:
    return audited_engine(engine_factory, "audit-bulk", RUSTFS_AUDIT_WEBHOOK_URL=bulk.url + "/_bulk",
                          RUSTFS_AUDIT_WEBHOOK_FORMAT="elasticsearch", RUSTFS_AUDIT_WEBHOOK_INDEX="rustfs-audit-test")


def wait_for(receiver: Receiver, request_ids: list[str], timeout: float = 20) -> dict[str, list[dict[str, Any]]]:
    """The records of ``request_ids`` (each id -> its records), once every id has one."""
    deadline = time.monotonic() + timeout
    while True:
        by_id: dict[str, list[dict[str, Any]]] = {}
        for record in receiver.records():
            by_id.setdefault(record["requestID"], []).append(record)
        if all(i in by_id for i in request_ids) or time.monotonic() > deadline:
            missing = [i for i in request_ids if i not in by_id]
            assert not missing, f"no audit record for {missing}"
            time.sleep(0.3)     # a duplicate would arrive in the same or the next batch
            by_id = {}
            for record in receiver.records():
                by_id.setdefault(record["requestID"], []).append(record)
            return by_id
        time.sleep(0.05)


def request_id(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["RequestId"])


@pytest.mark.parametrize("target", ["json", "bulk"])
def test_one_record_per_request_with_its_fields(target: str, request: pytest.FixtureRequest) -> None:
    engine: EngineServer = request.getfixturevalue(f"{target}_engine")
    receiver: Receiver = request.getfixturevalue("webhook" if target == "json" else "bulk")
    s3 = engine.client()
    bucket = f"audit-{target}-{uuid.uuid4().hex[:8]}"
    body = os.urandom(5000)
    ids = {
        "CreateBucket": request_id(s3.create_bucket(Bucket=bucket)),
        "PutObject": request_id(s3.put_object(Bucket=bucket, Key="dir/a.bin", Body=body)),
        "GetObject": request_id(s3.get_object(Bucket=bucket, Key="dir/a.bin")),
    }
    try:
        s3.head_object(Bucket=bucket, Key="missing")
    except s3.exceptions.ClientError as exc:
        ids["HeadObject"] = exc.response["ResponseMetadata"]["RequestId"]
    try:
        s3.get_object(Bucket=bucket, Key="missing")
    except s3.exceptions.NoSuchKey as exc:
        ids["GetObject-missing"] = exc.response["ResponseMetadata"]["RequestId"]
    records = wait_for(receiver, list(ids.values()))
    for rid in ids.values():
        assert len(records[rid]) == 1, records[rid]
    put = records[ids["PutObject"]][0]
    assert put["version"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", put["time"])
    assert put["api"]["name"] == "PutObject" and put["api"]["bucket"] == bucket
    assert put["api"]["object"] == "dir/a.bin"
    assert put["api"]["status"] == "OK" and put["api"]["statusCode"] == 200
    assert put["api"]["rx"] >= len(body) and put["accessKey"] == engine.access_key
    # Measured to the microsecond (uvloop's loop clock ticks in milliseconds: it said 0.0 for most requests)
    assert 0 < put["api"]["timeToFirstByte"] <= put["api"]["timeToResponse"]
    assert put["remoteHost"] == "127.0.0.1" and "Boto3" in put["userAgent"]
    assert put["node"]
    get = records[ids["GetObject"]][0]
    assert get["api"]["name"] == "GetObject" and get["api"]["tx"] == len(body)
    assert get["responseHeader"]["x-amz-request-id"] == ids["GetObject"]
    head = records[ids["HeadObject"]][0]
    assert 0 < head["api"]["timeToFirstByte"] <= head["api"]["timeToResponse"]
    assert head["api"]["statusCode"] == 404 and head["api"]["status"] == "NoSuchKey"
    missing = records[ids["GetObject-missing"]][0]
    assert missing["api"]["status"] == "NoSuchKey" and missing["api"]["object"] == "missing"
    if target == "json":
        _, headers, _ = receiver.bodies[-1]
        assert headers.get("Authorization") == "Bearer webhook-bearer-token"
        assert headers.get("Content-Type") == "application/x-ndjson"
    else:
        assert all(path == "/_bulk" for path, _, _ in receiver.bodies)
        with receiver.lock:
            first = receiver.bodies[0][2].splitlines()[0]
        assert json.loads(first) == {"index": {"_index": "rustfs-audit-test"}}


def test_no_secret_reaches_a_record(json_engine: EngineServer, webhook: Receiver) -> None:
    engine = json_engine
    s3 = engine.client()
    bucket = f"audit-secrets-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    secrets: list[str] = [engine.secret_key]
    ids: list[str] = []
    http = urllib3.PoolManager()

    # SigV4 header auth: every Authorization header's signature and credential
    sent_auth: list[str] = []

    def keep_authorization(request: Any, **_: Any) -> None:
        value = request.headers.get("Authorization", "")
        sent_auth.append(value.decode() if isinstance(value, bytes) else str(value))

    s3.meta.events.register("before-send.s3.*", keep_authorization)
    ids.append(request_id(s3.put_object(Bucket=bucket, Key="plain", Body=b"x")))
    # SSE-C (and the copy source's key)
    key = os.urandom(32)
    key2 = os.urandom(32)
    sse = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
    ids.append(request_id(s3.put_object(Bucket=bucket, Key="ssec", Body=b"secret", **sse)))
    ids.append(request_id(s3.copy_object(Bucket=bucket, Key="ssec2", CopySource={"Bucket": bucket, "Key": "ssec"},
                                         CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=key,
                                         SSECustomerAlgorithm="AES256", SSECustomerKey=key2)))
    secrets += [base64.b64encode(k).decode() for k in (key, key2)]
    md5 = base64.b64encode(hashlib.md5(key).digest()).decode()
    # Presigned URLs: SigV4 and SigV2 query signatures
    for version in ("s3v4", "s3"):
        client = engine.client(signature_version=version)
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "plain"}, ExpiresIn=300)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        secrets += [v for k, v in query.items() if k in ("X-Amz-Signature", "X-Amz-Credential", "Signature")]
        response = http.request("GET", url, headers={"Cookie": "session=cookie-secret-value"})
        assert response.status == 200, response.data
        ids.append(response.headers["x-amz-request-id"])
    secrets.append("cookie-secret-value")
    # STS: a session token in the header, and in a presigned URL's query
    sts = boto3.client("sts", endpoint_url=engine.url, region_name=engine.region,
                       aws_access_key_id=engine.access_key, aws_secret_access_key=engine.secret_key)
    creds = sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/audit", RoleSessionName="audit")["Credentials"]
    secrets += [creds["SessionToken"], creds["SecretAccessKey"]]
    session_s3 = boto3.client("s3", endpoint_url=engine.url, region_name=engine.region,
                              aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                              aws_session_token=creds["SessionToken"], config=Config(s3={"addressing_style": "path"}))
    ids.append(request_id(session_s3.list_objects_v2(Bucket=bucket)))
    url = session_s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "plain"})
    response = http.request("GET", url)
    assert response.status == 200, response.data
    ids.append(response.headers["x-amz-request-id"])
    # STS tokens and passwords in the query (refused: no OIDC / LDAP configured; recorded all the same)
    for query in ("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=web-identity-secret"
                  "&RoleArn=arn:aws:iam::000000000000:role/x&RoleSessionName=s",
                  "Action=AssumeRoleWithLDAPIdentity&Version=2011-06-15&LDAPUsername=bob"
                  "&LDAPPassword=ldap-password-secret"):
        response = http.request("POST", f"{engine.url}/?{query}", body=query,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status >= 400
        ids.append(response.headers["x-amz-request-id"])
    secrets += ["web-identity-secret", "ldap-password-secret"]
    # A browser POST upload: the policy and its signature travel in the form
    post = s3.generate_presigned_post(bucket, "posted")
    response = http.request("POST", post["url"], fields={**post["fields"], "file": ("f", b"posted")})
    assert response.status in (200, 204), response.data
    ids.append(response.headers["x-amz-request-id"])
    secrets += [v for k, v in post["fields"].items() if k.lower() in ("policy", "x-amz-signature")]

    signatures = [m.group(1) for m in (re.search(r"Signature=([0-9a-f]+)", h) for h in sent_auth) if m]
    assert len(signatures) >= 3, sent_auth
    secrets += signatures
    records = wait_for(webhook, ids)
    assert all(len(records[i]) == 1 for i in ids)
    text = webhook.text()
    for secret in secrets:
        assert secret not in text, f"{secret!r} in an audit record"
    assert "Signature=" not in text and "Credential=" not in text
    ssec = records[ids[1]][0]
    assert ssec["requestHeader"]["x-amz-server-side-encryption-customer-key"] == "REDACTED"
    assert ssec["requestHeader"]["x-amz-server-side-encryption-customer-key-md5"] == md5
    session_record = records[ids[5]][0]
    assert session_record["api"]["name"] == "ListObjectsV2"
    assert session_record["accessKey"] == creds["AccessKeyId"]
    assert session_record["requestClaims"]["roleSessionName"] == "audit"


def dropped(engine: EngineServer) -> float:
    status, body = raw_request(engine.port, "GET", "/rustfs/metrics",
                               headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200, body[:300]
    match = re.search(rb'^rustfs_audit_records_dropped_total\{target="webhook"\} (\S+)$', body, re.M)
    assert match, body[:2000]
    return float(match.group(1))


def hanging_listener() -> socket.socket:
    """Accepts connections (the backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@pytest.mark.parametrize("kind", ["refused", "hanging"])
def test_dead_target_neither_fails_nor_blocks_requests(kind: str, make_engine: Callable[..., EngineServer]) -> None:
    listener = hanging_listener() if kind == "hanging" else None
    port = listener.getsockname()[1] if listener is not None else free_port()
    try:
        engine = make_engine(name=f"audit-{kind}", env={
            "RUSTFS_AUDIT_STDOUT": "false", "RUSTFS_AUDIT_WEBHOOK_URL": f"http://127.0.0.1:{port}/audit",
            "RUSTFS_AUDIT_QUEUE_SIZE": "5", "RUSTFS_AUDIT_BATCH_SIZE": "2", "RUSTFS_AUDIT_FLUSH_SECONDS": "0.05",
            "RUSTFS_AUDIT_RETRY_MAX": "2", "RUSTFS_AUDIT_WEBHOOK_TIMEOUT_SECONDS": "30",
            "RUSTFS_METRICS_TOKEN": METRICS_TOKEN})
        s3 = engine.client(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=20)
        bucket = f"audit-dead-{kind}"
        s3.create_bucket(Bucket=bucket)
        for i in range(40):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * 4096)
            assert s3.get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() == b"x" * 4096
        assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 40
        assert dropped(engine) >= 40
    finally:
        if listener is not None:
            listener.close()


def test_stdout_by_default(engine: EngineServer) -> None:
    """The default target: JSON lines on stdout (here the engine's log file), among the engine's own JSON logs."""
    s3 = engine.client()
    rid = request_id(s3.list_buckets())
    deadline = time.monotonic() + 20
    while True:
        lines = [json.loads(line) for line in engine.log_path.read_text(errors="replace").splitlines()
                 if line.startswith("{")]
        found = [r for r in lines if r.get("requestID") == rid]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(found) == 1 and found[0]["api"]["name"] == "ListBuckets"
    assert found[0]["accessKey"] == engine.access_key
    assert any(r.get("level") == "info" and r.get("logger") for r in lines)    # log_format json
