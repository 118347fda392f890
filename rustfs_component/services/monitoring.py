"""kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana) for `monitoring.mode: install`.

A Helm `Release` like the platform's other charts (services/cert_manager.py says why). The component's values make
Prometheus select every ServiceMonitor and PrometheusRule of the cluster (not only the release's own: the tenants'
live in their namespaces), and Grafana's dashboard sidecar load every ConfigMap labelled `grafana_dashboard: "1"`
(tenant_monitoring.py). Grafana's admin password is generated (pulumi_random) into the Secret
`<release>-grafana-admin`, never the chart's well-known default. `monitoring.values` are merged over these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from rustfs_component.config.monitoring import MonitoringConfig

CHART = "kube-prometheus-stack"
CHART_VERSION = "88.5.3"  # ../shared/schemas/helm/versions.json
CHART_REPOSITORY = "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack"
RELEASE_NAME = "kube-prometheus-stack"
GRAFANA_ADMIN_SECRET = f"{RELEASE_NAME}-grafana-admin"
DASHBOARD_LABEL = ("grafana_dashboard", "1")  # the chart's sidecar defaults, set explicitly
TYPE_TOKEN = "rustfs:services:KubePrometheusStack"


def merge(base: Any, override: Any) -> Any:
    """Helm's merge of maps: key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged: dict[str, Any] = dict(base)
        for key, value in override.items():
            merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    return override


def chart_values(config: MonitoringConfig) -> dict[str, Any]:
    """The component's values, with `config.values` merged over them."""
    select_all = {f"{kind}SelectorNilUsesHelmValues": False
                  for kind in ("serviceMonitor", "podMonitor", "rule", "probe")}
    values: dict[str, Any] = {
        "crds": {"enabled": True},
        "prometheus": {"prometheusSpec": select_all},
        "grafana": {
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {"dashboards": {"enabled": True, "label": DASHBOARD_LABEL[0], "labelValue": DASHBOARD_LABEL[1],
                                       "searchNamespace": "ALL"}},
        },
    }
    return merge(values, config.values)


class KubePrometheusStack(pulumi.ComponentResource):
    """Type `rustfs:services:KubePrometheusStack`: the namespace, Grafana's admin Secret and the release.

    Output: `grafana_admin_password` (secret)."""

    release: k8s.helm.v3.Release
    grafana_admin_password: pulumi.Output[str]

    def __init__(self, name: str, config: MonitoringConfig, provider: k8s.Provider, *,
                 labels: Mapping[str, str], depends_on: Sequence[pulumi.Resource] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        base = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(depends_on))
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata={"name": config.namespace, "labels": dict(labels)}, opts=base)
        password = random.RandomPassword(f"{name}-grafana-admin-password", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        after = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[namespace]))
        admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": config.namespace, "labels": dict(labels)},
            type="Opaque",
            string_data=pulumi.Output.secret({"admin-user": "admin", "admin-password": password.result}),
            opts=after)
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=RELEASE_NAME, chart=CHART_REPOSITORY, version=CHART_VERSION, namespace=config.namespace,
            create_namespace=False, values=chart_values(config),
            # The tenants' ServiceMonitors and PrometheusRules need the CRDs: wait for the release.
            skip_await=False, atomic=True, cleanup_on_fail=True, timeout=900,
            opts=pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(depends_on=[admin])))
        self.register_outputs({"namespace": config.namespace, "grafanaAdminPassword": self.grafana_admin_password})
