"""What every cloud module implements (`Cloud`) and hands downstream (`ClusterHandle`, `ColdTierAccess`).

A cloud module (`rustfs_component/clouds/<cloud>.py`) builds its cluster, names the provisioner and
parameters of its StorageClasses, and builds its cold tier; it is the only module that imports its
cloud's SDK. `rustfs_component.clouds.cloud_for(cloud)` finds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.config.ingress import IngressConfig

TIER_NODE_LABEL = "rustfs.io/tier"
"""Nodes of a tier's node pool carry `rustfs.io/tier=<tier>`; engine pods select on it."""


@dataclass(frozen=True)
class ClusterHandle:
    """The same small handle from every cloud.

    `ready` lists the resources in-cluster objects must wait for (node pools, CSI add-ons): Kubernetes
    objects are applied through `provider` as soon as the API answers, but pods need nodes and volumes.
    `cloud_provider` and `region` are the cloud's provider and region (None and "" where the component
    creates nothing in a cloud account); the cold tier is built with them. A cloud that hands more
    (the EKS OIDC provider) does so with a subclass of its own.
    """

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    ready: Sequence[pulumi.Resource] = field(default_factory=list)
    cloud_provider: pulumi.ProviderResource | None = None
    region: str = ""

    def controller_identity(self, name: str, controller: str, *, namespace: str, service_account: str,
                            opts: pulumi.ResourceOptions, **settings: str) -> "ControllerIdentity":
        """A cloud identity for an in-cluster controller's ServiceAccount `namespace:service_account`, with the
        permissions `controller` needs ('cert-manager-route53', 'aws-load-balancer-controller', 'vault-unseal': a
        KMS key Vault auto-unseals with, `settings` region and kms_key_id); its resources are
        named from `name`. Only clouds with workload identity implement it (EKS: an IRSA role); the config refuses
        the features that need it elsewhere, so reaching this is a bug."""
        raise ValueError(f"{controller}: no workload identity on this cluster's cloud")


@dataclass(frozen=True)
class ControllerIdentity:
    """What `ClusterHandle.controller_identity` hands a controller: its ServiceAccount's annotations, and the cloud
    facts its chart or issuer is configured with (`settings`, e.g. region, cluster name, VPC ID)."""

    service_account_annotations: dict[str, pulumi.Output[str]]
    settings: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    # Credentials for the controller's environment where the cloud has no workload identity for it (secret
    # Outputs; the controller's component puts them in a Secret): variable -> value.
    secret_environment: dict[str, pulumi.Output[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantIdentity:
    """Who needs access: the tenant, and the ServiceAccount its pods run as."""

    tenant: str
    namespace: str
    service_account: str


@dataclass(frozen=True)
class ColdTierAccess:
    """What a tenant is handed: where the bucket is and how to authenticate (keys or a pod identity)."""

    endpoint: str
    region: str
    bucket: pulumi.Output[str]
    prefix: str
    storage_class: str  # x-amz-storage-class the engines write with: always one read without a restore
    access_key_id: pulumi.Output[str] | None = None
    secret_access_key: pulumi.Output[str] | None = None
    service_account_annotations: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    # A pod identity instead of keys (EKS IRSA): the role the engine assumes with its projected token, at `sts_endpoint`.
    role_arn: pulumi.Output[str] | None = None
    sts_endpoint: str = ""
    # The only destinations of the tenants' cold-tier egress (object store, token service); None: 0.0.0.0/0.
    egress_cidrs: pulumi.Input[Sequence[str]] | None = None
    # 'virtual': the bucket in the host name (AWS's preferred style; OSS and COS serve only that), or 'path'.
    addressing: str = "path"
    # The class as the stack names it, recorded in the tenant's cold-tier Secret when it differs from `storage_class`
    # (COS: v0.1.0's ARCHIVE, kept so that the Secret, replaced on any data change, stays as v0.1.0 made it).
    configured_storage_class: str | None = None


class Cloud(Protocol):
    """One cloud, as the platform sees it. Each cloud module exposes one as its module-level `CLOUD`.

    `explicit_arguments`: which of the platform's optional arguments (`kubeconfig`,
    `kubernetes_provider`) this cloud takes; the platform refuses the others before creating anything.
    """

    cloud: str
    explicit_arguments: frozenset[str]

    def create_cluster(self, name: str, config: Any, *, opts: pulumi.ResourceOptions,
                       **explicit: Any) -> ClusterHandle:
        """The cluster's ComponentResource (child of `opts.parent`) for platform `name`; its handle."""
        ...

    def storage_class(self, tier: Any) -> tuple[str, dict[str, str]]:
        """(provisioner, parameters) of the StorageClass of one of this cloud's tiers."""
        ...

    def create_cold_tier(self, name: str, config: Any, tenants: Sequence[TenantIdentity], handle: ClusterHandle,
                         *, opts: pulumi.ResourceOptions,
                         secret_access_key: pulumi.Input[str] | None) -> dict[str, ColdTierAccess]:
        """The cold tier's resources (children per `opts`, named from `name`); what each tenant is handed."""
        ...

    def ingress_service_annotations(self, config: IngressConfig) -> dict[str, str]:
        """Annotations of the ingress controller's LoadBalancer Service on this cloud (scheme, LB type), before
        `config.service_annotations`, which are merged over them."""
        ...


def kubernetes_provider(name: str, kubeconfig: pulumi.Input[str], parent: pulumi.Resource,
                        depends_on: Sequence[pulumi.Resource] = (), *,
                        cluster_identifier: pulumi.Input[str] | None = None) -> k8s.Provider:
    """The provider every in-cluster child of a cluster the component creates uses.

    `cluster_identifier` is the cloud's ID of the cluster (its ARN, cluster ID, object UID): with it,
    pulumi-kubernetes replaces the provider (and every in-cluster resource with it) only when that ID
    changes, i.e. for a new cluster; a new endpoint, CA or token in the kubeconfig is an in-place update.
    The kubeconfig itself holds only stable values too (endpoint, CA, name, an exec credential plugin).
    """
    return k8s.Provider(
        f"{name}-k8s",
        kubeconfig=pulumi.Output.secret(kubeconfig),
        cluster_identifier=cluster_identifier,
        # Explicit: never fall back to the ambient kubeconfig's namespace for namespaced objects.
        namespace="default",
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


def given_provider(opts: pulumi.ResourceOptions | None, package: str) -> pulumi.ProviderResource | None:
    """The provider for `package` ("aws", "kubernetes", ...) given in `opts` itself: `provider=`, or a
    member of `providers=` (a list or a {package: provider} map). Ancestors' providers are not looked at."""
    if opts is None:
        return None
    if opts.provider is not None and opts.provider.package == package:
        return opts.provider
    providers = opts.providers
    if isinstance(providers, Mapping):
        return providers.get(package)
    return next((p for p in providers or [] if p.package == package), None)


def cloud_provider(component: pulumi.Resource, package: str,
                   create: Callable[[], pulumi.ProviderResource]) -> pulumi.ProviderResource:
    """The cloud provider a cluster component's children use: the caller's, when one for `package` reached
    `component` (its `opts.provider`/`opts.providers`, or an ancestor's, as Pulumi resolves them), else
    `create()`, the component's own. Never both: given a provider, the component creates none."""
    given = component.get_provider(f"{package}:index:Provider")
    return given if given is not None else create()


def render_kubeconfig(*, cluster_name: str, server: str, ca_data: str, user: dict[str, Any]) -> str:
    """A one-cluster kubeconfig as deterministic JSON (valid YAML), so equal inputs give equal text."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": user}],
        "preferences": {},
    }
    return json.dumps(config, sort_keys=True, indent=2)
