"""The bucket usage scanner (objects/scanner.py) and this node's cluster metrics (metrics/cluster.py),
read back as Prometheus exposition text through prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from storage_helpers import BytesBody, open_layer, run

from storage_engine.config import EngineSettings
from storage_engine.drives.health import CheckedDrive
from storage_engine.metrics.cluster import ClusterView
from storage_engine.metrics.usage import USAGE_KIND, USAGE_NAME, UsageReport
from storage_engine.objects import scanner as scanner_module
from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.types import PutOptions
from storage_engine.topology import Pool

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(view: ClusterView) -> Samples:
    registry = CollectorRegistry()
    registry.register(view)  # type: ignore[arg-type]   # a Collector by duck typing
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def process_samples() -> Samples:
    """The process registry's exposition (what GET /rustfs/metrics serves)."""
    from storage_engine.metrics import exposition

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(exposition().decode()) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def _fill(layer: ErasureObjectLayer) -> None:
    await layer.make_bucket("plain")
    await layer.put_object("plain", "a", BytesBody(b"x" * 1000), PutOptions())
    await layer.put_object("plain", "b", BytesBody(b"y" * 300_000), PutOptions())
    await layer.make_bucket("versioned")
    await layer.set_bucket_versioning("versioned", "Enabled")
    await layer.put_object("versioned", "k", BytesBody(b"1" * 10), PutOptions())
    await layer.put_object("versioned", "k", BytesBody(b"2" * 20), PutOptions())
    await layer.put_object("versioned", "gone", BytesBody(b"3" * 5), PutOptions())
    await layer.delete_object("versioned", "gone")          # a delete marker on top
    await layer.make_bucket("empty")


def test_scanner_counts_objects_versions_and_bytes_and_every_node_reports_the_record(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path, scanner_interval_seconds=0.2, scanner_delay=0)
        try:
            await _fill(layer)
            # The leader (this process: it owns the first drive) saves a record to the config store.
            deadline = time.monotonic() + 30
            report = None
            while time.monotonic() < deadline:
                data = await layer.buckets.config.get(USAGE_KIND, USAGE_NAME)
                report = UsageReport.decode(data) if data else None
                if report is not None and "empty" in report.buckets:
                    break
                await asyncio.sleep(0.1)
            assert report is not None and "empty" in report.buckets
            usage = {name: (u.objects, u.versions, u.bytes) for name, u in report.buckets.items()}
            assert usage == {"plain": (2, 2, 301_000), "versioned": (1, 3, 35), "empty": (0, 0, 0)}
            assert report.completed <= time.time() and report.duration >= 0

            view = ClusterView(layer, [Pool(tuple(str(tmp_path / f"d{i}") for i in range(4)), 4)], "n1:9000")
            await view.refresh()
            samples = scrape(view)
            assert value(samples, "rustfs_bucket_objects", bucket="plain") == 2
            assert value(samples, "rustfs_bucket_versions", bucket="versioned") == 3
            assert value(samples, "rustfs_bucket_bytes", bucket="plain") == 301_000
            assert value(samples, "rustfs_usage_scan_last_completed_timestamp_seconds") == report.completed
        finally:
            await layer.close()
    run(scenario())


def test_scanner_sleeps_elapsed_times_delay_after_each_page(tmp_path: Path, monkeypatch) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path, scanner_interval_seconds=0)
        try:
            await layer.make_bucket("many")
            for i in range(7):
                await layer.put_object("many", f"k{i}", BytesBody(b"z"), PutOptions())
            monkeypatch.setattr(scanner_module, "PAGE_SIZE", 3)
            paces: list[float] = []
            scanner = scanner_module.UsageScanner(layer.placement, layer.buckets, layer.buckets.config,
                                                  interval=0, delay=3.0)
            real_sleep = asyncio.sleep

            async def sleep(seconds: float) -> None:
                paces.append(seconds)
                await real_sleep(0)
            monkeypatch.setattr(scanner_module.asyncio, "sleep", sleep)
            report = await scanner.scan()
            monkeypatch.setattr(scanner_module.asyncio, "sleep", real_sleep)
            assert report.buckets["many"].objects == 7
            assert len(paces) == 3                      # pages of 3, 3, 1: a pause after each
            assert all(0 < p <= scanner_module.MAX_WAIT_SECONDS for p in paces)
            assert layer.scanner.is_leader()            # a single process owns its first drive
        finally:
            await layer.close()
    run(scenario())


def test_cluster_metrics_capacity_quorum_and_an_offline_drive(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        try:
            drives = [str(tmp_path / f"d{i}") for i in range(4)]
            view = ClusterView(layer, [Pool(tuple(drives), 4)], "n1:9000")
            await view.refresh()
            samples = scrape(view)
            labels = {"node": "n1:9000", "drive": drives[0], "pool": "0", "set": "0"}
            total = value(samples, "rustfs_drive_total_bytes", **labels)
            free = value(samples, "rustfs_drive_free_bytes", **labels)
            assert total > 0 and 0 <= free <= total
            assert value(samples, "rustfs_drive_used_bytes", **labels) == total - free
            assert value(samples, "rustfs_drive_online", **labels) == 1
            assert value(samples, "rustfs_node_online", node="n1:9000") == 1
            assert value(samples, "rustfs_cluster_drives_online") == 4
            assert value(samples, "rustfs_cluster_total_bytes") == 4 * total   # one file system under all four
            assert value(samples, "rustfs_node_total_bytes", node="n1:9000") == 4 * total
            assert value(samples, "rustfs_erasure_set_read_quorum", pool="0", set="0") == 2
            assert value(samples, "rustfs_erasure_set_write_quorum", pool="0", set="0") == 3
            assert value(samples, "rustfs_erasure_set_writable", pool="0", set="0") == 1

            # Two drives go offline: the set keeps its read quorum, loses its write quorum.
            for drive in layer.all_sets[0].drives[2:]:
                assert isinstance(drive, CheckedDrive)
                drive._set("offline", "test")       # noqa: SLF001 - what a failed call does
            await view.refresh()
            samples = scrape(view)
            assert value(samples, "rustfs_drive_online", **{**labels, "drive": drives[3]}) == 0
            assert ("rustfs_drive_total_bytes", tuple(sorted({**labels, "drive": drives[3]}.items()))) \
                not in samples
            assert value(samples, "rustfs_cluster_drives_offline") == 2
            assert value(samples, "rustfs_cluster_total_bytes") == 2 * total
            assert value(samples, "rustfs_erasure_set_drives_online", pool="0", set="0") == 2
            assert value(samples, "rustfs_erasure_set_writable", pool="0", set="0") == 0
            assert value(samples, "rustfs_erasure_set_readable", pool="0", set="0") == 1
        finally:
            await layer.close()
    run(scenario())


def test_heal_counters_count_objects_and_bytes_rebuilt(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        try:
            await layer.make_bucket("bkt")
            await layer.put_object("bkt", "big", BytesBody(b"q" * 400_000), PutOptions())
            # Lose one drive's shard of the object, then heal.
            shards = sorted((tmp_path / "d1" / "bkt" / "big.xl.data").glob("*/part.*"))
            assert shards
            shards[0].unlink()
            before_scrape = process_samples()
            before = time.time()
            report = await layer.heal()
            assert report.objects_healed == 1
            after = process_samples()

            def grew(name: str) -> float:
                return after.get((name, ()), 0.0) - before_scrape.get((name, ()), 0.0)
            assert grew("rustfs_heal_objects_healed_total") == 1
            assert grew("rustfs_heal_bytes_healed_total") >= 400_000 // 2     # one shard of k=2
            assert grew("rustfs_heal_errors_total") == 0
            assert value(after, "rustfs_heal_scan_last_completed_timestamp_seconds") >= before
            assert value(after, "rustfs_heal_queue_objects") == 0
        finally:
            await layer.close()
    run(scenario())


def test_scanner_settings_are_engine_settings() -> None:
    settings = EngineSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.scanner_delay == 2.0 and settings.scanner_interval_seconds == 60.0


def test_one_scanner_per_node_among_its_worker_processes(tmp_path: Path) -> None:
    """Two processes on the same drives (workers): the one holding the lock file scans; the other takes over
    once it is gone."""
    async def scenario() -> None:
        layer = await open_layer(tmp_path, scanner_interval_seconds=0)
        try:
            first = scanner_module.UsageScanner(layer.placement, layer.buckets, layer.buckets.config,
                                                interval=0, delay=0)
            second = scanner_module.UsageScanner(layer.placement, layer.buckets, layer.buckets.config,
                                                 interval=0, delay=0)
            assert first.is_leader() and not second.is_leader()
            assert first.is_leader()                    # keeps it
            await first.stop()
            assert second.is_leader()
            await second.stop()
        finally:
            await layer.close()
    run(scenario())
