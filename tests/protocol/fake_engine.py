"""``python -m tests.protocol.fake_engine ADDRESS WORKERS``: run_server with a tiny fake app.

The app answers ``/slow?seconds=N`` after N seconds (to test graceful shutdown), ``/pid`` with the
worker's pid, and everything else with the request's method, path and body length.
"""

from __future__ import annotations

import asyncio
import os
import sys

from pydantic import SecretStr

from storage_engine.config import EngineSettings
from storage_engine.http.types import Request, Response
from storage_engine.server import run_server
from storage_engine.topology import Pool


async def app(request: Request) -> Response:
    if request.raw_path == "/slow":
        await asyncio.sleep(float(request.query.get("seconds", "1")))
        return Response(200, [], b"slow done")
    if request.raw_path == "/pid":
        return Response(200, [], str(os.getpid()).encode())
    size = 0
    while chunk := await request.body.read(1 << 20):
        size += len(chunk)
    return Response(200, [("Content-Type", "text/plain")], f"{request.method} {request.raw_path} {size}".encode())


async def factory(settings: EngineSettings, pools: list[Pool]):
    async def close() -> None:
        print(f"closed layer in {os.getpid()}", flush=True)
    return app, close


def main() -> int:
    settings = EngineSettings(address=sys.argv[1], workers=int(sys.argv[2]), access_key="a",
                              secret_key=SecretStr("b" * 16))
    return run_server(settings, [], app_factory=factory)


if __name__ == "__main__":
    sys.exit(main())
