"""A tenant: one S3 service with its own credentials, pools, Services and network policies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from rustfs_component.clouds import ColdTierAccess
from rustfs_component.config import NetworkAllowances, TenantConfig, TierName
from rustfs_component.engine import (ACCESS_KEY_SECRET_KEY, ENGINE_PORT, SECRET_KEY_SECRET_KEY, EngineKms,
                                     topology_expressions)
from rustfs_component.engine_tiers import ACCESS_KEY_ID_ITEM, SECRET_ACCESS_KEY_ITEM, EngineTiers, lifecycle_defaults
from rustfs_component.identity import EngineIdentity, tenant_identity
from rustfs_component.labels import tenant_labels, tenant_selector
from rustfs_component.network import VaultPeer, tenant_network_policies
from rustfs_component.pool import PoolContext, create_pool, pool_topology
from rustfs_component.services.gateway import tenant_routes
from rustfs_component.services.ingress import WayIn, tenant_ingress
from rustfs_component.services.cert_manager import Issuers, certificate, tenant_dns_names, tls_secret_names
from rustfs_component.services.vault_configure import AUDIENCE, VAULT_POD_SELECTOR, TenantVault, tenant_key
from rustfs_component.tenant_monitoring import (EngineMonitoring, TenantMonitoring, audit_engine,
                                                audit_network_policy, metrics_token, tenant_monitoring)


@dataclass(frozen=True)
class TenantPlacement:
    """Where a tenant runs: namespace, storage classes and node selectors per tier, image."""

    namespace: str
    storage_classes: Mapping[TierName, str]
    image: str
    image_pull_secret: str | None = None
    node_selectors: Mapping[TierName, Mapping[str, str]] = field(default_factory=dict)
    network: NetworkAllowances = field(default_factory=NetworkAllowances)
    cluster_domain: str = "cluster.local"
    way_in: WayIn | None = None  # ingress.kind ingress-nginx | gateway-api: the tenant's hosts get a route
    gateway: tuple[str, str] | None = None  # gateway-api: (name, namespace) of the Gateway the HTTPRoute attaches to
    way_in_after: Sequence[pulumi.Resource] = ()  # the controller / Gateway the route waits for (and outlives on destroy)
    issuers: Issuers | None = None  # TLS on: cert-manager's issuers (docs/tls.md); None: plain HTTP
    vault: TenantVault | None = None  # Vault as the engines' KMS (docs/encryption.md); None: each engine's static key
    monitoring: TenantMonitoring | None = None  # monitoring.mode install | existing (docs/observability.md); None: off
    pod_cidrs: tuple[str, ...] = ()  # the cluster's pod addresses where known: the proxies' (trusted_proxies' default)


class Tenant(pulumi.ComponentResource):
    """Type `rustfs:index:Tenant`. Outputs: `endpoint`, `credentials_secret_name`, `cold_tier_secret_name`,
    `iam_users` (secret: {user: {accessKey, secretKey}} of `identity.users`).

    Every Kubernetes object name starts with the tenant name, so tenants sharing a namespace never collide.
    """

    endpoint: pulumi.Output[str]
    credentials_secret_name: pulumi.Output[str]
    cold_tier_secret_name: pulumi.Output[str | None]
    iam_users: pulumi.Output[dict[str, dict[str, str]]]
    statefulsets: list[k8s.apps.v1.StatefulSet]

    def __init__(self, name: str, config: TenantConfig, placement: TenantPlacement, provider: k8s.Provider,
                 *, platform: str, cold_tier: ColdTierAccess | None = None,
                 depends_on: Sequence[pulumi.Resource] = (), opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:index:Tenant", name, None, opts)
        tenant, namespace = config.name, placement.namespace
        labels = tenant_labels(platform, tenant)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(depends_on))

        annotations = dict(cold_tier.service_account_annotations) if cold_tier else {}
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": tenant, "namespace": namespace, "labels": labels, "annotations": annotations},
            automount_service_account_token=False,
            opts=k8s_opts)

        # Root credentials: generated once, kept in state as secrets, handed to pods by reference only.
        access_key = random.RandomString(f"{name}-access-key", length=20, special=False, upper=True,
                                         lower=False, numeric=True, opts=pulumi.ResourceOptions(parent=self))
        secret_key = random.RandomPassword(f"{name}-secret-key", length=40, special=False,
                                           opts=pulumi.ResourceOptions(parent=self))
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata={"name": f"{tenant}-credentials", "namespace": namespace, "labels": labels},
            type="Opaque",
            string_data=pulumi.Output.secret({ACCESS_KEY_SECRET_KEY: access_key.result,
                                              SECRET_KEY_SECRET_KEY: secret_key.result}),
            opts=k8s_opts)
        self.credentials_secret_name = credentials.metadata.apply(lambda m: m.name or "")

        self.cold_tier_secret_name = pulumi.Output.from_input(None)
        cold_secret = None
        if cold_tier is not None:
            cold_secret = self._cold_tier_secret(name, tenant, namespace, labels, cold_tier, k8s_opts)
            self.cold_tier_secret_name = cold_secret.metadata.apply(lambda m: m.name)

        tls_secret = None
        if placement.issuers is not None:
            tls_secret = self._certificates(name, config, placement, labels, placement.issuers, k8s_opts)
        kms = self._kms(name, tenant, namespace, labels, placement.vault, k8s_opts) if placement.vault else None
        identity = tenant_identity(name, tenant, namespace, labels, config.identity, k8s_opts)
        self.iam_users = identity.users
        engine_identity = self._monitoring(name, config, placement, platform, labels, tls_secret, identity.engine,
                                           k8s_opts)
        # Every pod of the tenant runs the same engine: its write pools' drives, and the same tiers.
        write_pools = [pool_topology(tenant, namespace, pool) for pool in config.write_pools]
        warm = config.warm_pool
        warm_topology = pool_topology(tenant, namespace, warm) if warm is not None else None
        keys = cold_tier is not None and cold_tier.role_arn is None
        tiers = EngineTiers(
            warm_drives=topology_expressions([warm_topology], tls=tls_secret is not None, peers=write_pools)[0]
            if warm_topology is not None else None,
            cold=cold_tier, cold_secret=f"{tenant}-cold-tier" if keys else None)
        ctx = PoolContext(
            platform=platform, tenant=tenant, namespace=namespace, labels=labels, image=placement.image,
            image_pull_secret=placement.image_pull_secret, service_account=tenant,
            credentials_secret=f"{tenant}-credentials", engine_settings=_engine_settings(config, placement),
            topology=write_pools, tls_secret=tls_secret, kms=kms, identity=engine_identity,
            tiers=tiers if not tiers.empty else None, warm_topology=warm_topology)
        # With Vault, engines start once the vault-configure Job has made their key and role.
        pool_opts = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[
            service_account, credentials, *identity.ready, *(placement.vault.ready if placement.vault else []),
            *([cold_secret] if cold_secret is not None else [])]))
        self.statefulsets = [
            create_pool(f"{name}-{pool.name}", ctx, pool, placement.storage_classes[pool.tier],
                        placement.node_selectors.get(pool.tier, {}), pool_opts)
            for pool in config.pools]

        client = k8s.core.v1.Service(
            f"{name}-svc",
            metadata={"name": tenant, "namespace": namespace, "labels": labels},
            spec={"type": "ClusterIP", "selector": tenant_selector(tenant),
                  "ports": [{"name": "s3", "port": ENGINE_PORT, "target_port": "s3", "protocol": "TCP"}]},
            opts=k8s_opts)
        tenant_network_policies(
            name=name, tenant=tenant, namespace=namespace, labels=labels,
            clients=config.clients if config.clients is not None else placement.network.clients,
            ingress_controller_namespace=placement.network.ingress_controller_namespace,
            monitoring_namespace=placement.network.monitoring_namespace,
            cold_tier_endpoint=cold_tier.endpoint if cold_tier else None,
            cold_tier_cidrs=cold_tier.egress_cidrs if cold_tier else None,
            vault=_vault_peer(placement.vault) if placement.vault else None, opts=k8s_opts)
        self._way_in(name, config, placement, labels, k8s_opts)

        self.endpoint = client.metadata.apply(
            lambda m: f"{'https' if tls_secret else 'http'}://{m.name}.{m.namespace}.svc.{placement.cluster_domain}"
                      f":{ENGINE_PORT}")
        self.register_outputs({"endpoint": self.endpoint, "credentialsSecretName": self.credentials_secret_name,
                               "coldTierSecretName": self.cold_tier_secret_name, "iamUsers": self.iam_users})

    def _monitoring(self, name: str, config: TenantConfig, placement: TenantPlacement, platform: str,
                    labels: Mapping[str, str], tls_secret: str | None, engine: EngineIdentity,
                    opts: pulumi.ResourceOptions) -> EngineIdentity:
        """The metrics token, ServiceMonitor, PrometheusRule and dashboard (with monitoring), the audit target's
        settings and egress (with `audit`): returns the engine's identity settings with theirs added."""
        tenant, namespace = config.name, placement.namespace
        parts: list[EngineMonitoring] = []
        if placement.monitoring is not None:
            token_secret, metrics = metrics_token(name, tenant, namespace, labels, opts)
            parts.append(metrics)
            tenant_monitoring(name, platform=platform, tenant=tenant, namespace=namespace, labels=labels,
                              monitoring=placement.monitoring, token_secret=token_secret, tls_secret=tls_secret,
                              cluster_domain=placement.cluster_domain, opts=opts)
        if config.audit is not None:
            parts.append(audit_engine(tenant, config.audit))
            audit_network_policy(name, tenant, namespace, labels, config.audit, opts)
        if not parts:
            return engine
        settings, secret_env = dict(engine.settings), dict(engine.secret_env)
        for part in parts:
            settings.update(part.settings)
            secret_env.update(part.secret_env)
        return replace(engine, settings=settings, secret_env=secret_env)

    def _certificates(self, name: str, config: TenantConfig, placement: TenantPlacement, labels: Mapping[str, str],
                      issuers: Issuers, opts: pulumi.ResourceOptions) -> str:
        """The engine's Certificate (internal CA), and with ACME one for the external hosts; returns the Secret
        the engine mounts."""
        tenant, namespace = config.name, placement.namespace
        hosts: list[str] = list(getattr(config, "hosts", None) or [])
        topology = [pool_topology(tenant, namespace, pool) for pool in config.pools]
        internal, external = tls_secret_names(tenant)
        after = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(issuers.ready)))
        certificate(f"{name}-tls", name=internal, namespace=namespace, labels=dict(labels), issuer=issuers.internal,
                    dns_names=tenant_dns_names(tenant, namespace, [(p.statefulset, p.headless_service, p.servers)
                                                                   for p in topology],
                                               hosts, placement.cluster_domain),
                    opts=after)
        if issuers.external is not None and hosts:
            certificate(f"{name}-external-tls", name=external, namespace=namespace, labels=dict(labels),
                        issuer=issuers.external,
                        dns_names=[n for h in hosts for n in ([h, f"*.{h}"] if issuers.acme_wildcards else [h])],
                        opts=after)
        return internal

    def _kms(self, name: str, tenant: str, namespace: str, labels: Mapping[str, str], vault: TenantVault,
             opts: pulumi.ResourceOptions) -> EngineKms:
        """The engine's Vault settings; for an existing Vault, its CA copied into the tenant's namespace (an installed
        Vault's certificate comes from the internal CA, whose ca.crt the tenant's TLS Secret carries)."""
        access = vault.access
        ca_secret = None
        if not access.installed:
            ca_secret = f"{tenant}-vault-ca"
            k8s.core.v1.Secret(
                f"{name}-vault-ca", metadata={"name": ca_secret, "namespace": namespace, "labels": dict(labels)},
                type="Opaque", data={"ca.crt": vault.ca_bundle if vault.ca_bundle is not None else ""}, opts=opts)
        return EngineKms(address=access.address, key=tenant_key(tenant), audience=AUDIENCE, ca_secret=ca_secret,
                         auth_mount=access.auth_mount, transit_mount=access.transit_mount)

    def _way_in(self, name: str, config: TenantConfig, placement: TenantPlacement, labels: Mapping[str, str],
                opts: pulumi.ResourceOptions) -> None:
        """The Ingress (ingress-nginx) or HTTPRoute (Gateway API) of the tenant's external hosts (docs/tls.md)."""
        way_in = placement.way_in
        if way_in is None or not config.hosts:
            return
        after = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(placement.way_in_after)))
        common = {"tenant": config.name, "namespace": placement.namespace, "labels": labels,
                  "hosts": list(config.hosts), "way_in": way_in, "port": ENGINE_PORT, "opts": after}
        if way_in.config.kind == "ingress-nginx":
            tenant_ingress(name, **common)
        elif placement.gateway is not None:
            tenant_routes(name, gateway=placement.gateway, **common)

    def _cold_tier_secret(self, name: str, tenant: str, namespace: str, labels: Mapping[str, str],
                          access: ColdTierAccess, opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        """Where the tenant's cold tier is, and its keys when the cloud gives keys rather than a pod identity (the
        engines mount those two, `EngineTiers`)."""
        data: dict[str, pulumi.Input[str]] = {
            "endpoint": access.endpoint, "region": access.region, "bucket": access.bucket,
            "prefix": access.prefix, "storageClass": access.configured_storage_class or access.storage_class}
        if access.access_key_id is not None and access.secret_access_key is not None:
            data[ACCESS_KEY_ID_ITEM] = access.access_key_id
            data[SECRET_ACCESS_KEY_ITEM] = access.secret_access_key
        return k8s.core.v1.Secret(
            f"{name}-cold-tier",
            metadata={"name": f"{tenant}-cold-tier", "namespace": namespace, "labels": dict(labels)},
            type="Opaque", string_data=pulumi.Output.secret(data), opts=opts)


def _vault_peer(vault: TenantVault) -> VaultPeer:
    """An installed Vault's server pods, or an existing Vault by its address."""
    return VaultPeer.of_address(vault.access.address, VAULT_POD_SELECTOR if vault.access.installed else None)


def _engine_settings(config: TenantConfig, placement: TenantPlacement) -> dict[str, object]:
    """The tenant's engine settings, plus its external hosts as `server_domains` (virtual-hosted-style buckets) and
    the proxies whose X-Forwarded-For is believed (`trusted_proxies`: the tenant's, else for a tenant behind the
    platform's way in the cluster's pod CIDR, so aws:SourceIp is the client's); the env names come from
    storage_engine.config like every other setting."""
    settings: dict[str, object] = dict(config.engine_settings)
    if config.hosts:
        settings["server_domains"] = ",".join(config.hosts)
    proxies = config.trusted_proxies
    if proxies is None and config.hosts and placement.way_in is not None and placement.pod_cidrs:
        proxies = list(placement.pod_cidrs)
    if proxies is not None:
        settings["trusted_proxies"] = ",".join(proxies)
    if config.lifecycle:
        settings["lifecycle_defaults"] = lifecycle_defaults(config.lifecycle)
    return settings
