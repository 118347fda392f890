"""Renders the storage engine's container from the engine's own contract, `storage_engine.config`.

Nothing here spells an engine setting: env names come from `env_name()`, values go through
`render_env()` (so the engine's pydantic model validates them), and the drive topology uses the
ellipsis form `storage_engine.topology` parses. The image's entrypoint is `python -m storage_engine`,
so the container's args start with the `server` command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pulumi import Input
from pulumi_kubernetes.core.v1 import (ContainerArgsDict, EnvVarArgsDict, PodSecurityContextArgsDict, ProbeArgsDict,
                                       VolumeArgsDict, VolumeMountArgsDict)
from storage_engine.config import EngineSettings, env_name, render_env
from storage_engine.topology import parse_pools

from rustfs_component.identity import EngineIdentity

if TYPE_CHECKING:
    from rustfs_component.engine_tiers import EngineTiers

ENGINE_PORT = 9000
LISTEN_ADDRESS = f":{ENGINE_PORT}"
DATA_MOUNT_PREFIX = "/data"
TMP_MOUNT = "/tmp"
LIVENESS_PATH = "/rustfs/health/live"
READINESS_PATH = "/rustfs/health/ready"
CONTAINER_NAME = "engine"
TLS_MOUNT = "/etc/rustfs/tls"  # the Certificate's Secret, in the layout of docs/tls.md
TLS_VOLUME = "tls"
# Keys of a cert-manager Secret -> the files the engine reads from its TLS directory (docs/tls.md).
TLS_ITEMS = {"tls.crt": "rustfs_cert.pem", "tls.key": "rustfs_key.pem", "ca.crt": "ca.crt"}
RUN_AS_ID = 10001  # the image's numeric non-root user (storage_engine/Containerfile)
# Vault (docs/encryption.md, "Component"): the ServiceAccount token the engine logs in with, projected for Vault's
# audience (the pod mounts no API token), and the CA of Vault's certificate where the TLS mount's ca.crt is not it.
VAULT_TOKEN_VOLUME = "vault-token"
VAULT_TOKEN_MOUNT = "/var/run/secrets/rustfs/vault"
VAULT_TOKEN_SECONDS = 3600  # the kubelet renews it; the engine reads it at every login
VAULT_CA_VOLUME = "vault-ca"
VAULT_CA_MOUNT = "/etc/rustfs/vault-ca"

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


@dataclass(frozen=True)
class EngineKms:
    """Vault as the engine's KMS: the transit key `key` (also the Kubernetes-auth role's name), logged in to with the
    pod's projected ServiceAccount token for `audience`. `ca_secret`: a Secret in the tenant's namespace whose
    `ca.crt` verifies Vault (mounted at VAULT_CA_MOUNT); None: Vault's certificate comes from the internal CA, whose
    ca.crt the tenant's TLS Secret already carries (TLS_MOUNT)."""

    address: str
    key: str
    audience: str
    ca_secret: str | None = None
    auth_mount: str = "kubernetes"
    transit_mount: str = "transit"

    def settings(self) -> dict[str, Any]:
        """Engine settings by field name (rendered through `render_env`): Vault transit, Kubernetes auth, the
        tenant's key as the default, every new object encrypted."""
        ca = f"{VAULT_CA_MOUNT}/ca.crt" if self.ca_secret is not None else f"{TLS_MOUNT}/{TLS_ITEMS['ca.crt']}"
        return {"kms_backend": "vault", "kms_vault_address": self.address, "kms_vault_ca_file": ca,
                "kms_vault_auth": "kubernetes", "kms_vault_auth_mount": self.auth_mount,
                "kms_vault_transit_mount": self.transit_mount, "kms_vault_kubernetes_role": self.key,
                "kms_vault_kubernetes_jwt_file": f"{VAULT_TOKEN_MOUNT}/token", "kms_default_key_id": self.key,
                "kms_auto_encryption": True}

    def volumes(self) -> list[VolumeArgsDict]:
        volumes: list[VolumeArgsDict] = [{"name": VAULT_TOKEN_VOLUME, "projected": {
            "default_mode": 0o440, "sources": [{"service_account_token": {
                "audience": self.audience, "expiration_seconds": VAULT_TOKEN_SECONDS, "path": "token"}}]}}]
        if self.ca_secret is not None:
            volumes.append({"name": VAULT_CA_VOLUME, "secret": {
                "secret_name": self.ca_secret, "default_mode": 0o440, "items": [{"key": "ca.crt", "path": "ca.crt"}]}})
        return volumes

    def mounts(self) -> list[VolumeMountArgsDict]:
        mounts: list[VolumeMountArgsDict] = [{"name": VAULT_TOKEN_VOLUME, "mount_path": VAULT_TOKEN_MOUNT,
                                              "read_only": True}]
        if self.ca_secret is not None:
            mounts.append({"name": VAULT_CA_VOLUME, "mount_path": VAULT_CA_MOUNT, "read_only": True})
        return mounts


def _range(count: int) -> str:
    return "0" if count == 1 else f"{{0...{count - 1}}}"


def drive_paths(drives_per_server: int) -> list[str]:
    """Mount paths of one server's drives: `/data0`, `/data1`, ..."""
    return [f"{DATA_MOUNT_PREFIX}{i}" for i in range(drives_per_server)]


def topology_expressions(pools: Sequence[PoolTopology], *, tls: bool = False,
                         peers: Sequence[PoolTopology] = ()) -> list[str]:
    """One ellipsis expression per pool, e.g.
    `https://t1-pool0-{0...3}.t1-pool0-hl.ns.svc.cluster.local:9000/data{0...3}` (`http://` without `tls`).

    A tenant of one single-server pool uses local paths (`/data{0...3}`): there are no peers to reach. `peers` are
    the tenant's other pools (its warm tier's): with any, every pool is reached by URL.
    """
    if len(pools) == 1 and pools[0].servers == 1 and not peers:
        return [f"{DATA_MOUNT_PREFIX}{_range(pools[0].drives_per_server)}"]
    return [
        f"{'https' if tls else 'http'}://{p.statefulset}-{_range(p.servers)}.{p.headless_service}.{p.namespace}.svc.{p.cluster_domain}"
        f":{ENGINE_PORT}{DATA_MOUNT_PREFIX}{_range(p.drives_per_server)}"
        for p in pools
    ]


def server_args(pools: Sequence[PoolTopology], *, tls: bool = False,
                peers: Sequence[PoolTopology] = ()) -> list[str]:
    """The container args: `server --address :9000 <one expression per pool>` (`peers`: see topology_expressions)."""
    expressions = topology_expressions(pools, tls=tls, peers=peers)
    # Validate through the engine's own settings model and topology parser, so a bad render fails here
    # at preview time rather than in a crash-looping pod.
    EngineSettings.model_validate({"address": LISTEN_ADDRESS, "volumes": " ".join(expressions)})
    parse_pools(expressions)
    return ["server", "--address", LISTEN_ADDRESS, *expressions]


def engine_env(credentials_secret: str, settings: Mapping[str, Any], *, tls: bool = False,
               kms: EngineKms | None = None, identity: EngineIdentity | None = None,
               tiers: EngineTiers | None = None) -> list[EnvVarArgsDict]:
    """Container env: the tenant's extra settings (validated by `render_env`; with `tls`, the TLS directory; with
    `kms`, Vault's settings, which the tenant's own may override, e.g. `kms_auto_encryption: false`), then the root
    credentials by reference to the tenant's Secret (`secretKeyRef`), so no secret value appears in the pod spec."""
    if kms is not None and kms.ca_secret is None and not tls:
        raise ValueError("Vault's CA comes from the tenant's TLS Secret: kms without ca_secret needs tls")
    # The region always: an engine without an explicit one accepts signatures of any region (docs/iam.md "Regions").
    rendered = {"region": EngineSettings.model_fields["region"].default, **(kms.settings() if kms is not None else {}),
                **(identity.settings if identity is not None else {}), **settings,
                **({"tls_path": TLS_MOUNT} if tls else {})}
    refs = {"access_key": (credentials_secret, ACCESS_KEY_SECRET_KEY),
            "secret_key": (credentials_secret, SECRET_KEY_SECRET_KEY),
            **(identity.secret_env if identity is not None else {})}  # OIDC client secret, LDAP bind password
    # Settings given by reference are validated with a stand-in value (the engine's model may require them), and
    # rendered as secretKeyRef only.
    by_reference = {field: "given-by-secret-reference" for field in refs}
    references = {env_name(field) for field in refs}
    values: dict[str, Input[str]] = {name: value for name, value in render_env(**rendered, **by_reference).items()
                                     if name not in references}
    if tiers is not None and not tiers.empty:  # the cold bucket's name is an Output: rendered once known
        values[env_name("tiers")] = tiers.env_value()
    env: list[EnvVarArgsDict] = [{"name": name, "value": values[name]} for name in sorted(values)]
    for field, (secret, key) in refs.items():
        env.append({"name": env_name(field), "value_from": {"secret_key_ref": {"name": secret, "key": key}}})
    return env


def _probe(path: str, period: int, failures: int, *, tls: bool = False) -> ProbeArgsDict:
    # The kubelet does not verify an HTTPS probe's certificate.
    return {"http_get": {"path": path, "port": "s3", "scheme": "HTTPS" if tls else "HTTP"},
            "period_seconds": period, "timeout_seconds": 5, "failure_threshold": failures}


def engine_container(*, image: str, pools: Sequence[PoolTopology], drives_per_server: int,
                     credentials_secret: str, settings: Mapping[str, Any],
                     resources: Mapping[str, Mapping[str, str]], tls: bool = False,
                     kms: EngineKms | None = None, identity: EngineIdentity | None = None,
                     tiers: EngineTiers | None = None, peers: Sequence[PoolTopology] = ()) -> ContainerArgsDict:
    """The engine container of one pool's pods (a `ContainerArgsDict`-shaped dict, snake_case keys).

    With `tls`, the pod must have the volume `tls_volume()`: it is mounted at `TLS_MOUNT`, where
    `RUSTFS_TLS_PATH` points, and the engine serves (and probes use) HTTPS. With `kms`, the pod must have the volumes
    `kms.volumes()`: the engine uses Vault (`EngineKms`). With `tiers`, the pod must have `tiers.volumes()`: the
    engine declares the tenant's WARM and COLD tiers (`RUSTFS_TIERS`); `peers` are the pools not in `pools` (the
    warm tier's), which the drive expressions must reach."""
    mounts: list[VolumeMountArgsDict] = [
        {"name": f"data{i}", "mount_path": path} for i, path in enumerate(drive_paths(drives_per_server))]
    mounts.append({"name": "tmp", "mount_path": TMP_MOUNT})
    if tls:
        mounts.append({"name": TLS_VOLUME, "mount_path": TLS_MOUNT, "read_only": True})
    if kms is not None:
        mounts += kms.mounts()
    if identity is not None:
        mounts += identity.mounts()
    if tiers is not None:
        mounts += tiers.mounts()
    return {
        "name": CONTAINER_NAME,
        "image": image,
        "image_pull_policy": "IfNotPresent",
        "args": server_args(pools, tls=tls, peers=peers),
        "env": engine_env(credentials_secret, settings, tls=tls, kms=kms, identity=identity, tiers=tiers),
        "ports": [{"name": "s3", "container_port": ENGINE_PORT, "protocol": "TCP"}],
        "volume_mounts": mounts,
        "resources": {"requests": dict(resources["requests"]), "limits": dict(resources["limits"])},
        # The startup probe gives a pool time to find quorum before liveness may restart it.
        "startup_probe": _probe(LIVENESS_PATH, period=5, failures=60, tls=tls),
        "liveness_probe": _probe(LIVENESS_PATH, period=10, failures=3, tls=tls),
        "readiness_probe": _probe(READINESS_PATH, period=5, failures=3, tls=tls),
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


def tls_volume(secret: str) -> VolumeArgsDict:
    """The pod volume of the tenant's certificate Secret, its keys mapped to the engine's file names."""
    return {"name": TLS_VOLUME,
            "secret": {"secret_name": secret, "default_mode": 0o440,  # group-readable: fsGroup is the engine's
                       "items": [{"key": key, "path": path} for key, path in TLS_ITEMS.items()]}}


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
