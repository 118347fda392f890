"""``python -m storage_engine heal [--endpoint URL] [BUCKET]``: ask a running server to heal, print the report;
``python -m storage_engine kms-rewrap [--endpoint URL] [BUCKET]``: ask it to re-wrap the data keys under the
KMS keys' newest versions (after a key rotation), print the report.

The request is an ordinary SigV4-signed ``POST /rustfs/admin/v3/heal[/<bucket>]`` with the root
credentials from the settings (``RUSTFS_ACCESS_KEY``/``RUSTFS_SECRET_KEY``), so it needs nothing but
the same environment the server runs with.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import sys
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import quote, urlsplit

from storage_engine.auth import sign_request
from storage_engine.config import EngineSettings

ADMIN_HEAL_PATH = "/rustfs/admin/v3/heal"
ADMIN_KMS_REWRAP_PATH = "/rustfs/admin/v3/kms/rewrap"
ADMIN_ILM_RUN_PATH = "/rustfs/admin/v3/ilm/run"
# Healing a large bucket can take a long time; the server answers once the pass is complete.
TIMEOUT_SECONDS = 3600.0


def default_endpoint(settings: EngineSettings) -> str:
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def heal(settings: EngineSettings, endpoint: str | None, bucket: str | None) -> int:
    """Heal ``bucket`` (or everything) on the server at ``endpoint``; print the report. Exit status."""
    path = ADMIN_HEAL_PATH + (f"/{quote(bucket, safe='')}" if bucket else "")
    return _report(settings, endpoint, path, "heal", lambda report: format_report(
        f"Heal of {bucket or 'all buckets'}:", report,
        ("objects_scanned", "objects_healed", "shards_rebuilt", "metadata_repaired", "repaired_by_reads", "failures")))


def kms_rewrap(settings: EngineSettings, endpoint: str | None, bucket: str | None) -> int:
    """Re-wrap the data keys of ``bucket`` (or everything) on the server at ``endpoint``; print the report."""
    path = ADMIN_KMS_REWRAP_PATH + (f"?bucket={quote(bucket, safe='')}" if bucket else "")
    return _report(settings, endpoint, path, "kms-rewrap", lambda report: format_report(
        f"KMS re-wrap of {bucket or 'all buckets'}:", report,
        ("versions_scanned", "rewrapped", "unchanged", "skipped", "failures")))


def ilm_run(settings: EngineSettings, endpoint: str | None, bucket: str | None) -> int:
    """Apply the lifecycle rules of ``bucket`` (or every bucket) now on the server at ``endpoint``; print the report."""
    path = ADMIN_ILM_RUN_PATH + (f"?bucket={quote(bucket, safe='')}" if bucket else "")
    return _report(settings, endpoint, path, "ilm-run",
                   lambda report: format_report(f"Lifecycle run of {bucket or 'all buckets'}:", report,
                                                ("buckets", "versions_expired", "versions_transitioned",
                                                 "uploads_aborted", "failures")))


def _report(settings: EngineSettings, endpoint: str | None, path: str, what: str,
            render: Callable[[dict[str, Any]], str]) -> int:
    """Run an admin operation and print its report: 0, or 1 when the report counts failures (or ``_call``'s status)."""
    report = _call(settings, endpoint, path, what)
    if isinstance(report, int):
        return report
    print(render(report))
    return 0 if not report.get("failures") else 1


def _call(settings: EngineSettings, endpoint: str | None, path: str, what: str) -> dict[str, Any] | int:
    """POST ``path`` signed with the root credentials: the JSON report, or the exit status (error printed):
    2 for missing credentials or a bad endpoint, 1 when the server cannot be reached or refuses."""
    answer = post(settings, endpoint, path, b"")
    if isinstance(answer, int):
        return answer
    status, body = answer
    if status != 200:
        print(f"error: {what} failed with HTTP {status}:\n{body.decode('utf-8', 'replace')}", file=sys.stderr)
        return 1
    try:
        report = json.loads(body)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        print(f"error: unexpected response: {body[:200]!r}", file=sys.stderr)
        return 1
    return cast(dict[str, Any], report)


def post(settings: EngineSettings, endpoint: str | None, path: str, body: bytes, headers: dict[str, str] | None = None,
         *, service: str = "s3", method: str = "POST") -> tuple[int, bytes] | int:
    """POST (or ``method``) ``body`` to ``path``, SigV4-signed for ``service`` with the root credentials:
    (status, body), or the exit status with the error printed (2: no credentials or a bad endpoint; 1: the
    server is unreachable)."""
    secret = settings.secret_key.get_secret_value()
    if not settings.access_key or not secret:
        print("error: set RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY to the server's root credentials",
              file=sys.stderr)
        return 2
    base = (endpoint or default_endpoint(settings)).rstrip("/")
    url = base + path
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        print(f"error: bad endpoint {base!r}: expected http(s)://HOST[:PORT]", file=sys.stderr)
        return 2
    headers = dict(headers or {})
    headers.update(sign_request(method, url, headers, hashlib.sha256(body).hexdigest(), settings.access_key, secret,
                                settings.region, service=service))
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.netloc, timeout=TIMEOUT_SECONDS)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError as exc:
        print(f"error: cannot reach {base}: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()


def format_report(title: str, report: dict[str, object], fields: tuple[str, ...]) -> str:
    """An admin report as text: the title, one line per counter in ``fields``, then any ``details``."""
    lines = [title, *(f"  {field.replace('_', ' ')}: {report.get(field, 0)}" for field in fields)]
    details = report.get("details")
    if isinstance(details, list) and details:
        lines.append("  details:")
        lines.extend(f"    {line}" for line in details)
    return "\n".join(lines)
