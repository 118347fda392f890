"""Nodes as real processes on loopback, in the README's local form (one drive list, one --address each).

The full Kubernetes-shaped cluster (the component's rendered StatefulSet, network namespaces, node loss
and healing) is tests/e2e/test_distributed.py; these check what needs only ports: nodes that refuse a
peer started with another drive list, and the local form itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.conftest import free_ports
from tests.processes import stop_process

REPO = Path(__file__).resolve().parents[2]
ACCESS, SECRET = "node-test-access", "node-test-secret-0123456789"
DEADLINE = 60.0


class Node:
    def __init__(self, root: Path, port: int, drives: list[str]) -> None:
        self.port = port
        self.drives = drives
        self.log_path = root / f"node-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, RUSTFS_ACCESS_KEY=ACCESS, RUSTFS_SECRET_KEY=SECRET, PYTHONPATH=str(REPO))
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "storage_engine", "server", "--address", f"127.0.0.1:{self.port}",
                 *self.drives], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def stop(self) -> None:
        stop_process(self.proc, 15)

    def ready(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/rustfs/health/ready", timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def endpoints(root: Path, ports: list[int], drives_per_node: int = 2) -> list[str]:
    return [f"http://127.0.0.1:{port}{root}/n{n}/d{d}"
            for n, port in enumerate(ports) for d in range(drives_per_node)]


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        node.stop()


def wait_until(condition, what: str, nodes: list[Node]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- :{n.port}\n{n.log()[-3000:]}" for n in nodes)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        for node in nodes:
            assert node.proc is None or node.proc.poll() is None, f":{node.port} exited\n{node.log()[-3000:]}"
        time.sleep(0.2)


def test_a_peer_with_another_drive_list_is_refused(tmp_path: Path, nodes: list[Node]) -> None:
    ports = free_ports(2)
    good = endpoints(tmp_path, ports)
    swapped = good[2:] + good[:2]                       # the same drives in another order: another layout
    first, second = Node(tmp_path, ports[0], good), Node(tmp_path, ports[1], swapped)
    nodes += [first, second]
    first.start()
    second.start()
    wait_until(lambda: "another drive list" in first.log() and "another drive list" in second.log(),
               "both nodes to refuse each other", nodes)
    assert first.ready() == 503 and second.ready() == 503
    assert not any((tmp_path / "n0" / "d0").glob(".rustfs.sys/format.json"))   # nothing formatted
    # Given the same list, the second node is accepted and the cluster comes up.
    second.stop()
    second.drives = good
    second.start()
    wait_until(lambda: first.ready() == 200 and second.ready() == 200, "both nodes ready", nodes)


def test_local_form_serves_one_namespace_from_any_node(tmp_path: Path, nodes: list[Node]) -> None:
    """The README's 4 processes x 2 drives, started last-first: every node serves every object."""
    ports = free_ports(4)
    drives = endpoints(tmp_path, ports)
    for port in reversed(ports):
        node = Node(tmp_path, port, drives)
        nodes.append(node)
        node.start()
    wait_until(lambda: all(n.ready() == 200 for n in nodes), "all nodes ready", nodes)

    def client(port: int):  # type: ignore[no-untyped-def]
        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=ACCESS,
                            aws_secret_access_key=SECRET, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    client(ports[0]).create_bucket(Bucket="shared")
    body = os.urandom(2 * 1024 * 1024 + 3)
    client(ports[1]).put_object(Bucket="shared", Key="a/b.bin", Body=body)
    assert client(ports[2]).get_object(Bucket="shared", Key="a/b.bin")["Body"].read() == body
    listed = client(ports[3]).list_objects_v2(Bucket="shared")
    assert [o["Key"] for o in listed["Contents"]] == ["a/b.bin"]
    # Erasure sets span nodes: every node's drives hold a piece of the object (the PUT was acknowledged at
    # a write quorum; the slowest node's commit may land just after).
    wait_until(lambda: all(any((tmp_path / f"n{n}").rglob("b.bin.xl.meta")) for n in range(4)),
               "a piece of the object on every node", nodes)
