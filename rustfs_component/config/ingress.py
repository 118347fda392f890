"""The way in: how S3 clients outside the cluster reach the tenants (docs/tls.md, docs/component.md "The way in")."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from rustfs_component.config.base import DnsLabel, StrictModel

IngressKind = Literal["ingress-nginx", "gateway-api", "none"]
Scheme = Literal["internal", "internet-facing"]

# A host name a client uses (RFC 1123, lowercase, at least two labels); `*.<host>` is added by the component.
_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$")


def check_host(value: str) -> str:
    if not _HOST.match(value):
        raise ValueError(f"{value!r} is not a host name (lowercase RFC 1123, at least two labels, no wildcard: "
                         f"the component adds '*.{value.lstrip('*.')}' itself for virtual-hosted-style buckets)")
    return value


Host = Annotated[str, AfterValidator(check_host)]


class IngressConfig(StrictModel):
    """One way in for every tenant with `hosts`, platform-wide.

    `ingress-nginx`: the ingress-nginx chart (a LoadBalancer with the cloud's annotations) and one Ingress per tenant.
    `gateway-api`: one Gateway (of `gateway_class_name`, any Gateway API implementation) and one HTTPRoute per tenant.
    `none`: nothing (clients inside the cluster use the tenant's Service).
    """

    kind: IngressKind = Field(
        default="none",
        description="'ingress-nginx' | 'gateway-api' | 'none'. Default 'none' (a load balancer is billable and "
                    "reachable from outside: never created by a default).")
    scheme: Scheme = Field(
        default="internal",
        description="Load balancer of ingress-nginx: 'internal' (reachable from the VPC only) or 'internet-facing'. "
                    "Tanzu: the Supervisor's load balancer decides; TKE internal needs `internal_subnet_id`. "
                    "Default 'internal'.")
    class_name: str = Field(
        default="nginx", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253,
        description="IngressClass of the tenants' Ingresses: the one the installed controller creates, or with "
                    "`install_controller: false` an existing one (e.g. AKO's 'avi-lb' for NSX ALB on Tanzu). "
                    "Default 'nginx'.")
    install_controller: bool = Field(
        default=True,
        description="ingress-nginx only: install the chart into `network.ingress_controller_namespace` (created). "
                    "false: use the existing IngressClass `class_name`. Default true.")
    aws_load_balancer_controller: bool = Field(
        default=False,
        description="EKS only: install the AWS Load Balancer Controller (its chart, with an IRSA role) and give the "
                    "Service its NLB annotations (type 'external', target type 'ip', `scheme`) (docs/component.md). "
                    "Default false: the in-tree cloud provider's NLB (type 'nlb').")
    internal_subnet_id: str | None = Field(
        default=None, pattern=r"^subnet-[a-z0-9]+$",
        description="TKE with scheme 'internal': the subnet of the internal CLB (required there, refused elsewhere). "
                    "Default none.")
    service_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="More annotations of the controller's Service, over the cloud's (the escape hatch, e.g. a CLB "
                    "spec or an existing load balancer's ID). Default none.")
    gateway_class_name: DnsLabel | None = Field(
        default=None,
        description="gateway-api: the GatewayClass of the Gateway (required there, refused elsewhere), e.g. "
                    "'eg' (Envoy Gateway), 'istio', 'cilium', 'amazon-vpc-lattice'. Default none.")
    gateway_namespace: DnsLabel = Field(
        default="rustfs-gateway",
        description="gateway-api: the namespace the component creates for the Gateway. Default 'rustfs-gateway'.")

    @model_validator(mode="after")
    def _exclusive(self) -> "IngressConfig":
        if (self.kind == "gateway-api") != (self.gateway_class_name is not None):
            raise ValueError("ingress.gateway_class_name is required with ingress.kind 'gateway-api' and applies "
                             "to it only")
        return self



def ingress_errors(cloud: str, ingress: IngressConfig, controller_namespace: str | None,
                   tenants: list[tuple[str, list[str]]]) -> list[str]:
    """What `PlatformConfig` refuses about the way in, given the cloud, `network.ingress_controller_namespace` and
    `(tenant, hosts)` pairs; each message names the fields."""
    errors: list[str] = []
    if ingress.aws_load_balancer_controller and cloud != "eks":
        errors.append(f"ingress.aws_load_balancer_controller applies to cluster.cloud 'eks' only, not '{cloud}'")
    nginx = ingress.kind == "ingress-nginx" and ingress.install_controller
    wants_subnet = nginx and cloud == "tke" and ingress.scheme == "internal"
    if wants_subnet and ingress.internal_subnet_id is None:
        errors.append("ingress.internal_subnet_id is required with ingress.scheme 'internal' on cluster.cloud 'tke' "
                      "(an internal CLB lives in a subnet; or set ingress.scheme 'internet-facing')")
    if not wants_subnet and ingress.internal_subnet_id is not None:
        errors.append("ingress.internal_subnet_id applies only to ingress-nginx with ingress.scheme 'internal' on "
                      "cluster.cloud 'tke'")
    if nginx and controller_namespace is None:
        errors.append("ingress.kind 'ingress-nginx' installs the controller into network.ingress_controller_namespace, "
                      "which is null: name it (the tenants' NetworkPolicies admit that namespace)")
    seen: dict[str, str] = {}
    for tenant, hosts in tenants:
        for host in hosts:
            if host in seen:
                errors.append(f"tenants[{tenant}].hosts: '{host}' is a host of tenant '{seen[host]}' too")
            seen.setdefault(host, tenant)
    return errors
