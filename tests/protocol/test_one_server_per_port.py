"""One server per port: a second engine on a port a multi-worker engine holds fails at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from .test_run_server import REPO, free_port, get, start, stop


@pytest.fixture(scope="module")
def holder() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A 2-worker server holding a port for the whole module."""
    port = free_port()
    proc = start(port, 2)
    yield port, proc
    code, out = stop(proc)
    assert code == 0, out


@pytest.mark.parametrize("workers", [1, 2])
def test_second_server_on_a_held_port_fails(holder: tuple[int, subprocess.Popen[str]], workers: int) -> None:
    port, first = holder
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    second = subprocess.run([sys.executable, "-m", "tests.protocol.fake_engine", f"127.0.0.1:{port}", str(workers)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=20)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "address in use" in second.stderr and "Traceback" not in second.stderr
    assert "listening on" not in second.stdout
    # Every answer still comes from the first server's own workers.
    assert first.poll() is None
    answers = [get(port, "/pid") for _ in range(40)]
    assert {status for status, _ in answers} == {200}
    assert {int(pid) for _, pid in answers} <= _worker_pids(first.pid)


def _worker_pids(parent: int) -> set[int]:
    with open(f"/proc/{parent}/task/{parent}/children") as children:
        return {int(pid) for pid in children.read().split()}
