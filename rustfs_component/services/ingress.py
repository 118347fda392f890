"""ingress-nginx: the controller (a Helm `Release`, its LoadBalancer Service) and each tenant's Ingress.

    IngressNginx          rustfs:services:IngressNginx, child `<platform>-ingress`
      Namespace           network.ingress_controller_namespace (Pod Security 'baseline')
      Release             chart ingress-nginx 4.15.1 (../shared/schemas/helm/versions.json), its own Service off
      Service             `ingress-nginx-controller`, type LoadBalancer, with the cloud's annotations
      Release             (EKS, `ingress.aws_load_balancer_controller`) chart aws-load-balancer-controller 3.5.0
                          into kube-system, with its IRSA role; the Service waits for it (its webhook and its NLB)
    tenant_ingress()      Ingress `<tenant>` in the tenant's namespace: TLS, S3-friendly proxy settings,
                          a rule per host and per `*.<host>` (virtual-hosted-style buckets)

Destroy order (docs/component.md, "The way in"): the Service is a Pulumi resource of its own that depends on the
Release, which depends on the namespace and on the cluster's `ready` resources (node pools, add-ons), which depend on
the network. Pulumi deletes in reverse: the Service first, and pulumi-kubernetes waits until it is gone, i.e. until
the cloud's load balancer controller has removed the load balancer and dropped its finalizer; then the controller,
then the nodes, the cluster and the VPC. A Service inside the chart would go with `helm uninstall`, which does not
wait (pulumi-kubernetes #1739), and the VPC delete would then race the load balancer's ENIs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.config.ingress import IngressConfig

# ../shared/schemas/helm/versions.json pins these (tests/component/test_ingress_render.py checks they agree).
CHART = "ingress-nginx"
CHART_VERSION = "4.15.1"
CHART_REPOSITORY = "https://kubernetes.github.io/ingress-nginx"
RELEASE_NAME = "ingress-nginx"
SERVICE_NAME = "ingress-nginx-controller"  # the chart's own name for it, so docs and dashboards still match
# The chart's selector labels of the controller pods (templates/_helpers.tpl, "ingress-nginx.selectorLabels").
CONTROLLER_SELECTOR = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": RELEASE_NAME,
                       "app.kubernetes.io/component": "controller"}
# S3 through nginx (ingress-nginx docs, user-guide/nginx-configuration/annotations.md): no body limit (objects up to
# 5 TiB, parts up to 5 GiB), streaming both ways (no buffering of uploads or downloads on the controller's disk),
# long timeouts for slow multi-GiB transfers, and HTTPS to the engine, which serves TLS itself (docs/tls.md).
NGINX = "nginx.ingress.kubernetes.io"
S3_ANNOTATIONS = {
    f"{NGINX}/proxy-body-size": "0",
    f"{NGINX}/proxy-request-buffering": "off",
    f"{NGINX}/proxy-buffering": "off",
    f"{NGINX}/proxy-read-timeout": "3600",
    f"{NGINX}/proxy-send-timeout": "3600",
}
LONG_TIMEOUT_SECONDS = 3600
# The AWS Load Balancer Controller (../shared/schemas/helm/versions.json): it makes the Service's NLB on EKS when
# `ingress.aws_load_balancer_controller` is on. Its ServiceAccount is the one its IRSA role trusts.
LBC_CHART = "aws-load-balancer-controller"
LBC_CHART_VERSION = "3.5.0"
LBC_CHART_REPOSITORY = "https://aws.github.io/eks-charts"
LBC_NAMESPACE = "kube-system"
LBC_SERVICE_ACCOUNT = "aws-load-balancer-controller"


@dataclass(frozen=True)
class WayIn:
    """What a tenant needs to render its route: the platform's `ingress` config and the TLS layout (docs/tls.md)."""

    config: IngressConfig
    tls: bool = True
    external_certificate: bool = False  # ACME: the external hosts have their own `<tenant>-external-tls`

    def tls_secret(self, tenant: str) -> str | None:
        """The Secret the Ingress or Gateway serves for the tenant's hosts: the tenant's Certificate's, or with an
        ACME issuer the separate external one; None without TLS."""
        if not self.tls:
            return None
        return f"{tenant}-external-tls" if self.external_certificate else f"{tenant}-tls"


def route_hosts(hosts: Sequence[str]) -> list[str]:
    """Each host and its wildcard, for virtual-hosted-style buckets (`<bucket>.<host>`)."""
    return [name for host in hosts for name in (host, f"*.{host}")]


def chart_values(config: IngressConfig, namespace: str) -> dict[str, Any]:
    """The chart's values: the IngressClass, and no Service of its own (ours is created beside, see the module)."""
    return {
        "controller": {
            "replicaCount": 2,
            "ingressClass": config.class_name,
            "ingressClassResource": {"name": config.class_name, "enabled": True, "default": False},
            "allowSnippetAnnotations": False,
            # X-Forwarded-For to the engines is the connection's peer, the client (the Service keeps its address:
            # externalTrafficPolicy Local), never a client-sent header: the engines trust the pods' X-Forwarded-For
            # (tenants' trusted_proxies), so aws:SourceIp in policies is the client's (docs/iam.md).
            "config": {"use-forwarded-headers": "false", "compute-full-forwarded-for": "false"},
            "service": {"enabled": False},
            "publishService": {"enabled": True, "pathOverride": f"{namespace}/{SERVICE_NAME}"},
        },
    }


def load_balancer_controller_values(settings: Mapping[str, pulumi.Input[str]],
                                    service_account_annotations: Mapping[str, pulumi.Input[str]]) -> dict[str, Any]:
    """The AWS Load Balancer Controller chart's values: the cluster's facts from its cloud (`clusterName`, `region`,
    `vpcId`: no instance metadata lookups) and its ServiceAccount, named as its IRSA role's trust policy says."""
    return {**settings, "replicaCount": 2,
            "serviceAccount": {"create": True, "name": LBC_SERVICE_ACCOUNT,
                               "annotations": dict(service_account_annotations)}}


class IngressNginx(pulumi.ComponentResource):
    """Type `rustfs:services:IngressNginx`: ingress-nginx in `namespace`, reachable through one load balancer.

    `load_balancer_controller`: the values of an AWS Load Balancer Controller release to install first (see
    `load_balancer_controller_values`); None installs none (the cloud's own controller serves the Service)."""

    service: k8s.core.v1.Service
    load_balancer_controller: k8s.helm.v3.Release | None

    def __init__(self, name: str, config: IngressConfig, namespace: str, provider: k8s.Provider, *,
                 annotations: Mapping[str, str], labels: Mapping[str, str],
                 depends_on: Sequence[pulumi.Resource] = (),
                 load_balancer_controller: Mapping[str, Any] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:services:IngressNginx", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=provider)
        ns = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": namespace, "labels": {**labels, "pod-security.kubernetes.io/enforce": "baseline"}},
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=list(depends_on))))
        release = k8s.helm.v3.Release(
            f"{name}-release",
            name=RELEASE_NAME, chart=CHART, version=CHART_VERSION, repository_opts={"repo": CHART_REPOSITORY},
            namespace=namespace, values=chart_values(config, namespace),
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[ns, *depends_on])))
        self.load_balancer_controller = None
        if load_balancer_controller is not None:
            # Waited for (its webhook mutates Services); destroyed after the Service, so it removes the NLB first.
            self.load_balancer_controller = k8s.helm.v3.Release(
                f"{name}-lbc",
                name=LBC_CHART, chart=LBC_CHART, version=LBC_CHART_VERSION,
                repository_opts={"repo": LBC_CHART_REPOSITORY}, namespace=LBC_NAMESPACE,
                values=dict(load_balancer_controller), skip_await=False, timeout=600,
                opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=list(depends_on))))
        controllers = [release] + ([self.load_balancer_controller] if self.load_balancer_controller else [])
        self.service = k8s.core.v1.Service(
            f"{name}-lb",
            metadata={"name": SERVICE_NAME, "namespace": namespace, "labels": dict(labels),
                      "annotations": {**annotations, **config.service_annotations}},
            spec={"type": "LoadBalancer", "selector": dict(CONTROLLER_SELECTOR),
                  # Local: the client's address reaches nginx, and only nodes running a controller take traffic.
                  "external_traffic_policy": "Local",
                  "ports": [{"name": "http", "port": 80, "target_port": "http", "protocol": "TCP"},
                            {"name": "https", "port": 443, "target_port": "https", "protocol": "TCP"}]},
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=controllers)))
        self.register_outputs({"service": self.service.metadata.apply(lambda m: f"{m.namespace}/{m.name}")})


def tenant_ingress(name: str, *, tenant: str, namespace: str, labels: Mapping[str, str], hosts: Sequence[str],
                   way_in: WayIn, port: int, opts: pulumi.ResourceOptions) -> k8s.networking.v1.Ingress:
    """The tenant's Ingress: every host and its wildcard to the client Service `<tenant>:<port>`, with TLS."""
    annotations = dict(S3_ANNOTATIONS)
    if way_in.tls:
        annotations[f"{NGINX}/backend-protocol"] = "HTTPS"
    backend = {"service": {"name": tenant, "port": {"number": port}}}
    secret = way_in.tls_secret(tenant)
    spec: dict[str, Any] = {
        "ingress_class_name": way_in.config.class_name,
        "rules": [{"host": host, "http": {"paths": [{"path": "/", "path_type": "Prefix", "backend": backend}]}}
                  for host in route_hosts(hosts)],
    }
    if secret is not None:
        spec["tls"] = [{"hosts": route_hosts(hosts), "secret_name": secret}]
    return k8s.networking.v1.Ingress(
        f"{name}-ingress",
        metadata={"name": tenant, "namespace": namespace, "labels": dict(labels), "annotations": annotations},
        spec=cast("k8s.networking.v1.IngressSpecArgsDict", spec), opts=opts)
