"""Local engine nodes as one distributed store (the README's local form: one drive list, one --address each),
for tests that need several nodes without network namespaces (tests/e2e/test_distributed.py has those)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from boto3.session import Session
from botocore.config import Config

from tests.conftest import free_ports
from tests.processes import stop_process

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 90.0


class LocalNode:
    def __init__(self, root: Path, port: int, endpoints: list[str], env: Mapping[str, str]) -> None:
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.endpoints = endpoints
        self.env = dict(env)
        self.log_path = root / f"node-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
        env.update(self.env, PYTHONPATH=str(REPO))
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "storage_engine", "server", "--address", self.address, *self.endpoints],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
                start_new_session=True)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.address}/rustfs/health/ready", timeout=2) as answer:
                return answer.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        stop_process(self.proc, 15)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def client(self) -> Any:
        """boto3 S3 with the nodes' root credentials (RUSTFS_ACCESS_KEY / RUSTFS_SECRET_KEY of ``env``)."""
        return Session().client(
            "s3", endpoint_url=f"http://{self.address}", region_name="us-east-1",
            aws_access_key_id=self.env["RUSTFS_ACCESS_KEY"], aws_secret_access_key=self.env["RUSTFS_SECRET_KEY"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2, "mode": "standard"}))


@contextmanager
def local_cluster(root: Path, env: Mapping[str, str], nodes: int = 4, drives_per_node: int = 2,
                  warm_drives_per_node: int = 0) -> Iterator[list[LocalNode]]:
    """``nodes`` nodes of ``drives_per_node`` drives under ``root``, all ready; stopped on exit. With
    ``warm_drives_per_node``, each node also serves that many drives of a warm tier pool named WARM (added
    to the tiers of ``env``'s RUSTFS_TIERS)."""
    ports = free_ports(nodes)
    endpoints = [f"http://127.0.0.1:{port}{root}/n{n}/d{d}"
                 for n, port in enumerate(ports) for d in range(drives_per_node)]
    if warm_drives_per_node:
        warm = [f"http://127.0.0.1:{port}{root}/n{n}/warm{d}"
                for n, port in enumerate(ports) for d in range(warm_drives_per_node)]
        tiers = [*json.loads(env.get("RUSTFS_TIERS", "[]")), {"type": "pool", "name": "WARM", "drives": " ".join(warm)}]
        env = {**env, "RUSTFS_TIERS": json.dumps(tiers)}
    started = [LocalNode(root, port, endpoints, env) for port in ports]
    for node in started:
        node.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(node.ready() for node in started):
            if time.monotonic() > deadline or any(n.proc is not None and n.proc.poll() is not None for n in started):
                raise AssertionError("the nodes did not get ready:\n" + "\n".join(n.log_tail() for n in started))
            time.sleep(0.3)
        yield started
    finally:
        for node in started:
            node.stop()
