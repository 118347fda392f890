"""Monitoring settings (docs/observability.md "Component"): the platform's `monitoring:` and a tenant's `audit:`.

    monitoring.mode     install   kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana)
                        existing  an existing Prometheus Operator: only the tenants' ServiceMonitor, PrometheusRule
                                  and dashboard ConfigMap
                        none      nothing (default: a stack turns monitoring on explicitly)
    monitoring.logs     optional Fluent Bit DaemonSet shipping the engines' JSON logs to an Elasticsearch
    tenants[].audit     the engine's audit webhook: Elasticsearch / OpenSearch `_bulk`, or any HTTP endpoint
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from rustfs_component.config.base import DnsLabel, StrictModel


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {value!r}")
    return value


class SecretKeys(StrictModel):
    """Credentials in a Secret of the tenant's namespace (created by you): a bearer token, or a username and password."""

    secret: DnsLabel = Field(description="Name of the Secret. Required.")
    token_key: str | None = Field(default=None,
                                  description="Key of a bearer token (excludes username_key / password_key). "
                                              "Default none.")
    username_key: str | None = Field(default=None, description="Key of the basic-auth username. Default none.")
    password_key: str | None = Field(default=None, description="Key of the basic-auth password. Default none.")

    @model_validator(mode="after")
    def _one_kind(self) -> "SecretKeys":
        basic = (self.username_key is not None, self.password_key is not None)
        if self.token_key is not None and any(basic):
            raise ValueError("token_key and username_key / password_key: give a bearer token or basic auth, not both")
        if any(basic) and not all(basic):
            raise ValueError("username_key and password_key go together")
        if self.token_key is None and not any(basic):
            raise ValueError("give token_key, or username_key and password_key")
        return self


class AuditTarget(StrictModel):
    """Where a tenant's engines send their audit records (besides stdout): the engine's `audit_webhook_*` settings."""

    kind: Literal["elasticsearch", "http"] = Field(
        description="'elasticsearch': an Elasticsearch / OpenSearch `_bulk` endpoint (records indexed into `index`); "
                    "'http': any endpoint taking NDJSON batches by POST. Required.")
    url: str = Field(description="The endpoint: for 'elasticsearch' the cluster's base URL (e.g. "
                                 "'https://es.logging.svc:9200'), else the URL records are POSTed to. Required.")
    index: str | None = Field(default=None,
                              description="The index (kind 'elasticsearch' only). Default 'rustfs-audit-<tenant>'.")
    credentials: SecretKeys | None = Field(default=None,
                                           description="Credentials from a Secret. Default none (no Authorization).")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @model_validator(mode="after")
    def _index(self) -> "AuditTarget":
        if self.index is not None and self.kind != "elasticsearch":
            raise ValueError("index applies to kind 'elasticsearch' only")
        return self

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


class ElasticOutput(StrictModel):
    """An Elasticsearch / OpenSearch that Fluent Bit ships the engines' logs to (its `es` output)."""

    url: str = Field(description="Base URL, e.g. 'https://es.logging.svc:9200'. Required.")
    index: str = Field(default="rustfs-logs", description="Index. Default 'rustfs-logs'.")
    credentials_secret: DnsLabel | None = Field(
        default=None,
        description="Secret in the monitoring namespace with keys 'username' and 'password' (HTTP basic auth). "
                    "Default none.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)


class LogsConfig(StrictModel):
    """Fluent Bit: a DaemonSet tailing the engine containers' logs (JSON lines) and shipping them to Elastic."""

    enabled: bool = Field(default=False, description="Install Fluent Bit. Default false.")
    elasticsearch: ElasticOutput | None = Field(default=None,
                                                description="The output. Required when enabled.")

    @model_validator(mode="after")
    def _output(self) -> "LogsConfig":
        if self.enabled and self.elasticsearch is None:
            raise ValueError("enabled: true needs elasticsearch (where the logs go)")
        return self


class MonitoringConfig(StrictModel):
    """Prometheus, alerts, dashboards and log shipping for every tenant (docs/observability.md "Component")."""

    mode: Literal["install", "existing", "none"] = Field(
        default="none",
        description="'install': kube-prometheus-stack as a Helm release in `namespace`; 'existing': a Prometheus "
                    "Operator is already there (its CRDs, a Prometheus selecting every ServiceMonitor / "
                    "PrometheusRule, Grafana's dashboard sidecar): only the tenants' objects; 'none'. Default 'none'.")
    namespace: DnsLabel = Field(
        default="monitoring",
        description="Namespace of the release (and of Fluent Bit). Default 'monitoring'; "
                    "network.monitoring_namespace must name the namespace Prometheus runs in.")
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="kube-prometheus-stack values merged over the component's (mode 'install'). Default none.")
    scrape_interval: str = Field(default="30s", pattern=r"^[0-9]+(ms|s|m)$",
                                 description="The ServiceMonitor's interval. Default '30s'.")
    rule_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra labels on every tenant's ServiceMonitor and PrometheusRule, for an existing Prometheus "
                    "whose serviceMonitorSelector / ruleSelector ask for them (e.g. {release: prometheus}). "
                    "Default none (the installed Prometheus selects all).")
    logs: LogsConfig = Field(default_factory=LogsConfig, description="Fluent Bit. Default off.")

    @property
    def enabled(self) -> bool:
        return self.mode != "none"
