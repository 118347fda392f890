"""Four local nodes (the README's local form: one drive list, one --address each) scraped by a real Prometheus
that loads the component's own alert rules (rustfs_component/alerts.py, with a short `for:`). Every node reports
the usage scanner's figures; killing a node (the first: the scanner's leader) shows in the survivors' node and drive
series, RustfsNodeOffline / RustfsDriveOffline fire for it, and another node takes the usage scans over."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.local_cluster import LocalNode
from tests.local_cluster import local_cluster as start_local_cluster
from tests.prometheus_server import PrometheusServer, unavailable

ACCESS, SECRET = "metrics-dist-access", "metrics-dist-secret-0123456789"
TOKEN = "metrics-dist-" + uuid.uuid4().hex
TENANT = "dist"
NODES, DRIVES_PER_NODE = 4, 2

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")


@pytest.fixture
def local_cluster(tmp_path: Path) -> Iterator[list[LocalNode]]:
    env = {"RUSTFS_ACCESS_KEY": ACCESS, "RUSTFS_SECRET_KEY": SECRET, "RUSTFS_METRICS_TOKEN": TOKEN,
           "RUSTFS_AUDIT_STDOUT": "false", "RUSTFS_SCANNER_INTERVAL_SECONDS": "1"}
    with start_local_cluster(tmp_path, env, NODES, DRIVES_PER_NODE) as nodes:
        yield nodes


def rules_for_test() -> str:
    """The component's rule group for one tenant, evaluated every second, its alerts firing after 2 s."""
    from rustfs_component.alerts import rule_groups

    groups = rule_groups(TENANT)
    for group in groups:
        group["interval"] = "1s"
        group["rules"] = [dict(rule, **{"for": "2s"}) for rule in group["rules"]
                          if rule["alert"] in ("RustfsNodeOffline", "RustfsDriveOffline")]
        assert len(group["rules"]) == 2
    return yaml.safe_dump({"groups": groups}, sort_keys=False)


def test_a_killed_node_shows_offline_and_its_alert_fires(local_cluster: list[LocalNode], tmp_path: Path) -> None:
    nodes = local_cluster
    with PrometheusServer(tmp_path / "prometheus", [n.address for n in nodes], token=TOKEN,
                          rules=rules_for_test(), labels={"tenant": TENANT}) as prom:
        # Every node sees every node and every drive online.
        prom.wait_for(f'count(up{{job="rustfs"}} == 1) == {NODES}', what="all nodes scraped")
        prom.wait_for(f'count(rustfs_node_online == 1) == {NODES * NODES}', what="every node sees every node")
        prom.wait_for(f'count(rustfs_drive_online == 1) == {NODES * NODES * DRIVES_PER_NODE}')
        prom.wait_for(f'sum(rustfs_cluster_nodes_online) == {NODES * NODES}')
        online = prom.values("rustfs_node_online")
        assert {dict(labels)["node"] for labels in online} == {n.address for n in nodes}
        # Each node reports capacity for its own drives only.
        for node in nodes:
            prom.wait_for(f'count(rustfs_drive_total_bytes{{instance="{node.address}",node="{node.address}"}}) '
                          f'== {DRIVES_PER_NODE}')
        capacity = [dict(labels) for labels in prom.values("rustfs_drive_total_bytes")]
        assert len(capacity) == NODES * DRIVES_PER_NODE
        assert all(labels["node"] == labels["instance"] for labels in capacity)
        assert not [a for a in prom.alerts() if a["labels"].get("alertname") == "RustfsNodeOffline"]

        # One node scans bucket usage; every node reports its figures.
        bucket = "dist-" + uuid.uuid4().hex[:10]
        s3 = client(nodes[1])
        s3.create_bucket(Bucket=bucket)
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"u" * 1000)
        prom.wait_for(f'count(rustfs_bucket_objects{{bucket="{bucket}"}} == 3) == {NODES}',
                      what="every node reports the usage scan")

        victim, survivors = nodes[0], nodes[1:]      # the first drive's node: the usage scanner's leader
        victim.kill()

        # The survivors' next scrapes: the victim and its drives offline, as each of them sees it.
        prom.wait_for(f'count(rustfs_node_online{{node="{victim.address}"}} == 0) == {len(survivors)}',
                      what="every survivor reports the killed node offline")
        prom.wait_for(f'count(rustfs_drive_online{{node="{victim.address}"}} == 0) '
                      f'== {len(survivors) * DRIVES_PER_NODE}', what="and its drives")
        prom.wait_for(f'count(rustfs_cluster_nodes_offline == 1) == {len(survivors)}')
        prom.wait_for(f'count(rustfs_cluster_drives_offline == {DRIVES_PER_NODE}) == {len(survivors)}')
        still = prom.values(f'rustfs_node_online{{node!="{victim.address}"}} == 1')
        assert {dict(labels)["node"] for labels in still} == {n.address for n in survivors}
        # The set keeps its write quorum: 6 of 8 drives.
        prom.wait_for(f'count(rustfs_erasure_set_writable == 1) == {len(survivors)}')

        # The component's rules fire in the real Prometheus, for the killed node only.
        alert = prom.wait_alert("RustfsNodeOffline", "firing")
        assert alert["labels"]["node"] == victim.address and alert["labels"]["tenant"] == TENANT
        prom.wait_alert("RustfsDriveOffline", "firing")
        firing = [a for a in prom.alerts() if a["state"] == "firing"]
        assert {a["labels"]["node"] for a in firing} == {victim.address}
        assert len([a for a in firing if a["labels"]["alertname"] == "RustfsDriveOffline"]) == DRIVES_PER_NODE

        # A dead peer never held a survivor's scrape up: none of their scrapes failed (or timed out, at 1 s)
        # during the last minute, the kill included.
        for node in survivors:
            assert prom.values(f'min_over_time(up{{instance="{node.address}"}}[1m])') \
                == {(("instance", node.address), ("job", "rustfs"), ("tenant", TENANT)): 1.0}

        # Another node takes the usage scans over.
        client(survivors[0]).put_object(Bucket=bucket, Key="after", Body=b"v" * 500)
        prom.wait_for(f'count(rustfs_bucket_objects{{bucket="{bucket}"}} == 4) == {len(survivors)}',
                      what="a survivor scans after the leader died")
        prom.wait_for(f'count(rustfs_bucket_bytes{{bucket="{bucket}"}} == 3500) == {len(survivors)}')


def client(node: LocalNode) -> Any:
    return node.client()
