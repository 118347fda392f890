"""run_server as a real process (with a fake app): readiness line, workers, graceful SIGTERM."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port: int, workers: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.protocol.fake_engine", f"127.0.0.1:{port}", str(workers)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            assert f"127.0.0.1:{port}" in line
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"server did not start: {proc.stdout.read()}")


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


@pytest.mark.parametrize("workers", [1, 2])
def test_serves_and_shuts_down_gracefully(workers: int) -> None:
    port = free_port()
    proc = start(port, workers)
    try:
        pids = {get(port, "/pid")[1] for _ in range(40)}
        assert 1 <= len(pids) <= workers
        result: list[tuple[int, bytes]] = []
        slow = threading.Thread(target=lambda: result.append(get(port, "/slow?seconds=1.5")))
        slow.start()
        time.sleep(0.5)
        code, out = stop(proc)
        slow.join(10)
        assert result == [(200, b"slow done")]       # the in-flight request finished
        assert code == 0, out
        assert out.count("closed layer") == workers   # every worker closed its layer
        assert "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_port_in_use_fails_cleanly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-m", "tests.protocol.fake_engine", f"127.0.0.1:{port}", "1"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "cannot listen" in done.stderr and "Traceback" not in done.stderr


def test_workers_die_with_a_killed_parent() -> None:
    port = free_port()
    proc = start(port, 2)
    try:
        assert get(port, "/pid")[0] == 200
        os.kill(proc.pid, signal.SIGKILL)              # the parent only, no chance to clean up
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                get(port, "/pid", timeout=1)
            except OSError:
                break                                  # nobody serves the port any more
            time.sleep(0.1)
        else:
            raise AssertionError("orphaned workers kept serving after the parent was killed")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_the_default_is_one_worker_per_cpu_and_one_in_distributed_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import SecretStr

    from storage_engine.config import EngineSettings
    from storage_engine.server import usable_cpus, worker_count
    from storage_engine.topology import Pool

    cpus = usable_cpus()
    monkeypatch.delenv("RUSTFS_WORKERS", raising=False)      # tests/conftest.py pins the tests' engines to 1
    settings = EngineSettings(address="127.0.0.1:0", access_key="a", secret_key=SecretStr("b" * 16))
    assert settings.workers == 0
    local = [Pool(("/d1", "/d2", "/d3", "/d4"), 4)]
    remote = [Pool(tuple(f"http://node{n}:9000/d{d}" for n in (1, 2) for d in (1, 2)), 4)]
    assert worker_count(settings, local) == cpus
    assert worker_count(settings.model_copy(update={"workers": 3}), local) == 3
    assert worker_count(settings.model_copy(update={"workers": 3}), remote) == 1
    assert worker_count(settings, remote) == 1
    port = free_port()
    proc = start(port, 0)                         # the fake engine's readiness line names the count
    try:
        code, out = stop(proc)
        assert code == 0 and out.count("closed layer") == cpus, out
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(("cpu_max", "limit"), [("max 100000", None), ("200000 100000", 2), ("150000 100000", 2),
                                                ("50000 100000", 1), ("garbage", None)])
def test_workers_follow_the_cgroup_cpu_quota(tmp_path: Path, cpu_max: str, limit: int | None) -> None:
    from storage_engine.server import usable_cpus

    cpus = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    assert usable_cpus(str(tmp_path / "cpu.max")) == (cpus if limit is None else min(cpus, limit))
    assert usable_cpus(str(tmp_path / "absent")) == cpus
