"""One engine process as a node of a cluster (or alone): the composition root of the storage side.

    node = Node(settings, pools)
    node.start()              # background: find our drives, format or wait for quorum, open the layer
    response = await node(request)   # the HTTP app: node-to-node API, health, then S3
    await node.close()

The node serves the node-to-node API at once, before its own object layer exists: peers formatting a
fresh cluster, or waiting for quorum, need our drives while we wait for theirs. Until the layer is open,
readiness, the cluster health check and metrics answer 503 at once, and S3 requests wait up to
``STARTUP_WAIT`` for it, then answer 503; liveness is always 200. Nothing here ever exits the
process for "not yet": DNS, peers and quorum are retried with back-off until they come.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid

from storage_engine import errors
from storage_engine.api import sts as sts_api
from storage_engine.api.app import S3App
from storage_engine.api.router import HEALTH_CLUSTER, HEALTH_LIVE, HEALTH_READY, METRICS
from storage_engine.api.xml import CONTENT_TYPE, error_body
from storage_engine.cluster.config_store import register_config_service
from storage_engine.cluster.endpoints import LocalityResolver, is_distributed, parse_endpoint
from storage_engine.cluster.locks import (DistributedLocker, LocalLocker, Locker, LockTable, RemoteLocker,
                                          register_lock_service)
from storage_engine.cluster.remote_drive import RemoteDrive
from storage_engine.cluster.rpc_client import Peers
from storage_engine.cluster.rpc_server import RPC_PREFIX, RpcServer
from storage_engine.config import EngineSettings
from storage_engine.drives.base import Drive, DriveError
from storage_engine.drives.format import FormatPending, FormatQuorumLost
from storage_engine.drives.local import LocalDrive
from storage_engine.http.types import Request, Response
from storage_engine.metrics.cluster import ClusterView, local_node_name
from storage_engine.objects.layer import ErasureObjectLayer, open_object_layer
from storage_engine.topology import Pool

log = logging.getLogger(__name__)

RETRY_FIRST = 0.5
RETRY_MAX = 5.0
NOTIFY_TIMEOUT = 2.0
STARTUP_WAIT = 5.0             # how long an S3 request waits for a worker that is still starting


class Node:
    def __init__(self, settings: EngineSettings, pools: list[Pool]) -> None:
        self.settings = settings
        self.pools = pools
        self.endpoints = [[parse_endpoint(e) for e in pool.drives] for pool in pools]
        self.distributed = is_distributed(e for pool in pools for e in pool.drives)
        self.node_id = uuid.uuid4().hex
        self.rpc = RpcServer(settings)
        self.lock_table = LockTable()
        register_lock_service(self.rpc, self.lock_table)
        self.topology = topology_digest(pools)
        self.rpc.register_call("node", "ping", self._ping)
        self.peers = Peers(settings)
        self.layer: ErasureObjectLayer | None = None
        self.status = "starting"
        self._s3: S3App | None = None
        self._locker: DistributedLocker | None = None
        self._task: asyncio.Task[None] | None = None
        self._fatal: BaseException | None = None
        self._started = asyncio.Event()
        self._peer_urls: list[str] = []
        self.metrics_view: ClusterView | None = None

    # --- the HTTP app ---------------------------------------------------------------------------------
    async def __call__(self, request: Request) -> Response:
        if request.raw_path.startswith(RPC_PREFIX):
            return await self.rpc(request)
        if self._s3 is not None:
            return await self._s3(request)
        path = request.raw_path
        if path == HEALTH_LIVE:
            return Response(status=200)
        if path == HEALTH_READY:
            return Response(status=503)
        # Workers share one listening socket, so a client that saw a sibling worker ready can reach
        # this one while it still opens its layer (about a second): hold the request briefly, not 503.
        # Probes (health, metrics) are answered at once: they must not hang a load balancer's check.
        if path not in (HEALTH_CLUSTER, METRICS):
            s3 = await self._s3_when_started()
            if s3 is not None:
                return await s3(request)
        error = errors.ServiceUnavailable(f"The server is starting: {self.status}.")
        return Response(status=503, headers=[("Content-Type", CONTENT_TYPE), ("Retry-After", "1")],
                        body=error_body(error, path, ""))

    async def _s3_when_started(self) -> S3App | None:
        """The S3 app once the layer is open, waiting up to ``STARTUP_WAIT``; None if it is not by then."""
        try:
            await asyncio.wait_for(asyncio.shield(self._started.wait()), STARTUP_WAIT)
        except TimeoutError:
            pass
        return self._s3

    # --- startup --------------------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self._start(), name="node-start")
        return self._task

    async def wait_started(self) -> None:
        """Until the object layer is open; re-raises a fatal startup error (bad topology, foreign drives)."""
        await self._started.wait()
        if self._fatal is not None:
            raise self._fatal

    async def _start(self) -> None:
        try:
            drives = await self._open_drives()
            self.layer = await self._open_layer(drives)
            self._s3 = S3App(self.layer, self.settings)
            await self._start_metrics(self.layer)
            self.status = "ready"
            log.info("node ready: %d pool(s), %d drive(s)", len(self.pools), sum(len(p) for p in drives))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:           # reported by wait_started; the server stops on it
            self._fatal = exc
        finally:
            self._started.set()

    async def _open_drives(self) -> list[list[Drive]]:
        """Our endpoints as local drives (served to peers at once), the others as remote drives."""
        local = await self._find_ourselves()
        out: list[list[Drive]] = []
        served: dict[str, Drive] = {}
        for pool in self.endpoints:
            drives: list[Drive] = []
            for endpoint in pool:
                if local[endpoint.url]:
                    drive: Drive = LocalDrive(endpoint.path, group_commit=self.settings.group_commit)
                    served[endpoint.path] = drive
                else:
                    drive = RemoteDrive(self.peers.get(endpoint.base_url), endpoint.path, endpoint.url)
                drives.append(drive)
            out.append(drives)
        self.rpc.serve_drives(served)
        self._peer_urls = sorted({e.base_url for pool in self.endpoints for e in pool if not local[e.url]})
        log.info("this node serves %d of %d drives; %d peer(s)", len(served), sum(len(p) for p in out),
                 len(self._peer_urls))
        return out

    async def _find_ourselves(self) -> dict[str, bool]:
        """Which endpoints are ours. Retries while none is: our own name may not be in DNS yet (a pod
        is published only once it runs). Peers whose names do not resolve yet are peers all the same."""
        resolver = LocalityResolver(self.settings)
        delay = RETRY_FIRST
        while True:
            found = {e.url: await asyncio.to_thread(resolver.is_local, e) for pool in self.endpoints for e in pool}
            if any(found.values()):
                return {url: bool(mine) for url, mine in found.items()}
            unresolved = sum(mine is None for mine in found.values())
            self.status = (f"none of the {len(found)} drive endpoints is this node "
                           f"({unresolved} host names do not resolve yet)")
            log.warning("%s; retrying in %.1fs", self.status, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _open_layer(self, drives: list[list[Drive]]) -> ErasureObjectLayer:
        """Format a fresh cluster (if we own its first drive) or wait for a quorum of formatted drives."""
        locker: DistributedLocker | None = None
        if self.distributed:
            lockers: list[Locker] = [LocalLocker(self.lock_table)]
            lockers += [RemoteLocker(self.peers.get(url)) for url in self._peer_urls]
            locker = self._locker = DistributedLocker(lockers, owner=self.node_id,
                                                      lease=self.settings.lock_lease_seconds)
        owners = [isinstance(pool_drives[0], LocalDrive) for pool_drives in drives]
        delay = RETRY_FIRST
        while True:
            mismatched = await self._mismatched_peers()
            if mismatched:
                self.status = (f"refusing peers started with another drive list: {', '.join(mismatched)} "
                               "(every node must be given the same drives, in the same order)")
                log.error("%s; retrying in %.1fs", self.status, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            try:
                layer = await open_object_layer(self.pools, self.settings, drives=drives, locker=locker,
                                                may_format=lambda pool: owners[pool],
                                                notify=self._notify_config if self.distributed else None)
                break
            except (FormatPending, FormatQuorumLost) as exc:
                self.status = str(exc)
                log.warning("%s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
        register_config_service(self.rpc, layer.buckets.config)
        return layer

    async def _start_metrics(self, layer: ErasureObjectLayer) -> None:
        """This node's capacity and health metrics (``metrics/cluster.py``)."""
        drives = [d for es in layer.all_sets for d in es.drives]
        view = ClusterView(layer, self.pools, local_node_name(self.settings, self.pools, drives))
        await view.start()
        self.metrics_view = view

    async def _ping(self, args: dict[str, object]) -> dict[str, str]:
        del args
        return {"topology": self.topology}

    async def _mismatched_peers(self) -> list[str]:
        """Peers that answer with another topology (a peer not up yet is not a mismatch)."""
        async def ask(url: str) -> str | None:
            try:
                answer = await self.peers.get(url).call("node", "ping", {}, timeout=NOTIFY_TIMEOUT)
            except DriveError:
                return None
            return url if answer.get("topology") != self.topology else None
        found = await asyncio.gather(*(ask(url) for url in self._peer_urls))
        return [url for url in found if url is not None]

    async def _notify_config(self, kind: str, name: str) -> None:
        """Tell every peer a config record changed (best effort: the periodic reload is the backstop)."""
        async def tell(url: str) -> None:
            try:
                await self.peers.get(url).call("config", "changed", {"kind": kind, "name": name},
                                               timeout=NOTIFY_TIMEOUT)
            except DriveError as exc:
                log.info("peer %s missed a config change of %s/%s: %s", url, kind, name, exc)
        await asyncio.gather(*(tell(url) for url in self._peer_urls))

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.metrics_view is not None:
            await self.metrics_view.stop()
        if self.layer is not None:
            await self.layer.close()
        if self._locker is not None:
            await self._locker.close()
        await self.rpc.close()
        await self.peers.close_all()
        await sts_api.close_providers()     # the OpenID providers' HTTP sessions (AssumeRoleWithWebIdentity)


def topology_digest(pools: list[Pool]) -> str:
    """What every node of one cluster must agree on: the pools' drives, in order."""
    text = "\n".join(" ".join(pool.drives) for pool in pools)
    return hashlib.sha256(text.encode()).hexdigest()
