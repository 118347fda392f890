"""The audit log: one JSON record per request, to stdout, a file and / or a webhook (docs/audit.md).

    audit = AuditLog.from_settings(settings)   # the targets the settings name
    audit.start()                              # on the running loop (server.py, per worker)
    install(audit)                             # S3Apps built from now on emit to it (current())
    audit.emit(entry)                          # per request: never waits, never raises
    await audit.close()                        # flush, stop

When a request is over (its response sent), the app hands over an :class:`Entry` (references only);
``emit`` builds, redacts and encodes its record once, while what it refers to is still fresh in the
CPU's caches, and queues the JSON line on every target; each target's writer task (``targets.py``)
writes its queue in batches. Metrics ``rustfs_audit_*{target}`` are read
from the targets' counters at scrape time (:func:`_register_metrics`).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import orjson

from storage_engine.audit.record import Entry, build_record
from storage_engine.audit.targets import FileTarget, StdoutTarget, Target, WebhookTarget
from storage_engine.config import EngineSettings

__all__ = ["AuditLog", "Entry", "build_record", "current", "install"]

log = logging.getLogger(__name__)


class AuditLog:
    """The process's audit targets."""

    def __init__(self, targets: list[Target], node: str = "") -> None:
        self.targets = targets
        self.node = node                         # the records' "node"
        self._puts = tuple(t.put for t in targets)

    @classmethod
    def from_settings(cls, settings: EngineSettings, node: str = "") -> AuditLog:
        node = node or settings.local_host or f"{socket.gethostname()}:{settings.port}"
        common: dict[str, Any] = dict(queue_size=settings.audit_queue_size, batch_size=settings.audit_batch_size,
                                      flush_seconds=settings.audit_flush_seconds)
        targets: list[Target] = []
        if settings.audit_stdout:
            targets.append(StdoutTarget(**common))
        if settings.audit_file:
            targets.append(FileTarget(settings.audit_file, **common))
        if settings.audit_webhook_url:
            targets.append(WebhookTarget(
                settings.audit_webhook_url, fmt=settings.audit_webhook_format,
                index=settings.audit_webhook_index,
                token=settings.audit_webhook_auth_token.get_secret_value(),
                username=settings.audit_webhook_username,
                password=settings.audit_webhook_password.get_secret_value(),
                ca_file=settings.audit_webhook_ca_file, timeout=settings.audit_webhook_timeout_seconds,
                retry_max=settings.audit_retry_max, backoff=settings.audit_retry_backoff_seconds, **common))
        return cls(targets, node)

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    def start(self) -> None:
        for target in self.targets:
            target.start()

    def emit(self, entry: Entry) -> None:
        """Queue the request's record on every target. Never waits, never raises."""
        try:
            line = orjson.dumps(build_record(entry, self.node), option=orjson.OPT_APPEND_NEWLINE)
        except Exception:       # never fail a request's end over its record: counted as dropped
            log.exception("audit: cannot encode the record of request %s", entry.request_id)
            for target in self.targets:
                target.dropped += 1
            return
        for put in self._puts:
            put(line)

    def reopen(self) -> None:
        """SIGHUP: the file target reopens its file (after a log rotation)."""
        for target in self.targets:
            if isinstance(target, FileTarget):
                target.reopen()

    async def close(self) -> None:
        for target in self.targets:
            await target.close()


_CURRENT: AuditLog | None = None


def install(audit: AuditLog | None) -> None:
    """Make ``audit`` the process's audit log (None: none), and export its metrics."""
    global _CURRENT
    _CURRENT = audit
    if audit is not None:
        _register_metrics()


def current() -> AuditLog | None:
    """The process's audit log, if it has one with targets."""
    audit = _CURRENT
    return audit if audit is not None and audit.enabled else None


class _AuditCollector:
    """``rustfs_audit_*{target}`` from the installed audit log's counters, at scrape time."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        audit = _CURRENT
        targets = audit.targets if audit is not None else []
        records = CounterMetricFamily("rustfs_audit_records", "Audit records delivered", labels=["target"])
        dropped = CounterMetricFamily("rustfs_audit_records_dropped",
                                      "Audit records dropped (queue full, or delivery given up)", labels=["target"])
        errors = CounterMetricFamily("rustfs_audit_target_errors", "Failed audit writes / POSTs",
                                     labels=["target"])
        online = GaugeMetricFamily("rustfs_audit_target_online", "1 when the last audit write succeeded",
                                   labels=["target"])
        length = GaugeMetricFamily("rustfs_audit_queue_length", "Audit records queued", labels=["target"])
        for t in targets:
            records.add_metric([t.name], t.records)
            dropped.add_metric([t.name], t.dropped)
            errors.add_metric([t.name], t.errors)
            online.add_metric([t.name], 1 if t.online else 0)
            length.add_metric([t.name], t.queue_length)
        yield from (records, dropped, errors, online, length)


_registered = False


def _register_metrics() -> None:
    """Hand the collector to the metrics registry (storage_engine.metrics), once per process."""
    global _registered
    if _registered:
        return
    try:
        from storage_engine.metrics import register_collector  # type: ignore[attr-defined]
    except ImportError:        # no metrics registry in this build
        return
    register_collector(_AuditCollector())
    _registered = True
