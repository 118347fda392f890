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
Collectors (:func:`register_collector`): their counter families (per-process activity: audit records,
heals) are mirrored into multiprocess counters by each worker every second (:func:`worker_started`) and
summed like the rest; their gauges (node state, the same from any worker) are the answering worker's.
``process_*`` describes the answering process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

from prometheus_client import (
    CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest, values,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "REGISTRY", "CONTENT_TYPE", "register_collector", "counter", "gauge", "histogram", "exposition",
    "enable_multiprocess", "worker_started", "worker_exited", "flush", "metrics",
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


def flush() -> None:
    """Move what this process accumulated outside the registry's metrics into them (before a scrape,
    and every ``FLUSH_SECONDS`` in each worker with several)."""
    for hook in _FLUSH_HOOKS:
        hook()
    if _multiprocess_dir is not None:
        _BRIDGE.mirror()


def worker_started() -> None:
    """In each worker (on its event loop), with several workers: flush every ``FLUSH_SECONDS``, so a
    scrape answered by another worker sees this one's counts at most that old."""
    if _multiprocess_dir is None:
        return
    import asyncio

    loop = asyncio.get_running_loop()

    def tick() -> None:
        try:
            flush()
        except Exception:                      # a metric must never take the worker down
            import logging
            logging.getLogger(__name__).exception("metrics flush failed")
        loop.call_later(FLUSH_SECONDS, tick)

    loop.call_later(FLUSH_SECONDS, tick)


class _CounterBridge:
    """With several workers: the counter families of the collectors (per-process activity such as audit
    records or heals) are mirrored into multiprocess counters, so a scrape sums them over the workers
    like the request metrics; their gauges (node state) are the answering worker's."""

    def __init__(self) -> None:
        self._counters: dict[str, Counter] = {}
        self._last: dict[tuple[str, tuple[str, ...]], float] = {}

    def mirror(self) -> None:
        for collector in _COLLECTORS:
            for family in collector.collect():
                if family.type != "counter":
                    continue
                for sample in family.samples:
                    if not sample.name.endswith("_total"):
                        continue
                    names = tuple(sorted(sample.labels))
                    counter = self._counters.get(family.name)
                    if counter is None:
                        counter = self._counters[family.name] = Counter(
                            family.name, family.documentation, names, registry=None)
                    label_values = tuple(sample.labels[n] for n in names)
                    key = (family.name, label_values)
                    # The child is made even at 0: a counter must be exported before its first increment,
                    # or rate() and increase() miss that increment.
                    child = counter.labels(*label_values) if names else counter
                    last = self._last.get(key, 0.0)
                    if sample.value > last:
                        child.inc(sample.value - last)
                    self._last[key] = sample.value


class _GaugesOf:
    """A collector's families minus its counters (mirrored by ``_CounterBridge`` with several workers)."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector

    def collect(self) -> Iterator[Metric]:
        return (family for family in self._collector.collect() if family.type != "counter")


_BRIDGE = _CounterBridge()
FLUSH_SECONDS = 1.0


def exposition() -> bytes:
    """The node's metrics in the Prometheus text format 0.0.4."""
    flush()
    if _multiprocess_dir is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, _multiprocess_dir)
    for collector in _COLLECTORS:
        registry.register(_GaugesOf(collector))
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
