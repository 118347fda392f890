"""Who may reach a tenant's S3 port: namespaces, pods by label (optionally in other namespaces), CIDRs.

`S3Clients` is the platform-wide default (`network.clients`) and a tenant's override (`tenants[].clients`).
It is rendered as the peers of the tenant's `<tenant>-allow-clients` NetworkPolicy (rustfs_component.network).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from rustfs_component.config.base import DnsLabel, StrictModel

# Kubernetes label syntax (apimachinery validation.IsQualifiedName / IsValidLabelValue).
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_NAME})?$")


def _check_cidr(value: str) -> str:
    """An IPv4 or IPv6 network without host bits, e.g. '10.20.0.0/16' (a bare address is a /32 or /128)."""
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not a CIDR such as '10.20.0.0/16': {exc}") from None
    return str(network)


Cidr = Annotated[str, AfterValidator(_check_cidr)]


class PodClients(StrictModel):
    """Pods admitted by label: in the tenant's own namespace, or in the namespaces listed."""

    labels: dict[str, str] = Field(
        min_length=1, description="Labels a client pod must carry (a podSelector's matchLabels). Required.")
    namespaces: list[DnsLabel] | None = Field(
        default=None, min_length=1,
        description="Namespaces of the client pods. Default: the tenant's own namespace.")

    @field_validator("labels")
    @classmethod
    def _label_syntax(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            if len(key.rsplit("/", 1)[0]) > 253 or not _LABEL_KEY.match(key):
                raise ValueError(f"not a Kubernetes label key: {key!r}")
            if not _LABEL_VALUE.match(label):
                raise ValueError(f"not a Kubernetes label value for {key!r}: {label!r}")
        return value


class S3Clients(StrictModel):
    """Clients admitted to a tenant's S3 port; anything not listed is denied (the tenant's default-deny).

    A tenant's engine pods may only send to their own tenant (egress is denied otherwise), so admitting the
    tenant's namespace never lets another tenant's engine in, even when tenants share a namespace."""

    same_namespace: bool = Field(
        default=True, description="Admit every pod in the tenant's own namespace. Default true.")
    namespaces: list[DnsLabel] = Field(
        default_factory=list, description="Admit every pod in these namespaces. Default: none.")
    pods: list[PodClients] = Field(
        default_factory=list, description="Admit pods by label, optionally in other namespaces. Default: none.")
    cidrs: list[Cidr] = Field(
        default_factory=list,
        description="Admit these source networks (ipBlock), e.g. a VPN or a load balancer's subnet. Default: none.")
