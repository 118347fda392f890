"""GET /rustfs/health/cluster (docs/observability.md, api/health.py) on a real engine of 4 drives (EC:2:
a write needs 3 drives, a read 2) that loses drives while it runs: 200 while every set has its write
quorum, 503 once it has not, 200 again when the drives come back; ``?maintenance=true`` answers 412 (a
single node holds every drive: taking it down loses the quorum); the quorum headers say what a write and a
read need.

A drive is made unavailable by moving its format file away (the engine then takes it offline and writes
nothing to it) and back.
"""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import EngineServer

ENV = {"RUSTFS_HEAL_INTERVAL_SECONDS": "0", "RUSTFS_METRICS_AUTH": "public"}
NOTICE_TIMEOUT = 40.0


def get(server: EngineServer, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def offline_drives(server: EngineServer) -> float:
    status, _, body = get(server, "/rustfs/metrics")
    assert status == 200
    match = re.search(r"^rustfs_cluster_drives_offline (\S+)$", body.decode(), re.M)
    assert match, body[:1000]
    return float(match.group(1))


def wait_for(check: Callable[[], bool], what: str, server: EngineServer) -> None:
    deadline = time.monotonic() + NOTICE_TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {NOTICE_TIMEOUT:.0f}s: {what}\n{server.log_tail()}")


def unplug(drive: Path) -> None:
    """The drive's format goes away (as when another disk is mounted there): the engine takes it offline
    and writes nothing to it."""
    (drive / ".rustfs.sys" / "format.json").rename(drive.with_name(drive.name + ".format.json"))


def plug(drive: Path) -> None:
    drive.with_name(drive.name + ".format.json").replace(drive / ".rustfs.sys" / "format.json")


def test_cluster_health_follows_the_write_quorum(make_engine: Callable[..., Any]) -> None:
    server: EngineServer = make_engine(env=ENV, name="health-cluster")
    status, headers, body = get(server, "/rustfs/health/cluster")
    assert status == 200, body
    assert headers["x-rustfs-write-quorum"] == "3"
    assert headers["x-rustfs-read-quorum"] == "2"
    # One node holds all 4 drives: taking it down would lose every set's quorum.
    assert get(server, "/rustfs/health/cluster?maintenance=true")[0] == 412
    assert get(server, "/rustfs/health/cluster?maintenance=false")[0] == 200

    d1, d2 = server.drives[0], server.drives[1]
    unplug(d1)
    try:
        wait_for(lambda: offline_drives(server) == 1, "the engine noticed d1 gone", server)
        assert get(server, "/rustfs/health/cluster")[0] == 200       # 3 of 4: still the write quorum
        unplug(d2)
        try:
            wait_for(lambda: get(server, "/rustfs/health/cluster")[0] == 503, "503 with 2 of 4 drives", server)
            status, headers, _ = get(server, "/rustfs/health/cluster")
            assert headers["x-rustfs-write-quorum"] == "3"
            assert get(server, "/rustfs/health/cluster?maintenance=true")[0] == 503
            assert get(server, "/rustfs/health/live")[0] == 200
        finally:
            plug(d2)
    finally:
        plug(d1)
    wait_for(lambda: offline_drives(server) == 0, "the drives back online", server)
    assert get(server, "/rustfs/health/cluster")[0] == 200


def test_cluster_health_needs_no_credentials_and_takes_no_bucket(make_engine: Callable[..., Any]) -> None:
    server: EngineServer = make_engine(name="health-cluster-head")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        conn.request("HEAD", "/rustfs/health/cluster")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("x-rustfs-write-quorum") == "3"
    finally:
        conn.close()
    # A signed S3 call still sees no bucket named "rustfs".
    status, _ = server.request("GET", "/")
    assert status == 200


def test_four_local_nodes_one_stopped(tmp_path: Path) -> None:
    """4 nodes x 2 drives (one set of 8, EC:4: a write needs 5 drives): all up, any node may go down for
    maintenance (6 left); one stopped, the others still have the quorum (200) but none may go (412)."""
    from tests.cluster.test_node_processes import Node, endpoints, wait_until
    from tests.conftest import free_ports

    ports = free_ports(4)
    drives = endpoints(tmp_path, ports)
    nodes = [Node(tmp_path, port, drives) for port in ports]

    def cluster(node: Node, query: str = "") -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=15)
        try:
            conn.request("GET", "/rustfs/health/cluster" + query)
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader("x-rustfs-write-quorum", "")
        except OSError:
            return 0, ""
        finally:
            conn.close()

    try:
        for node in nodes:
            node.start()
        wait_until(lambda: all(node.ready() == 200 for node in nodes), "the 4 nodes ready", nodes)
        for node in nodes:
            assert cluster(node) == (200, "5")
            assert cluster(node, "?maintenance=true")[0] == 200
        nodes[3].stop()
        survivors = nodes[:3]
        wait_until(lambda: all(cluster(node, "?maintenance=true")[0] == 412 for node in survivors),
                   "the survivors see node 4 gone", survivors)
        for node in survivors:
            assert cluster(node) == (200, "5")
    finally:
        for node in nodes:
            node.stop()
