"""What a cloud or Kubernetes would refuse mid-deployment is refused when the config loads, at the field.

Names derived from the platform, node pool and tenant names (rustfs_component.config.limits), volume sizes and
options per volume type, the EKS/TKE API endpoint (private unless CIDRs are given), and the image pull Secret
made from a dockerconfigjson.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from component_support import kubernetes_objects, render_variant
from pydantic import ValidationError

from rustfs_component.config import EksCluster, PlatformConfig, TkeCluster
from rustfs_component.config.limits import derived_names
from rustfs_component.plan import REDACTED, Plan

IMAGE = "ghcr.io/acme/rustfs-engine:0.1.0@sha256:" + "a" * 64
EKS = {"cloud": "eks", "region": "eu-west-1", "availability_zones": ["eu-west-1a", "eu-west-1b"]}
ACK = {"cloud": "ack", "region": "cn-hangzhou", "zone_ids": ["cn-hangzhou-i", "cn-hangzhou-j"]}
TKE = {"cloud": "tke", "region": "ap-guangzhou", "availability_zones": ["ap-guangzhou-6", "ap-guangzhou-7"]}
TANZU = {"cloud": "tanzu", "supervisor_context": "sv", "vsphere_namespace": "storage", "tkr": "v1.31.4+vmware.1-fips",
         "default_storage_class": "vsan", "node_pools": [{"name": "hot", "tier": "hot", "vm_class": "x"},
                                                          {"name": "warm", "tier": "warm", "vm_class": "x"}],
         "tiers": {"hot": {"storage_policy": "vsan"}, "warm": {"storage_policy": "vsan"}}}
EXISTING = {"cloud": "existing"}
DOCKER_CONFIG = json.dumps({"auths": {"harbor.example.com": {"auth": "cm9ib3Q6b2ZmbGluZS1wdWxsLXRva2Vu"}}})


def _config(cluster: dict[str, Any], drive_size: str = "200Gi", tier: str = "hot", **top: Any) -> dict[str, Any]:
    return {"cluster": copy.deepcopy(cluster), "engine": {"image": IMAGE},
            "tenants": [{"name": "t1", "pools": [{"name": "pool0", "drive_size": drive_size, "tier": tier}]}], **top}


def _errors(config: dict[str, Any]) -> dict[str, str]:
    """{loc: message} of the errors validating `config` (fails the test if it validates)."""
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(config)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


def _pools(cluster: dict[str, Any], *names: str) -> dict[str, Any]:
    pools = [{"name": n, "tier": t, "instance_type": "x"} for n, t in zip(names, ("hot", "warm"))]
    return {**cluster, "node_pools": pools}


# ---- names -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "loc", "limit"), [
    # TKE node pool names are at most 25 characters: "prod-storage-tke-" leaves 8 for the pool.
    (_config(_pools(TKE, "hot", "warm-hdd-pool"), name="prod-storage"), "cluster.tke.node_pools.1.name", "25"),
    # COS: "<name>-cold-<APPID>.cos.<region>.myqcloud.com" must stay within 60 characters.
    (_config({**TKE, "cold_tier": {"app_id": "1250000000"}}, name="platform-production1"), "name", "60"),
    # EKS node group names are at most 63 characters ("rustfs-eks-" + a 55-character pool name is 66).
    (_config(_pools(EKS, "h" * 55, "warm")), "cluster.eks.node_pools.0.name", "63"),
    # ACK node pool names: 1-63 characters.
    (_config(_pools(ACK, "hot", "w" * 55)), "cluster.ack.node_pools.1.name", "63"),
])
def test_a_derived_name_over_the_clouds_limit_is_refused_at_its_field(config: dict[str, Any], loc: str, limit: str) -> None:
    errors = _errors(config)
    assert loc in errors, errors
    assert f"limit of {limit}" in errors[loc]


def test_the_platform_name_is_as_long_as_every_derived_name_allows() -> None:
    # Not a fixed 20 characters: on an existing cluster only Kubernetes names derive from it (63 is a DNS label).
    name = "storage-platform-of-the-analytics-department"
    assert PlatformConfig.model_validate(_config(EXISTING, name=name)).name == name
    errors = _errors(_config(EKS, name=name))  # EKS: its IAM role and bucket-prefix limits are exceeded
    assert "limit of 64" in errors["name"] or "limit of 37" in errors["name"]


@pytest.mark.parametrize(("config", "loc"), [
    (_config({**EXISTING, "tiers": {"hot": {"existing_storage_class": "Fast-SSD"},
                                    "warm": {"existing_storage_class": "standard"}}}),
     "cluster.existing.tiers.hot.existing_storage_class"),
    (_config({**EXISTING, "tiers": {"hot": {"existing_storage_class": "fast_ssd"},
                                    "warm": {"existing_storage_class": "standard"}}}),
     "cluster.existing.tiers.hot.existing_storage_class"),
    (_config(EXISTING, engine={"image": IMAGE, "pull_secret": "Harbor-Pull"}), "engine.pull_secret"),
])
def test_capitalised_kubernetes_names_are_refused(config: dict[str, Any], loc: str) -> None:
    assert loc in _errors(config)


@pytest.mark.parametrize("bucket", ["Rustfs-Cold", "rustfs..cold", "192.168.10.4", "rustfs_cold", "-rustfs", "xn--rustfs"])
def test_an_external_cold_tier_bucket_follows_the_s3_naming_rules(bucket: str) -> None:
    cold = {"endpoint": "https://s3.example.com", "bucket": bucket, "access_key_id": "AK"}
    errors = _errors(_config({**TANZU, "cold_tier": cold}))
    assert "cluster.tanzu.cold_tier.bucket" in errors, errors


@pytest.mark.parametrize(("tenant", "loc"), [
    ({"name": "t1", "namespace": "kube-storage"}, "tenants.0.namespace"),
    ({"name": "default"}, "tenants.0.name"),  # its namespace defaults to its name, and `default` exists
])
def test_a_tenant_namespace_kubernetes_reserves_is_refused(tenant: dict[str, Any], loc: str) -> None:
    config = _config(EXISTING)
    config["tenants"][0].update(tenant)
    assert "reserved" in _errors(config)[loc]


@pytest.mark.parametrize("stack", ["eks", "ack", "tke", "tanzu"])
def test_the_names_table_matches_what_the_clouds_render(plans: dict[str, Plan], stack: str) -> None:
    """config.limits mirrors how the cloud modules name things: every name it checks is in the plan."""
    plan = plans[stack]
    platform = plan.find("rustfs:index:ObjectStoragePlatform")[0].name
    text = plan.to_json()
    config = PlatformConfig.model_validate(_stack_config(stack))
    for derived in derived_names(platform, config.cluster, config.tenants):
        if derived.appended == 0 and not derived.what.startswith("COS bucket domain"):
            assert f'"{derived.value}' in text, f"{derived.what} {derived.value!r} is not in the {stack} plan"


def _stack_config(stack: str) -> dict[str, Any]:
    import yaml

    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config: dict[str, Any] = document["config"]["rustfs-platform:platform"]
    return config


# ---- volumes ---------------------------------------------------------------------------------------------

DRIVE = "tenants.0.pools.0.drive_size"


@pytest.mark.parametrize(("cluster", "drive_size", "tier", "loc", "words"), [
    (EKS, "100Gi", "warm", DRIVE, "125 GiB minimum of st1"),                          # default warm tier: st1
    (EKS, "20Ti", "warm", DRIVE, "16384 GiB maximum of st1"),
    ({**EKS, "tiers": {"hot": {"volume_type": "gp3"}, "warm": {"volume_type": "sc1"}}}, "124Gi", "warm", DRIVE, "sc1"),
    ({**EKS, "tiers": {"hot": {"volume_type": "gp3"}, "warm": {"volume_type": "st1"}}}, "0Gi", "hot", DRIVE, "1 GiB minimum of gp3"),
    ({**EKS, "tiers": {"hot": {"volume_type": "gp3", "iops": 16000}, "warm": {"volume_type": "st1"}}}, "20Gi", "hot", DRIVE,
     "at most 10000 IOPS"),                                                           # gp3: 500 IOPS per GiB
    ({**EKS, "tiers": {"hot": {"volume_type": "gp3"}, "warm": {"volume_type": "st1", "iops": 500}}}, "200Gi", "hot",
     "cluster.eks.tiers.warm.iops", "st1 volumes take no provisioned IOPS"),
    ({**EKS, "tiers": {"hot": {"volume_type": "gp3", "iops": 2000}, "warm": {"volume_type": "st1"}}}, "200Gi", "hot",
     "cluster.eks.tiers.hot.iops", "3000-80000"),
    ({**EKS, "tiers": {"hot": {"volume_type": "gp3", "iops": 90000}, "warm": {"volume_type": "st1"}}}, "200Gi", "hot",
     "cluster.eks.tiers.hot.iops", "3000-80000"),
    ({**EKS, "tiers": {"hot": {"volume_type": "io2"}, "warm": {"volume_type": "st1"}}}, "200Gi", "hot",
     "cluster.eks.tiers.hot.iops", "need provisioned IOPS"),
    ({**EKS, "tiers": {"hot": {"volume_type": "io2", "iops": 1000, "throughput_mib": 500}, "warm": {"volume_type": "st1"}}},
     "200Gi", "hot", "cluster.eks.tiers.hot.throughput_mib", "gp3 only"),
    ({**EKS, "tiers": {"hot": {"volume_type": "gp3"}, "warm": {"volume_type": "st1", "throughput_mib": 250}}}, "200Gi", "hot",
     "cluster.eks.tiers.warm.throughput_mib", "gp3 only"),
    ({**EKS, "tiers": {"hot": {"volume_type": "gp3", "throughput_mib": 1000}, "warm": {"volume_type": "st1"}}}, "200Gi", "hot",
     "cluster.eks.tiers.hot.throughput_mib", "0.25 MiB/s per IOPS"),             # 3000 baseline IOPS: 750 MiB/s
    ({**ACK, "tiers": {"hot": {"category": "cloud_essd", "performance_level": "PL2"}, "warm": {"category": "cloud_efficiency"}}},
     "400Gi", "hot", DRIVE, "461 GiB minimum of cloud_essd PL2"),
    ({**ACK, "tiers": {"hot": {"category": "cloud_essd", "performance_level": "PL3"}, "warm": {"category": "cloud_efficiency"}}},
     "1Ti", "hot", DRIVE, "1261 GiB minimum of cloud_essd PL3"),
    (ACK, "10Gi", "hot", DRIVE, "20 GiB minimum of cloud_essd PL1"),
    ({**ACK, "tiers": {"hot": {"category": "cloud_essd"}, "warm": {"category": "cloud_efficiency", "performance_level": "PL1"}}},
     "100Gi", "hot", "cluster.ack.tiers.warm.performance_level", "cloud_essd"),
    ({**TKE, "tiers": {"hot": {"disk_type": "CLOUD_HSSD"}, "warm": {"disk_type": "CLOUD_PREMIUM"}}}, "5Gi", "warm", DRIVE,
     "10 GiB minimum of CLOUD_PREMIUM"),
])
def test_a_volume_its_type_does_not_support_is_refused_at_its_field(
        cluster: dict[str, Any], drive_size: str, tier: str, loc: str, words: str) -> None:
    errors = _errors(_config(cluster, drive_size=drive_size, tier=tier))
    assert loc in errors, errors
    assert words in errors[loc]
    if loc == DRIVE:
        assert "tenants[t1].pools[pool0].drive_size" in errors[loc]


# ---- API endpoint ----------------------------------------------------------------------------------------

def test_the_eks_api_endpoint_is_private_unless_cidrs_are_given() -> None:
    cluster = PlatformConfig.model_validate(_config(EKS)).cluster
    assert isinstance(cluster, EksCluster)
    assert (cluster.endpoint_public_access, cluster.public_access_cidrs) == (False, [])
    given = PlatformConfig.model_validate(_config({**EKS, "public_access_cidrs": ["0.0.0.0/0"]})).cluster
    assert isinstance(given, EksCluster)
    assert (given.endpoint_public_access, given.public_access_cidrs) == (True, ["0.0.0.0/0"])
    assert "no CIDRs" in _errors(_config({**EKS, "endpoint_public_access": True}))["cluster.eks.public_access_cidrs"]
    assert "cluster.eks.public_access_cidrs.0" in _errors(_config({**EKS, "public_access_cidrs": ["10.0.0.1/8"]}))


def test_the_tke_api_endpoint_keeps_the_v010_default_until_cidrs_or_none_are_given() -> None:
    cluster = PlatformConfig.model_validate(_config(TKE)).cluster
    assert isinstance(cluster, TkeCluster) and cluster.api_allowed_cidrs is None   # public, with a warning
    cluster = PlatformConfig.model_validate(_config({**TKE, "api_allowed_cidrs": []})).cluster
    assert isinstance(cluster, TkeCluster) and cluster.api_allowed_cidrs == []     # intranet only


def test_the_eks_plan_opens_the_public_endpoint_to_the_stack_cidrs_only(plans: dict[str, Plan]) -> None:
    [cluster] = plans["eks"].find("aws:eks/cluster:Cluster")
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_an_eks_stack_without_cidrs_has_a_private_endpoint_only(tmp_path: Path) -> None:
    def private(config: dict[str, Any]) -> None:
        del config["rustfs-platform:platform"]["cluster"]["public_access_cidrs"]

    [cluster] = render_variant(tmp_path, "eks", private).find("aws:eks/cluster:Cluster")
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "0.0.0.0/0" not in json.dumps(vpc)


# ---- image pull Secret -----------------------------------------------------------------------------------

def test_the_pull_secret_is_created_in_every_namespace_the_component_makes(tmp_path: Path) -> None:
    def with_docker_config(config: dict[str, Any]) -> None:
        config["rustfs-platform:imagePullDockerConfigJson"] = DOCKER_CONFIG

    plan = render_variant(tmp_path, "tanzu", with_docker_config)
    objects = kubernetes_objects(plan)
    # The ingress controller's and Vault's namespaces run only public images: no engine, no pull Secret.
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"} - {"ingress-nginx", "vault"}
    pull = [o for o in objects if o["kind"] == "Secret" and o.get("type") == "kubernetes.io/dockerconfigjson"]
    assert {o["metadata"]["namespace"] for o in pull} == namespaces and len(pull) == len(namespaces) >= 2
    assert {o["metadata"]["name"] for o in pull} == {"harbor-pull"}
    assert all(json.loads(o["stringData"][".dockerconfigjson"]) == json.loads(DOCKER_CONFIG) for o in pull)
    text = plan.to_json()
    assert "cm9ib3Q6b2ZmbGluZS1wdWxsLXRva2Vu" not in text
    rows = [r for r in json.loads(text)["resources"] if r["inputs"].get("type") == "kubernetes.io/dockerconfigjson"]
    assert len(rows) == len(pull) and all(r["inputs"]["stringData"] == REDACTED for r in rows)


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda c: c["rustfs-platform:platform"]["engine"].pop("pull_secret"), "engine.pull_secret"),
    (lambda c: c["rustfs-platform:platform"]["engine"].update(pull_secret="harbor-pull"), None),
])
def test_a_docker_config_needs_a_pull_secret_name_and_the_auths_shape(tmp_path: Path, mutate: Any, words: str | None) -> None:
    def bad(config: dict[str, Any]) -> None:
        mutate(config)
        config["rustfs-platform:imagePullDockerConfigJson"] = DOCKER_CONFIG if words else json.dumps({"registry": "x"})

    with pytest.raises(Exception, match=words or "auths"):
        render_variant(tmp_path, "tanzu", bad)


def test_a_program_that_failed_leaves_nothing_for_the_next_render_to_raise(tmp_path: Path) -> None:
    def bad(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["engine"].update(pull_secret="harbor-pull")
        config["rustfs-platform:imagePullDockerConfigJson"] = json.dumps({"registry": "x"})

    (tmp_path / "bad").mkdir()
    (tmp_path / "good").mkdir()
    with pytest.raises(Exception, match="auths"):   # fails inside an Output, after resources were registered
        render_variant(tmp_path / "bad", "tanzu", bad)
    good = render_variant(tmp_path / "good", "existing", lambda config: None)
    assert good.find("kubernetes:apps/v1:StatefulSet")
