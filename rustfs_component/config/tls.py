"""TLS settings: cert-manager, the ClusterIssuers, and each tenant's Certificate (docs/tls.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rustfs_component.config.base import DnsLabel, StrictModel
from rustfs_component.config.ingress import IngressConfig

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


class AcmeIssuer(StrictModel):
    """An ACME ClusterIssuer (Let's Encrypt by default) for the tenants' external host names.

    ACME CAs issue only for public names, never `*.svc.cluster.local`: with ACME each tenant that has `hosts`
    gets a second Certificate `<tenant>-external-tls` for them (served by the Ingress / Gateway), while the
    engine's own Certificate `<tenant>-tls` still comes from the internal CA.
    """

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="Account e-mail at the ACME CA. Required.")
    server: str = Field(default=LETS_ENCRYPT, pattern=r"^https://",
                        description=f"ACME directory URL. Default Let's Encrypt production ({LETS_ENCRYPT}).")
    solver: Literal["http01", "route53"] = Field(
        default="http01",
        description="'http01': answered through the ingress class `ingress_class` (no wildcard host names); the ACME "
                    "CA must reach the hosts from the internet, so it is refused with `ingress.kind` 'none' or "
                    "'gateway-api' and with an `ingress.scheme` 'internal' load balancer on EKS, ACK and TKE. "
                    "'route53': DNS-01 in Route53 (EKS only; covers the `*.<host>` wildcard too). AliDNS and DNSPod "
                    "need a cert-manager webhook (docs/tls.md). Default 'http01'.")
    ingress_class: str = Field(default="nginx", description="Ingress class of the HTTP-01 solver. Default 'nginx'.")
    route53_hosted_zone_id: str | None = Field(
        default=None, pattern=r"^Z[A-Z0-9]+$",
        description="Route53 hosted zone of the hosts; required with solver 'route53' and refused otherwise.")

    @model_validator(mode="after")
    def _solver_fields(self) -> "AcmeIssuer":
        if (self.solver == "route53") != (self.route53_hosted_zone_id is not None):
            raise ValueError("tls.acme.route53_hosted_zone_id is required with tls.acme.solver 'route53' "
                             "and applies to it only")
        return self


class TlsConfig(StrictModel):
    """TLS for every tenant: cert-manager issues each tenant a Certificate the engine serves (on by default)."""

    enabled: bool = Field(
        default=True,
        description="Serve HTTPS: cert-manager, issuers and a Certificate per tenant, mounted into the engine, whose "
                    "drive endpoints become https://. false renders none of it (plain HTTP). Default true.")
    cert_manager: Literal["install", "existing"] = Field(
        default="install",
        description="'install': the cert-manager Helm chart (pinned version, CRDs included) into "
                    "`cert_manager_namespace`; 'existing': adopt the installation already in the cluster (v1.x with "
                    "its CRDs). Default 'install'.")
    cert_manager_namespace: DnsLabel = Field(
        default="cert-manager",
        description="Namespace of cert-manager (its cluster resource namespace: ClusterIssuers' CA Secrets live "
                    "there). Default 'cert-manager'.")
    ca_secret: DnsLabel | None = Field(
        default=None,
        description="An existing CA: a Secret (tls.crt, tls.key) in `cert_manager_namespace`, whose CA issues the "
                    "tenants' certificates. Default: none, a self-signed CA is bootstrapped (selfSigned "
                    "ClusterIssuer -> CA Certificate -> CA ClusterIssuer).")
    acme: AcmeIssuer | None = Field(
        default=None, description="An ACME issuer for the tenants' external host names. Default: none (the internal "
                                  "CA signs them too, in the tenant's one Certificate).")


# Clouds where `ingress.scheme` 'internal' gives the ingress controller's Service an internal load balancer (Tanzu's
# Supervisor and an existing cluster's load balancer decide for themselves).
_SCHEME_CLOUDS = ("eks", "ack", "tke")


def acme_errors(tls: TlsConfig, ingress: IngressConfig, cloud: str) -> list[str]:
    """What `PlatformConfig` refuses about the ACME solver given the way in: HTTP-01 is answered at
    `http://<host>/.well-known/acme-challenge/` through an Ingress, so the ACME CA must reach that Ingress from the
    internet. Each message names the fields and what to use instead."""
    acme = tls.acme
    if acme is None or acme.solver != "http01":
        return []
    dns01 = ("or solve DNS-01 instead (tls.acme.solver 'route53' with tls.acme.route53_hosted_zone_id)"
             if cloud == "eks" else
             "or use tls.ca_secret (a CA of your own) instead of ACME: DNS-01 on this cloud needs a cert-manager "
             "webhook the component does not render (docs/tls.md)")
    if ingress.kind == "none":
        return [f"tls.acme.solver 'http01' is answered through an Ingress the ACME CA reaches from the internet, but "
                f"ingress.kind is 'none': set ingress.kind 'ingress-nginx' with ingress.scheme 'internet-facing', "
                f"{dns01}"]
    if ingress.kind == "gateway-api":
        return [f"tls.acme.solver 'http01' is answered through an Ingress of class tls.acme.ingress_class, which "
                f"ingress.kind 'gateway-api' does not serve: use ingress.kind 'ingress-nginx' with ingress.scheme "
                f"'internet-facing', {dns01}"]
    if ingress.install_controller and ingress.scheme == "internal" and cloud in _SCHEME_CLOUDS:
        return [f"tls.acme.solver 'http01' needs the ACME CA to reach the hosts from the internet, but "
                f"ingress.scheme 'internal' gives the ingress controller a load balancer reachable from inside the "
                f"network only: set ingress.scheme 'internet-facing', {dns01}"]
    return []
