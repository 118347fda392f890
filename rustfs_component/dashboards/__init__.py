"""The tenant's Grafana dashboard, built from the engine's documented metric names (docs/observability.md).

`dashboard(tenant, uid)` returns the dashboard JSON model; `PANELS` lists every panel's queries, so a test can check
each name against the engine's exposition. Queries select the tenant by the label the ServiceMonitor adds
(alerts.TENANT_LABEL); `$__rate_interval` is Grafana's. The component ships it as a ConfigMap with the Grafana
sidecar's label (`grafana_dashboard: "1"`), one per tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rustfs_component.alerts import selector

SCHEMA_VERSION = 39


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str                      # Grafana panel type: stat | timeseries
    unit: str
    targets: tuple[tuple[str, str], ...]  # (legend, expr with `{sel}`)


PANELS: tuple[Panel, ...] = (
    Panel("Nodes online", "stat", "none", (("online", "min(rustfs_cluster_nodes_online{sel})"),
                                           ("offline", "max(rustfs_cluster_nodes_offline{sel})"))),
    Panel("Drives online", "stat", "none", (("online", "min(rustfs_cluster_drives_online{sel})"),
                                            ("offline", "max(rustfs_cluster_drives_offline{sel})"))),
    Panel("Erasure sets writable", "stat", "none",
          (("{{pool}}/{{set}}", "max by (pool, set) (rustfs_erasure_set_writable{sel})"),)),
    Panel("Capacity used", "stat", "percentunit",
          (("used", "1 - min(rustfs_cluster_free_bytes{sel}) / max(rustfs_cluster_total_bytes{sel})"),)),
    Panel("Capacity", "timeseries", "bytes", (("total", "max(rustfs_cluster_total_bytes{sel})"),
                                              ("free", "min(rustfs_cluster_free_bytes{sel})"))),
    Panel("Free bytes per drive", "timeseries", "bytes",
          (("{{node}} {{drive}}", "min by (node, drive) (rustfs_drive_free_bytes{sel})"),)),
    Panel("Requests per second by API", "timeseries", "reqps",
          (("{{api}}", "sum by (api) (rate(rustfs_s3_requests_total{sel}[$__rate_interval]))"),)),
    Panel("Errors per second by code", "timeseries", "reqps",
          (("{{code}} {{status}}", "sum by (code, status) (rate(rustfs_s3_errors_total{sel}[$__rate_interval]))"),)),
    Panel("p99 time to first byte", "timeseries", "s",
          (("{{api}}", "histogram_quantile(0.99, sum by (api, le) "
                       "(rate(rustfs_s3_ttfb_seconds_bucket{sel}[$__rate_interval])))"),)),
    Panel("p99 request duration", "timeseries", "s",
          (("{{api}}", "histogram_quantile(0.99, sum by (api, le) "
                       "(rate(rustfs_s3_request_duration_seconds_bucket{sel}[$__rate_interval])))"),)),
    Panel("Throughput", "timeseries", "Bps",
          (("received", "sum(rate(rustfs_s3_received_bytes_total{sel}[$__rate_interval]))"),
           ("sent", "sum(rate(rustfs_s3_sent_bytes_total{sel}[$__rate_interval]))"))),
    Panel("Requests in flight", "timeseries", "none",
          (("{{instance}}", "sum by (instance) (rustfs_s3_requests_inflight{sel})"),)),
    Panel("Bucket usage", "timeseries", "bytes",
          (("{{bucket}}", "max by (bucket) (rustfs_bucket_bytes{sel})"),)),
    Panel("Objects per bucket", "timeseries", "none",
          (("{{bucket}}", "max by (bucket) (rustfs_bucket_objects{sel})"),)),
    Panel("Heal queue", "timeseries", "none",
          (("{{instance}}", "sum by (instance) (rustfs_heal_queue_objects{sel})"),
           ("healed/s", "sum(rate(rustfs_heal_objects_healed_total{sel}[$__rate_interval]))"))),
    Panel("Audit records dropped", "timeseries", "none",
          (("{{target}}", "sum by (target) (increase(rustfs_audit_records_dropped_total{sel}[$__rate_interval]))"),)),
    Panel("KMS online", "stat", "none", (("{{instance}}", "min by (instance) (rustfs_kms_online{sel})"),)),
)


def queries(tenant: str) -> list[str]:
    return [expr.replace("{sel}", selector(tenant)) for panel in PANELS for _, expr in panel.targets]


def dashboard(tenant: str, uid: str, title: str) -> dict[str, Any]:
    """The dashboard JSON model: stats in the first row, time series two per row below."""
    panels: list[dict[str, Any]] = []
    x = y = 0
    for number, panel in enumerate(PANELS, start=1):
        width, height = (6, 4) if panel.kind == "stat" else (12, 8)
        if x + width > 24:
            x, y = 0, y + height
        panels.append({
            "id": number, "type": panel.kind, "title": panel.title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"x": x, "y": y, "w": width, "h": height},
            "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + i), "expr": expr.replace("{sel}", selector(tenant)),
                         "legendFormat": legend, "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                        for i, (legend, expr) in enumerate(panel.targets)]})
        x += width
    return {
        "uid": uid, "title": title, "tags": ["rustfs", "s3"], "timezone": "utc", "editable": False,
        "schemaVersion": SCHEMA_VERSION, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Data source", "current": {}}]},
        "panels": panels,
    }
