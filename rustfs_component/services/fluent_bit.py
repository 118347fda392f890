"""Fluent Bit (`monitoring.logs`): a DaemonSet tailing the engine containers' logs and shipping them to Elastic.

The engine writes its own log records (and by default its audit records) as JSON lines (`log_format: json`,
docs/observability.md "Audit log"); Fluent Bit's `kubernetes` filter merges each line's JSON into the record, so
Elastic indexes the fields. Only the engine containers of the tenants' namespaces are tailed. Credentials come from
`logs.elasticsearch.credentials_secret` (keys `username`, `password`) as environment variables, never values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.config.monitoring import ElasticOutput
from rustfs_component.engine import CONTAINER_NAME

CHART = "fluent-bit"
CHART_VERSION = "0.58.1"  # ../shared/schemas/helm/versions.json
CHART_REPOSITORY = "https://fluent.github.io/helm-charts"
RELEASE_NAME = "fluent-bit"
TAG = "rustfs.*"
TYPE_TOKEN = "rustfs:services:FluentBit"


def chart_values(output: ElasticOutput, namespaces: Sequence[str]) -> dict[str, Any]:
    """The chart's values: inputs (the engine containers of `namespaces`), the kubernetes filter, the `es` output."""
    paths = ",".join(f"/var/log/containers/*_{ns}_{CONTAINER_NAME}-*.log" for ns in sorted(set(namespaces)))
    parts = urlsplit(output.url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    es = [f"Name es", f"Match {TAG}", f"Host {parts.hostname}", f"Port {port}", f"Index {output.index}",
          "Suppress_Type_Name On", "Replace_Dots On", "Retry_Limit 10", f"tls {'On' if tls else 'Off'}"]
    if parts.path not in ("", "/"):
        es.append(f"Path {parts.path.rstrip('/')}")
    values: dict[str, Any] = {
        "kind": "DaemonSet",
        "testFramework": {"enabled": False},
        "config": {
            "inputs": "[INPUT]\n    Name tail\n    Path " + (paths or "/nonexistent") + "\n"
                      "    multiline.parser docker, cri\n    Tag " + TAG + "\n    Mem_Buf_Limit 5MB\n"
                      "    Skip_Long_Lines On\n",
            "filters": "[FILTER]\n    Name kubernetes\n    Match " + TAG + "\n    Kube_Tag_Prefix rustfs.var.log.containers.\n"
                       "    Merge_Log On\n    Keep_Log Off\n    K8S-Logging.Parser On\n",
            "outputs": "[OUTPUT]\n" + "".join(f"    {line}\n" for line in es),
        },
    }
    if output.credentials_secret is not None:
        values["config"]["outputs"] += "    HTTP_User ${ES_USERNAME}\n    HTTP_Passwd ${ES_PASSWORD}\n"
        values["env"] = [
            {"name": "ES_USERNAME", "valueFrom": {"secretKeyRef": {"name": output.credentials_secret, "key": "username"}}},
            {"name": "ES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": output.credentials_secret, "key": "password"}}}]
    return values


class FluentBit(pulumi.ComponentResource):
    """Type `rustfs:services:FluentBit`: the fluent-bit release in `namespace`."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, output: ElasticOutput, namespace: str, tenant_namespaces: Sequence[str],
                 provider: k8s.Provider, *, labels: Mapping[str, str], depends_on: Sequence[pulumi.Resource] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.release = k8s.helm.v3.Release(
            f"{name}-release", name=RELEASE_NAME, chart=CHART, version=CHART_VERSION,
            repository_opts={"repo": CHART_REPOSITORY}, namespace=namespace, create_namespace=True,
            values=chart_values(output, tenant_namespaces), skip_await=False, atomic=True, cleanup_on_fail=True,
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(depends_on)))
        self.register_outputs({"namespace": namespace, "labels": dict(labels)})
