"""Renders the storage engine's container from the engine's own contract, `storage_engine.config`.

Nothing here spells an engine setting: env names come from `env_name()`, values go through
`render_env()` (so the engine's pydantic model validates them), and the drive topology uses the
ellipsis form `storage_engine.topology` parses. The image's entrypoint is `python -m storage_engine`,
so the container's args start with the `server` command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_kubernetes.core.v1 import (ContainerArgsDict, EnvVarArgsDict, PodSecurityContextArgsDict, ProbeArgsDict,
                                       VolumeMountArgsDict)
from storage_engine.config import EngineSettings, env_name, render_env
from storage_engine.topology import parse_pools

ENGINE_PORT = 9000
LISTEN_ADDRESS = f":{ENGINE_PORT}"
DATA_MOUNT_PREFIX = "/data"
TMP_MOUNT = "/tmp"
LIVENESS_PATH = "/rustfs/health/live"
READINESS_PATH = "/rustfs/health/ready"
CONTAINER_NAME = "engine"
RUN_AS_ID = 10001  # the image's numeric non-root user (storage_engine/Containerfile)

# Keys of the tenant's credentials Secret; the env names they feed come from the engine's contract.
ACCESS_KEY_SECRET_KEY = "accessKey"
SECRET_KEY_SECRET_KEY = "secretKey"


@dataclass(frozen=True)
class PoolTopology:
    """Where one pool's servers live: StatefulSet `<statefulset>` governed by headless Service `<service>`."""

    statefulset: str
    headless_service: str
    namespace: str
    servers: int
    drives_per_server: int
    cluster_domain: str = "cluster.local"


def _range(count: int) -> str:
    return "0" if count == 1 else f"{{0...{count - 1}}}"


def drive_paths(drives_per_server: int) -> list[str]:
    """Mount paths of one server's drives: `/data0`, `/data1`, ..."""
    return [f"{DATA_MOUNT_PREFIX}{i}" for i in range(drives_per_server)]


def topology_expressions(pools: Sequence[PoolTopology]) -> list[str]:
    """One ellipsis expression per pool, e.g.
    `http://t1-pool0-{0...3}.t1-pool0-hl.ns.svc.cluster.local:9000/data{0...3}`.

    A tenant of one single-server pool uses local paths (`/data{0...3}`): there are no peers to reach.
    """
    if len(pools) == 1 and pools[0].servers == 1:
        return [f"{DATA_MOUNT_PREFIX}{_range(pools[0].drives_per_server)}"]
    return [
        f"http://{p.statefulset}-{_range(p.servers)}.{p.headless_service}.{p.namespace}.svc.{p.cluster_domain}"
        f":{ENGINE_PORT}{DATA_MOUNT_PREFIX}{_range(p.drives_per_server)}"
        for p in pools
    ]


def server_args(pools: Sequence[PoolTopology]) -> list[str]:
    """The container args: `server --address :9000 <one expression per pool>`."""
    expressions = topology_expressions(pools)
    # Validate through the engine's own settings model and topology parser, so a bad render fails here
    # at preview time rather than in a crash-looping pod.
    EngineSettings.model_validate({"address": LISTEN_ADDRESS, "volumes": " ".join(expressions)})
    parse_pools(expressions)
    return ["server", "--address", LISTEN_ADDRESS, *expressions]


def engine_env(credentials_secret: str, settings: Mapping[str, Any]) -> list[EnvVarArgsDict]:
    """Container env: the tenant's extra settings (validated by `render_env`), then the root credentials
    by reference to the tenant's Secret (`secretKeyRef`), so no secret value appears in the pod spec."""
    env: list[EnvVarArgsDict] = [{"name": name, "value": value}
                                 for name, value in sorted(render_env(**settings).items())]
    for field, key in (("access_key", ACCESS_KEY_SECRET_KEY), ("secret_key", SECRET_KEY_SECRET_KEY)):
        env.append({"name": env_name(field),
                    "value_from": {"secret_key_ref": {"name": credentials_secret, "key": key}}})
    return env


def _probe(path: str, period: int, failures: int) -> ProbeArgsDict:
    return {"http_get": {"path": path, "port": "s3", "scheme": "HTTP"},
            "period_seconds": period, "timeout_seconds": 5, "failure_threshold": failures}


def engine_container(*, image: str, pools: Sequence[PoolTopology], drives_per_server: int,
                     credentials_secret: str, settings: Mapping[str, Any],
                     resources: Mapping[str, Mapping[str, str]]) -> ContainerArgsDict:
    """The engine container of one pool's pods (a `ContainerArgsDict`-shaped dict, snake_case keys)."""
    mounts: list[VolumeMountArgsDict] = [
        {"name": f"data{i}", "mount_path": path} for i, path in enumerate(drive_paths(drives_per_server))]
    mounts.append({"name": "tmp", "mount_path": TMP_MOUNT})
    return {
        "name": CONTAINER_NAME,
        "image": image,
        "image_pull_policy": "IfNotPresent",
        "args": server_args(pools),
        "env": engine_env(credentials_secret, settings),
        "ports": [{"name": "s3", "container_port": ENGINE_PORT, "protocol": "TCP"}],
        "volume_mounts": mounts,
        "resources": {"requests": dict(resources["requests"]), "limits": dict(resources["limits"])},
        # The startup probe gives a pool time to find quorum before liveness may restart it.
        "startup_probe": _probe(LIVENESS_PATH, period=5, failures=60),
        "liveness_probe": _probe(LIVENESS_PATH, period=10, failures=3),
        "readiness_probe": _probe(READINESS_PATH, period=5, failures=3),
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": RUN_AS_ID,
            "run_as_group": RUN_AS_ID,
            "allow_privilege_escalation": False,
            "read_only_root_filesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
    }


def pod_security_context() -> PodSecurityContextArgsDict:
    """Pod-level security: volumes are group-owned by the engine's uid, changed only when needed."""
    return {
        "run_as_non_root": True,
        "run_as_user": RUN_AS_ID,
        "run_as_group": RUN_AS_ID,
        "fs_group": RUN_AS_ID,
        "fs_group_change_policy": "OnRootMismatch",
        "seccomp_profile": {"type": "RuntimeDefault"},
    }
