"""Request metrics: one observation per S3 request, made when its response is sent.

``api/app.py`` calls :meth:`RequestMetrics.started` when a request is routed and
:meth:`RequestMetrics.finished` from the response's ``on_finished`` hook (``http/types.py``), which the
HTTP server calls once the response is sent, with the bytes received and sent and the times to the
response's head and to its end. The engine's own probes and scrapes (``/rustfs/health/*``,
``/rustfs/metrics``) and requests that cannot be routed are not counted.

Cost: an observation only adds to plain per-(api, bucket) numbers (a dict lookup, two bisects, a few
list additions; no lock: one event loop per process). :meth:`RequestMetrics.flush` moves them into the
prometheus-client metrics: before every scrape (``metrics.exposition``) and, with several workers,
every second in each worker (``metrics.worker_started``; a scrape then sums the workers' files, at most
that old). The
micro-benchmark is in ``docs/metrics.md``.

The bucket label is bounded by the buckets that exist: requests answered NoSuchBucket /
InvalidBucketName, and failed ones of anonymous or unauthenticated callers, count under ``bucket=""``
(their bucket names are whatever a client sent).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from storage_engine.metrics import counter, gauge, histogram

# Seconds; the same for the TTFB and the total time (docs/observability.md).
LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Answers that say the bucket does not exist: their bucket names come from the client, unbounded.
UNKNOWN_BUCKET_CODES = frozenset({"NoSuchBucket", "InvalidBucketName"})

# Per (api, bucket), a list: requests, received, sent, ttfb sum, duration sum, then the TTFB histogram's
# per-bucket counts (LATENCY_BUCKETS and +Inf), then the duration histogram's.
_REQ, _RX, _TX, _TTFB_SUM, _DUR_SUM, _TTFB0 = range(6)
_NB = len(LATENCY_BUCKETS) + 1
_DUR0 = _TTFB0 + _NB
_WIDTH = _DUR0 + _NB


class RequestMetrics:
    """``rustfs_s3_*``: requests, errors, latency (TTFB and total), bytes, in flight."""

    def __init__(self) -> None:
        labels = ("api", "bucket")
        self.requests = counter("rustfs_s3_requests", "S3 requests served, by API and bucket.", labels)
        self.errors = counter("rustfs_s3_errors",
                              "S3 requests answered with a status >= 400, by API, bucket, S3 error code and "
                              "HTTP status.", ("api", "bucket", "code", "status"))
        self.duration = histogram("rustfs_s3_request_duration_seconds",
                                  "Time from the request's arrival to its response's last byte.", labels,
                                  LATENCY_BUCKETS)
        self.ttfb = histogram("rustfs_s3_ttfb_seconds",
                              "Time from the request's arrival to its response's first byte.", labels,
                              LATENCY_BUCKETS)
        self.received = counter("rustfs_s3_received_bytes", "Request body bytes received.", labels)
        self.sent = counter("rustfs_s3_sent_bytes", "Response body bytes sent.", labels)
        self.inflight = gauge("rustfs_s3_requests_inflight", "S3 requests being served now.",
                              multiprocess_mode="livesum")
        self._acc: dict[tuple[str, str], list[float]] = {}
        self._errors: dict[tuple[str, str, str, int], int] = {}
        self._inflight = 0
        self._inflight_flushed = -1

    def reset(self) -> None:
        """Forget what was not flushed (the metrics' values were re-created: multiprocess mode)."""
        self._acc.clear()
        self._errors.clear()
        self._inflight_flushed = -1

    # --- the hot path --------------------------------------------------------------------------------
    def started(self) -> None:
        """A request arrived: in flight until :meth:`finished`."""
        self._inflight += 1

    def finished(self, api: str, bucket: str, authenticated: bool, status: int, code: str, received: int,
                 sent: int, ttfb: float, duration: float) -> None:
        """A request :meth:`started` is over: observed, with its bucket label bounded (module doc)."""
        self._inflight -= 1
        if status < 400:
            code = ""
        if code in UNKNOWN_BUCKET_CODES or (status >= 400 and not authenticated):
            bucket = ""
        self.observe(api, bucket, status, code, received, sent, ttfb, duration)

    def observe(self, api: str, bucket: str, status: int, code: str, received: int, sent: int,
                ttfb: float, duration: float) -> None:
        """One finished request (``code``: its S3 error code, "" when it succeeded)."""
        acc = self._acc.get((api, bucket))
        if acc is None:
            acc = self._acc[(api, bucket)] = [0.0] * _WIDTH
        acc[_REQ] += 1
        acc[_RX] += received
        acc[_TX] += sent
        acc[_TTFB_SUM] += ttfb
        acc[_DUR_SUM] += duration
        acc[_TTFB0 + bisect_left(LATENCY_BUCKETS, ttfb)] += 1
        acc[_DUR0 + bisect_left(LATENCY_BUCKETS, duration)] += 1
        if status >= 400:
            key = (api, bucket, code, status)
            self._errors[key] = self._errors.get(key, 0) + 1

    # --- into prometheus-client ------------------------------------------------------------------------
    def flush(self) -> None:
        """Move what was observed since the last flush into the registry's metrics."""
        for (api, bucket), acc in self._acc.items():
            if not acc[_REQ]:
                continue
            self.requests.labels(api, bucket).inc(acc[_REQ])
            self.received.labels(api, bucket).inc(acc[_RX])
            self.sent.labels(api, bucket).inc(acc[_TX])
            _add_histogram(self.ttfb.labels(api, bucket), acc[_TTFB_SUM], acc[_TTFB0:_TTFB0 + _NB])
            _add_histogram(self.duration.labels(api, bucket), acc[_DUR_SUM], acc[_DUR0:_DUR0 + _NB])
            acc[:] = [0.0] * _WIDTH
        for (api, bucket, code, status), count in self._errors.items():
            if count:
                self.errors.labels(api, bucket, code, str(status)).inc(count)
        self._errors = dict.fromkeys(self._errors, 0)
        if self._inflight != self._inflight_flushed:
            self.inflight.set(self._inflight)
            self._inflight_flushed = self._inflight


def _add_histogram(child: Any, total: float, counts: list[float]) -> None:
    """Add per-bucket counts and a sum to a prometheus-client histogram child (its own non-cumulative
    bucket values, as ``Histogram.observe`` keeps them)."""
    child._sum.inc(total)
    for value, count in zip(child._buckets, counts):
        if count:
            value.inc(count)
