"""`monitoring:` and `tenants[].audit` in the rendered plans (docs/observability.md "Component"): the
kube-prometheus-stack release (pinned chart, values the chart knows), per tenant the metrics token Secret (generated,
secret) that both the engine (RUSTFS_METRICS_TOKEN by secretKeyRef) and the ServiceMonitor use, a ServiceMonitor
selecting the tenant's client Service once, the PrometheusRule, the dashboard ConfigMap for Grafana's sidecar, the
NetworkPolicies admitting Prometheus and reaching the audit target, the audit settings through storage_engine.config,
Fluent Bit; config errors name the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_support import REPO, STACKS, kubernetes_objects, render_variant
from component_validation import unknown_values_keys, validate_builtin, validate_custom, validate_helm_values
from pydantic import ValidationError
from storage_engine.config import EngineSettings, env_name

from rustfs_component.alerts import ALERTS
from rustfs_component.config import PlatformConfig
from rustfs_component.plan import REDACTED, Plan

VERSIONS = {v["chart"]: v for v in json.loads((REPO.parent / "shared/schemas/helm/versions.json").read_text())}
MONITORED = {"eks": "install", "existing": "existing"}


def _platform(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return document["config"]["rustfs-platform:platform"]


def _config(stack: str) -> PlatformConfig:
    return PlatformConfig.model_validate(_platform(stack))


def _objects(plan: Plan, kind: str, namespace: str | None = None) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in kubernetes_objects(plan)
            if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)}


def _releases(plan: Plan) -> dict[str, dict[str, Any]]:
    return {plan.raw_inputs(r.urn)["name"]: plan.raw_inputs(r.urn) for r in plan.registrations
            if r.type == "kubernetes:helm.sh/v3:Release"}


def _env(statefulset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_monitoring_is_on_in_two_stacks_one_adopting_an_existing_operator() -> None:
    assert {stack: _config(stack).monitoring.mode for stack in STACKS if _config(stack).monitoring.enabled} == MONITORED


@pytest.mark.parametrize("stack", STACKS)
def test_the_release_is_the_pinned_chart_with_values_it_knows(plans: dict[str, Plan], stack: str) -> None:
    releases = _releases(plans[stack])
    config = _config(stack)
    if config.monitoring.mode != "install":
        assert "kube-prometheus-stack" not in releases
        return
    release = releases["kube-prometheus-stack"]
    pinned = VERSIONS["kube-prometheus-stack"]
    assert release["version"] == pinned["chartVersion"] and release["chart"] == pinned["ociRepository"]
    assert release["namespace"] == config.monitoring.namespace == config.network.monitoring_namespace
    values = release["values"]
    assert unknown_values_keys("kube-prometheus-stack", values) == []
    assert validate_helm_values("kube-prometheus-stack", values) == []
    assert unknown_values_keys("kube-prometheus-stack", {"prometheus": {"prometheusSpec": {"retension": "1d"}}})
    spec = values["prometheus"]["prometheusSpec"]
    # Prometheus picks up the tenants' ServiceMonitors and PrometheusRules, which carry no release label.
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False and spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["retention"] == "15d"  # the stack's own values merged over the component's
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["enabled"], sidecar["label"], sidecar["labelValue"], sidecar["searchNamespace"]) == (
        True, "grafana_dashboard", "1", "ALL")
    # Grafana's admin password: generated into a Secret (a Pulumi secret), never the chart's default.
    admin = values["grafana"]["admin"]
    secret = _objects(plans[stack], "Secret", config.monitoring.namespace)[admin["existingSecret"]]
    assert len(secret["stringData"][admin["passwordKey"]]) == 32 and admin["userKey"] in secret["stringData"]
    [row] = [r for r in plans[stack].resources() if r["type"] == "kubernetes:core/v1:Secret"
             and r["name"].endswith("grafana-admin")]
    assert row["inputs"]["stringData"] == REDACTED


@pytest.mark.parametrize("stack", STACKS)
def test_each_tenant_is_scraped_with_its_token_alerted_and_drawn(plans: dict[str, Plan], stack: str) -> None:
    plan, config = plans[stack], _config(stack)
    monitors = _objects(plan, "ServiceMonitor")
    if not config.monitoring.enabled:
        assert not monitors and not _objects(plan, "PrometheusRule")
        for tenant in config.tenants:
            for statefulset in _objects(plan, "StatefulSet", tenant.namespace_name).values():
                assert env_name("metrics_token") not in _env(statefulset)
        return
    for tenant in config.tenants:
        namespace = tenant.namespace_name
        monitor = _objects(plan, "ServiceMonitor", namespace)[tenant.name]
        assert validate_custom(monitor) == []
        # An existing Prometheus's selectors (`rule_labels`) find the ServiceMonitor and the PrometheusRule.
        assert config.monitoring.rule_labels.items() <= monitor["metadata"]["labels"].items()
        assert config.monitoring.rule_labels or config.monitoring.mode == "install"
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/rustfs/metrics" and endpoint["interval"] == config.monitoring.scrape_interval
        # The token: a generated Secret (redacted in the plan), the engine's and the scrape's.
        token = endpoint["authorization"]["credentials"]
        assert endpoint["authorization"]["type"] == "Bearer"
        secret = _objects(plan, "Secret", namespace)[token["name"]]
        validate_builtin(secret, "1.31")
        assert len(secret["stringData"][token["key"]]) == 40
        [row] = [r for r in plan.resources() if r["type"] == "kubernetes:core/v1:Secret"
                 and r["name"].endswith(f"{tenant.name}-metrics-token-secret")]
        assert row["inputs"]["stringData"] == REDACTED
        statefulsets = _objects(plan, "StatefulSet", namespace)
        for statefulset in statefulsets.values():
            env = _env(statefulset)
            assert env[env_name("metrics_token")]["valueFrom"]["secretKeyRef"] == {"name": token["name"],
                                                                                   "key": token["key"]}
            assert env[env_name("metrics_auth")]["value"] == "token"
        # The selector matches the tenant's client Service (its port "s3") and none of the pools' headless ones,
        # so each engine is scraped once.
        services = _objects(plan, "Service", namespace)
        selected = [name for name, service in services.items() if _selects(monitor["spec"]["selector"], service)]
        assert selected == [tenant.name]
        assert endpoint["port"] in {p["name"] for p in services[tenant.name]["spec"]["ports"]}
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [namespace]}
        assert {"action": "replace", "targetLabel": "tenant", "replacement": tenant.name} in endpoint["relabelings"]
        if config.tls.enabled:  # HTTPS, verified with the tenant's CA for its Service name
            assert endpoint["scheme"] == "https"
            assert endpoint["tlsConfig"]["ca"]["secret"] == {"name": f"{tenant.name}-tls", "key": "ca.crt"}
            assert endpoint["tlsConfig"]["serverName"] == f"{tenant.name}.{namespace}.svc.cluster.local"

        rule = _objects(plan, "PrometheusRule", namespace)[tenant.name]
        assert validate_custom(rule) == []
        assert config.monitoring.rule_labels.items() <= rule["metadata"]["labels"].items()
        alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
        assert [r["alert"] for r in alerts] == [a.name for a in ALERTS] == [
            "RustfsDriveOffline", "RustfsNodeOffline", "RustfsWriteQuorumLost", "RustfsCapacity80",
            "RustfsCapacity90", "RustfsHealBacklogGrowing", "RustfsHigh5xxRate", "RustfsHighP99Latency",
            "RustfsAuditRecordsDropped", "RustfsKmsUnreachable"]
        assert all(f'tenant="{tenant.name}"' in r["expr"] and r["labels"]["tenant"] == tenant.name for r in alerts)

        board_map = _objects(plan, "ConfigMap", namespace)[f"{tenant.name}-dashboard"]
        validate_builtin(board_map, "1.31")
        assert board_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        [board] = [json.loads(v) for v in board_map["data"].values()]
        exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
        assert exprs and all(f'tenant="{tenant.name}"' in e for e in exprs)
        assert len(board["uid"]) <= 40

        # Prometheus's namespace (the release's, with `install`) is admitted to the engine port it scrapes.
        policy = _objects(plan, "NetworkPolicy", namespace)[f"{tenant.name}-allow-monitoring"]
        assert policy["spec"]["ingress"] == [{
            "from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": config.network.monitoring_namespace}}}],
            "ports": [{"port": endpoint_port(services[tenant.name], endpoint["port"]), "protocol": "TCP"}]}]


def endpoint_port(service: dict[str, Any], name: str) -> int:
    [port] = [p["port"] for p in service["spec"]["ports"] if p["name"] == name]
    return port


def _selects(selector: dict[str, Any], obj: dict[str, Any]) -> bool:
    labels = obj["metadata"].get("labels", {})
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        present = expression["key"] in labels
        if (expression["operator"] == "DoesNotExist") == present:
            return False
    return True


def test_the_audit_target_reaches_the_engine_through_its_settings(plans: dict[str, Plan]) -> None:
    plan, config = plans["eks"], _config("eks")
    [tenant] = [t for t in config.tenants if t.audit is not None]
    audit = tenant.audit
    assert audit is not None and audit.credentials is not None
    for statefulset in _objects(plan, "StatefulSet", tenant.namespace_name).values():
        env = _env(statefulset)
        assert env[env_name("audit_webhook_url")]["value"] == f"{audit.url}/_bulk"
        assert env[env_name("audit_webhook_format")]["value"] == "elasticsearch"
        assert env[env_name("audit_webhook_index")]["value"] == audit.index
        assert env[env_name("audit_webhook_password")]["valueFrom"]["secretKeyRef"] == {
            "name": audit.credentials.secret, "key": audit.credentials.password_key}
        assert env[env_name("audit_webhook_username")]["valueFrom"]["secretKeyRef"] == {
            "name": audit.credentials.secret, "key": audit.credentials.username_key}
        # What the engine reads from that environment (pydantic-settings), the Secret's values stood in.
        values = {name: e.get("value", "from-secret") for name, e in env.items()}
        with pytest.MonkeyPatch.context() as patch:
            for name, value in values.items():
                patch.setenv(name, value)
            settings = EngineSettings()
        assert settings.audit_webhook_format == "elasticsearch" and settings.audit_webhook_url.endswith("/_bulk")
    # Its egress: the target's namespace (an in-cluster Service address), its port.
    policy = _objects(plan, "NetworkPolicy", tenant.namespace_name)[f"{tenant.name}-allow-audit"]
    validate_builtin(policy, "1.31")
    assert policy["spec"]["egress"] == [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "logging"}}}],
        "ports": [{"port": 9200, "protocol": "TCP"}]}]
    others = [t for t in config.tenants if t.audit is None]
    assert others and all(f"{t.name}-allow-audit" not in _objects(plan, "NetworkPolicy", t.namespace_name)
                          for t in others)


def test_an_http_audit_target_outside_the_cluster(tmp_path: Path) -> None:
    def audited(config: dict[str, Any]) -> None:
        [dev] = [t for t in config["rustfs-platform:platform"]["tenants"] if t["name"] == "dev"]
        dev["audit"] = {"kind": "http", "url": "https://audit.example.com:8443/in",
                        "credentials": {"secret": "audit-token", "token_key": "token"}}

    plan = render_variant(tmp_path, "existing", audited)
    [statefulset] = _objects(plan, "StatefulSet", "dev").values()
    env = _env(statefulset)
    assert env[env_name("audit_webhook_url")]["value"] == "https://audit.example.com:8443/in"
    assert env[env_name("audit_webhook_format")]["value"] == "json"
    assert env[env_name("audit_webhook_auth_token")]["valueFrom"]["secretKeyRef"] == {"name": "audit-token",
                                                                                      "key": "token"}
    policy = _objects(plan, "NetworkPolicy", "dev")["dev-allow-audit"]
    assert policy["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                         "ports": [{"port": 8443, "protocol": "TCP"}]}]


def test_fluent_bit_ships_the_engine_logs_to_elastic(plans: dict[str, Plan]) -> None:
    config = _config("eks")
    logs = config.monitoring.logs
    assert logs.enabled and logs.elasticsearch is not None
    release = _releases(plans["eks"])["fluent-bit"]
    pinned = VERSIONS["fluent-bit"]
    assert release["version"] == pinned["chartVersion"] and release["repositoryOpts"]["repo"] == pinned["helmRepository"]
    values = release["values"]
    assert unknown_values_keys("fluent-bit", values) == []
    assert values["kind"] == "DaemonSet"
    inputs = values["config"]["inputs"]
    for tenant in config.tenants:  # the engine containers of the tenants' namespaces, nothing else
        assert f"/var/log/containers/*_{tenant.namespace_name}_engine-*.log" in inputs
    outputs = values["config"]["outputs"]
    assert "Name es" in outputs and "Host elasticsearch.logging.svc" in outputs and "Port 9200" in outputs
    assert "tls On" in outputs and f"Index {logs.elasticsearch.index}" in outputs
    assert "Merge_Log On" in values["config"]["filters"]  # the JSON lines become fields
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in values["env"]}
    assert refs == {"ES_USERNAME": {"name": "es-logs", "key": "username"},
                    "ES_PASSWORD": {"name": "es-logs", "key": "password"}}
    assert all("fluent-bit" not in _releases(plans[s]) for s in STACKS if s != "eks")


def _errors(stack: str, mutate: Any) -> dict[str, str]:
    config = copy.deepcopy(_platform(stack))
    mutate(config)
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(config)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


def _set(path: str, value: Any) -> Any:
    def mutate(config: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = config
        for key in parents:
            node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
        node[last] = value
    return mutate


@pytest.mark.parametrize(("stack", "mutate", "field", "words"), [
    ("eks", _set("monitoring.namespace", "prometheus"), "", "network.monitoring_namespace"),
    ("existing", _set("network.monitoring_namespace", None), "", "monitoring.mode 'existing'"),
    ("existing", _set("monitoring.mode", "grafana"), "monitoring.mode", "'install', 'existing' or 'none'"),
    ("eks", _set("monitoring.logs.elasticsearch", None), "monitoring.logs", "needs elasticsearch"),
    ("eks", _set("monitoring.logs.elasticsearch.url", "es:9200"), "monitoring.logs.elasticsearch.url", "http(s) URL"),
    ("eks", _set("tenants.0.audit.kind", "kafka"), "tenants.0.audit.kind", "'elasticsearch' or 'http'"),
    ("eks", _set("tenants.0.audit.credentials.token_key", "t"), "tenants.0.audit.credentials", "not both"),
    ("existing", _set("tenants.0.audit", {"kind": "http", "url": "http://a.b", "index": "x"}),
     "tenants.0.audit", "index applies to kind 'elasticsearch'"),
    ("eks", _set("tenants.0.engine_settings.audit_webhook_url", "http://x"), "tenants.0", "in audit only"),
    ("eks", _set("tenants.1.engine_settings.metrics_token", "plain"), "tenants.1", "audit.credentials"),
    ("eks", _set("tenants.0.engine_settings.metrics_enabled", "false"), "", "Prometheus would scrape a 404"),
])
def test_config_errors_name_the_field(stack: str, mutate: Any, field: str, words: str) -> None:
    errors = _errors(stack, mutate)
    assert any(loc.startswith(field) and words in message for loc, message in errors.items()), errors


def test_the_engine_with_the_rendered_audit_env_indexes_its_records_in_bulk(tmp_path: Path,
                                                                             engine_factory: Any) -> None:
    """The eks stack's analytics audit target, pointed at a local `_bulk` receiver: the engine started with the
    rendered RUSTFS_AUDIT_* env (the Secret's username and password stood in) posts its records there."""
    import base64
    import http.server
    import threading
    import time

    received: list[tuple[str, str, bytes]] = []

    class Bulk(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.path, self.headers.get("Authorization", ""), body))
            reply = b'{"took":1,"errors":false,"items":[]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bulk)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"

        def local(config: dict[str, Any]) -> None:
            [tenant] = [t for t in config["rustfs-platform:platform"]["tenants"] if t.get("audit")]
            tenant["audit"]["url"] = url

        plan = render_variant(tmp_path, "eks", local)
        [tenant] = [t for t in _config("eks").tenants if t.audit is not None]
        statefulset = next(iter(_objects(plan, "StatefulSet", tenant.namespace_name).values()))
        stand_in = {"username": "audit-writer", "password": "s3cret-audit"}
        env = {name: e["value"] if "value" in e else stand_in[e["valueFrom"]["secretKeyRef"]["key"]]
               for name, e in _env(statefulset).items() if name.startswith("RUSTFS_AUDIT_")}
        engine = engine_factory(env={**env, "RUSTFS_AUDIT_FLUSH_SECONDS": "0.2"}, name="audit-render")
        client = engine.client()
        client.create_bucket(Bucket="audited")
        deadline = time.monotonic() + 15
        # Wait for the CreateBucket record: an earlier bulk may carry only the start-up probe's ListBuckets.
        while time.monotonic() < deadline and "CreateBucket" not in _bulk_api_names(received):
            time.sleep(0.1)
        engine.stop()
    finally:
        server.shutdown()
    assert received, "no _bulk request reached the receiver"
    assert tenant.audit is not None
    for path, authorization, body in received:
        assert path == "/_bulk"
        assert authorization == "Basic " + base64.b64encode(b"audit-writer:s3cret-audit").decode()
        lines = [json.loads(line) for line in body.decode().splitlines()]
        assert lines[0::2] == [{"index": {"_index": tenant.audit.index}}] * (len(lines) // 2)
    assert "CreateBucket" in _bulk_api_names(received)


def _bulk_api_names(received: list[tuple[str, str, bytes]]) -> list[str]:
    """The ``api.name`` of every record in the received _bulk bodies (action and document lines alternate)."""
    names = []
    for _, _, body in list(received):
        lines = [json.loads(line) for line in body.decode().splitlines()]
        names += [line.get("api", {}).get("name", "") for line in lines[1::2]]
    return names
