"""One pool of a tenant: headless Service, StatefulSet and PodDisruptionBudget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core.v1 import PersistentVolumeClaimArgsDict, PodSpecArgsDict
from pulumi_kubernetes.meta.v1 import ObjectMetaArgsDict

from rustfs_component.config import PoolConfig
from rustfs_component.engine import (ENGINE_PORT, EngineKms, PoolTopology, engine_container, pod_security_context,
                                     tls_volume)
from rustfs_component.engine_tiers import EngineTiers
from rustfs_component.identity import EngineIdentity
from rustfs_component.labels import pool_selector

TMP_SIZE = "1Gi"


@dataclass(frozen=True)
class PoolContext:
    """What every pool of a tenant shares."""

    platform: str
    tenant: str
    namespace: str
    labels: Mapping[str, str]
    image: str
    image_pull_secret: str | None
    service_account: str
    credentials_secret: str
    engine_settings: Mapping[str, object]
    topology: Sequence[PoolTopology]  # every write pool of the tenant: each server must know them all
    tls_secret: str | None = None  # the tenant's Certificate Secret: mounted, and HTTPS everywhere; None: plain HTTP
    kms: EngineKms | None = None  # Vault as the KMS (its token and CA mounted); None: the engine's own static key
    identity: EngineIdentity | None = None  # OIDC / LDAP settings and the IAM bootstrap (docs/iam.md "Component")
    tiers: EngineTiers | None = None  # the WARM and COLD tiers every engine of the tenant declares (README "Tiers")
    warm_topology: PoolTopology | None = None  # the pool that is the WARM tier (not in `topology`)


def pool_topology(tenant: str, namespace: str, pool: PoolConfig) -> PoolTopology:
    """Names of a pool's StatefulSet and headless Service: derived from tenant and pool only."""
    return PoolTopology(statefulset=f"{tenant}-{pool.name}", headless_service=f"{tenant}-{pool.name}-hl",
                        namespace=namespace, servers=pool.servers, drives_per_server=pool.drives_per_server)


def _claim_templates(pool: PoolConfig, storage_class: str, labels: Mapping[str, str]) -> list[PersistentVolumeClaimArgsDict]:
    return [{"metadata": {"name": f"data{i}", "labels": dict(labels)},
             "spec": {"access_modes": ["ReadWriteOnce"], "storage_class_name": storage_class,
                      "resources": {"requests": {"storage": pool.drive_size}}}}
            for i in range(pool.drives_per_server)]


def pod_spec(ctx: PoolContext, pool: PoolConfig, node_selector: Mapping[str, str]) -> PodSpecArgsDict:
    """The engine pod of one pool."""
    selector = pool_selector(ctx.tenant, pool.name)
    resources = pool.resources
    spec: PodSpecArgsDict = {
        "service_account_name": ctx.service_account,
        # The engine never calls the Kubernetes API; pod identity webhooks mount their own token.
        "automount_service_account_token": False,
        "enable_service_links": False,
        "termination_grace_period_seconds": 60,
        "security_context": pod_security_context(),
        "containers": [engine_container(
            image=ctx.image, pools=ctx.topology, drives_per_server=pool.drives_per_server,
            credentials_secret=ctx.credentials_secret, settings=ctx.engine_settings, tls=ctx.tls_secret is not None,
            kms=ctx.kms, identity=ctx.identity, tiers=ctx.tiers,
            peers=[ctx.warm_topology] if ctx.warm_topology is not None else [],
            resources={"requests": {"cpu": resources.requests.cpu, "memory": resources.requests.memory},
                       "limits": {"cpu": resources.limits.cpu, "memory": resources.limits.memory}})],
        "volumes": [{"name": "tmp", "empty_dir": {"size_limit": TMP_SIZE}},
                    *([tls_volume(ctx.tls_secret)] if ctx.tls_secret is not None else []),
                    *(ctx.kms.volumes() if ctx.kms is not None else []),
                    *(ctx.identity.volumes() if ctx.identity is not None else []),
                    *(ctx.tiers.volumes() if ctx.tiers is not None else [])],
        # Spread servers over nodes (hard: one node failing must not take two) and zones (best effort).
        "topology_spread_constraints": [
            {"max_skew": 1, "topology_key": "kubernetes.io/hostname", "when_unsatisfiable": "DoNotSchedule",
             "label_selector": {"match_labels": selector}},
            {"max_skew": 1, "topology_key": "topology.kubernetes.io/zone", "when_unsatisfiable": "ScheduleAnyway",
             "label_selector": {"match_labels": selector}}],
    }
    if node_selector:
        spec["node_selector"] = dict(node_selector)
    if ctx.image_pull_secret:
        spec["image_pull_secrets"] = [{"name": ctx.image_pull_secret}]
    return spec


def _template_metadata(ctx: PoolContext, labels: Mapping[str, str]) -> ObjectMetaArgsDict:
    """The pods' labels, and the identity's annotations (the IAM bootstrap document's digest) when there are some."""
    metadata: ObjectMetaArgsDict = {"labels": dict(labels)}
    if ctx.identity is not None and ctx.identity.pod_annotations:
        metadata["annotations"] = dict(ctx.identity.pod_annotations)
    return metadata


def create_pool(name: str, ctx: PoolContext, pool: PoolConfig, storage_class: str,
                node_selector: Mapping[str, str], opts: pulumi.ResourceOptions) -> k8s.apps.v1.StatefulSet:
    """Create the pool's objects; `name` is the logical-name prefix (`<platform>-<tenant>-<pool>`)."""
    topology = pool_topology(ctx.tenant, ctx.namespace, pool)
    selector = pool_selector(ctx.tenant, pool.name)
    labels = {**ctx.labels, **selector, "app.kubernetes.io/component": "server"}
    headless = k8s.core.v1.Service(
        f"{name}-hl",
        metadata={"name": topology.headless_service, "namespace": ctx.namespace, "labels": labels},
        spec={"cluster_ip": "None",
              # Peers must resolve each other before they are Ready: readiness needs quorum.
              "publish_not_ready_addresses": True,
              "selector": selector,
              "ports": [{"name": "s3", "port": ENGINE_PORT, "target_port": "s3", "protocol": "TCP"}]},
        opts=opts)
    statefulset = k8s.apps.v1.StatefulSet(
        name,
        metadata={"name": topology.statefulset, "namespace": ctx.namespace, "labels": labels},
        spec={
            "service_name": topology.headless_service,
            "replicas": pool.servers,
            # All servers start together: a pool forms quorum only with its peers up.
            "pod_management_policy": "Parallel",
            "update_strategy": {"type": "RollingUpdate"},
            "selector": {"match_labels": selector},
            "persistent_volume_claim_retention_policy": {"when_deleted": "Retain", "when_scaled": "Retain"},
            "template": {"metadata": _template_metadata(ctx, labels), "spec": pod_spec(ctx, pool, node_selector)},
            "volume_claim_templates": _claim_templates(pool, storage_class, {**ctx.labels, **selector}),
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[headless])))
    k8s.policy.v1.PodDisruptionBudget(
        f"{name}-pdb",
        metadata={"name": topology.statefulset, "namespace": ctx.namespace, "labels": labels},
        # One server at a time: a drain never takes more drives than the erasure parity can spare.
        spec={"max_unavailable": 1, "selector": {"match_labels": selector}},
        opts=opts)
    return statefulset
