"""Gateway API, the alternative to ingress-nginx (`ingress.kind: gateway-api`), on any implementation.

    GatewayApi            rustfs:services:GatewayApi, child `<platform>-gateway`
      Namespace           ingress.gateway_namespace
      Gateway             `<platform>`, class `ingress.gateway_class_name`: per tenant host an HTTPS listener for the
                          host and one for `*.<host>`, terminating TLS with the tenant's Secret, admitting routes from
                          that tenant's namespace only
    tenant_routes()       per tenant: HTTPRoute `<tenant>` (its hosts and wildcards -> Service `<tenant>:9000`) and a
                          ReferenceGrant letting the Gateway read the tenant's TLS Secret across namespaces

Backend TLS: the engine serves HTTPS (docs/tls.md). Re-encryption from the Gateway to the Service is a
BackendTLSPolicy (Gateway API v1.4+ standard channel), which is not among the CRDs the component validates against
(../shared/schemas/crds), so none is rendered: add one (validation.caCertificateRefs: the tenant's `ca.crt`,
hostname `<tenant>.<ns>.svc`) or your implementation's equivalent (docs/component.md, "The way in").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.services.ingress import WayIn, route_hosts

GROUP = "gateway.networking.k8s.io"
HTTPS_PORT = 443


@dataclass(frozen=True)
class TenantHosts:
    """A tenant's external host names, as the Gateway's listeners need them."""

    tenant: str
    namespace: str
    hosts: Sequence[str]


def listeners(tenants: Sequence[TenantHosts], way_in: WayIn) -> list[dict[str, object]]:
    """HTTPS listeners (HTTP without TLS): one per host and one per wildcard, each admitting only its tenant's
    namespace, so one tenant's route can never claim another tenant's host."""
    out: list[dict[str, object]] = []
    for t in tenants:
        secret = way_in.tls_secret(t.tenant)
        for i, hostname in enumerate(route_hosts(t.hosts)):
            listener: dict[str, object] = {
                "name": f"{t.tenant}-{i}", "hostname": hostname,
                "protocol": "HTTPS" if secret else "HTTP", "port": HTTPS_PORT if secret else 80,
                "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {
                    "matchLabels": {"kubernetes.io/metadata.name": t.namespace}}}}}
            if secret:
                listener["tls"] = {"mode": "Terminate", "certificateRefs": [
                    {"kind": "Secret", "name": secret, "namespace": t.namespace}]}
            out.append(listener)
    return out


class GatewayApi(pulumi.ComponentResource):
    """Type `rustfs:services:GatewayApi`: the namespace and the Gateway every tenant's HTTPRoute attaches to."""

    gateway_name: str
    namespace: str
    gateway: k8s.apiextensions.CustomResource

    def __init__(self, name: str, way_in: WayIn, tenants: Sequence[TenantHosts], provider: k8s.Provider, *,
                 labels: Mapping[str, str], depends_on: Sequence[pulumi.Resource] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:services:GatewayApi", name, None, opts)
        config = way_in.config
        self.gateway_name, self.namespace = name, config.gateway_namespace
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=provider)
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": self.namespace, "labels": {**labels, "pod-security.kubernetes.io/enforce": "baseline"}},
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=list(depends_on))))
        gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway", api_version=f"{GROUP}/v1", kind="Gateway",
            metadata={"name": self.gateway_name, "namespace": self.namespace, "labels": dict(labels)},
            spec={"gatewayClassName": config.gateway_class_name, "listeners": listeners(tenants, way_in)},
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[ns, *depends_on])))
        self.gateway = gateway
        self.register_outputs({"gateway": f"{self.namespace}/{self.gateway_name}"})


def tenant_routes(name: str, *, tenant: str, namespace: str, labels: Mapping[str, str], hosts: Sequence[str],
                  way_in: WayIn, gateway: tuple[str, str], port: int, opts: pulumi.ResourceOptions) -> None:
    """The tenant's HTTPRoute to its client Service, and the ReferenceGrant for its TLS Secret."""
    gateway_name, gateway_namespace = gateway
    k8s.apiextensions.CustomResource(
        f"{name}-route", api_version=f"{GROUP}/v1", kind="HTTPRoute",
        metadata={"name": tenant, "namespace": namespace, "labels": dict(labels)},
        spec={"parentRefs": [{"group": GROUP, "kind": "Gateway", "name": gateway_name,
                              "namespace": gateway_namespace}],
              "hostnames": route_hosts(hosts),
              "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                         "backendRefs": [{"group": "", "kind": "Service", "name": tenant, "port": port}]}]},
        opts=opts)
    secret = way_in.tls_secret(tenant)
    if secret is not None:
        k8s.apiextensions.CustomResource(
            f"{name}-tls-grant", api_version=f"{GROUP}/v1beta1", kind="ReferenceGrant",
            metadata={"name": f"{tenant}-gateway-tls", "namespace": namespace, "labels": dict(labels)},
            spec={"from": [{"group": GROUP, "kind": "Gateway", "namespace": gateway_namespace}],
                  "to": [{"group": "", "kind": "Secret", "name": secret}]},
            opts=opts)
