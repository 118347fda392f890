"""A real Prometheus (tests/prometheus_server.py) scrapes a real engine with its bearer token; after S3 traffic
its HTTP API answers the request, capacity, health and bucket usage series (docs/metrics.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.prometheus_server import PrometheusServer, unavailable

TOKEN = "prometheus-e2e-" + uuid.uuid4().hex

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")


def test_prometheus_scrapes_requests_capacity_health_and_usage(make_engine: Callable[..., Any],
                                                               tmp_path: Path) -> None:
    server = make_engine(env={"RUSTFS_METRICS_TOKEN": TOKEN, "RUSTFS_SCANNER_INTERVAL_SECONDS": "1",
                              "RUSTFS_SCANNER_DELAY": "0"}, name="prom-engine")
    node = server.address
    with PrometheusServer(tmp_path / "prometheus", [node], token=TOKEN) as prom:
        prom.wait_for('up{job="rustfs"} == 1', what="the engine scraped with its bearer token")

        s3 = server.client()
        bucket = "prom-" + uuid.uuid4().hex[:12]
        s3.create_bucket(Bucket=bucket)
        for i in range(5):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x" * (1000 * (i + 1)))
        s3.get_object(Bucket=bucket, Key="k0")["Body"].read()
        with pytest.raises(Exception):
            s3.get_object(Bucket=bucket, Key="missing")

        # Requests: counts per api and bucket, errors by code, latency histograms.
        prom.wait_for(f'rustfs_s3_requests_total{{api="PutObject",bucket="{bucket}"}} == 5')
        prom.wait_for(f'rustfs_s3_errors_total{{api="GetObject",bucket="{bucket}",code="NoSuchKey",status="404"}} == 1')
        prom.wait_for(f'rustfs_s3_request_duration_seconds_count{{api="PutObject",bucket="{bucket}"}} == 5')
        prom.wait_for(f'rustfs_s3_ttfb_seconds_bucket{{api="GetObject",bucket="{bucket}",le="+Inf"}} == 2')
        prom.wait_for(f'rustfs_s3_received_bytes_total{{api="PutObject",bucket="{bucket}"}} >= 15000')

        # Capacity and health, as this node sees the cluster.
        online = prom.wait_for('rustfs_drive_online == 1', what="drives online")
        assert {r["metric"]["drive"] for r in online} == {str(d) for d in server.drives}
        assert {r["metric"]["node"] for r in online} == {node}
        prom.wait_for(f'rustfs_node_online{{node="{node}"}} == 1')
        prom.wait_for('rustfs_cluster_drives_online == 4 and rustfs_cluster_drives_offline == 0')
        prom.wait_for('rustfs_cluster_free_bytes > 0 and rustfs_cluster_free_bytes <= rustfs_cluster_total_bytes')
        prom.wait_for(f'sum(rustfs_drive_total_bytes{{node="{node}"}}) == sum(rustfs_node_total_bytes)')
        prom.wait_for('rustfs_erasure_set_writable{pool="0",set="0"} == 1 '
                      'and rustfs_erasure_set_drives_online >= rustfs_erasure_set_write_quorum')

        # Bucket usage from the scanner.
        prom.wait_for(f'rustfs_bucket_objects{{bucket="{bucket}"}} == 5', what="the usage scanner's figures")
        prom.wait_for(f'rustfs_bucket_bytes{{bucket="{bucket}"}} == 15000')
        prom.wait_for('rustfs_usage_scan_last_completed_timestamp_seconds > 0')
