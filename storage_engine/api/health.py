"""``GET /rustfs/health/cluster``: can the cluster take writes, and can this node be taken down?

Unauthenticated, for load balancers and orchestration (as MinIO's ``/minio/health/cluster``):

- 200 when every erasure set of the cluster has its write quorum of drives online, as this node sees
  them (its own drives' health checks, and its peers' for remote drives); else 503;
- ``?maintenance=true``: 412 when taking this node down would leave a set below its write quorum
  (its own drives subtracted), else as above;
- headers ``x-rustfs-write-quorum`` / ``x-rustfs-read-quorum``: the drives a write / read needs, the
  smallest across the sets.

The liveness and readiness probes are ``api/app.py``'s (``S3App._health``).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage_engine.erasure.set import write_quorum
from storage_engine.http.types import Request, Response
from storage_engine.objects.types import ObjectLayer


@dataclass(frozen=True, slots=True)
class SetQuorum:
    pool: int
    index: int
    drives: int
    online: int                  # drives usable now, as this node sees them
    local_online: int            # of which this node's own
    read_quorum: int
    write_quorum: int


def erasure_sets(layer: ObjectLayer) -> list[SetQuorum] | None:
    """Every erasure set's quorum state, or None for a layer without sets (test fakes)."""
    sets = getattr(layer, "all_sets", None)
    if sets is None:
        return None
    result: list[SetQuorum] = []
    for es in sets:
        online = es.online_drives()
        result.append(SetQuorum(
            pool=es.pool, index=es.index, drives=es.n, online=len(online),
            local_online=sum(1 for d in online if getattr(d, "is_local", False)),
            read_quorum=es.default_k, write_quorum=write_quorum(es.default_k, es.standard_parity)))
    return result


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes", "on")


async def handle_cluster(layer: ObjectLayer, request: Request) -> Response:
    sets = erasure_sets(layer)
    if sets is None:
        return Response(status=200)
    headers: list[tuple[str, str]] = []
    if sets:
        headers.append(("x-rustfs-write-quorum", str(min(s.write_quorum for s in sets))))
        headers.append(("x-rustfs-read-quorum", str(min(s.read_quorum for s in sets))))
    if not all(s.online >= s.write_quorum for s in sets):
        return Response(status=503, headers=headers)
    if _truthy(request.query.get("maintenance")) and \
            not all(s.online - s.local_online >= s.write_quorum for s in sets):
        return Response(status=412, headers=headers)
    return Response(status=200, headers=headers)
