"""The tenants' alert rules and dashboard queries (rustfs_component.alerts, rustfs_component.dashboards), as rendered:
`promtool check rules` accepts every rendered group; `promtool test rules` fires (and holds) the drive-offline,
node-offline, write-quorum and capacity alerts on synthetic series laid out as the engine exports them (every node
reports every drive and node as it sees them; a dead node's own series vanish); and every metric name an alert or a
panel reads is one a running engine exports after S3 traffic (or, for families only some states produce, one
docs/metrics.md documents)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_support import REPO, kubernetes_objects

from rustfs_component.alerts import ALERTS, metric_names
from rustfs_component.plan import Plan


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus'; scripts/test installs it)")
    return promtool


def _rules(plans: dict[str, Plan]) -> list[tuple[str, dict[str, Any]]]:
    return [(stack, o) for stack, plan in sorted(plans.items()) for o in kubernetes_objects(plan)
            if o["kind"] == "PrometheusRule"]


def _dashboards(plans: dict[str, Plan]) -> list[dict[str, Any]]:
    return [json.loads(value) for plan in plans.values() for o in kubernetes_objects(plan)
            if o["kind"] == "ConfigMap" and o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
            for value in o["data"].values()]


def test_promtool_accepts_every_rendered_rule_group(plans: dict[str, Plan], tmp_path: Path) -> None:
    promtool = _promtool()
    rules = _rules(plans)
    assert rules, "no stack renders a PrometheusRule"
    for stack, rule in rules:
        path = tmp_path / f"{stack}-{rule['metadata']['namespace']}-{rule['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
        done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{stack} {path.name}: {done.stdout}{done.stderr}"
        names = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
        assert names == [a.name for a in ALERTS]
    # The check can fail: a broken expression is refused.
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"alert": "A", "expr": "max by (rustfs_drive_online"}]}]}))
    assert subprocess.run([promtool, "check", "rules", str(bad)], capture_output=True, timeout=60).returncode != 0


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    rendered = ", ".join(f'{k}="{v}"' for k, v in {"tenant": "dev", **labels}.items())
    return {"series": f"{name}{{{rendered}}}", "values": values}


def _alert(name: str, at: str, *expected: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": name,
            "exp_alerts": [{"exp_labels": {"tenant": "dev", **labels}} for labels in expected]}


# Two nodes, n1 (scraped as instance a) and n2 (instance b). n2 dies at minute 3: its own scrape stops (its series
# go stale, `_`), and n1 reports n2's node and drive offline from then on.
UNIT_TESTS: list[dict[str, Any]] = [
    {"name": "a dead node's drives and the node itself, as its peers see them",
     "interval": "1m",
     "input_series": [
         _series("rustfs_drive_online", "1 1 1 0x20", node="n2", drive="/d1", pool="0", set="0", instance="a"),
         _series("rustfs_drive_online", "1 1 1 stale", node="n2", drive="/d1", pool="0", set="0", instance="b"),
         _series("rustfs_drive_online", "1x23", node="n1", drive="/d1", pool="0", set="0", instance="a"),
         _series("rustfs_node_online", "1 1 1 0x20", node="n2", instance="a"),
         _series("rustfs_node_online", "1 1 1 stale", node="n2", instance="b"),
         _series("rustfs_node_online", "1x23", node="n1", instance="a"),
         # One node alone sees a drive offline (a partition, not the drive): no alert.
         _series("rustfs_drive_online", "0x23", node="n1", drive="/d2", pool="0", set="0", instance="a"),
         _series("rustfs_drive_online", "1x23", node="n1", drive="/d2", pool="0", set="0", instance="c"),
     ],
     "alert_rule_test": [
         _alert("RustfsDriveOffline", "5m"),  # offline for 2 minutes only
         _alert("RustfsDriveOffline", "10m", {"severity": "warning", "node": "n2", "drive": "/d1", "pool": "0",
                                              "set": "0"}),
         _alert("RustfsNodeOffline", "6m"),
         _alert("RustfsNodeOffline", "10m", {"severity": "warning", "node": "n2"}),
     ]},
    {"name": "an erasure set below its write quorum",
     "interval": "1m",
     "input_series": [
         _series("rustfs_erasure_set_writable", "1 1 0x10", pool="0", set="1", instance="a"),
         _series("rustfs_erasure_set_writable", "1 1 0x10", pool="0", set="1", instance="b"),
         _series("rustfs_erasure_set_writable", "1x12", pool="0", set="0", instance="a"),
     ],
     "alert_rule_test": [
         _alert("RustfsWriteQuorumLost", "2m"),
         _alert("RustfsWriteQuorumLost", "5m", {"severity": "critical", "pool": "0", "set": "1"}),
     ]},
    {"name": "capacity over 80% and then over 90% (every node reports the cluster's figures)",
     "interval": "1m",
     "input_series": [
         _series("rustfs_cluster_total_bytes", "1000x60", instance="a"),
         _series("rustfs_cluster_total_bytes", "1000x60", instance="b"),
         _series("rustfs_cluster_free_bytes", "300x10 150x20 50x30", instance="a"),
         _series("rustfs_cluster_free_bytes", "300x10 150x20 50x30", instance="b"),
     ],
     "alert_rule_test": [
         _alert("RustfsCapacity80", "10m"),
         _alert("RustfsCapacity80", "20m"),  # 85% for 9 minutes: not yet 15
         _alert("RustfsCapacity80", "28m", {"severity": "warning"}),
         _alert("RustfsCapacity90", "28m"),
         _alert("RustfsCapacity80", "50m", {"severity": "warning"}),
         _alert("RustfsCapacity90", "50m", {"severity": "critical"}),
     ]},
    {"name": "5xx over 5% of the requests",
     "interval": "1m",
     "input_series": [
         _series("rustfs_s3_requests_total", "0+100x30", api="GetObject", bucket="b", instance="a"),
         _series("rustfs_s3_errors_total", "0+10x30", api="GetObject", bucket="b", code="InternalError",
                 status="500", instance="a"),
         _series("rustfs_s3_errors_total", "0+50x30", api="GetObject", bucket="b", code="NoSuchKey",
                 status="404", instance="a"),  # 4xx are the clients' business
     ],
     "alert_rule_test": [
         _alert("RustfsHigh5xxRate", "8m"),
         _alert("RustfsHigh5xxRate", "20m", {"severity": "critical"}),
     ]},
    {"name": "the heal queue grows for an hour; audit records dropped; the KMS unreachable; slow first bytes",
     "interval": "1m",
     "input_series": [
         _series("rustfs_heal_queue_objects", "0+10x100", instance="a"),
         _series("rustfs_heal_queue_objects", "50x100", instance="b"),  # a steady backlog is no alarm
         _series("rustfs_audit_records_dropped_total", "0x20 0+5x10", target="webhook", instance="a"),
         _series("rustfs_kms_online", "1x3 0x20", instance="a"),
         _series("rustfs_s3_requests_total", "0+60x40", api="GetObject", bucket="b", instance="a"),
         # Every GetObject's first byte after 2.5 s or more (above the 1 s threshold).
         _series("rustfs_s3_ttfb_seconds_bucket", "0x40", api="GetObject", bucket="b", le="1", instance="a"),
         _series("rustfs_s3_ttfb_seconds_bucket", "0x40", api="GetObject", bucket="b", le="2.5", instance="a"),
         _series("rustfs_s3_ttfb_seconds_bucket", "0+60x40", api="GetObject", bucket="b", le="5", instance="a"),
         _series("rustfs_s3_ttfb_seconds_bucket", "0+60x40", api="GetObject", bucket="b", le="+Inf",
                 instance="a"),
     ],
     "alert_rule_test": [
         _alert("RustfsHealBacklogGrowing", "60m"),
         _alert("RustfsHealBacklogGrowing", "95m", {"severity": "warning", "instance": "a"}),
         _alert("RustfsAuditRecordsDropped", "15m"),
         _alert("RustfsAuditRecordsDropped", "25m", {"severity": "warning", "target": "webhook"}),
         _alert("RustfsKmsUnreachable", "6m"),
         _alert("RustfsKmsUnreachable", "10m", {"severity": "critical", "instance": "a"}),
         _alert("RustfsHighP99Latency", "8m"),
         _alert("RustfsHighP99Latency", "20m", {"severity": "warning", "api": "GetObject"}),
     ]},
]


def test_the_alerts_fire_on_synthetic_series(plans: dict[str, Plan], tmp_path: Path) -> None:
    promtool = _promtool()
    [rule] = [r for stack, r in _rules(plans) if stack == "existing" and r["metadata"]["name"] == "dev"]
    # promtool compares annotations too: the unit tests check expressions, `for` and labels (the annotations'
    # templates are checked by `promtool check rules` above).
    groups = [{**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
              for g in rule["spec"]["groups"]]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": UNIT_TESTS}))
    done = subprocess.run([promtool, "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {t["alertname"] for test in UNIT_TESTS for t in test["alert_rule_test"]}
    assert tested == {a.name for a in ALERTS}


def _documented_families() -> set[str]:
    """`rustfs_*` families docs/metrics.md lists (in its tables' first column)."""
    path = REPO / "docs" / "metrics.md"
    text = path.read_text() if path.exists() else ""
    return set(re.findall(r"^\| `(rustfs_[a-z0-9_]+)` \|", text, flags=re.MULTILINE))


def _family(sample: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_created"):
        if sample.endswith(suffix):
            return sample[: -len(suffix)]
    return sample


def _scrape(url: str, token: str | None) -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(f"{url}/rustfs/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def _rendered_metrics_access(plan: Plan, tenant: str) -> tuple[dict[str, str], str]:
    """The engine's RUSTFS_METRICS_* env of the tenant's StatefulSet (secret references resolved from the rendered
    Secrets), and the bearer token the tenant's ServiceMonitor sends."""
    objects = kubernetes_objects(plan)
    secrets = {o["metadata"]["name"]: o["stringData"] for o in objects
               if o["kind"] == "Secret" and o["metadata"].get("namespace") == tenant and "stringData" in o}
    [statefulset] = [o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["namespace"] == tenant]
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    env = {}
    for item in container["env"]:
        if item["name"].startswith("RUSTFS_METRICS_"):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            env[item["name"]] = secrets[ref["name"]][ref["key"]] if ref else item["value"]
    [monitor] = [o for o in objects if o["kind"] == "ServiceMonitor" and o["metadata"]["namespace"] == tenant]
    credentials = monitor["spec"]["endpoints"][0]["authorization"]["credentials"]
    return env, secrets[credentials["name"]][credentials["key"]]


def test_every_metric_an_alert_or_panel_reads_is_exported(plans: dict[str, Plan], engine_factory: Any) -> None:
    used = {name for _, rule in _rules(plans) for group in rule["spec"]["groups"] for r in group["rules"]
            for name in metric_names(r["expr"])}
    used |= {name for board in _dashboards(plans) for panel in board["panels"] for target in panel["targets"]
             for name in metric_names(target["expr"])}
    assert {"rustfs_drive_online", "rustfs_s3_ttfb_seconds_bucket", "rustfs_bucket_bytes"} <= used

    # The engine runs with the metrics settings rendered for the existing stack's tenant dev (the token from its
    # Secret, by the secretKeyRef), and is scraped with the token the ServiceMonitor names.
    env, token = _rendered_metrics_access(plans["existing"], "dev")
    assert env["RUSTFS_METRICS_AUTH"] == "token" and env["RUSTFS_METRICS_TOKEN"] == token and len(token) == 40
    server = engine_factory(env={**env, "RUSTFS_SCANNER_INTERVAL_SECONDS": "1"}, name="alert-metrics")
    with pytest.raises(urllib.error.HTTPError) as refused:
        _scrape(server.url, None)
    assert refused.value.code == 401
    client = server.client()
    client.create_bucket(Bucket="alerts")
    client.put_object(Bucket="alerts", Key="k", Body=b"x" * 1000)
    client.get_object(Bucket="alerts", Key="k")["Body"].read()
    try:
        client.get_object(Bucket="alerts", Key="missing")
    except client.exceptions.NoSuchKey:
        pass
    exported: set[str] = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the usage scanner's first pass makes the rustfs_bucket_* series
        exported = _scrape(server.url, token)
        if used <= exported:
            break
        time.sleep(0.5)
    missing = used - exported
    documented = _documented_families()
    # Families documented but produced only in some states (a heal queue, an audit target): docs/metrics.md names
    # them; anything else an expression reads must be in the exposition.
    assert {_family(n) for n in missing} <= documented | _not_yet_landed(documented), sorted(missing)
    pending = sorted({_family(n) for n in missing} - documented)
    if pending:
        pytest.skip(f"not yet exported by the engine (their piece of issue 12 has not landed): {pending}")


def _not_yet_landed(documented: set[str]) -> set[str]:
    """The one tolerance for work in progress: families of docs/observability.md's contract that docs/metrics.md does
    not list yet (their engineer's piece has not landed; the test then skips, naming them)."""
    contract = set(re.findall(r"`(rustfs_[a-z0-9_]+)", (REPO / "docs" / "observability.md").read_text()))
    return contract - documented


def test_a_real_prometheus_scrapes_as_the_service_monitor_says_and_evaluates_every_rule(
        plans: dict[str, Plan], engine_factory: Any, tmp_path: Path) -> None:
    """Prometheus (Debian's) with the ServiceMonitor's path and token and its `tenant` label, and the tenant's
    PrometheusRule (evaluated every second here): the target is up, every rule evaluates without error against the
    engine's real series (vector matching, label sets), and the cluster-wide expressions give one value for the
    tenant."""
    from tests.prometheus_server import PrometheusServer, unavailable

    if (why := unavailable()) is not None:
        pytest.skip(why)
    plan = plans["existing"]
    env, token = _rendered_metrics_access(plan, "dev")
    [monitor] = [o for o in kubernetes_objects(plan) if o["kind"] == "ServiceMonitor"
                 and o["metadata"]["namespace"] == "dev"]
    [endpoint] = monitor["spec"]["endpoints"]
    [relabel] = endpoint["relabelings"]
    [rule] = [r for stack, r in _rules(plans) if stack == "existing" and r["metadata"]["name"] == "dev"]
    groups = [{**g, "interval": "1s"} for g in rule["spec"]["groups"]]
    server = engine_factory(env=env, name="alert-prometheus")
    client = server.client()
    client.create_bucket(Bucket="evaluated")
    client.put_object(Bucket="evaluated", Key="k", Body=b"x" * 100)
    assert endpoint["path"] == "/rustfs/metrics"  # PrometheusServer's metrics_path
    with PrometheusServer(tmp_path / "prometheus", [server.address], token=token,
                          labels={relabel["targetLabel"]: relabel["replacement"]},
                          rules=yaml.safe_dump({"groups": groups})) as prometheus:
        prometheus.wait_for('up{job="rustfs"} == 1', what="the engine scraped with the ServiceMonitor's token")
        deadline = time.monotonic() + 60
        while True:
            [loaded] = prometheus._get("/api/v1/rules")["groups"]
            evaluated = {r["name"]: r for r in loaded["rules"] if r.get("lastEvaluation", "").startswith("20")}
            if len(evaluated) == len(ALERTS) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert set(evaluated) == {a.name for a in ALERTS}
        assert {name: r.get("lastError", "") for name, r in evaluated.items() if r["health"] != "ok"} == {}
        # No alert fires for a healthy single-node tenant.
        assert [a for a in prometheus.alerts() if a["state"] == "firing"] == []
        used = prometheus.values(
            '1 - min by (tenant) (rustfs_cluster_free_bytes{tenant="dev"}) / '
            'max by (tenant) (rustfs_cluster_total_bytes{tenant="dev"})')
        assert list(used) == [(("tenant", "dev"),)] and 0 < next(iter(used.values())) < 1
