"""A worker that is still opening its object layer holds S3 requests for a moment instead of answering 503.

Workers share one listening socket: a client that saw a sibling worker's readiness probe answer 200 can be
accepted by a worker that is still starting (seen as a 503 on a benchmark's first PUTs).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage_engine.cluster.node import Node
from storage_engine.http.types import Headers, Request
from storage_engine.topology import Pool
from tests.cluster.conftest import make_settings


class _Empty:
    length = 0

    async def read(self, n: int) -> bytes:
        return b""


def _request(path: str) -> Request:
    return Request(method="GET", raw_path=path, query_string="", headers=Headers([("host", "s3.test")]),
                   body=_Empty())  # type: ignore[arg-type]


def test_an_s3_request_that_arrives_during_startup_is_answered_once_the_layer_is_open(tmp_path: Path) -> None:
    async def main() -> None:
        node = Node(make_settings(heal_interval_seconds=0), [Pool(tuple(str(tmp_path / f"d{i}") for i in range(4)), 4)])
        try:
            early = asyncio.create_task(node(_request("/")))
            await asyncio.sleep(0)                     # let it run up to where it waits
            ready = await node(_request("/rustfs/health/ready"))
            assert ready.status == 503                 # the probe still tells the truth about this worker
            assert not early.done()                    # held, not refused
            probe = asyncio.create_task(node(_request("/rustfs/health/cluster")))
            await asyncio.sleep(0)
            assert probe.done() and probe.result().status == 503   # a probe is never held
            node.start()
            await node.wait_started()
            response = await asyncio.wait_for(early, 30)
            assert response.status == 403              # anonymous ListBuckets, answered by the S3 app
            assert (await node(_request("/rustfs/health/ready"))).status == 200
        finally:
            await node.close()
    asyncio.run(main())
