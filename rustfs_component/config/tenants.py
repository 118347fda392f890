"""Tenant settings: a tenant is one S3 service (one engine cluster) made of one or more pools."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from storage_engine.config import EngineSettings

from rustfs_component.config.base import DnsLabel, PoolName, Quantity, StrictModel, TenantName, TierName
from rustfs_component.config.identity import IdentityConfig
from rustfs_component.config.ingress import Host
from rustfs_component.config.lifecycle import LifecycleDefault
from rustfs_component.config.limits import Loc, raise_at
from rustfs_component.config.monitoring import AuditTarget
from rustfs_component.config.network import Cidr, S3Clients

# Settings the component renders itself (topology, listen address, credentials): a tenant cannot override them.
COMPONENT_OWNED_SETTINGS = frozenset({"volumes", "address", "access_key", "secret_key", "tls_path",
                                      "iam_bootstrap_file", "tiers", "lifecycle_defaults"})
# Secrets the engine reads from its environment: the component passes them by Secret reference (`identity`).
SECRET_SETTINGS = frozenset({"oidc_client_secret", "ldap_lookup_bind_password"})


class ResourceAmounts(StrictModel):
    """CPU and memory of one engine container."""

    cpu: Quantity = Field(description="CPU, e.g. '2' or '500m'. Required.")
    memory: Quantity = Field(description="Memory, e.g. '4Gi'. Required.")


class Resources(StrictModel):
    """Requests and limits of one engine container."""

    requests: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="1", memory="2Gi"),
        description="Requests. Default cpu '1', memory '2Gi'.")
    limits: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="2", memory="2Gi"),
        description="Limits. Default cpu '2', memory '2Gi' (memory limit = request: no overcommit).")


class PoolConfig(StrictModel):
    """One pool: a StatefulSet of `servers` pods, each with `drives_per_server` volumes on `tier`."""

    name: PoolName = Field(description="Pool name, unique in the tenant; part of every object name. Required.")
    servers: int = Field(default=4, ge=1, le=32, description="Engine pods (StatefulSet replicas). Default 4.")
    drives_per_server: int = Field(default=4, ge=1, le=16, description="Volumes per pod. Default 4.")
    drive_size: Quantity = Field(default="100Gi", description="Size of each volume. Default '100Gi'.")
    tier: TierName = Field(default="hot", description="Storage tier of the volumes: 'hot' or 'warm'. Default 'hot'.")
    resources: Resources = Field(default_factory=Resources, description="Container requests/limits. Default: see Resources.")
    role: Literal["write", "warm-tier"] | None = Field(
        default=None,
        description="What the engine makes of the pool: 'write', a pool new objects are written to; or 'warm-tier' "
                    "(volumes on `tier: warm` only), the engine's WARM tier, which only lifecycle transitions fill "
                    "(README \"Tiers\"). At most one per tenant, and a tenant needs a 'write' pool. Default: "
                    "'warm-tier' for a pool on warm volumes in a tenant that also has a pool on hot volumes, else "
                    "'write'. A warm pool that already holds objects written to it must stay 'write': as the tier "
                    "its objects would no longer be found.")

    @model_validator(mode="after")
    def _erasure_size(self) -> "PoolConfig":
        # The engine erasure-codes across all drives of a pool; 2 or 3 drives give parity 1 with no spare.
        drives = self.servers * self.drives_per_server
        if drives in (2, 3):
            raise ValueError(f"servers x drives_per_server = {drives}: use 1 drive or at least 4")
        return self


class TenantConfig(StrictModel):
    """A tenant: its own engine cluster, credentials, Services and network policies."""

    name: TenantName = Field(description="Tenant name, unique on the platform; prefixes every object name. Required.")
    namespace: DnsLabel | None = Field(
        default=None,
        description="Namespace; tenants may share one (their objects never collide). Default: the tenant name.")
    pools: list[PoolConfig] = Field(min_length=1, description="Pools of the tenant. Required, at least one.")
    engine_settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra engine settings by field name of storage_engine.config.EngineSettings, e.g. "
                    "{'region': 'eu-1'}; validated by the engine's own model. Default: none (engine defaults).")
    clients: S3Clients | None = Field(
        default=None, description="S3 clients admitted to this tenant; replaces network.clients. Default: network.clients.")
    hosts: list[Host] = Field(
        default_factory=list,
        description="External host names of the tenant's S3 endpoint, e.g. ['s3.example.com']: the Ingress or "
                    "HTTPRoute routes each and its '*.' wildcard (virtual-hosted-style buckets), the Certificate "
                    "covers them, and they become the engine's `server_domains`. Default none.")
    identity: IdentityConfig = Field(
        default_factory=IdentityConfig,
        description="Single sign-on (OIDC, LDAP) and the IAM policies, groups and users applied at every engine "
                    "start (README \"Single sign-on\"). Default: none, the root user only.")
    audit: AuditTarget | None = Field(
        default=None,
        description="The audit target of the tenant's engines (besides their stdout): an Elasticsearch / "
                    "OpenSearch `_bulk` endpoint or any HTTP endpoint, credentials from a Secret. Default none.")
    lifecycle: list[LifecycleDefault] = Field(
        default_factory=list,
        description="Default lifecycle rules per bucket ('*': every bucket without an entry of its own), e.g. "
                    "[{bucket: '*', rules: [{id: age, transitions: [{days: 30, tier: WARM}, {days: 180, tier: "
                    "COLD}]}]}]: the engines put them on each such bucket that has no lifecycle configuration, at "
                    "start and at CreateBucket (engine setting `lifecycle_defaults`, docs/tiering.md). WARM needs a "
                    "'warm-tier' pool, COLD the platform's cluster.cold_tier. Default none.")
    trusted_proxies: list[Cidr] | None = Field(
        default=None,
        description="CIDRs of the proxies in front of the engines (the ingress controller or Gateway pods) whose "
                    "X-Forwarded-For the engines believe, so that aws:SourceIp in policies is the client's "
                    "address (engine setting `trusted_proxies`); [] trusts none. Default: for a tenant with "
                    "`hosts` behind the platform's ingress, the cluster's pod CIDR where the component knows it "
                    "(EKS and ACK terway: the VPC CIDR, ACK flannel: pod_cidr, TKE: cluster_cidr, Tanzu: "
                    "pod_cidr); on an existing cluster none (give it here) (docs/iam.md).")

    @property
    def namespace_name(self) -> str:
        return self.namespace or self.name

    @field_validator("engine_settings")
    @classmethod
    def _check_engine_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(EngineSettings.model_fields))
        if unknown:
            raise ValueError(f"unknown engine settings {unknown}")
        owned = sorted(set(value) & COMPONENT_OWNED_SETTINGS)
        if owned:
            raise ValueError(f"{owned} are set by the component (topology, address, credentials, TLS)")
        EngineSettings.model_validate(value)  # the engine's own validation, with its own messages
        return value

    @model_validator(mode="after")
    def _hosts(self) -> "TenantConfig":
        if len(set(self.hosts)) != len(self.hosts):
            raise ValueError(f"hosts: duplicate host names {self.hosts}")
        if self.hosts and "server_domains" in self.engine_settings:
            raise ValueError("engine_settings.server_domains and hosts: the component sets server_domains from "
                             "hosts; give the names in hosts only")
        return self

    @model_validator(mode="after")
    def _identity(self) -> "TenantConfig":
        secret = sorted(set(self.engine_settings) & SECRET_SETTINGS)
        if secret:
            raise ValueError(f"engine_settings: {secret} would be plain text in the pod spec; give them in identity "
                             f"(oidc.client_secret, ldap.lookup_bind_password) as Secret references")
        for kind in ("oidc", "ldap"):
            overlap = sorted(k for k in self.engine_settings if k.startswith(f"{kind}_"))
            if overlap and getattr(self.identity, kind) is not None:
                raise ValueError(f"engine_settings {overlap} and identity.{kind}: give the {kind} settings in "
                                 f"identity.{kind} only")
        return self

    @model_validator(mode="after")
    def _audit(self) -> "TenantConfig":
        secret = sorted(set(self.engine_settings) & {"metrics_token", "audit_webhook_auth_token",
                                                     "audit_webhook_password"})
        if secret:
            raise ValueError(f"engine_settings: {secret} would be plain text in the pod spec; the component "
                             f"generates the metrics token (monitoring), and audit.credentials names the audit "
                             f"target's Secret")
        overlap = sorted(k for k in self.engine_settings if k.startswith("audit_webhook_"))
        if overlap and self.audit is not None:
            raise ValueError(f"engine_settings {overlap} and audit: give the audit target in audit only")
        return self

    @model_validator(mode="after")
    def _trusted_proxies(self) -> "TenantConfig":
        if self.trusted_proxies is not None and "trusted_proxies" in self.engine_settings:
            raise ValueError("engine_settings.trusted_proxies and trusted_proxies: give the proxies in "
                             "trusted_proxies only")
        return self

    @model_validator(mode="after")
    def _unique_pools(self) -> "TenantConfig":
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError(f"pools: duplicate pool names {names}")
        return self

    def pool_role(self, pool: PoolConfig) -> Literal["write", "warm-tier"]:
        """The pool's `role`, its default resolved (see PoolConfig.role)."""
        if pool.role is not None:
            return pool.role
        has_hot = any(p.tier == "hot" for p in self.pools)
        return "warm-tier" if pool.tier == "warm" and has_hot else "write"

    @property
    def write_pools(self) -> list[PoolConfig]:
        """The pools new objects are written to (the engine's volumes), in config order."""
        return [p for p in self.pools if self.pool_role(p) == "write"]

    @property
    def warm_pool(self) -> PoolConfig | None:
        """The pool that is the engine's WARM tier, if any."""
        return next((p for p in self.pools if self.pool_role(p) == "warm-tier"), None)

    @model_validator(mode="after")
    def _pool_roles(self) -> "TenantConfig":
        errors: list[tuple[Loc, str, Any]] = []
        tier_pools = 0
        for i, pool in enumerate(self.pools):
            if pool.role == "warm-tier" and pool.tier != "warm":
                errors.append((("pools", i, "role"), "a 'warm-tier' pool must be on warm volumes (tier: warm)",
                               pool.role))
            elif self.pool_role(pool) == "warm-tier":
                tier_pools += 1
                if tier_pools > 1:
                    errors.append((("pools", i, "role"), "at most one pool per tenant is the engine's WARM tier; "
                                   "give this one role 'write' or remove it", self.pool_role(pool)))
        if not errors and not self.write_pools:
            errors.append((("pools",), "the tenant needs a pool new objects are written to: a pool on hot volumes, "
                           "or one with role 'write'", [p.name for p in self.pools]))
        raise_at("TenantConfig", errors)
        return self

    @model_validator(mode="after")
    def _lifecycle(self) -> "TenantConfig":
        errors: list[tuple[Loc, str, Any]] = []
        buckets = [entry.bucket for entry in self.lifecycle]
        for i, entry in enumerate(self.lifecycle):
            if entry.bucket in buckets[:i]:
                errors.append((("lifecycle", i, "bucket"), f"two entries for bucket {entry.bucket!r}", entry.bucket))
            for loc, tier in entry.tiers():
                if tier == "WARM" and self.warm_pool is None:
                    errors.append((("lifecycle", i, *loc), "WARM: this tenant has no pool with role 'warm-tier' "
                                   "(a pool on warm volumes next to a hot one)", tier))
        raise_at("TenantConfig", errors)
        return self
