"""Capacity and health metrics: this node's view of the cluster, computed at scrape time.

    view = ClusterView(layer, pools, node="10.0.0.1:9000")   # cluster.node.Node, once the layer is open
    await view.start()        # first refresh (bounded), then attach to the process's collector
    ...
    await view.stop()

Exported families (names and labels: ``docs/observability.md``, rows in ``docs/metrics.md``):
``rustfs_drive_{total,free,used}_bytes`` (this node's own drives), ``rustfs_drive_online`` (every drive of
the cluster, as this node sees it), ``rustfs_node_online`` (every node; itself 1),
``rustfs_node_{total,free}_bytes`` (this node), ``rustfs_cluster_*`` (totals over the drives this node
reaches), ``rustfs_erasure_set_*`` (quorum per set) and ``rustfs_bucket_*`` / ``rustfs_usage_scan_*`` (the
usage scanner's last record, the same on every node). The ``rustfs_heal_*`` metrics are not the collector's:
the healer updates them as it works (:class:`HealMetrics`), so with several workers they are the node's sums.

Cost: ``collect()`` does no I/O. Drive states are the live ``CheckedDrive`` states; capacities (``statvfs``
locally, one small RPC per remote drive) and the usage record are refreshed in the background every
``REFRESH_SECONDS`` while scrapes come (and for ``IDLE_SECONDS`` after the last one), each call bounded by
``CALL_TIMEOUT`` so a dead peer never holds a scrape up. A refresh that cannot reach a peer's drive marks it
offline (the drive's health check), so a node that dies shows within a scrape interval or two.

Labels: ``node`` is ``host:port`` as the drive endpoints spell it (local paths: this node's host name and
listen port); ``drive`` is the endpoint as configured (a path, or the URL in distributed mode); ``pool`` and
``set`` are 0-based indexes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from storage_engine.drives.base import DiskInfo, Drive, DriveError
from storage_engine.metrics.usage import USAGE_KIND, USAGE_NAME, UsageReport

if TYPE_CHECKING:
    from storage_engine.config import EngineSettings
    from storage_engine.objects.layer import ErasureObjectLayer
    from storage_engine.topology import Pool

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.5       # capacities and the usage record are at most this old while scraped
IDLE_SECONDS = 120.0        # refreshing stops this long after the last scrape (a scrape restarts it)
CALL_TIMEOUT = 1.0          # one drive's disk_info, or the usage record read


def endpoint_node(endpoint: str, local_node: str) -> str:
    """The ``node`` label of a drive endpoint: ``host:port`` of a URL; a local path is ``local_node``."""
    if "://" not in endpoint:
        return local_node
    from storage_engine.cluster.endpoints import parse_endpoint

    parsed = parse_endpoint(endpoint)
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{host}:{parsed.port}"


def local_node_name(settings: EngineSettings, pools: Sequence[Pool], drives: Sequence[Drive | None]) -> str:
    """This node's label: the ``host:port`` of its first URL endpoint (distributed), else its host name
    (a pod's name) and listen port. ``drives`` are the layer's drives in endpoint order."""
    endpoints = [e for pool in pools for e in pool.drives]
    for endpoint, drive in zip(endpoints, drives):
        if "://" in endpoint and drive is not None and drive.is_local:
            return endpoint_node(endpoint, "")
    host = settings.address.rpartition(":")[0].strip("[]") or socket.gethostname()
    return f"{host}:{settings.port}"


@dataclass(frozen=True, slots=True)
class _Slot:
    drive: Drive | None
    label: str              # the endpoint as configured
    node: str
    pool: str
    set: str


class ClusterView:
    """One node's view (see the module docstring); ``collect()`` is called through the process collector."""

    def __init__(self, layer: ErasureObjectLayer, pools: Sequence[Pool], node: str) -> None:
        self.layer = layer
        self.node = node
        endpoints = [e for pool in pools for e in pool.drives]
        slots: list[_Slot] = []
        for es in layer.all_sets:
            for drive in es.drives:
                label = endpoints[len(slots)] if len(slots) < len(endpoints) else getattr(drive, "endpoint", "")
                slots.append(_Slot(drive, label, endpoint_node(label, node), str(es.pool), str(es.index)))
        self.slots = slots
        self.nodes = sorted({s.node for s in slots} | {node})
        self._capacity: dict[str, DiskInfo] = {}        # by drive label; drives reached at the last refresh
        self._usage: UsageReport | None = None
        self._last_scrape = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._last_scrape = time.monotonic()           # refresh for a while from the start
        await self.refresh()
        self._task = asyncio.create_task(self._refresher(), name="cluster-metrics")
        _attach(self)

    async def stop(self) -> None:
        _detach(self)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _refresher(self) -> None:
        while True:
            if time.monotonic() - self._last_scrape > IDLE_SECONDS:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("refreshing the cluster metrics failed")
            await asyncio.sleep(REFRESH_SECONDS)

    def _scraped(self) -> None:
        self._last_scrape = time.monotonic()
        loop = self._loop
        if loop is not None and not self._wake.is_set() and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def refresh(self) -> None:
        """Capacities of the drives online, and the usage record; each call bounded by CALL_TIMEOUT."""
        async def one(slot: _Slot) -> tuple[str, DiskInfo | None]:
            drive = slot.drive
            if drive is None or not getattr(drive, "online", True):
                return slot.label, None
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    return slot.label, await drive.disk_info()
            except (DriveError, TimeoutError, OSError):
                return slot.label, None

        async def usage() -> UsageReport | None:
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    data = await self.layer.buckets.config.get(USAGE_KIND, USAGE_NAME)
            except asyncio.CancelledError:
                raise
            except Exception:                  # below quorum, timed out: keep the last figures
                return self._usage
            return UsageReport.decode(data) if data is not None else None

        found, self._usage = await asyncio.gather(asyncio.gather(*(one(s) for s in self.slots)), usage())
        self._capacity = {label: info for label, info in found if info is not None}

    # --- scrape -------------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        self._scraped()
        slots = self.slots
        online = {s.label: s.drive is not None and bool(getattr(s.drive, "online", True)) for s in slots}
        capacity = {label: info for label, info in self._capacity.items() if online.get(label)}
        drive_labels = ["node", "drive", "pool", "set"]

        total = GaugeMetricFamily("rustfs_drive_total_bytes", "Capacity of this node's drive's file system.",
                                  labels=drive_labels)
        free = GaugeMetricFamily("rustfs_drive_free_bytes", "Free bytes on this node's drive.", labels=drive_labels)
        used = GaugeMetricFamily("rustfs_drive_used_bytes", "Used bytes on this node's drive.", labels=drive_labels)
        drive_online = GaugeMetricFamily("rustfs_drive_online", "1 when the drive is online, as this node sees it.",
                                         labels=drive_labels)
        node_total = node_free = 0
        for s in slots:
            labels = [s.node, s.label, s.pool, s.set]
            drive_online.add_metric(labels, 1 if online[s.label] else 0)
            info = capacity.get(s.label)
            if info is not None and s.node == self.node:
                total.add_metric(labels, info.total)
                free.add_metric(labels, info.free)
                used.add_metric(labels, max(0, info.total - info.free))
                node_total += info.total
                node_free += info.free
        yield from (total, free, used, drive_online)

        node_up = {n: n == self.node for n in self.nodes}
        for s in slots:
            node_up[s.node] = node_up[s.node] or online[s.label]
        nodes = GaugeMetricFamily("rustfs_node_online", "1 when the node answers, as this node sees it.",
                                  labels=["node"])
        for name, up in sorted(node_up.items()):
            nodes.add_metric([name], 1 if up else 0)
        yield nodes
        yield _gauge("rustfs_node_total_bytes", "Capacity of this node's drives.", node_total, node=self.node)
        yield _gauge("rustfs_node_free_bytes", "Free bytes on this node's drives.", node_free, node=self.node)

        drives_up = sum(online.values())
        nodes_up = sum(node_up.values())
        yield _gauge("rustfs_cluster_total_bytes", "Capacity of the drives online, cluster-wide.",
                     sum(i.total for i in capacity.values()))
        yield _gauge("rustfs_cluster_free_bytes", "Free bytes on the drives online, cluster-wide.",
                     sum(i.free for i in capacity.values()))
        yield _gauge("rustfs_cluster_drives_online", "Drives online, as this node sees them.", drives_up)
        yield _gauge("rustfs_cluster_drives_offline", "Drives offline, as this node sees them.",
                     len(slots) - drives_up)
        yield _gauge("rustfs_cluster_nodes_online", "Nodes online, as this node sees them.", nodes_up)
        yield _gauge("rustfs_cluster_nodes_offline", "Nodes offline, as this node sees them.",
                     len(node_up) - nodes_up)
        yield from self._sets()
        yield from self._buckets()

    def _sets(self) -> Iterator[Metric]:
        from storage_engine.erasure.set import write_quorum

        names = ("drives_online", "read_quorum", "write_quorum", "writable", "readable")
        helps = ("Drives of the set online.", "Drives the set needs online to read.",
                 "Drives the set needs online to write.", "1 when the set has its write quorum online.",
                 "1 when the set has its read quorum online.")
        families = [GaugeMetricFamily(f"rustfs_erasure_set_{n}", h, labels=["pool", "set"])
                    for n, h in zip(names, helps)]
        for es in self.layer.all_sets:
            up = len(es.online_drives())
            read_q = es.default_k
            write_q = write_quorum(es.default_k, es.standard_parity)
            labels = [str(es.pool), str(es.index)]
            for family, value in zip(families, (up, read_q, write_q, int(up >= write_q), int(up >= read_q))):
                family.add_metric(labels, value)
        yield from families

    def _buckets(self) -> Iterator[Metric]:
        report = self._usage
        objects = GaugeMetricFamily("rustfs_bucket_objects", "Objects in the bucket (latest versions that are "
                                    "not delete markers), as of the last usage scan.", labels=["bucket"])
        versions = GaugeMetricFamily("rustfs_bucket_versions", "Versions in the bucket (delete markers "
                                     "excluded), as of the last usage scan.", labels=["bucket"])
        size = GaugeMetricFamily("rustfs_bucket_bytes", "Bytes of the bucket's versions, as of the last usage "
                                 "scan.", labels=["bucket"])
        if report is not None:
            for name, usage in sorted(report.buckets.items()):
                objects.add_metric([name], usage.objects)
                versions.add_metric([name], usage.versions)
                size.add_metric([name], usage.bytes)
        yield from (objects, versions, size)
        yield _gauge("rustfs_usage_scan_last_completed_timestamp_seconds",
                     "End of the last bucket usage scan (seconds since the epoch; 0: none yet).",
                     report.completed if report else 0.0)
        yield _gauge("rustfs_usage_scan_duration_seconds", "How long the last bucket usage scan took.",
                     report.duration if report else 0.0)


class HealMetrics:
    """The healer's metrics (``objects/healer.py``), process-wide; with several workers, a scrape sums the
    counters and the queue lengths of the node's workers, and reports the latest pass of any of them."""

    def __init__(self) -> None:
        from storage_engine.metrics import counter, gauge

        self.objects = counter("rustfs_heal_objects_healed",
                               "Objects (and multipart uploads) healed: a shard or a metadata record rebuilt.")
        self.bytes = counter("rustfs_heal_bytes_healed", "Bytes of the shards rebuilt by healing.")
        self.errors = counter("rustfs_heal_errors", "Heals that failed.")
        self.queue = gauge("rustfs_heal_queue_objects",
                           "Objects waiting to be healed (keys queued by reads, writes that missed drives).",
                           multiprocess_mode="livesum")
        self.last_scan = gauge("rustfs_heal_scan_last_completed_timestamp_seconds",
                               "End of the last full heal pass (seconds since the epoch; 0: none yet).",
                               multiprocess_mode="max")

    def healed(self, changed: bool, bytes_rebuilt: int, failed: bool) -> None:
        if changed:
            self.objects.inc()
        if bytes_rebuilt:
            self.bytes.inc(bytes_rebuilt)
        if failed:
            self.errors.inc()


_HEAL_METRICS: HealMetrics | None = None


def heal_metrics() -> HealMetrics:
    """The process's heal metrics (created on first use, in the process registry)."""
    global _HEAL_METRICS
    if _HEAL_METRICS is None:
        _HEAL_METRICS = HealMetrics()
    return _HEAL_METRICS


def _gauge(name: str, doc: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


# --- the process's collector ------------------------------------------------------------------------
class _Collector:
    """Registered once per process; reports the node view attached last (a server has one node)."""

    def describe(self) -> list[Metric]:
        return []                                   # names come at scrape time

    def collect(self) -> Iterator[Metric]:
        if _VIEWS:
            yield from _VIEWS[-1].collect()


_VIEWS: list[ClusterView] = []
_COLLECTOR: _Collector | None = None


def _attach(view: ClusterView) -> None:
    global _COLLECTOR
    _VIEWS.append(view)
    if _COLLECTOR is None:
        _COLLECTOR = _Collector()
        _register(_COLLECTOR)


def _detach(view: ClusterView) -> None:
    if view in _VIEWS:
        _VIEWS.remove(view)


def _register(collector: _Collector) -> None:
    from storage_engine.metrics import register_collector

    register_collector(collector)
