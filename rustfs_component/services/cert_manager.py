"""cert-manager, its ClusterIssuers, and the per-tenant Certificate (the contract is docs/tls.md).

`CertManager` installs the chart as a Helm `Release` (or adopts an installation already in the cluster) and
creates the issuers:

    <platform>-selfsigned   ClusterIssuer, selfSigned: signs only the CA below        (no `tls.ca_secret`)
    <platform>-ca           Certificate, isCA, Secret <platform>-ca in cert-manager's namespace
    <platform>-ca           ClusterIssuer, ca: signs every tenant's Certificate     (from `tls.ca_secret` if given)
    <platform>-acme         ClusterIssuer, ACME: the tenants' external host names  (only with `tls.acme`)

A `Release` rather than `helm.v4.Chart`: it is one resource whose lifecycle is Helm's own (upgrade, rollback,
uninstall on destroy; the chart's CRDs arrive with it), and nothing is rendered client-side, so the plan does not
need the chart's templates. `tenant_certificate()` renders the Certificate a `Tenant` creates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.config import TlsConfig

CHART = "cert-manager"
CHART_VERSION = "v1.21.1"  # ../shared/schemas/helm/versions.json
CHART_REPOSITORY = "oci://quay.io/jetstack/charts/cert-manager"
API_VERSION = "cert-manager.io/v1"
CA_DURATION = "87600h"  # ten years: every engine trusts this CA for node-to-node traffic
CA_RENEW_BEFORE = "720h"
TYPE_TOKEN = "rustfs:services:CertManager"


SERVICE_ACCOUNT = CHART  # the chart's controller ServiceAccount: its fullname, i.e. the release name


def chart_values(config: TlsConfig, extra: dict[str, Any] | None = None, *,
                 service_account_annotations: Mapping[str, pulumi.Input[str]] | None = None) -> dict[str, Any]:
    """The chart's values: its CRDs installed (and kept on uninstall, so certificates survive a reinstall); with
    `service_account_annotations` (a cloud identity, e.g. the IRSA role of Route53 DNS-01) on the controller's
    ServiceAccount, named explicitly so the role's trust policy and the chart agree."""
    values: dict[str, Any] = {"crds": {"enabled": True, "keep": True}}
    if service_account_annotations:
        values["serviceAccount"] = {"name": SERVICE_ACCOUNT, "annotations": dict(service_account_annotations)}
    values.update(extra or {})
    return values


@dataclass(frozen=True)
class Issuers:
    """What a tenant needs from cert-manager: the issuers to reference and what to wait for (the CRDs)."""

    internal: dict[str, str]
    external: dict[str, str] | None = None
    acme_wildcards: bool = False
    ready: Sequence[pulumi.Resource] = field(default_factory=list)


def _issuer_ref(name: str) -> dict[str, str]:
    return {"name": name, "kind": "ClusterIssuer", "group": "cert-manager.io"}


class CertManager(pulumi.ComponentResource):
    """Type `rustfs:services:CertManager`: cert-manager (installed or adopted) and the platform's ClusterIssuers.

    Output: `issuers` (the names of the internal and ACME ClusterIssuers).

    With the Route53 solver, `service_account_annotations` give the controller's ServiceAccount its cloud identity
    (the platform asks the cluster's cloud for it: on EKS an IRSA role) and `dns01_region` is the solver's region."""

    issuers: Issuers
    release: k8s.helm.v3.Release | None

    def __init__(self, name: str, config: TlsConfig, provider: k8s.Provider, *, platform: str,
                 depends_on: Sequence[pulumi.Resource] = (),
                 service_account_annotations: Mapping[str, pulumi.Input[str]] | None = None,
                 dns01_region: pulumi.Input[str] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        namespace = config.cert_manager_namespace
        labels = {"app.kubernetes.io/part-of": platform, "app.kubernetes.io/managed-by": "pulumi"}
        base = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(depends_on))
        self.release = None
        if config.cert_manager == "install":
            self.release = k8s.helm.v3.Release(
                f"{name}-release",
                name=CHART, chart=CHART_REPOSITORY, version=CHART_VERSION, namespace=namespace,
                create_namespace=True,
                values=chart_values(config, service_account_annotations=service_account_annotations),
                # The webhook must answer before any issuer is applied: wait for the release's pods.
                skip_await=False, atomic=True, cleanup_on_fail=True, timeout=600,
                opts=base)
        # Custom resources need the CRDs (and the webhook) first.
        after = pulumi.ResourceOptions.merge(
            base, pulumi.ResourceOptions(depends_on=[self.release] if self.release else []))

        ca_issuer = f"{platform}-ca"
        ca_secret = config.ca_secret
        if ca_secret is None:
            ca_secret = f"{platform}-ca"
            selfsigned = self._custom(f"{name}-selfsigned", "ClusterIssuer", f"{platform}-selfsigned", None, labels,
                                      {"selfSigned": {}}, after)
            ca = self._custom(
                f"{name}-ca-certificate", "Certificate", f"{platform}-ca", namespace, labels,
                {"isCA": True, "commonName": f"{platform} internal CA", "secretName": ca_secret,
                 "duration": CA_DURATION, "renewBefore": CA_RENEW_BEFORE,
                 "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                 "issuerRef": _issuer_ref(f"{platform}-selfsigned")},
                pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(depends_on=[selfsigned])))
            after = pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(depends_on=[ca]))
        internal = self._custom(f"{name}-ca-issuer", "ClusterIssuer", ca_issuer, None, labels,
                                {"ca": {"secretName": ca_secret}}, after)
        ready: list[pulumi.Resource] = [internal]

        external = None
        if config.acme is not None:
            acme = config.acme
            route53: dict[str, Any] = {"hostedZoneID": acme.route53_hosted_zone_id}
            if dns01_region is not None:
                route53["region"] = dns01_region
            solver: dict[str, Any] = (
                {"http01": {"ingress": {"ingressClassName": acme.ingress_class}}} if acme.solver == "http01"
                # Route53 credentials: the cert-manager ServiceAccount's IRSA role (ambient credentials, which
                # cert-manager allows ClusterIssuers by default; docs/tls.md).
                else {"dns01": {"route53": route53}})
            issuer = self._custom(
                f"{name}-acme-issuer", "ClusterIssuer", f"{platform}-acme", None, labels,
                {"acme": {"server": acme.server, "email": acme.email,
                          "privateKeySecretRef": {"name": f"{platform}-acme-account"}, "solvers": [solver]}},
                after)
            ready.append(issuer)
            external = _issuer_ref(f"{platform}-acme")
        self.issuers = Issuers(internal=_issuer_ref(ca_issuer), external=external,
                               acme_wildcards=config.acme is not None and config.acme.solver != "http01",
                               ready=ready)
        self.register_outputs({"internalIssuer": ca_issuer, "acmeIssuer": external["name"] if external else None})

    def _custom(self, logical: str, kind: str, name: str, namespace: str | None, labels: dict[str, str],
                spec: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
        if namespace is not None:
            metadata["namespace"] = namespace
        return k8s.apiextensions.CustomResource(logical, api_version=API_VERSION, kind=kind, metadata=metadata,
                                                spec=spec, opts=opts)


def tls_secret_names(tenant: str) -> tuple[str, str]:
    """`(<tenant>-tls, <tenant>-external-tls)`: the engine's Secret (internal CA; also the Ingress's without
    ACME) and the ACME Secret of the external hosts (the Ingress's / Gateway's with `tls.acme`)."""
    return f"{tenant}-tls", f"{tenant}-external-tls"


def ingress_tls_secret(tenant: str, issuers: Issuers) -> str:
    """The Secret an Ingress / Gateway listener serves for the tenant's external hosts."""
    internal, external = tls_secret_names(tenant)
    return external if issuers.external is not None else internal


def tenant_dns_names(tenant: str, namespace: str, pools: Sequence[tuple[str, str, int]], hosts: Sequence[str],
                     cluster_domain: str = "cluster.local") -> list[str]:
    """The names a tenant's engine answers to (docs/tls.md): the client Service's, every pod's headless name and
    each pool's headless wildcard (`pools` is `(statefulset, headless service, servers)`), the external hosts and
    their `*.` wildcards (virtual-hosted-style buckets)."""
    svc = f"{namespace}.svc.{cluster_domain}"
    names = [tenant, f"{tenant}.{namespace}", f"{tenant}.{namespace}.svc", f"{tenant}.{svc}"]
    for statefulset, headless, servers in pools:
        names += [f"{statefulset}-{i}.{headless}.{svc}" for i in range(servers)]
        names.append(f"*.{headless}.{svc}")
    for host in hosts:
        names += [host, f"*.{host}"]
    return names


def certificate(logical: str, *, name: str, namespace: str, labels: dict[str, str], dns_names: Sequence[str],
                issuer: dict[str, str], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """A Certificate into Secret `name` (tls.crt, tls.key, ca.crt), for servers and for their clients."""
    return k8s.apiextensions.CustomResource(
        logical, api_version=API_VERSION, kind="Certificate",
        metadata={"name": name, "namespace": namespace, "labels": dict(labels)},
        spec={"secretName": name, "dnsNames": list(dns_names), "issuerRef": dict(issuer),
              "usages": ["server auth", "client auth", "digital signature"],
              "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
              "secretTemplate": {"labels": dict(labels)}},
        opts=opts)
