"""`ObjectStoragePlatform`: a cluster, its storage tiers and one `Tenant` per tenant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.clouds import TIER_NODE_LABEL, Cloud, ClusterHandle, TenantIdentity, cloud_for, given_provider
from rustfs_component.cold_tier import ColdTier
from rustfs_component.config import TIERS, PlatformConfig, TierName
from rustfs_component.config.limits import name_errors
from rustfs_component.namespaces import PullSecret, create_namespaces
from rustfs_component.services.cert_manager import SERVICE_ACCOUNT as CERT_MANAGER_SERVICE_ACCOUNT
from rustfs_component.services.cert_manager import CertManager
from rustfs_component.services.gateway import GatewayApi, TenantHosts
from rustfs_component.services.vault import SERVICE_ACCOUNT as VAULT_SERVICE_ACCOUNT
from rustfs_component.services.vault import Vault
from rustfs_component.services.vault_configure import tenants_vault
from rustfs_component.services.fluent_bit import FluentBit
from rustfs_component.services.monitoring import KubePrometheusStack
from rustfs_component.tenant_monitoring import TenantMonitoring
from rustfs_component.services.ingress import (LBC_NAMESPACE, LBC_SERVICE_ACCOUNT, IngressNginx, WayIn,
                                               load_balancer_controller_values)
from rustfs_component.tenant import Tenant, TenantPlacement
from rustfs_component.tiers import StorageTiers

TYPE_TOKEN = "rustfs:index:ObjectStoragePlatform"
# Earlier type tokens of this component go here, so an upgrade re-parents state instead of replacing it.
ALIASES: list[pulumi.Alias] = []


class ObjectStoragePlatform(pulumi.ComponentResource):
    """Multi-tenant S3-compatible object storage on one Kubernetes cluster.

    Outputs: `kubeconfig` (secret), `tenants` ({tenant: {endpoint, credentialsSecret, coldTierSecret}}).

    `config` is a `PlatformConfig` or a dict validated into one. For `cloud: existing`, pass either
    `kubernetes_provider` (your own provider, used as is) or `kubeconfig`; otherwise the ambient kubeconfig
    is used. For `cloud: tanzu`, `kubernetes_provider` is the Supervisor's. Providers in `opts` (`providers=`,
    `provider=`, or an ancestor's) are honoured: a cloud provider (`aws`, `alicloud`, `tencentcloud`) replaces the
    component's own, a `kubernetes` one acts as `kubernetes_provider` (refused for eks/ack/tke, whose cluster no
    provider made before it can reach). `cold_tier_secret_access_key` is the secret key of an external S3 cold tier.
    `image_pull_docker_config_json` (a secret dockerconfigjson, `{"auths": {...}}`) makes the component create
    the Secret `engine.pull_secret` in every namespace it creates. `vault_transit_token` (secret) makes it create
    `kms.transit.token_secret` in Vault's namespace for `kms.unseal: transit` (else that Secret must exist there).
    """

    kubeconfig: pulumi.Output[str]
    tenants: dict[str, Tenant]
    cert_manager: CertManager | None
    cluster: ClusterHandle
    ingress: IngressNginx | None
    gateway: GatewayApi | None
    vault: Vault | None
    monitoring: KubePrometheusStack | None
    fluent_bit: FluentBit | None

    def __init__(self, name: str, config: PlatformConfig | Mapping[str, Any], *,
                 kubeconfig: pulumi.Input[str] | None = None, kubernetes_provider: k8s.Provider | None = None,
                 cold_tier_secret_access_key: pulumi.Input[str] | None = None,
                 image_pull_docker_config_json: pulumi.Input[str] | None = None,
                 vault_transit_token: pulumi.Input[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        # Validate before registering anything: a bad config fails with the offending field named.
        config = config if isinstance(config, PlatformConfig) else PlatformConfig.model_validate(config)
        cluster_config = config.cluster
        if name != config.name:  # the resource name prefixes the derived names: check it as config.name is checked
            problems = [message for _, message, _ in name_errors(name, cluster_config, config.tenants)]
            if problems:
                raise ValueError(f"ObjectStoragePlatform name {name!r}: {problems[0]}")
        pull_secret = None
        if image_pull_docker_config_json is not None:
            if config.engine.pull_secret is None:
                raise ValueError("imagePullDockerConfigJson / image_pull_docker_config_json is given but "
                                 "engine.pull_secret is not: set engine.pull_secret to the name of the Secret to create")
            pull_secret = PullSecret(config.engine.pull_secret, image_pull_docker_config_json)
        if vault_transit_token is not None and (config.kms.effective_mode(config.tls.enabled) != "install"
                                                or config.kms.effective_unseal(cluster_config.cloud) != "transit"):
            raise ValueError("vaultTransitToken / vault_transit_token is given but kms.unseal is not 'transit' "
                             "(with kms.mode 'install'): set kms.unseal 'transit' and kms.transit, or drop the token")
        # The cloud's module (and its SDK) is imported here, on first use: a missing SDK names its extra.
        cloud = cloud_for(cluster_config.cloud)
        kubernetes_provider = _kubernetes_provider(kubernetes_provider, opts, cluster_config.cloud,
                                                   accepted="kubernetes_provider" in cloud.explicit_arguments)
        explicit: dict[str, Any] = {key: value for key, value in
                                    {"kubeconfig": kubeconfig, "kubernetes_provider": kubernetes_provider}.items()
                                    if value is not None}
        if not set(explicit) <= cloud.explicit_arguments:
            raise ValueError(f"'kubeconfig' applies to cluster.cloud 'existing' only, not '{cluster_config.cloud}'")
        opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(aliases=list(ALIASES)), opts)
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        handle = cloud.create_cluster(name, cluster_config, opts=child, **explicit)
        self.cluster = handle
        self.kubeconfig = handle.kubeconfig

        tiers = StorageTiers(f"{name}-tiers", name, dict(cluster_config.tiers), handle.provider, cloud=cloud,
                             depends_on=list(handle.ready), opts=child)
        namespaces = create_namespaces(name, name, config.tenants, handle.provider, parent=self,
                                       depends_on=list(handle.ready), pull_secret=pull_secret)

        cold = None
        if cluster_config.cold_tier is not None and config.tenants:
            cold = ColdTier(
                f"{name}-cold", cluster_config.cold_tier,
                [TenantIdentity(t.name, t.namespace_name, service_account=t.name) for t in config.tenants],
                cloud=cloud, handle=handle, secret_access_key=cold_tier_secret_access_key, opts=child)

        node_selectors: dict[TierName, dict[str, str]] = (
            {tier: {TIER_NODE_LABEL: tier} for tier in TIERS} if config.manages_nodes
            else dict(getattr(cluster_config, "node_selectors", {})))
        self.cert_manager = None
        if config.tls.enabled:  # the chart's pods need nodes
            acme = config.tls.acme
            route53 = None
            zone = acme.route53_hosted_zone_id if acme is not None and acme.solver == "route53" else None
            dns01 = zone is not None
            if zone is not None and config.tls.cert_manager == "install":
                # DNS-01 in Route53 (EKS only, PlatformConfig checks): an IRSA role for the chart's ServiceAccount
                # (an adopted cert-manager brings its own identity).
                route53 = handle.controller_identity(
                    f"{name}-route53-role", "cert-manager-route53",
                    namespace=config.tls.cert_manager_namespace, service_account=CERT_MANAGER_SERVICE_ACCOUNT,
                    opts=child, hosted_zone_id=zone)
            self.cert_manager = CertManager(
                f"{name}-cert-manager", config.tls, handle.provider, platform=name, depends_on=list(handle.ready),
                service_account_annotations=route53.service_account_annotations if route53 else None,
                dns01_region=handle.region if dns01 else None, opts=child)
        self.vault = self._vault(name, config, handle, tiers, vault_transit_token)
        # Every tenant's key, policy and role (the vault-configure Job), what its engines need to use them.
        vault = tenants_vault(name, config, handle.provider, parent=self,
                              vault=[self.vault.release] if self.vault else [])
        way_in, gateway, way_in_after = self._way_in(name, config, cloud, handle)
        monitoring = self._monitoring(name, config, handle)
        self.tenants = {}
        for tenant in config.tenants:
            placement = TenantPlacement(
                namespace=tenant.namespace_name, storage_classes=tiers.class_names, image=config.engine.image,
                image_pull_secret=config.engine.pull_secret, node_selectors=node_selectors, network=config.network,
                way_in=way_in, gateway=gateway, way_in_after=way_in_after,
                issuers=self.cert_manager.issuers if self.cert_manager else None, vault=vault, monitoring=monitoring,
                pod_cidrs=pod_cidrs(cluster_config))
            self.tenants[tenant.name] = Tenant(
                f"{name}-{tenant.name}", tenant, placement, handle.provider, platform=name,
                cold_tier=cold.access[tenant.name] if cold else None,
                depends_on=[namespaces[tenant.namespace_name], tiers], opts=child)

        self.fluent_bit = None
        logs = config.monitoring.logs
        if logs.enabled and logs.elasticsearch is not None:
            self.fluent_bit = FluentBit(
                f"{name}-fluent-bit", logs.elasticsearch, config.monitoring.namespace,
                [t.namespace_name for t in config.tenants], handle.provider,
                labels={"app.kubernetes.io/part-of": name, "app.kubernetes.io/managed-by": "pulumi"},
                depends_on=[*handle.ready, *([self.monitoring.release] if self.monitoring else [])], opts=child)

        self.register_outputs({
            "kubeconfig": self.kubeconfig,
            "tenants": {t: {"endpoint": r.endpoint, "credentialsSecret": r.credentials_secret_name,
                            "coldTierSecret": r.cold_tier_secret_name} for t, r in self.tenants.items()},
        })

    def _monitoring(self, name: str, config: PlatformConfig, handle: ClusterHandle) -> TenantMonitoring | None:
        """kube-prometheus-stack with `monitoring.mode` 'install'; what the tenants' monitoring objects need."""
        monitoring = config.monitoring
        self.monitoring = None
        if monitoring.mode == "none":
            return None
        if monitoring.mode == "install":
            self.monitoring = KubePrometheusStack(
                f"{name}-monitoring", monitoring, handle.provider,
                labels={"app.kubernetes.io/part-of": name, "app.kubernetes.io/managed-by": "pulumi"},
                depends_on=list(handle.ready), opts=pulumi.ResourceOptions(parent=self))
        return TenantMonitoring(scrape_interval=monitoring.scrape_interval, rule_labels=dict(monitoring.rule_labels),
                                after=[self.monitoring.release] if self.monitoring else [])

    def _vault(self, name: str, config: PlatformConfig, handle: ClusterHandle, tiers: StorageTiers,
               transit_token: pulumi.Input[str] | None) -> Vault | None:
        """Vault with `kms.mode` 'install' (which needs TLS: PlatformConfig checks), unsealed by the cloud's KMS
        through an identity the cloud makes for Vault's ServiceAccount (`unseal` 'auto'), by Shamir or by transit."""
        kms = config.kms
        if kms.effective_mode(config.tls.enabled) != "install" or self.cert_manager is None:
            return None
        child = pulumi.ResourceOptions(parent=self)
        identity = None
        if kms.effective_unseal(config.cluster.cloud) == "auto":
            identity = handle.controller_identity(f"{name}-vault-unseal", "vault-unseal", namespace=kms.namespace,
                                                  service_account=VAULT_SERVICE_ACCOUNT, opts=child)
        return Vault(f"{name}-vault", kms, handle.provider, platform=name, cloud=config.cluster.cloud,
                     issuer=self.cert_manager.issuers.internal, issuers_ready=list(self.cert_manager.issuers.ready),
                     unseal_identity=identity, transit_token=transit_token, storage_class=tiers.class_names["hot"],
                     depends_on=[*handle.ready, tiers], opts=child)

    def _way_in(self, name: str, config: PlatformConfig, cloud: Cloud, handle: ClusterHandle
                ) -> tuple[WayIn | None, tuple[str, str] | None, list[pulumi.Resource]]:
        """ingress-nginx or a Gateway (`config.ingress.kind`): what tenants route through, and what routes wait for.
        Both depend on the cluster's `ready` resources, so destroy removes them (and, through the controllers, their
        load balancers) before the node pools, the cluster and the network (docs/component.md, "The way in")."""
        ingress = config.ingress
        self.ingress = None
        self.gateway = None
        if ingress.kind == "none":
            return None, None, []
        way_in = WayIn(ingress, tls=config.tls.enabled, external_certificate=config.tls.acme is not None)
        labels = {"app.kubernetes.io/part-of": name, "app.kubernetes.io/managed-by": "pulumi"}
        child = pulumi.ResourceOptions(parent=self)
        namespace = config.network.ingress_controller_namespace
        if ingress.kind == "ingress-nginx":
            if not ingress.install_controller or namespace is None:
                return way_in, None, []
            lbc = None
            if ingress.aws_load_balancer_controller:  # EKS only (PlatformConfig checks)
                identity = handle.controller_identity(
                    f"{name}-lbc-role", "aws-load-balancer-controller",
                    namespace=LBC_NAMESPACE, service_account=LBC_SERVICE_ACCOUNT, opts=child)
                lbc = load_balancer_controller_values(identity.settings, identity.service_account_annotations)
            self.ingress = IngressNginx(f"{name}-ingress", ingress, namespace, handle.provider,
                                        annotations=cloud.ingress_service_annotations(ingress), labels=labels,
                                        depends_on=list(handle.ready), load_balancer_controller=lbc, opts=child)
            return way_in, None, [self.ingress]
        hosts = [TenantHosts(t.name, t.namespace_name, list(t.hosts)) for t in config.tenants if t.hosts]
        if not hosts:  # a Gateway needs a listener: no tenant has a host yet
            return way_in, None, []
        self.gateway = GatewayApi(f"{name}-gateway", way_in, hosts, handle.provider, labels=labels,
                                  depends_on=list(handle.ready), opts=child)
        return way_in, (self.gateway.gateway_name, self.gateway.namespace), [self.gateway]


def _kubernetes_provider(argument: k8s.Provider | None, opts: pulumi.ResourceOptions | None, cloud: str, *,
                         accepted: bool) -> k8s.Provider | None:
    """The caller's Kubernetes provider: `kubernetes_provider=`, or one in the platform's own `opts.provider` /
    `opts.providers`. Refused (before anything is registered) where it cannot be used: for a cluster the component
    creates (eks, ack, tke), which no provider made before it can reach; Tanzu takes it for the Supervisor."""
    given = given_provider(opts, "kubernetes")
    if argument is not None and given is not None and argument is not given:
        raise ValueError("two Kubernetes providers: 'kubernetes_provider' and the one in opts.provider/opts.providers; "
                         "pass one")
    provider = argument if argument is not None else given
    if provider is not None and not accepted:
        raise ValueError(f"a Kubernetes provider (kubernetes_provider=, or 'kubernetes' in opts.provider/"
                         f"opts.providers) cannot reach the cluster that cluster.cloud '{cloud}' creates, which does "
                         f"not exist before it: the component builds that cluster's provider itself; pass one for "
                         f"cloud 'existing' (the cluster) or 'tanzu' (the Supervisor) only")
    return cast("k8s.Provider | None", provider)


def pod_cidrs(cluster: Any) -> tuple[str, ...]:
    """The addresses the cluster's pods (the ingress controller's among them) have, where the component knows them:
    EKS (VPC CNI) and ACK terway: the VPC's; ACK flannel and Tanzu: `pod_cidr`; TKE: `cluster_cidr`; an existing
    cluster: unknown (docs/iam.md, "aws:SourceIp behind the ingress")."""
    if cluster.cloud == "eks" or (cluster.cloud == "ack" and cluster.cni == "terway"):
        return (cluster.vpc_cidr,)
    if cluster.cloud in ("ack", "tanzu"):
        return (cluster.pod_cidr,)
    if cluster.cloud == "tke":
        return (cluster.cluster_cidr,)
    return ()
