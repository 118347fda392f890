"""The whole platform: cluster, engine image, network allowances and tenants."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from rustfs_component.config.base import DnsLabel, StrictModel
from rustfs_component.config.clusters import (AckCluster, ClusterConfig, EksCluster, ExistingCluster,
                                              TanzuCluster, TkeCluster, check_tiers_defined)
from rustfs_component.config.ingress import IngressConfig, ingress_errors
from rustfs_component.config.kms import KmsConfig, kms_errors
from rustfs_component.config.network import S3Clients
from rustfs_component.config.limits import check_dns_subdomain, platform_errors, raise_at
from rustfs_component.config.monitoring import MonitoringConfig
from rustfs_component.config.tenants import TenantConfig
from rustfs_component.config.tls import TlsConfig, acme_errors

from storage_engine.config import EngineSettings

# repository[:tag]@sha256:<64 hex>: images are pinned by digest so a re-pushed tag never changes a pod.
_IMAGE = re.compile(r"^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(:[\w][\w.-]{0,127})?@sha256:[0-9a-f]{64}$")


class EngineImage(StrictModel):
    """The storage engine's container image (built from storage_engine/Containerfile)."""

    image: str = Field(
        description="Image as 'repository:tag@sha256:<digest>'; the digest is required. Required.")
    pull_secret: Annotated[str, AfterValidator(check_dns_subdomain)] | None = Field(
        default=None,
        description="Name of the imagePullSecret of the engine pods: one that exists in each tenant namespace, or "
                    "the one the component creates there from the secret config `imagePullDockerConfigJson`. "
                    "Default: none.")

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not _IMAGE.match(value):
            raise ValueError("image must be 'repository:tag@sha256:<64 hex digits>'")
        return value

    @property
    def tag(self) -> str:
        name = self.image.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else "latest"


class NetworkAllowances(StrictModel):
    """Where the traffic that tenant NetworkPolicies admit comes from (to the S3 port; all else is denied)."""

    clients: S3Clients = Field(
        default_factory=S3Clients,
        description="S3 clients of every tenant (a tenant's own `clients` replaces it). "
                    "Default: pods in the tenant's own namespace only.")
    ingress_controller_namespace: DnsLabel | None = Field(
        default="ingress-nginx",
        description="Namespace of the ingress controller, admitted to every tenant; null admits none. "
                    "Default 'ingress-nginx'.")
    monitoring_namespace: DnsLabel | None = Field(
        default="monitoring",
        description="Namespace of Prometheus, admitted to every tenant; null admits none. Default 'monitoring'.")


class PlatformConfig(StrictModel):
    """Everything one stack deploys."""

    name: DnsLabel = Field(
        default="rustfs",
        description="Name of the platform: prefixes the cluster, StorageClasses, buckets and users; lowercase, and "
                    "short enough for every name derived from it (rustfs_component.config.limits). Default 'rustfs'.")
    cluster: ClusterConfig = Field(description="The cluster, by `cloud`: eks | ack | tke | tanzu | existing. Required.")
    engine: EngineImage = Field(description="The engine image. Required.")
    network: NetworkAllowances = Field(default_factory=NetworkAllowances, description="Default: see NetworkAllowances.")
    tenants: list[TenantConfig] = Field(default_factory=list, description="Tenants. Default: none.")
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS (on by default). Default: see TlsConfig.")
    ingress: IngressConfig = Field(default_factory=IngressConfig,
                                   description="The way in from outside the cluster. Default: see IngressConfig.")
    kms: KmsConfig = Field(default_factory=KmsConfig,
                           description="Vault, the KMS of every tenant (installed by default). Default: see KmsConfig.")
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig,
        description="Prometheus (kube-prometheus-stack or an existing operator), the tenants' ServiceMonitor, "
                    "alerts and dashboard, Fluent Bit. Default: none. See MonitoringConfig.")

    @model_validator(mode="after")
    def _check(self) -> "PlatformConfig":
        check_tiers_defined(self.cluster)
        names = [t.name for t in self.tenants]
        if len(set(names)) != len(names):
            raise ValueError(f"tenants: duplicate tenant names {names}")
        self._check_node_pools_for_tiers()
        way_in = ingress_errors(self.cluster.cloud, self.ingress, self.network.ingress_controller_namespace,
                                [(t.name, list(t.hosts)) for t in self.tenants])
        if way_in:
            raise ValueError(way_in[0])
        acme = self.tls.acme
        if acme is not None and acme.solver == "route53" and self.cluster.cloud != "eks":
            raise ValueError(f"tls.acme.solver 'route53' applies to cluster.cloud 'eks' only, not "
                             f"'{self.cluster.cloud}' (cert-manager's Route53 identity is an EKS IRSA role): "
                             f"use tls.acme.solver 'http01'")
        acme_way_in = acme_errors(self.tls, self.ingress, self.cluster.cloud)
        if acme_way_in:
            raise ValueError(acme_way_in[0])
        kms = kms_errors(self.kms, self.cluster.cloud, self.tls.enabled)
        if kms:
            raise ValueError(kms[0])
        self._check_monitoring()
        raise_at("PlatformConfig", [
            (("tenants", t, "lifecycle", i, *loc), "COLD: the platform has no cold tier (cluster.cold_tier)", tier)
            for t, tenant in enumerate(self.tenants) for i, entry in enumerate(tenant.lifecycle)
            for loc, tier in entry.tiers() if tier == "COLD" and self.cluster.cold_tier is None])
        raise_at("PlatformConfig", platform_errors(self))  # names the clouds refuse, sizes the volume types refuse
        return self

    def _check_monitoring(self) -> None:
        monitoring, admitted = self.monitoring, self.network.monitoring_namespace
        if monitoring.mode == "install" and admitted != monitoring.namespace:
            raise ValueError(f"monitoring.namespace is '{monitoring.namespace}' but network.monitoring_namespace is "
                             f"{admitted!r}: the tenants' NetworkPolicies would not admit Prometheus; make them equal")
        if monitoring.mode == "existing" and admitted is None:
            raise ValueError("monitoring.mode 'existing' with network.monitoring_namespace null: the tenants' "
                             "NetworkPolicies would not admit Prometheus; set network.monitoring_namespace to its "
                             "namespace")
        if monitoring.logs.enabled and monitoring.mode == "none":
            raise ValueError("monitoring.logs.enabled needs monitoring.mode 'install' or 'existing'")
        if monitoring.mode != "none":
            for tenant in self.tenants:
                if "metrics_enabled" in tenant.engine_settings and not EngineSettings.model_validate(
                        {"metrics_enabled": tenant.engine_settings["metrics_enabled"]}).metrics_enabled:
                    raise ValueError(f"tenants[{tenant.name}].engine_settings.metrics_enabled is false but "
                                     f"monitoring.mode is '{monitoring.mode}': Prometheus would scrape a 404; "
                                     f"drop the setting or set monitoring.mode 'none'")

    def _check_node_pools_for_tiers(self) -> None:
        cluster = self.cluster
        if isinstance(cluster, ExistingCluster):
            return
        pool_tiers = {p.tier for p in cluster.node_pools}
        for tenant in self.tenants:
            for pool in tenant.pools:
                if pool.tier not in pool_tiers:
                    raise ValueError(f"tenants[{tenant.name}].pools[{pool.name}].tier is '{pool.tier}' but "
                                     f"cluster.node_pools has no pool with tier '{pool.tier}'")

    @property
    def manages_nodes(self) -> bool:
        """True when the component creates the node pools (and so labels them by tier)."""
        return isinstance(self.cluster, (EksCluster, AckCluster, TkeCluster, TanzuCluster))
