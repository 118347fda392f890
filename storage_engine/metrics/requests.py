"""Request metrics: one observation per S3 request, made when its response is sent.

``api/app.py`` calls :meth:`RequestMetrics.started` when a request is routed and
:meth:`RequestMetrics.finished` from the response's ``on_finished`` hook (``http/types.py``), which the
HTTP server calls once the response is sent, with the bytes received and sent and the times to the
response's head and to its end. The engine's own probes and scrapes (``/rustfs/health/*``,
``/rustfs/metrics``) and requests that cannot be routed are not counted.

Cost: the labelled children of one (api, bucket) are looked up once and cached with their bound
methods, so an observation is a dict lookup and a few additions (see the micro-benchmark in
``docs/metrics.md``). The bucket label is bounded by the buckets that exist: requests answered
NoSuchBucket / InvalidBucketName, and failed ones of anonymous or unauthenticated callers, count under
``bucket=""`` (their bucket names are whatever a client sent).
"""

from __future__ import annotations

from collections.abc import Callable

from storage_engine.metrics import counter, gauge, histogram

# Seconds; the same for the TTFB and the total time (docs/observability.md).
LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Answers that say the bucket does not exist: their bucket names come from the client, unbounded.
UNKNOWN_BUCKET_CODES = frozenset({"NoSuchBucket", "InvalidBucketName"})

_Children = tuple[Callable[..., None], Callable[..., None], Callable[..., None], Callable[..., None],
                  Callable[..., None]]


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
        self._children: dict[tuple[str, str], _Children] = {}
        self._errors: dict[tuple[str, str, str, int], Callable[..., None]] = {}
        self._inflight_inc = self.inflight.inc
        self._inflight_dec = self.inflight.dec

    def reset(self) -> None:
        """Drop the cached children (the metrics' values were re-created: multiprocess mode)."""
        self._children.clear()
        self._errors.clear()
        self._inflight_inc = self.inflight.inc
        self._inflight_dec = self.inflight.dec

    def started(self) -> None:
        """A request arrived: in flight until :meth:`finished`."""
        self._inflight_inc()

    def finished(self, api: str, bucket: str, authenticated: bool, status: int, code: str, received: int,
                 sent: int, ttfb: float, duration: float) -> None:
        """A request :meth:`started` is over: observed, with its bucket label bounded (module doc)."""
        self._inflight_dec()
        if status < 400:
            code = ""
        if code in UNKNOWN_BUCKET_CODES or (status >= 400 and not authenticated):
            bucket = ""
        self.observe(api, bucket, status, code, received, sent, ttfb, duration)

    def observe(self, api: str, bucket: str, status: int, code: str, received: int, sent: int,
                ttfb: float, duration: float) -> None:
        """One finished request (``code``: its S3 error code, "" when it succeeded)."""
        children = self._children.get((api, bucket))
        if children is None:
            children = self._child(api, bucket)
        requests, rx, tx, ttfb_observe, duration_observe = children
        requests()
        if received:
            rx(received)
        if sent:
            tx(sent)
        ttfb_observe(ttfb)
        duration_observe(duration)
        if status >= 400:
            key = (api, bucket, code, status)
            error = self._errors.get(key)
            if error is None:
                error = self._errors[key] = self.errors.labels(api, bucket, code, str(status)).inc
            error()

    def _child(self, api: str, bucket: str) -> _Children:
        children = (self.requests.labels(api, bucket).inc, self.received.labels(api, bucket).inc,
                    self.sent.labels(api, bucket).inc, self.ttfb.labels(api, bucket).observe,
                    self.duration.labels(api, bucket).observe)
        self._children[(api, bucket)] = children
        return children
