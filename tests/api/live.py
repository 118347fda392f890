"""S3 endpoints for the API's client-level tests.

- ``fake``: the real HTTP server and SigV4 verification serving ``S3App`` over the in-memory
  ``FakeLayer``, in a thread of this process (fast; no storage involved);
- ``engine``: the real engine subprocess (``tests/conftest.py``'s ``engine`` fixture) over erasure-coded
  drives, once the object layer exists.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from storage_engine.api.app import S3App
from storage_engine.config import EngineSettings
from storage_engine.http.server import serve

from .fake_layer import FakeLayer
from .harness import ACCESS_KEY, SECRET_KEY, settings

REGION = "us-east-1"


@dataclass
class Endpoint:
    url: str
    access_key: str
    secret_key: str
    settings: EngineSettings | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.url.removeprefix("http://").partition(":")
        return host, int(port)

    def client(self, **config: Any) -> Any:
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=REGION,
                            config=Config(retries={"max_attempts": 1}, **config))


class InProcessServer:
    """``http.server.serve`` on an ephemeral loopback port, in a daemon thread with its own loop."""

    def __init__(self, layer: FakeLayer | None = None) -> None:
        self.layer = layer or FakeLayer()
        self.settings = settings(address="127.0.0.1:0", server_domains="s3.test")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._port = 0
        self._thread = threading.Thread(target=self._run, name="s3-fake-server", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def ready(sockets: list[socket.socket]) -> None:
            self._port = sockets[0].getsockname()[1]
            self._ready.set()

        await serve(S3App(self.layer, self.settings), "127.0.0.1", 0, stop=self._stop, on_ready=ready,
                    shutdown_timeout=2.0)

    def start(self) -> Endpoint:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("in-process S3 server did not start")
        return Endpoint(f"http://127.0.0.1:{self._port}", ACCESS_KEY, SECRET_KEY, self.settings)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
