"""Any conformant cluster: a kubeconfig (or the caller's own provider) and nothing else created."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.clouds.base import ClusterHandle, ColdTierAccess, TenantIdentity, cloud_provider
from rustfs_component.clouds.external_s3 import external_s3_cold_tier
from rustfs_component.config.ingress import IngressConfig
from rustfs_component.config import ExistingCluster, ExternalS3ColdTier, GenericTier


class ExistingClusterResource(pulumi.ComponentResource):
    """Wraps an existing cluster in the same `handle` every cloud gives.

    With `provider` given (the platform's `kubernetes_provider=` or a `kubernetes` provider in its
    `opts.provider`/`providers`), it is used as is, credentials and all, and the component creates none. Otherwise
    a provider is built from `kubeconfig` (secret); without that, a `kubernetes` provider an ancestor component was
    given is used, as Pulumi children inherit it; only then the ambient kubeconfig (`cluster.context`).
    """

    handle: ClusterHandle

    def __init__(self, name: str, config: ExistingCluster, kubeconfig: pulumi.Input[str] | None = None,
                 provider: k8s.Provider | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:k8s:ExistingCluster", name, None, opts)
        if provider is not None and kubeconfig is not None:
            raise ValueError("pass either 'kubernetes_provider' or 'kubeconfig', not both")
        secret_kubeconfig = pulumi.Output.secret(kubeconfig if kubeconfig is not None else "")
        if provider is None:
            def own() -> k8s.Provider:
                return k8s.Provider(
                    f"{name}-k8s", kubeconfig=secret_kubeconfig if kubeconfig is not None else None,
                    context=config.context, opts=pulumi.ResourceOptions(parent=self))
            provider = own() if kubeconfig is not None else cast(k8s.Provider, cloud_provider(self, "kubernetes", own))
        self.handle = ClusterHandle(kubeconfig=secret_kubeconfig, provider=provider)
        self.register_outputs({"kubeconfig": secret_kubeconfig})


class Existing:
    """`cloud: existing` (extra `[existing]`: no SDK beyond pulumi-kubernetes). Takes the platform's
    `kubeconfig` or `kubernetes_provider`."""

    cloud = "existing"
    explicit_arguments: frozenset[str] = frozenset({"kubeconfig", "kubernetes_provider"})

    def create_cluster(self, name: str, config: ExistingCluster, *, opts: pulumi.ResourceOptions,
                       **explicit: Any) -> ClusterHandle:
        return ExistingClusterResource(f"{name}-cluster", config, kubeconfig=explicit.get("kubeconfig"),
                                       provider=explicit.get("kubernetes_provider"), opts=opts).handle

    def storage_class(self, tier: GenericTier) -> tuple[str, dict[str, str]]:
        if tier.provisioner is None:
            raise ValueError("a tier with existing_storage_class has no StorageClass to render")
        return tier.provisioner, dict(tier.parameters)

    def create_cold_tier(self, name: str, config: ExternalS3ColdTier, tenants: Sequence[TenantIdentity],
                         handle: ClusterHandle, *, opts: pulumi.ResourceOptions,
                         secret_access_key: pulumi.Input[str] | None) -> dict[str, ColdTierAccess]:
        return external_s3_cold_tier(config, tenants, secret_access_key)

    def ingress_service_annotations(self, config: IngressConfig) -> dict[str, str]:
        # Unknown cloud: whatever the cluster's load balancer needs goes in ingress.service_annotations.
        return {}


CLOUD = Existing()
