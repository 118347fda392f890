"""The tenant's alert rules, as data, in one place (docs/observability.md "Component", the alert list).

Every expression is written for one tenant: `{sel}` becomes the tenant's series selector (the ServiceMonitor puts the
label `tenant` on every series it scrapes, tenant_monitoring.TENANT_LABEL). Every node reports its view of the whole
cluster, so cluster-wide series are aggregated across the nodes that reported them (`max` of "online": nobody sees
it; `min` of free bytes: the most pessimistic view), and a dead node's absence never hides its drives: its peers
report them offline. Names used here are the engine's (docs/observability.md "Metric names"); a test checks each one
against a running engine's exposition, and `promtool check rules` / `promtool test rules` check the rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["warning", "critical"]
TENANT_LABEL = "tenant"
GROUP_INTERVAL = "1m"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str            # with `{sel}` where the tenant's selector goes
    for_: str
    severity: Severity
    summary: str
    description: str


ALERTS: tuple[Alert, ...] = (
    Alert("RustfsDriveOffline",
          "max by (tenant, node, drive, pool, set) (rustfs_drive_online{sel}) == 0", "5m", "warning",
          "A drive of tenant {{ $labels.tenant }} is offline",
          "Drive {{ $labels.drive }} of node {{ $labels.node }} (pool {{ $labels.pool }}, set {{ $labels.set }}) "
          "has been offline, as every node sees it, for 5 minutes. Objects of its erasure set are served with less "
          "redundancy; replace or remount the drive, and healing restores it."),
    Alert("RustfsNodeOffline",
          "max by (tenant, node) (rustfs_node_online{sel}) == 0", "5m", "warning",
          "A node of tenant {{ $labels.tenant }} is offline",
          "Node {{ $labels.node }} has been unreachable from every other node for 5 minutes."),
    Alert("RustfsWriteQuorumLost",
          "max by (tenant, pool, set) (rustfs_erasure_set_writable{sel}) == 0", "1m", "critical",
          "An erasure set of tenant {{ $labels.tenant }} lost its write quorum",
          "Pool {{ $labels.pool }} set {{ $labels.set }} has fewer drives online than its write quorum: writes to "
          "its objects fail. Bring its drives or nodes back."),
    Alert("RustfsCapacity80",
          "1 - min by (tenant) (rustfs_cluster_free_bytes{sel}) / max by (tenant) (rustfs_cluster_total_bytes{sel})"
          " > 0.8", "15m", "warning",
          "Tenant {{ $labels.tenant }} is over 80% full",
          "{{ $value | humanizePercentage }} of the tenant's raw capacity is used. Add a pool or delete data."),
    Alert("RustfsCapacity90",
          "1 - min by (tenant) (rustfs_cluster_free_bytes{sel}) / max by (tenant) (rustfs_cluster_total_bytes{sel})"
          " > 0.9", "15m", "critical",
          "Tenant {{ $labels.tenant }} is over 90% full",
          "{{ $value | humanizePercentage }} of the tenant's raw capacity is used; writes fail when drives fill. "
          "Add a pool now."),
    Alert("RustfsHealBacklogGrowing",
          "deriv(rustfs_heal_queue_objects{sel}[30m]) > 0 and rustfs_heal_queue_objects{sel} > 0", "1h", "warning",
          "The heal queue of tenant {{ $labels.tenant }} keeps growing",
          "The heal queue of {{ $labels.instance }} has grown for an hour: healing does not keep up."),
    Alert("RustfsHigh5xxRate",
          "sum by (tenant) (rate(rustfs_s3_errors_total{sel_5xx}[5m])) / sum by (tenant) "
          "(rate(rustfs_s3_requests_total{sel}[5m])) > 0.05", "10m", "critical",
          "Over 5% of tenant {{ $labels.tenant }}'s S3 requests fail with 5xx",
          "{{ $value | humanizePercentage }} of the requests answered 5xx over the last 5 minutes."),
    Alert("RustfsHighP99Latency",
          "histogram_quantile(0.99, sum by (tenant, api, le) (rate(rustfs_s3_ttfb_seconds_bucket{sel}[5m]))) > 1 "
          "and sum by (tenant, api) (rate(rustfs_s3_requests_total{sel}[5m])) > 0.1", "10m", "warning",
          "Tenant {{ $labels.tenant }}: p99 time to first byte of {{ $labels.api }} over 1s",
          "The 99th percentile of {{ $labels.api }}'s time to first byte is {{ $value | humanizeDuration }}."),
    Alert("RustfsAuditRecordsDropped",
          "sum by (tenant, target) (increase(rustfs_audit_records_dropped_total{sel}[10m])) > 0", "0m", "warning",
          "Tenant {{ $labels.tenant }} dropped audit records",
          "The audit target {{ $labels.target }} did not keep up (or is down): records were dropped from its "
          "full queue in the last 10 minutes."),
    Alert("RustfsKmsUnreachable",
          "rustfs_kms_online{sel} == 0", "5m", "critical",
          "Tenant {{ $labels.tenant }} cannot reach its KMS",
          "{{ $labels.instance }} has not reached the KMS for 5 minutes: encrypted objects cannot be read or "
          "written."),
)

_METRIC = re.compile(r"\brustfs_[a-z0-9_]+\b")


def selector(tenant: str, extra: str = "") -> str:
    return "{" + f'{TENANT_LABEL}="{tenant}"' + (f", {extra}" if extra else "") + "}"


def expression(alert: Alert, tenant: str) -> str:
    return (alert.expr.replace("{sel_5xx}", selector(tenant, 'status=~"5.."'))
            .replace("{sel}", selector(tenant)))


def metric_names(expr: str) -> set[str]:
    """The engine's series an expression reads (every name this module and the dashboard use starts `rustfs_`)."""
    return set(_METRIC.findall(expr))


def rule_groups(tenant: str) -> list[dict[str, Any]]:
    """The PrometheusRule's `spec.groups` (also a rule file's `groups`, as promtool reads it)."""
    rules = [{"alert": a.name, "expr": expression(a, tenant), "for": a.for_,
              "labels": {"severity": a.severity, TENANT_LABEL: tenant},
              "annotations": {"summary": a.summary, "description": a.description}} for a in ALERTS]
    return [{"name": f"rustfs-{tenant}", "interval": GROUP_INTERVAL, "rules": rules}]
