"""Tenant namespaces, their ResourceQuotas and image pull Secrets.

A namespace may hold several tenants, and a ResourceQuota always applies to a whole namespace, so the
platform owns both: one Namespace and one quota per namespace, sized as the sum of its tenants' pools.
Given a dockerconfigjson, it also creates the engine's image pull Secret (`engine.pull_secret`) in each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.config import TenantConfig
from rustfs_component.config.base import format_quantity, quantity_value


def quota_for(tenants: Sequence[TenantConfig]) -> dict[str, str]:
    """Hard limits fitting exactly the tenants' pools (StatefulSets roll without surge)."""
    pods = claims = 0
    storage = req_cpu = req_mem = lim_cpu = lim_mem = Decimal(0)
    for tenant in tenants:
        for pool in tenant.pools:
            pods += pool.servers
            claims += pool.servers * pool.drives_per_server
            storage += pool.servers * pool.drives_per_server * quantity_value(pool.drive_size)
            req_cpu += pool.servers * quantity_value(pool.resources.requests.cpu)
            req_mem += pool.servers * quantity_value(pool.resources.requests.memory)
            lim_cpu += pool.servers * quantity_value(pool.resources.limits.cpu)
            lim_mem += pool.servers * quantity_value(pool.resources.limits.memory)
    return {
        "pods": str(pods),
        "persistentvolumeclaims": str(claims),
        "requests.storage": format_quantity(storage, "Gi"),
        "requests.cpu": format_quantity(req_cpu, "m"),
        "requests.memory": format_quantity(req_mem, "Mi"),
        "limits.cpu": format_quantity(lim_cpu, "m"),
        "limits.memory": format_quantity(lim_mem, "Mi"),
        # Tenants are exposed through the shared ingress controller, never by their own load balancers.
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }


DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"


def check_docker_config_json(text: str) -> str:
    """`text` if it is a dockerconfigjson (`{"auths": {"<registry>": {...}}}`), else a ValueError saying why
    (never echoing the value: it holds registry credentials)."""
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError("imagePullDockerConfigJson is not JSON (expected {\"auths\": {\"<registry>\": {...}}}, "
                         "e.g. the contents of ~/.docker/config.json)") from None
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict) or not auths or not all(isinstance(v, dict) for v in auths.values()):
        raise ValueError("imagePullDockerConfigJson must be {\"auths\": {\"<registry>\": {...}}} with at least "
                         "one registry")
    return text


@dataclass(frozen=True)
class PullSecret:
    """The image pull Secret to create in every namespace: its name and its dockerconfigjson (a secret)."""

    name: str
    docker_config_json: pulumi.Input[str]

    def __post_init__(self) -> None:
        if isinstance(self.docker_config_json, str):  # known now: check now, before anything is registered
            check_docker_config_json(self.docker_config_json)

    def content(self) -> pulumi.Output[str]:
        """The dockerconfigjson as a secret Output, checked once known."""
        return pulumi.Output.secret(pulumi.Output.from_input(self.docker_config_json).apply(check_docker_config_json))


def create_namespaces(name: str, platform: str, tenants: Sequence[TenantConfig], provider: k8s.Provider,
                      parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = (),
                      pull_secret: PullSecret | None = None) -> dict[str, k8s.core.v1.Namespace]:
    """One Namespace (Pod Security `restricted`) and quota per distinct tenant namespace, and the image pull
    Secret `pull_secret.name` in each when `pull_secret` is given."""
    content = pull_secret.content() if pull_secret else None
    by_namespace: dict[str, list[TenantConfig]] = {}
    for tenant in tenants:
        by_namespace.setdefault(tenant.namespace_name, []).append(tenant)
    opts = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on))
    created: dict[str, k8s.core.v1.Namespace] = {}
    for namespace, members in sorted(by_namespace.items()):
        labels = {"app.kubernetes.io/part-of": platform, "app.kubernetes.io/managed-by": "pulumi",
                  # The engine pods meet the restricted profile; enforce it for anything else here too.
                  "pod-security.kubernetes.io/enforce": "restricted",
                  "pod-security.kubernetes.io/enforce-version": "latest"}
        created[namespace] = k8s.core.v1.Namespace(
            f"{name}-ns-{namespace}", metadata={"name": namespace, "labels": labels}, opts=opts)
        k8s.core.v1.ResourceQuota(
            f"{name}-quota-{namespace}",
            metadata={"name": f"{platform}-tenants", "namespace": namespace, "labels": labels,
                      "annotations": {"rustfs.io/tenants": ",".join(t.name for t in members)}},
            spec={"hard": quota_for(members)},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[created[namespace]])))
        if pull_secret and content is not None:
            k8s.core.v1.Secret(
                f"{name}-pull-{namespace}",
                metadata={"name": pull_secret.name, "namespace": namespace,
                          "labels": {"app.kubernetes.io/part-of": platform, "app.kubernetes.io/managed-by": "pulumi"}},
                type=DOCKER_CONFIG_JSON,
                string_data={".dockerconfigjson": content},
                opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[created[namespace]])))
    return created
