"""A peer node in-process: the real HTTP server with an ``RpcServer`` serving LocalDrives in tmp dirs.

    peer        module-scoped; ``peer.url``, ``peer.drive_path`` (served), ``peer.root`` (its directory)
    settings    the shared engine settings (root credentials the internode secret derives from)

The peer runs on its own uvloop thread, so each test drives it from its own ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop

from storage_engine.cluster.rpc_server import RpcServer
from storage_engine.config import EngineSettings
from storage_engine.drives.local import LocalDrive
from storage_engine.http.server import HttpServer

ACCESS_KEY = "cluster-test-access"
SECRET_KEY = "cluster-test-secret-0123456789abcdef"


def make_settings(**overrides: Any) -> EngineSettings:
    values: dict[str, Any] = {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
    values.update(overrides)
    return EngineSettings(**values)


@dataclass
class Peer:
    url: str
    port: int
    root: Path
    drive_path: str


@contextmanager
def running_peer(root: Path, settings: EngineSettings) -> Iterator[Peer]:
    """A peer serving one LocalDrive at ``root/drive`` on 127.0.0.1:0, stopped on exit."""
    drive_root = root / "drive"
    drive_root.mkdir(parents=True, exist_ok=True)
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        drive = LocalDrive(str(drive_root))
        await drive.prepare()
        rpc = RpcServer(settings)
        rpc.serve_drives({str(drive_root): drive})
        http = HttpServer(rpc)
        sockets = await http.listen("127.0.0.1", 0)
        stop = asyncio.Event()
        holder.update(port=sockets[0].getsockname()[1], loop=asyncio.get_running_loop(), stop=stop)
        ready.set()
        try:
            await stop.wait()
        finally:
            await http.shutdown(2)
            await rpc.close()
            await drive.close()

    thread = threading.Thread(target=uvloop.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the peer did not start"
    port = holder["port"]
    try:
        yield Peer(f"http://127.0.0.1:{port}", port, drive_root, str(drive_root))
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


@pytest.fixture(scope="module")
def settings() -> EngineSettings:
    return make_settings()


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory, settings: EngineSettings) -> Iterator[Peer]:
    with running_peer(tmp_path_factory.mktemp("peer"), settings) as running:
        yield running
