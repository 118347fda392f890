"""The engine's Prometheus metrics: one registry per process, rendered by ``GET /rustfs/metrics``.

    from storage_engine.metrics import REGISTRY, metrics, register_collector
    metrics.requests.observe(api, bucket, status, code, received, sent, ttfb, duration)   # api/app.py
    register_collector(collector)   # collect() yields the node's gauges at scrape time
    exposition() -> bytes           # the text format 0.0.4 (metrics/endpoint.py serves it)

Every piece defines its counters here, through :func:`counter`, :func:`gauge` and :func:`histogram`
(never a registry of its own). Names, labels and buckets are the contract of ``docs/observability.md``;
``docs/metrics.md`` lists every family (a test checks the exposition against it).

Several workers (``RUSTFS_WORKERS > 1``): before forking, the server calls
:func:`enable_multiprocess` with a fresh directory; every metric value then lives in a per-process
mmap file there (prometheus-client's multiprocess mode) and a scrape, whichever worker answers, sums
the counters and histograms of all the node's workers (gauges as declared: ``livesum``, ``max``...).
Collectors (:func:`register_collector`) run in the answering worker: they report the node's state,
the same from any worker. ``process_*`` describes the answering process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from typing import Literal

from prometheus_client import (
    CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest, values,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "REGISTRY", "CONTENT_TYPE", "register_collector", "counter", "gauge", "histogram", "exposition",
    "enable_multiprocess", "worker_exited", "metrics",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()      # no *_created series: Prometheus does not use them, they double the families

# The process's one registry: metrics created through this module, collectors, process_* / python_*.
REGISTRY = CollectorRegistry(auto_describe=True)
_METRICS: list[Counter | Gauge | Histogram] = []       # what multiprocess mode reads from the mmap files
_COLLECTORS: list[Collector] = []                      # scrape-time collectors (never summed over workers)
_multiprocess_dir: str | None = None

GaugeMode = Literal["all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum",
                    "mostrecent", "livemostrecent"]


def register_collector(collector: Collector) -> None:
    """Add a collector whose ``collect()`` yields metric families at scrape time (node state: drives,
    sets, queue lengths). It runs in whichever worker answers the scrape; keep it cheap (no I/O)."""
    REGISTRY.register(collector)
    _COLLECTORS.append(collector)


def counter(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
    """A counter in the engine's registry (``name`` without ``_total``: prometheus-client appends it)."""
    metric = Counter(name, documentation, labelnames, registry=REGISTRY)
    _METRICS.append(metric)
    return metric


def gauge(name: str, documentation: str, labelnames: Sequence[str] = (),
          multiprocess_mode: GaugeMode = "livesum") -> Gauge:
    """A gauge set from request paths (state known at scrape time belongs in a collector).
    ``multiprocess_mode``: how the workers' values combine with ``workers > 1``."""
    metric = Gauge(name, documentation, labelnames, registry=REGISTRY, multiprocess_mode=multiprocess_mode)
    _METRICS.append(metric)
    return metric


def histogram(name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]) -> Histogram:
    metric = Histogram(name, documentation, labelnames, registry=REGISTRY, buckets=buckets)
    _METRICS.append(metric)
    return metric


ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)


def enable_multiprocess(path: str) -> None:
    """Switch this process (the server's parent, before it forks its workers) to multiprocess mode:
    ``path`` is emptied, and every metric value from now on is kept in per-process files there."""
    global _multiprocess_dir
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    values.ValueClass = values.MultiProcessValue()
    for metric in _METRICS:                     # re-create the values with the mmap-backed class
        if metric._labelnames:                  # labelled: children are created again on first use
            with metric._lock:
                metric._metrics.clear()
        else:
            metric._metric_init()
    # This process (the parent) serves no requests: its files would only add zeros (and spoil a
    # ``livemin`` gauge). The workers write files of their own from their first update.
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    _multiprocess_dir = path
    for hook in _RESET_HOOKS:
        hook()


def worker_exited(pid: int) -> None:
    """A worker is gone: its ``live*`` gauges stop counting (its counters stay in the sums)."""
    if _multiprocess_dir is not None:
        mark_process_dead(pid, _multiprocess_dir)


def multiprocess_dir() -> str | None:
    return _multiprocess_dir


def exposition() -> bytes:
    """The node's metrics in the Prometheus text format 0.0.4."""
    for flush in _FLUSH_HOOKS:
        flush()
    if _multiprocess_dir is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, _multiprocess_dir)
    for collector in _COLLECTORS:
        registry.register(collector)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return generate_latest(registry)


# Called after enable_multiprocess (caches of labelled children must be dropped).
_RESET_HOOKS: list[Callable[[], None]] = []
# Called before a scrape: what hot paths accumulate outside the metrics goes into them.
_FLUSH_HOOKS: list[Callable[[], None]] = []


class _Metrics:
    """The engine's own metric groups, created on import (``metrics.requests``, ``metrics.kms``)."""

    def __init__(self) -> None:
        from storage_engine.metrics.kms import KmsMetrics
        from storage_engine.metrics.requests import RequestMetrics

        self.requests = RequestMetrics()
        self.kms = KmsMetrics()
        _RESET_HOOKS.append(self.requests.reset)
        _RESET_HOOKS.append(self.kms.reset)
        _FLUSH_HOOKS.append(self.requests.flush)


metrics = _Metrics()
