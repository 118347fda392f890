"""The engine's container image: built with buildah and smoke-tested with podman, as CI does.

Builds ``storage_engine/Containerfile`` with ``scripts/image/build`` (wheels on the host, local Debian
base made by ``scripts/image/setup``), starts it the way the component deploys it (read-only root, /tmp
as tmpfs, one volume per drive, ``server --address ... /data{0...3}``, credentials from RUSTFS_* env),
then does an S3 round trip with boto3 and checks the image's safety properties and size.

Skipped where buildah/podman or the base image are missing (a developer's machine), never in CI (``CI``
set): there ``scripts/image/setup`` must have prepared the machine, and a missing tool fails.
``RUSTFS_TEST_IMAGE=<image>`` skips the build and tests that image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "image"
MAX_IMAGE_BYTES = 200 * 1000 * 1000
ACCESS_KEY = "image-smoke-access"
SECRET_KEY = "image-smoke-secret-0123456789abcdef"
ENGINE_UID = 10001
DRIVES = 4
READY_TIMEOUT = float(os.environ.get("RUSTFS_IMAGE_READY_TIMEOUT", "90"))

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(SCRIPTS / "containers.conf"))
    env.setdefault("BUILDAH_ISOLATION", "chroot")
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
    return env


def _tool(name: str) -> str | None:
    return shutil.which(name, path=_env()["PATH"])


def _podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    podman = _tool("podman")
    assert podman is not None
    return subprocess.run([podman, *args], env=_env(), capture_output=True, text=True, check=check,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _unavailable() -> str | None:
    missing = [t for t in ("buildah", "podman") if _tool(t) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (scripts/image/setup installs them)"
    base = os.environ.get("RUSTFS_IMAGE_BASE", "localhost/rustfs-base:bookworm")
    if base.startswith("localhost/") and _podman("image", "exists", base, check=False).returncode != 0:
        return f"base image {base} missing (scripts/image/setup creates it)"
    return None


_REASON = _unavailable()
if _REASON and os.environ.get("CI"):
    raise RuntimeError(f"image test can't run in CI: {_REASON}; .ci/run must call scripts/image/setup first")
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image(image_report: dict[str, str]) -> Iterator[str]:
    """Build the image under a test tag; removed afterwards. ``RUSTFS_TEST_IMAGE=<image>`` tests that
    image instead (e.g. one just built by ``scripts/image/build``), and keeps it."""
    given = os.environ.get("RUSTFS_TEST_IMAGE")
    if given:
        image_report["image"] = given
        yield given
        return
    tag = f"localhost/rustfs-engine:test-{uuid.uuid4().hex[:8]}"
    start = time.monotonic()
    proc = subprocess.run([str(SCRIPTS / "build"), "--tag", tag], env=_env(), capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.fail(f"scripts/image/build failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    image_report["build"] = f"{time.monotonic() - start:.0f}s"
    image_report["build output"] = proc.stdout.strip().splitlines()[-1]
    try:
        yield tag
    finally:
        _podman("rmi", "--force", tag, check=False)


@pytest.fixture(scope="module")
def inspect(image: str) -> dict[str, Any]:
    return json.loads(_podman("image", "inspect", image).stdout)[0]


class Container:
    def __init__(self, name: str, port: int, data: Path) -> None:
        self.name = name
        self.port = port
        self.data = data
        self.url = f"http://127.0.0.1:{port}"

    def logs(self) -> str:
        proc = _podman("logs", "--tail", "80", self.name, check=False)
        return proc.stdout + proc.stderr

    def running(self) -> bool:
        proc = _podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return proc.stdout.strip() == "true"

    def exec(self, *cmd: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return _podman("exec", self.name, *cmd, check=check)


@pytest.fixture(scope="module")
def container(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """The image started as the component deploys it: read-only root, a tmpfs /tmp, one volume per drive
    (one temporary host directory each, owned by the engine's uid), ``server --address ... /data{0...3}``."""
    data = tmp_path_factory.mktemp("image-data")
    os.chmod(data, 0o755)
    mounts: list[str] = []
    for i in range(DRIVES):
        drive = data / f"d{i}"
        drive.mkdir()
        os.chown(drive, ENGINE_UID, ENGINE_UID)
        mounts += ["--volume", f"{drive}:/data{i}:rw"]
    port = _free_port()
    box = Container(f"rustfs-image-test-{uuid.uuid4().hex[:8]}", port, data)
    _podman(
        "run", "--detach", "--name", box.name,
        "--network", "host", "--init", "--no-healthcheck",
        "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,mode=1777,size=64m",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--env", f"RUSTFS_ACCESS_KEY={ACCESS_KEY}", "--env", f"RUSTFS_SECRET_KEY={SECRET_KEY}",
        *mounts,
        image, "server", "--address", f"127.0.0.1:{port}", f"/data{{0...{DRIVES - 1}}}",
    )
    try:
        yield box
    finally:
        _podman("rm", "--force", "--time", "10", box.name, check=False)


@pytest.fixture(scope="module")
def ready(container: Container, image_report: dict[str, str]) -> Container:
    """Wait until the engine in the container answers /rustfs/health/live."""
    deadline = time.monotonic() + READY_TIMEOUT
    last = "no answer"
    start = time.monotonic()
    while time.monotonic() < deadline:
        if not container.running():
            pytest.fail(f"the container exited before it was ready:\n{container.logs()}")
        try:
            with urllib.request.urlopen(f"{container.url}/rustfs/health/live", timeout=2) as resp:
                if resp.status == 200:
                    image_report["ready"] = f"{time.monotonic() - start:.1f}s after start"
                    return container
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.25)
    pytest.fail(f"not ready after {READY_TIMEOUT:.0f}s (last: {last}):\n{container.logs()}")


# --- the image as built -----------------------------------------------------------------------------
def test_image_size_under_budget(image: str, inspect: dict[str, Any], image_report: dict[str, str]) -> None:
    size = int(inspect["Size"])
    image_report["size"] = f"{size / 1e6:.0f} MB ({size} bytes)"
    print(f"image {image} size {size / 1e6:.0f} MB")
    assert size < MAX_IMAGE_BYTES, f"image is {size / 1e6:.0f} MB, budget {MAX_IMAGE_BYTES / 1e6:.0f} MB"


def test_image_config(inspect: dict[str, Any]) -> None:
    config = inspect["Config"]
    assert config["User"] in (f"{ENGINE_UID}:{ENGINE_UID}", str(ENGINE_UID))
    assert config["Entrypoint"] == ["/usr/local/bin/tini", "--", "rustfs-engine"]
    assert config["Cmd"][0] == "server"
    assert "9000/tcp" in config.get("ExposedPorts", {})
    labels = config.get("Labels") or {}
    for key in ("title", "version", "revision", "created", "licenses", "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), f"missing OCI label org.opencontainers.image.{key}"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_image_holds_engine_only(image: str) -> None:
    """The engine's pinned dependencies only: no Pulumi SDKs, no component package, no pip, no compilers."""
    lock = (REPO / "storage_engine" / "requirements.lock").read_text()
    pins = dict(line.split("==") for line in lock.splitlines() if line and not line.startswith("#"))
    script = (
        "import importlib.metadata as m, importlib.util as u, json, shutil;"
        "print(json.dumps({'dists': {d.metadata['Name'].lower().replace('_', '-'): d.version for d in m.distributions()},"
        "'modules': {n: u.find_spec(n) is not None for n in ('pulumi', 'pulumi_aws', 'rustfs_component', 'pip', 'storage_engine')},"
        "'tools': {t: shutil.which(t) for t in ('pip', 'pip3', 'gcc', 'cc', 'make')}}))"
    )
    proc = _podman("run", "--rm", "--no-healthcheck", "--read-only", "--entrypoint", "python", image, "-c", script)
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    dists = found["dists"]
    assert dists.pop("rustfs-platform", None), "the engine's distribution is not installed"
    assert dists == pins, f"installed distributions differ from storage_engine/requirements.lock: {dists} != {pins}"
    assert found["modules"] == {"pulumi": False, "pulumi_aws": False, "rustfs_component": False, "pip": False,
                                "storage_engine": True}
    assert {t: p for t, p in found["tools"].items() if p} == {}, "build tools in the final image"


# --- the image running ------------------------------------------------------------------------------
def test_runs_as_non_root(ready: Container) -> None:
    proc = ready.exec("id", "-u", check=True)
    assert proc.stdout.strip() == str(ENGINE_UID)
    # Every process of the container (init, tini, the engine), as the host sees them.
    top = _podman("top", ready.name, "huser", "user", "args").stdout.strip().splitlines()
    rows = [line.split(None, 2) for line in top[1:]]
    assert rows, top
    assert any("storage_engine" in r[2] or "rustfs-engine" in r[2] for r in rows if len(r) == 3), top
    for row in rows:
        assert row[0] == str(ENGINE_UID) and row[1] in ("rustfs", str(ENGINE_UID)), f"process not uid {ENGINE_UID}: {row}"


def test_root_filesystem_is_read_only(ready: Container) -> None:
    assert ready.exec("sh", "-c", "echo x > /opt/venv/x").returncode != 0
    assert ready.exec("sh", "-c", "echo x > /etc/x").returncode != 0
    assert ready.exec("sh", "-c", "echo x > /tmp/x && rm /tmp/x").returncode == 0
    assert ready.exec("sh", "-c", "test -w /data0 && test -w /data3").returncode == 0


def test_s3_round_trip(ready: Container) -> None:
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=ready.url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                      region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                                    connect_timeout=10, read_timeout=60))
    bucket = f"image-smoke-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    small = b"hello from the container\n"
    large = os.urandom(3 * 1024 * 1024 + 17)  # several erasure blocks, not inline
    s3.put_object(Bucket=bucket, Key="small.txt", Body=small)
    s3.put_object(Bucket=bucket, Key="dir/large.bin", Body=large)

    assert s3.get_object(Bucket=bucket, Key="small.txt")["Body"].read() == small
    got = s3.get_object(Bucket=bucket, Key="dir/large.bin")["Body"].read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(large).hexdigest()
    head = s3.head_object(Bucket=bucket, Key="dir/large.bin")
    assert head["ContentLength"] == len(large)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert sorted(keys) == ["dir/large.bin", "small.txt"]
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    # The data landed on the mounted volumes, not in the container.
    written = [p for p in ready.data.rglob("*") if p.is_file()]
    assert written, "nothing written to the data volumes"
    assert all(p.stat().st_uid == ENGINE_UID for p in written)

    s3.delete_object(Bucket=bucket, Key="small.txt")
    s3.delete_object(Bucket=bucket, Key="dir/large.bin")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    s3.delete_bucket(Bucket=bucket)


def test_stops_on_sigterm(ready: Container, image_report: dict[str, str]) -> None:
    """``podman stop`` (SIGTERM through the inits) ends the engine well within the grace period."""
    start = time.monotonic()
    _podman("stop", "--time", "20", ready.name)
    elapsed = time.monotonic() - start
    image_report["stop"] = f"{elapsed:.1f}s"
    assert not ready.running()
    code = _podman("inspect", "--format", "{{.State.ExitCode}}", ready.name).stdout.strip()
    assert elapsed < 15, f"stop took {elapsed:.1f}s (SIGKILL after 20s)"
    assert code in ("0", "143"), f"exit code {code}\n{ready.logs()}"
