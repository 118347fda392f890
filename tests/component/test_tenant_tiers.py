"""Tenants' engines get their tiers and default lifecycle rules through the engine's contract (README "Tiers").

Checked on the rendered plans, with the engine's own model (`EngineSettings.tiers`), topology parser and lifecycle
parser (`storage_engine.lifecycle.rules.parse`), so the component and the engine cannot drift apart.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from component_support import REPO, STACKS, kubernetes_objects, render_variant
from pydantic import ValidationError
from storage_engine.config import EngineSettings, PoolTierSpec, S3TierSpec, env_name
from storage_engine.lifecycle.rules import Lifecycle, parse
from storage_engine.topology import all_pools, parse_pools

from rustfs_component.config import PlatformConfig, TenantConfig
from rustfs_component.plan import Plan
from rustfs_component.plan.render import REDACTED

PLATFORM_KEY = "rustfs-platform:platform"
IRSA_TOKEN = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
TIERS, DEFAULTS = env_name("tiers"), env_name("lifecycle_defaults")
COLD_STACKS = [s for s in STACKS if s != "existing"]


def _platform(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config: dict[str, Any] = document["config"][PLATFORM_KEY]
    return config


def _config(stack: str) -> PlatformConfig:
    return PlatformConfig.model_validate(_platform(stack))


def _statefulsets(plan: Plan, tenant: TenantConfig) -> dict[str, dict[str, Any]]:
    """pool name -> the pool's StatefulSet (unredacted)."""
    return {o["metadata"]["name"].removeprefix(f"{tenant.name}-"): o for o in kubernetes_objects(plan)
            if o["kind"] == "StatefulSet" and o["metadata"]["namespace"] == tenant.namespace_name
            and o["spec"]["template"]["metadata"]["labels"].get("rustfs.io/tenant") == tenant.name}


def _engine(statefulset: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = statefulset["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(statefulset: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in _engine(statefulset)["env"] if "value" in e}


def _tiers(statefulset: dict[str, Any]) -> list[PoolTierSpec | S3TierSpec]:
    """The pod's RUSTFS_TIERS, read as the engine reads it."""
    value = _env(statefulset).get(TIERS)
    return EngineSettings.model_validate({"tiers": json.loads(value)}).tiers if value else []


def _object(plan: Plan, kind: str, namespace: str, name: str) -> dict[str, Any]:
    [found] = [o for o in kubernetes_objects(plan) if o["kind"] == kind and o["metadata"]["name"] == name
               and o["metadata"].get("namespace") == namespace]
    return found


@pytest.mark.parametrize("stack", COLD_STACKS)
def test_every_pod_of_a_tenant_runs_the_same_pools_and_tiers(plans: dict[str, Plan], stack: str) -> None:
    for tenant in _config(stack).tenants:
        sets = _statefulsets(plans[stack], tenant)
        assert sets.keys() == {p.name for p in tenant.pools}
        seen = {(json.dumps(_engine(s)["args"]), _env(s).get(TIERS), _env(s).get(DEFAULTS)) for s in sets.values()}
        assert len(seen) == 1, (tenant.name, seen)
        [(_, tiers, _)] = seen
        assert tiers is not None, f"{tenant.name}: every tenant of a platform with a cold tier has one"


@pytest.mark.parametrize("stack", COLD_STACKS)
def test_a_warm_pool_next_to_a_hot_one_is_the_warm_tier_not_a_write_pool(plans: dict[str, Plan], stack: str) -> None:
    mixed = [t.name for t in _config(stack).tenants if {p.tier for p in t.pools} == {"hot", "warm"}]
    assert mixed, "each cloud's stack has a tenant with a warm tier"
    for tenant in _config(stack).tenants:
        sets = _statefulsets(plans[stack], tenant)
        any_pod = next(iter(sets.values()))
        volumes = _engine(any_pod)["args"][3:]  # server --address :9000 <one expression per write pool>
        hot = [p for p in tenant.pools if p.tier == "hot"]
        warm = [p for p in tenant.pools if p.tier == "warm"]
        written = warm if not hot else hot  # a tenant all on warm volumes writes there, as before tiers
        assert [len(p.drives) for p in parse_pools(volumes)] == [p.servers * p.drives_per_server for p in written]
        assert all(f"{tenant.name}-{p.name}-{{" in v or p.servers == 1 for p, v in zip(written, volumes))
        warm_tiers = [t for t in _tiers(any_pod) if isinstance(t, PoolTierSpec)]
        if not hot or not warm:
            assert warm_tiers == [], tenant.name
            continue
        [pool] = warm
        [tier] = warm_tiers
        assert tier.name == "WARM"
        assert f"//{tenant.name}-{pool.name}-{{0...{pool.servers - 1}}}." in tier.drives
        assert not any(f"{tenant.name}-{pool.name}-" in v for v in volumes)
        [drives] = parse_pools([tier.drives])  # the engine's own parser: one pool, on the warm StatefulSet's pods
        assert len(drives.drives) == pool.servers * pool.drives_per_server
        claims = sets[pool.name]["spec"]["volumeClaimTemplates"]
        assert {c["spec"]["storageClassName"] for c in claims} == {"rustfs-warm"}


@pytest.mark.parametrize("stack", COLD_STACKS)
def test_each_pods_engine_reads_its_environment_into_the_tenants_pools_and_tiers(
        plans: dict[str, Plan], stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `python -m storage_engine server` makes of a pod: its settings from the env, its pools from the args."""
    for tenant in _config(stack).tenants:
        for statefulset in _statefulsets(plans[stack], tenant).values():
            with monkeypatch.context() as env:
                for name, value in _env(statefulset).items():
                    env.setenv(name, value)
                for entry in _engine(statefulset)["env"]:  # given by secretKeyRef in the pod
                    if "valueFrom" in entry:
                        env.setenv(entry["name"], "given-by-secret-reference")
                env.setenv(env_name("volumes"), " ".join(_engine(statefulset)["args"][3:]))
                settings = EngineSettings()
            pools = all_pools(settings)  # the hot pools, then the warm tier's
            assert sorted(len(p.drives) for p in pools) == sorted(p.servers * p.drives_per_server
                                                                  for p in tenant.pools), tenant.name
            assert [t.name for t in settings.tiers] == (["WARM", "COLD"] if tenant.warm_pool else ["COLD"])


def test_a_real_engine_takes_the_rendered_tiers_and_puts_the_default_rules_on_a_new_bucket(
        plans: dict[str, Plan], make_engine: Any, tmp_path: Path) -> None:
    """The tanzu stack's `research` engine settings as rendered, only the pod's paths moved: the warm pool's drives
    (other pods' URLs) to local directories, the mounted Secret's files to files here."""
    tenant = _config("tanzu").tenants[0]
    env = _env(_statefulsets(plans["tanzu"], tenant)["pool0"])
    tiers = json.loads(env[TIERS])
    assert [t["name"] for t in tiers] == ["WARM", "COLD"]
    tiers[0]["drives"] = f"{tmp_path}/warm{{1...4}}"
    for field in ("access_key_file", "secret_key_file"):
        local = tmp_path / Path(tiers[1][field]).name
        local.write_text("stand-in")
        tiers[1][field] = str(local)
    server = make_engine(drives=4, env={TIERS: json.dumps(tiers), DEFAULTS: env[DEFAULTS]})
    s3 = boto3.client("s3", endpoint_url=server.url, aws_access_key_id=server.access_key,
                      aws_secret_access_key=server.secret_key, region_name=server.region)
    s3.create_bucket(Bucket="research-data")
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket="research-data")["Rules"]
    assert rule["ID"] == "age-out" and rule["Status"] == "Enabled"
    assert [(t["Days"], t["StorageClass"]) for t in rule["Transitions"]] == [(30, "WARM"), (180, "COLD")]


def test_the_stacks_exercise_a_warm_tier_and_a_cold_tier_on_every_cloud(plans: dict[str, Plan]) -> None:
    for stack in COLD_STACKS:
        kinds = {(t.name, type(t).__name__) for tenant in _config(stack).tenants
                 for s in _statefulsets(plans[stack], tenant).values() for t in _tiers(s)}
        assert {k for _, k in kinds} == {"PoolTierSpec", "S3TierSpec"}, stack


@pytest.mark.parametrize("stack", COLD_STACKS)
def test_the_cold_tier_is_the_tenants_prefix_of_the_cold_bucket_with_the_clouds_credentials(
        plans: dict[str, Plan], stack: str) -> None:
    plan, config = plans[stack], _config(stack)
    for tenant in config.tenants:
        secret = _object(plan, "Secret", tenant.namespace_name, f"{tenant.name}-cold-tier")["stringData"]
        for statefulset in _statefulsets(plan, tenant).values():
            [cold] = [t for t in _tiers(statefulset) if isinstance(t, S3TierSpec)]
            assert (cold.name, cold.bucket, cold.prefix, cold.endpoint, cold.region) == (
                "COLD", secret["bucket"], f"{tenant.name}/", secret["endpoint"], secret["region"])
            pod = statefulset["spec"]["template"]["spec"]
            mounts = {m["name"]: m for m in _engine(statefulset)["volumeMounts"]}
            volumes = {v["name"]: v for v in pod["volumes"]}
            if stack == "eks":  # IRSA: the role of the ServiceAccount's annotation, STS of the region, no keys
                account = _object(plan, "ServiceAccount", tenant.namespace_name, tenant.name)
                assert cold.web_identity is not None and not cold.access_key_file
                assert cold.web_identity.role_arn == account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
                assert cold.web_identity.token_file == IRSA_TOKEN
                assert cold.web_identity.sts_endpoint == "https://sts.eu-central-1.amazonaws.com"
                assert "cold-tier" not in volumes and "accessKeyId" not in secret
                continue
            assert cold.web_identity is None
            assert mounts["cold-tier"]["readOnly"] is True
            directory = mounts["cold-tier"]["mountPath"]
            assert volumes["cold-tier"]["secret"]["secretName"] == f"{tenant.name}-cold-tier"
            files = {f"{directory}/{i['path']}": i["key"] for i in volumes["cold-tier"]["secret"]["items"]}
            assert files == {cold.access_key_file: "accessKeyId", cold.secret_key_file: "secretAccessKey"}


@pytest.mark.parametrize("stack", COLD_STACKS)
def test_the_keys_reach_the_engines_only_as_files_of_the_mounted_secret(plans: dict[str, Plan], stack: str) -> None:
    """No key material in any env, pod spec or the plan; the engines read the Secret's files (or use IRSA)."""
    plan = plans[stack]
    redacted = plan.to_json()
    for tenant in _config(stack).tenants:
        name = f"{tenant.name}-cold-tier"
        secret = _object(plan, "Secret", tenant.namespace_name, name)["stringData"]
        [row] = [r for r in plan.resources() if r["type"] == "kubernetes:core/v1:Secret" and r["name"].endswith(name)]
        assert row["inputs"]["stringData"] == REDACTED
        keys = [secret[k] for k in ("accessKeyId", "secretAccessKey") if k in secret]
        assert len(keys) == (0 if stack == "eks" else 2)
        for statefulset in _statefulsets(plan, tenant).values():
            pod = json.dumps(statefulset["spec"]["template"])
            assert not [k for k in keys if k in pod]
            [cold] = [t for t in _tiers(statefulset) if isinstance(t, S3TierSpec)]
            mounted = {v["secret"]["secretName"] for v in statefulset["spec"]["template"]["spec"]["volumes"]
                       if "secret" in v}
            assert (name in mounted, cold.web_identity is not None) == ((False, True) if stack == "eks" else (True, False))
        assert not [k for k in keys if k in redacted]


@pytest.mark.parametrize("stack", STACKS)
def test_default_rules_parse_with_the_engines_own_parser(plans: dict[str, Plan], stack: str) -> None:
    for tenant in _config(stack).tenants:
        for statefulset in _statefulsets(plans[stack], tenant).values():
            value = _env(statefulset).get(DEFAULTS)
            if not tenant.lifecycle:
                assert value is None
                continue
            assert value is not None
            known = {t.name for t in _tiers(statefulset)}
            documents = EngineSettings.model_validate({"lifecycle_defaults": json.loads(value)}).lifecycle_defaults
            assert documents.keys() == {e.bucket for e in tenant.lifecycle}
            for entry in tenant.lifecycle:
                lifecycle = parse(documents[entry.bucket].encode(), known_tier=lambda name: name in known)
                _assert_same_rules(lifecycle, entry.model_dump())


def _assert_same_rules(lifecycle: Lifecycle, entry: dict[str, Any]) -> None:
    got = [{"id": r.id, "enabled": r.enabled, "prefix": r.filter.prefix,
            "transitions": [(t.days, t.tier) for t in r.transitions], "expiration": r.expiration_days,
            "noncurrent": r.noncurrent_expiration_days, "abort": r.abort_multipart_days} for r in lifecycle.rules]
    want = [{"id": r["id"], "enabled": True, "prefix": r["prefix"],
             "transitions": [(t["days"], t["tier"]) for t in r["transitions"]], "expiration": r["expiration_days"],
             "noncurrent": r["noncurrent_expiration_days"], "abort": r["abort_incomplete_multipart_days"]}
            for r in entry["rules"]]
    assert got == want


def test_the_stacks_default_rules_age_objects_to_warm_then_cold(plans: dict[str, Plan]) -> None:
    for stack in COLD_STACKS:
        rules = [r for t in _config(stack).tenants for e in t.lifecycle if e.bucket == "*" for r in e.rules]
        assert [(t.days, t.tier) for t in rules[0].transitions] == [(30, "WARM"), (180, "COLD")], stack


def test_the_cold_buckets_keep_no_lifecycle_that_moves_or_expires_objects(plans: dict[str, Plan]) -> None:
    [eks] = [r for r in plans["eks"].resources() if r["type"] == "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"]
    assert [sorted(rule) for rule in eks["inputs"]["rules"]] == [["abortIncompleteMultipartUpload", "filter", "id",
                                                                  "status"]]
    [cos] = [r for r in plans["tke"].resources() if r["type"] == "tencentcloud:Cos/bucket:Bucket"]
    assert "lifecycleRules" not in cos["inputs"]


def test_the_cold_tier_egress_on_eks_reaches_the_sts_endpoint_the_engines_use(plans: dict[str, Plan]) -> None:
    """IRSA's AssumeRoleWithWebIdentity goes to the regional STS name, which the VPC's interface endpoint (private DNS)
    answers from the private subnets: those are in every tenant's cold-tier egress."""
    resources = plans["eks"].resources()
    endpoints = {t.web_identity.sts_endpoint for tenant in _config("eks").tenants
                 for s in _statefulsets(plans["eks"], tenant).values()
                 for t in _tiers(s) if isinstance(t, S3TierSpec) and t.web_identity is not None}
    assert endpoints == {"https://sts.eu-central-1.amazonaws.com"}
    [endpoint] = [r for r in resources if r["type"] == "aws:ec2/vpcEndpoint:VpcEndpoint"
                  and r["inputs"]["serviceName"].endswith(".sts")]
    assert endpoint["inputs"]["privateDnsEnabled"] is True and endpoint["inputs"]["vpcEndpointType"] == "Interface"
    private = {r["inputs"]["cidrBlock"] for r in resources if r["type"] == "aws:ec2/subnet:Subnet"
               and "private" in r["inputs"]["tags"]["Name"]}
    assert private
    for tenant in _config("eks").tenants:
        policy = _object(plans["eks"], "NetworkPolicy", tenant.namespace_name, f"{tenant.name}-allow-cold-tier")
        cidrs = {peer["ipBlock"]["cidr"] for rule in policy["spec"]["egress"] for peer in rule["to"]}
        assert private <= cidrs


def test_a_single_server_hot_pool_with_a_warm_pool_reaches_both_by_url(tmp_path: Path) -> None:
    def mutate(config: dict[str, Any]) -> None:
        dev = config[PLATFORM_KEY]["tenants"][0]
        dev["pools"].append({"name": "warm0", "servers": 2, "drives_per_server": 2, "drive_size": "50Gi",
                             "tier": "warm"})
        dev["lifecycle"] = [{"bucket": "logs", "rules": [{"id": "w", "transitions": [{"days": 7, "tier": "WARM"}]}]}]
    plan = render_variant(tmp_path, "existing", mutate)
    tenant = PlatformConfig.model_validate(_platform("existing")).tenants[0]
    sets = _statefulsets(plan, tenant)
    assert sets.keys() == {"pool0", "warm0"}
    for statefulset in sets.values():
        # The warm pods reach the hot pod's drives: no local paths once the tenant has a second pool.
        assert _engine(statefulset)["args"][3:] == [
            "https://dev-pool0-0.dev-pool0-hl.dev.svc.cluster.local:9000/data{0...3}"]
        [warm] = _tiers(statefulset)
        assert isinstance(warm, PoolTierSpec)
        assert warm.drives == "https://dev-warm0-{0...1}.dev-warm0-hl.dev.svc.cluster.local:9000/data{0...1}"
        documents = json.loads(_env(statefulset)[DEFAULTS])
        parse(documents["logs"].encode(), known_tier=lambda name: name == "WARM")


# ---- config errors name the field ---------------------------------------------------------------------------

def _eks_tenant(**changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(_platform("eks"))
    config["tenants"][0].update(changes)
    return config


_HOT = {"name": "pool0", "servers": 4, "drives_per_server": 4, "tier": "hot"}
_WARM = {"name": "warm0", "servers": 4, "drives_per_server": 2, "drive_size": "2Ti", "tier": "warm"}


def _rule(**rule: Any) -> list[dict[str, Any]]:
    return [{"bucket": "*", "rules": [{"id": "r", **rule}]}]


ERRORS = {
    "two warm tiers": (_eks_tenant(pools=[_HOT, _WARM, {**_WARM, "name": "warm1"}]),
                       "tenants.0.pools.2.role", "at most one pool"),
    "a warm tier on hot volumes": (_eks_tenant(pools=[_HOT, {**_HOT, "name": "pool1", "role": "warm-tier"}]),
                                   "tenants.0.pools.1.role", "warm volumes"),
    "no write pool": (_eks_tenant(pools=[{**_WARM, "role": "warm-tier"}]), "tenants.0.pools", "written to"),
    "WARM without a warm pool": (_eks_tenant(pools=[_HOT], lifecycle=_rule(transitions=[{"days": 30, "tier": "WARM"}])),
                                 "tenants.0.lifecycle.0.rules.0.transitions.0.tier", "no pool with role 'warm-tier'"),
    "transitions out of order": (_eks_tenant(lifecycle=_rule(transitions=[{"days": 180, "tier": "COLD"},
                                                                          {"days": 30, "tier": "WARM"}])),
                                 "tenants.0.lifecycle.0.rules.0.transitions.1.days", "increasing days"),
    "zero days": (_eks_tenant(lifecycle=_rule(transitions=[{"days": 0, "tier": "COLD"}])),
                  "tenants.0.lifecycle.0.rules.0.transitions.0.days", "greater than or equal to 1"),
    "an unknown tier": (_eks_tenant(lifecycle=_rule(transitions=[{"days": 1, "tier": "GLACIER"}])),
                        "tenants.0.lifecycle.0.rules.0.transitions.0.tier", "'WARM' or 'COLD'"),
    "expiry before the transition": (_eks_tenant(lifecycle=_rule(transitions=[{"days": 30, "tier": "COLD"}],
                                                                 expiration_days=30)),
                                     "tenants.0.lifecycle.0.rules.0.expiration_days", "more than"),
    "a rule without action": (_eks_tenant(lifecycle=_rule(prefix="logs/")), "tenants.0.lifecycle.0.rules.0",
                              "at least one action"),
    "a bad bucket name": (_eks_tenant(lifecycle=[{"bucket": "Bad_Bucket", "rules": [{"id": "r", "expiration_days": 1}]}]),
                          "tenants.0.lifecycle.0.bucket", "lowercase"),
    "tiers in engine_settings": (_eks_tenant(engine_settings={"tiers": []}), "tenants.0.engine_settings",
                                 "set by the component"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_config_errors_name_the_field(case: str) -> None:
    config, where, message = ERRORS[case]
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(config)
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}
    assert where in errors and message in errors[where], errors


def test_cold_transitions_need_the_platforms_cold_tier() -> None:
    config = copy.deepcopy(_platform("existing"))
    config["tenants"][0]["lifecycle"] = _rule(transitions=[{"days": 180, "tier": "COLD"}])
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(config)
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}
    assert "cluster.cold_tier" in errors["tenants.0.lifecycle.0.rules.0.transitions.0.tier"], errors


def test_a_warm_only_tenant_keeps_its_pool_as_a_write_pool_and_role_write_keeps_a_warm_pool_writable() -> None:
    """Upgrades: a pool on warm volumes holding objects written before tiers existed stays where it is."""
    config = PlatformConfig.model_validate(_eks_tenant(pools=[_HOT, {**_WARM, "role": "write"}], lifecycle=[]))
    assert [p.name for p in config.tenants[0].write_pools] == ["pool0", "warm0"] and config.tenants[0].warm_pool is None
    backups = _config("eks").tenants[1]
    assert [p.tier for p in backups.write_pools] == ["warm"] and backups.warm_pool is None


def test_the_readme_tiers_example_is_a_valid_tenant() -> None:
    section = (REPO / "README.md").read_text().split("### Tiers\n", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = copy.deepcopy(_platform("eks"))
    config["tenants"] = yaml.safe_load(example)["tenants"]
    [tenant] = PlatformConfig.model_validate(config).tenants
    assert tenant.warm_pool is not None and tenant.lifecycle


# ---- the cold tier is read in place: an instant class, the cloud's addressing ---------------------------------
# A GET of a transitioned object is a ranged GET on the cold bucket, at once: an archive class (403
# InvalidObjectState until restored) would fail every read of a cold object.

# stack -> (the class the engines write with, as S3 spells it; addressing)
COLD_WRITES = {"eks": ("GLACIER_IR", "virtual"),  # Glacier Instant Retrieval
               "ack": ("GLACIER", "virtual"),  # OSS Archive, with the bucket's real-time access of Archive objects
               "tke": ("STANDARD_IA", "virtual"),
               "tanzu": ("STANDARD", "path")}  # the stack's own endpoint and class


def _cold_specs(plan: Plan, stack: str) -> list[S3TierSpec]:
    return [t for tenant in _config(stack).tenants for s in _statefulsets(plan, tenant).values()
            for t in _tiers(s) if isinstance(t, S3TierSpec)]


@pytest.mark.parametrize("stack", COLD_STACKS)
def test_the_cold_tier_is_written_in_a_class_read_without_a_restore_and_addressed_as_the_cloud_serves(
        plans: dict[str, Plan], stack: str) -> None:
    specs = _cold_specs(plans[stack], stack)
    assert specs
    assert {(t.storage_class, t.addressing) for t in specs} == {COLD_WRITES[stack]}
    for tenant in _config(stack).tenants:
        secret = _object(plans[stack], "Secret", tenant.namespace_name, f"{tenant.name}-cold-tier")["stringData"]
        assert secret["storageClass"] == COLD_WRITES[stack][0]


def test_the_oss_cold_bucket_stays_archive_and_its_archive_objects_are_read_in_real_time(plans: dict[str, Plan]) -> None:
    """OSS Archive objects answer 403 until restored, unless the bucket has real-time access of Archive objects."""
    plan = plans["ack"]
    [bucket] = plan.find("alicloud:oss/bucket:Bucket")
    [direct] = plan.find("alicloud:oss/bucketArchiveDirectRead:BucketArchiveDirectRead")
    assert bucket.inputs["storageClass"] == "Archive"  # create-only: as v0.1.0 made it
    assert direct.inputs == {"bucket": bucket.outputs["bucket"], "enabled": True}
    assert direct.parent == bucket.parent and direct.provider == bucket.provider
    assert {t.bucket for t in _cold_specs(plan, "ack")} == {bucket.outputs["bucket"]}
    assert not [r for s in ("eks", "tke", "tanzu")
                for r in plans[s].find("alicloud:oss/bucketArchiveDirectRead:BucketArchiveDirectRead")]


def test_a_v010_tke_stack_with_archive_renders_the_same_bucket_and_the_engines_write_standard_ia(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """COS's bucket has no class: v0.1.0's `storage_class: ARCHIVE` still renders (with a warning), the engines
    write STANDARD_IA."""
    def archive(config: dict[str, Any]) -> None:
        config[PLATFORM_KEY]["cluster"]["cold_tier"]["storage_class"] = "ARCHIVE"

    plan = render_variant(tmp_path, "tke", archive)
    assert {(t.storage_class, t.addressing) for t in _cold_specs(plan, "tke")} == {("STANDARD_IA", "virtual")}
    for tenant in _config("tke").tenants:  # the Secret (replaced on any data change) keeps v0.1.0's content
        secret = _object(plan, "Secret", tenant.namespace_name, f"{tenant.name}-cold-tier")["stringData"]
        assert secret["storageClass"] == "ARCHIVE"
    [bucket] = plan.find("tencentcloud:Cos/bucket:Bucket")
    assert not [k for k in bucket.inputs if "storage" in k.lower() or "lifecycle" in k.lower()]
    assert "cluster.cold_tier.storage_class is 'ARCHIVE'" in caplog.text  # Pulumi's warning, as the mocks log it


def test_an_external_cold_tier_passes_its_addressing_and_class_through(tmp_path: Path) -> None:
    def virtual(config: dict[str, Any]) -> None:
        config[PLATFORM_KEY]["cluster"]["cold_tier"].update(addressing="virtual", storage_class="STANDARD_IA")

    plan = render_variant(tmp_path, "tanzu", virtual)
    assert {(t.storage_class, t.addressing) for t in _cold_specs(plan, "tanzu")} == {("STANDARD_IA", "virtual")}


def _cold_tier(stack: str, **changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(_platform(stack))
    config["cluster"]["cold_tier"] = {**config["cluster"]["cold_tier"], **changes}
    return config


ARCHIVE_CLASSES = {
    "S3 GLACIER": (_cold_tier("eks", storage_class="GLACIER"), "GLACIER_IR, STANDARD_IA or ONEZONE_IA"),
    "S3 DEEP_ARCHIVE": (_cold_tier("eks", storage_class="DEEP_ARCHIVE"), "GLACIER_IR, STANDARD_IA or ONEZONE_IA"),
    "OSS ColdArchive": (_cold_tier("ack", storage_class="ColdArchive"), "no real-time access"),
    "external GLACIER": (_cold_tier("tanzu", storage_class="GLACIER"), "STANDARD_IA"),
    "external DEEP_ARCHIVE": (_cold_tier("tanzu", storage_class="DEEP_ARCHIVE"), "STANDARD_IA"),
}


@pytest.mark.parametrize("case", sorted(ARCHIVE_CLASSES))
def test_archive_classes_are_refused_naming_the_field_and_why(case: str) -> None:
    config, advice = ARCHIVE_CLASSES[case]
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(config)
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}
    message = errors.get(f"cluster.{config['cluster']['cloud']}.cold_tier.storage_class", "")
    assert "restore" in message and advice in message, errors


@pytest.mark.parametrize("storage_class", ["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING"])
def test_s3_instant_classes_are_accepted(storage_class: str) -> None:
    config = PlatformConfig.model_validate(_cold_tier("eks", storage_class=storage_class))
    assert config.cluster.cold_tier is not None
    assert getattr(config.cluster.cold_tier, "storage_class") == storage_class
