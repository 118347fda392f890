"""The audit record (storage_engine/audit/record.py) and the targets' queues (audit/targets.py).

Every item of docs/observability.md's "Never" list is checked: its value appears nowhere in the
encoded record.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import sys
import threading
from pathlib import Path

import orjson
import pytest

from storage_engine.audit import AuditLog
from storage_engine.audit.record import REDACTED, Entry, build_record
from storage_engine.audit import targets as targets_module
from storage_engine.audit.targets import FileTarget, StdoutTarget, WebhookTarget
from storage_engine.config import EngineSettings
from storage_engine.http.types import Headers
from storage_engine.iam.principal import Principal

SECRETS = {
    "authorization": "AWS4-HMAC-SHA256 Credential=AKIDSECRET1/20261130/us-east-1/s3/aws4_request, "
                     "SignedHeaders=host, Signature=deadbeefsecret2",
    "x-amz-security-token": "SESSIONTOKENSECRET3",
    "x-amz-server-side-encryption-customer-key": "U1NFQ0tFWVNFQ1JFVDQ=",
    "x-amz-copy-source-server-side-encryption-customer-key": "Q09QWUtFWVNFQ1JFVDU=",
    "cookie": "session=COOKIESECRET6",
}
QUERY_SECRETS = {
    "X-Amz-Signature": "presignsig7",
    "X-Amz-Credential": "AKIDSECRET8/20261130/us-east-1/s3/aws4_request",
    "X-Amz-Security-Token": "QUERYTOKEN9",
    "Signature": "v2sig10",
    "WebIdentityToken": "eyJwebidentity11",
    "LDAPPassword": "ldappassword12",
    "policy": "eyJwb2xpY3kiOiJwb2xpY3kxMyJ9",
}


def _entry(headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
           response_headers: list[tuple[str, str]] | None = None, principal: Principal | None = None,
           code: str = "", status: int = 200) -> Entry:
    return Entry(time=1_796_000_000.123456, request_id="REQ1", api="PutObject", bucket="b", key="k/x.txt",
                 status=status, code=code, rx=4096, tx=0, ttfb=0.0012, total=0.0034,
                 remote="127.0.0.1:5555", headers=Headers(list((headers or {}).items())),
                 query=query or {}, response_headers=response_headers or [], principal=principal)


def _line(entry: Entry | None = None) -> bytes:
    """An encoded record, as AuditLog.emit queues it on the targets."""
    return orjson.dumps(build_record(entry or _entry(), "n"), option=orjson.OPT_APPEND_NEWLINE)


def test_records_are_encoded_once_and_queued_on_every_target(tmp_path: Path) -> None:
    async def main() -> tuple[FileTarget, FileTarget]:
        first = FileTarget(str(tmp_path / "a.log"), queue_size=10, batch_size=100, flush_seconds=30)
        second = FileTarget(str(tmp_path / "b.log"), queue_size=10, batch_size=100, flush_seconds=30)
        audit = AuditLog([first, second], node="node1:9000")
        audit.start()
        audit.emit(_entry(headers=SECRETS))
        broken = _entry()._replace(time=float("nan"))    # no RFC 3339 time: the record cannot be built
        audit.emit(broken)                               # counted as dropped, never raised
        await audit.close()
        return first, second

    first, second = asyncio.run(main())
    assert (tmp_path / "a.log").read_bytes() == (tmp_path / "b.log").read_bytes()
    record = json.loads((tmp_path / "a.log").read_text())
    assert record["node"] == "node1:9000" and record["requestHeader"]["authorization"] == REDACTED
    assert (first.records, first.dropped, second.records, second.dropped) == (1, 1, 1, 1)


def test_records_are_built_a_batch_at_a_time(tmp_path: Path) -> None:
    """Entries wait until ``batch_size`` of them are there; then their records are queued together."""
    async def main() -> tuple[int, int, int]:
        target = FileTarget(str(tmp_path / "a.log"), queue_size=100, batch_size=3, flush_seconds=30)
        audit = AuditLog([target], node="n", batch_size=3, flush_seconds=30)
        audit.start()
        audit.emit(_entry())
        audit.emit(_entry())
        waiting = target.queue_length                  # nothing built yet: no event loop turn happened
        audit.emit(_entry())
        queued = target.queue_length
        await audit.close()
        return waiting, queued, target.records

    assert asyncio.run(main()) == (0, 3, 3)


def test_a_partial_batch_is_written_after_flush_seconds(tmp_path: Path) -> None:
    """Two records of a batch of 100 reach the file without a close, once ``flush_seconds`` passed."""
    log_file = tmp_path / "a.log"

    async def main() -> int:
        target = FileTarget(str(log_file), queue_size=100, batch_size=100, flush_seconds=0.2)
        audit = AuditLog([target], node="n", batch_size=100, flush_seconds=0.2)
        audit.start()
        audit.emit(_entry())
        audit.emit(_entry())
        for _ in range(200):                           # bounded: 20 s
            if target.records == 2:
                break
            await asyncio.sleep(0.1)
        lines = len(log_file.read_bytes().splitlines()) if log_file.exists() else 0
        await audit.close()
        return lines

    assert asyncio.run(main()) == 2


def test_record_fields() -> None:
    principal = Principal(kind="sts", access_key="ASIAKEY", user="alice", parent="alice", role="reader",
                          session_name="s1", claims=(("jwt:sub", ("alice",)), ("jwt:groups", ("a", "b"))))
    record = build_record(_entry(headers={"User-Agent": "boto3/1.0", "Content-Length": "4096"},
                                 response_headers=[("x-amz-version-id", "v123"), ("ETag", '"e"')],
                                 principal=principal), node="node1:9000")
    assert record["version"] == "1"
    assert record["time"] == "2026-11-30T00:53:20.123456Z"
    assert record["requestID"] == "REQ1" and record["node"] == "node1:9000"
    assert record["api"] == {"name": "PutObject", "bucket": "b", "object": "k/x.txt", "versionId": "v123",
                             "status": "OK", "statusCode": 200, "rx": 4096, "tx": 0,
                             "timeToFirstByte": 0.0012, "timeToResponse": 0.0034}
    assert record["remoteHost"] == "127.0.0.1"
    assert record["userAgent"] == "boto3/1.0"
    assert record["accessKey"] == "ASIAKEY" and record["parentUser"] == "alice"
    assert record["requestClaims"]["jwt:sub"] == "alice"
    assert record["requestClaims"]["jwt:groups"] == ["a", "b"]
    assert record["requestClaims"]["role"] == "reader"
    assert record["requestHeader"]["content-length"] == "4096"
    assert record["responseHeader"]["etag"] == '"e"'


def test_error_status_and_version_from_query() -> None:
    record = build_record(_entry(query={"versionId": "v9"}, code="NoSuchKey", status=404), node="n")
    assert record["api"]["status"] == "NoSuchKey" and record["api"]["statusCode"] == 404
    assert record["api"]["versionId"] == "v9"
    assert record["accessKey"] == "" and record["requestClaims"] == {}


def test_never_list_is_redacted() -> None:
    headers = dict(SECRETS)
    headers["x-amz-server-side-encryption-customer-key-md5"] = "keymd5stays=="
    response = [("Set-Cookie", "id=SETCOOKIESECRET14")]
    record = build_record(_entry(headers=headers, query=dict(QUERY_SECRETS), response_headers=response), node="n")
    text = json.dumps(record)
    for value in [*SECRETS.values(), *QUERY_SECRETS.values(), "SETCOOKIESECRET14"]:
        assert value not in text
    for name in SECRETS:
        assert record["requestHeader"][name] == REDACTED
    for name in QUERY_SECRETS:
        assert record["requestQuery"][name] == REDACTED
    assert record["requestHeader"]["x-amz-server-side-encryption-customer-key-md5"] == "keymd5stays=="
    assert record["responseHeader"]["set-cookie"] == REDACTED


def test_empty_subresource_query_kept() -> None:
    record = build_record(_entry(query={"policy": "", "uploads": ""}), node="n")
    assert record["requestQuery"] == {"policy": "", "uploads": ""}


def test_full_queue_drops_and_counts(tmp_path: Path) -> None:
    async def main() -> FileTarget:
        target = FileTarget(str(tmp_path / "audit.log"), queue_size=3, batch_size=100, flush_seconds=30)
        target.start()
        for _ in range(5):
            target.put(_line())
        assert target.queue_length == 3 and target.dropped == 2
        await target.close()
        return target

    target = asyncio.run(main())
    lines = (tmp_path / "audit.log").read_text().splitlines()
    assert len(lines) == 3 and target.records == 3 and target.dropped == 2
    assert json.loads(lines[0])["api"]["name"] == "PutObject"


def test_file_reopened_when_moved(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"

    async def main() -> None:
        target = FileTarget(str(path), queue_size=10, batch_size=1, flush_seconds=0.01)
        target.start()
        target.put(_line())
        while target.records < 1:
            await asyncio.sleep(0.01)
        path.rename(tmp_path / "audit.log.1")
        target.put(_line())
        while target.records < 2:
            await asyncio.sleep(0.01)
        await target.close()

    asyncio.run(main())
    assert len(path.read_text().splitlines()) == 1
    assert len((tmp_path / "audit.log.1").read_text().splitlines()) == 1


def test_elasticsearch_bulk_body() -> None:
    target = WebhookTarget("http://127.0.0.1:1/_bulk", fmt="elasticsearch", index="audit-x",
                           queue_size=10, batch_size=10, flush_seconds=1)
    lines = target.encode([_line(), _line()]).decode().splitlines()
    assert len(lines) == 4
    assert json.loads(lines[0]) == {"index": {"_index": "audit-x"}}
    assert json.loads(lines[1])["requestID"] == "REQ1"


def test_targets_from_settings(tmp_path: Path) -> None:
    settings = EngineSettings.model_validate({"audit_stdout": False, "audit_file": str(tmp_path / "a.log"),
                                              "audit_webhook_url": "http://127.0.0.1:1/x"})
    assert [t.name for t in AuditLog.from_settings(settings).targets] == ["file", "webhook"]
    assert AuditLog.from_settings(EngineSettings.model_validate({"audit_stdout": False})).enabled is False


@pytest.mark.parametrize("values, field", [
    ({"audit_webhook_url": "ftp://x"}, "audit_webhook_url"),
    ({"audit_webhook_auth_token": "t", "audit_webhook_username": "u", "audit_webhook_password": "p"},
     "audit_webhook_auth_token"),
    ({"audit_webhook_username": "u"}, "audit_webhook_password"),
    ({"audit_queue_size": 0}, "audit_queue_size"),
    ({"log_format": "xml"}, "log_format"),
])
def test_settings_errors_name_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        EngineSettings.model_validate(values)


def test_stdout_writes_whole_lines_of_at_most_pipe_buf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several workers share stdout: each write is whole lines, at most PIPE_BUF bytes (atomic on a pipe)."""
    writes: list[bytes] = []
    real_write = os.write

    def spy(fd: int, data: bytes | memoryview) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(targets_module.os, "write", spy)
    read_end, write_end = os.pipe()
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read_end, 65536), b"")))
    reader.start()
    monkeypatch.setattr(sys, "stdout", os.fdopen(write_end, "w", closefd=False))
    try:
        target = StdoutTarget(queue_size=10, batch_size=100, flush_seconds=1)
        data = target.encode([_line(_entry(headers={"x-pad": "p" * (i * 150)})) for i in range(40)])
        target.write_blocking(data)
    finally:
        os.close(write_end)
        reader.join()
        os.close(read_end)
    assert b"".join(chunks) == data
    assert len(writes) > 3
    for chunk in writes:
        assert chunk.endswith(b"\n")
        assert len(chunk) <= select.PIPE_BUF or chunk.count(b"\n") == 1


def test_json_log_lines_carry_the_traceback() -> None:
    """log_format json: one JSON object per record, an error's traceback inside it (one line per event)."""
    import io
    import logging

    from storage_engine.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("storage_engine.test_json_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("serving %s failed", "GET /b/k")
        logger.warning("plain")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    error, warning = json.loads(lines[0]), json.loads(lines[1])
    assert error["level"] == "error" and error["logger"] == "storage_engine.test_json_logs"
    assert error["message"] == "serving GET /b/k failed"
    assert "Traceback" in error["error"] and "ValueError: boom" in error["error"]
    assert error["time"].endswith("Z") and warning == {**warning, "level": "warning", "message": "plain"}
    assert "error" not in warning
