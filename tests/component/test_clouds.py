"""One module per cloud behind one registry: every cloud of the config is registered, a fifth cloud is a
module and nothing else, a stack imports only its own cloud's SDK, and a missing SDK names its extra."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest
import yaml
from component_support import REPO

from rustfs_component.clouds import CLOUD_MODULES, CloudSdkMissing, cloud_for
from rustfs_component.config import ClusterConfig
from rustfs_component.plan import render

SDKS = {"eks": "pulumi_aws", "ack": "pulumi_alicloud", "tke": "tencentcloud_iac_pulumi"}


def config_clouds() -> set[str]:
    """The `cloud` discriminators of the config's cluster union."""
    union = typing.get_args(ClusterConfig)[0]
    return {value for model in typing.get_args(union)
            for value in typing.get_args(model.model_fields["cloud"].annotation)}


def test_the_registry_knows_every_cloud_of_the_config() -> None:
    assert config_clouds() == {"eks", "ack", "tke", "tanzu", "existing"}
    assert set(CLOUD_MODULES) == config_clouds()
    for cloud in config_clouds():
        assert cloud_for(cloud).cloud == cloud


def test_an_unknown_cloud_is_named() -> None:
    with pytest.raises(KeyError, match="cluster.cloud 'gcp': no cloud module registered"):
        cloud_for("gcp")


FAKE_CLOUD = '''
"""A fifth cloud, as a test would add one: its config model, its cluster, its StorageClasses, its cold tier."""
from typing import Literal

import pulumi
from pydantic import BaseModel

from rustfs_component.clouds import ClusterHandle, ColdTierAccess, kubernetes_provider


class FakeTier(BaseModel):
    speed: str


class FakeCluster(BaseModel):
    cloud: Literal["fake"] = "fake"
    region: str = "fake-1"
    tiers: dict[str, FakeTier]
    cold_tier: dict[str, str] | None = None


class FakeClusterResource(pulumi.ComponentResource):
    def __init__(self, name, config, opts):
        super().__init__("rustfs:fake:Cluster", name, None, opts)
        kubeconfig = pulumi.Output.secret("{}")
        self.handle = ClusterHandle(kubeconfig=kubeconfig, provider=kubernetes_provider(name, kubeconfig, parent=self),
                                    region=config.region)
        self.register_outputs({})


class Fake:
    cloud = "fake"
    explicit_arguments = frozenset()

    def create_cluster(self, name, config, *, opts, **explicit):
        return FakeClusterResource(f"{name}-fake", config, opts).handle

    def storage_class(self, tier):
        return "csi.fake.example", {"speed": tier.speed}

    def create_cold_tier(self, name, config, tenants, handle, *, opts, secret_access_key):
        return {t.tenant: ColdTierAccess(
            endpoint=f"https://objects.{handle.region}.fake.example", region=handle.region,
            bucket=pulumi.Output.from_input(config["bucket"]), prefix=f"{t.tenant}/", storage_class="COLD",
            access_key_id=pulumi.Output.from_input("AKFAKE"), secret_access_key=pulumi.Output.secret("s3cr3t"))
            for t in tenants}


CLOUD = Fake()
'''

FAKE_PROGRAM = '''
import json

from fake_cloud import FakeCluster

from rustfs_component import ObjectStoragePlatform, PlatformConfig

base = PlatformConfig.model_validate(json.loads(PLATFORM))
cluster = FakeCluster(tiers={"hot": {"speed": "fast"}, "warm": {"speed": "slow"}}, cold_tier={"bucket": "cold"})
ObjectStoragePlatform(base.name, base.model_copy(update={"cluster": cluster}))
'''


def test_a_fifth_cloud_is_one_module_in_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = yaml.safe_load((REPO / "stacks" / "Pulumi.existing.yaml").read_text())["config"]["rustfs-platform:platform"]
    (tmp_path / "fake_cloud.py").write_text(textwrap.dedent(FAKE_CLOUD))
    program = tmp_path / "__main__.py"
    program.write_text(f"PLATFORM = {json.dumps(json.dumps(platform))}\n" + FAKE_PROGRAM)
    monkeypatch.setitem(CLOUD_MODULES, "fake", "fake_cloud")
    try:
        plan = render(program, stack="fake", config={})
    finally:
        sys.modules.pop("fake_cloud", None)

    [cluster] = plan.find("rustfs:fake:Cluster")
    [platform_urn] = [r.urn for r in plan.find("rustfs:index:ObjectStoragePlatform")]
    assert cluster.parent == platform_urn
    classes = {r.name: plan.raw_inputs(r.urn) for r in plan.find("kubernetes:storage.k8s.io/v1:StorageClass")}
    assert {name: (c["provisioner"], c["parameters"]) for name, c in classes.items()} == {
        "rustfs-tiers-hot": ("csi.fake.example", {"speed": "fast"}),
        "rustfs-tiers-warm": ("csi.fake.example", {"speed": "slow"})}
    [cold] = plan.find("rustfs:tiers:ColdTier")
    assert cold.parent == platform_urn
    # Each tenant is handed what the fake cloud's cold tier returned, and runs on its StorageClasses.
    secrets = [plan.raw_inputs(r.urn) for r in plan.find("kubernetes:core/v1:Secret")]
    cold_secrets = [s for s in secrets if "https://objects.fake-1.fake.example" in json.dumps(s)]
    assert len(cold_secrets) == len(platform["tenants"])
    claims = [t["spec"]["storageClassName"] for r in plan.find("kubernetes:apps/v1:StatefulSet")
              for t in plan.raw_inputs(r.urn)["spec"]["volumeClaimTemplates"]]
    assert claims and set(claims) <= {"rustfs-hot", "rustfs-warm"}


IMPORTS_OF_A_STACK = '''
import json, sys
from rustfs_component.plan import render_stack
render_stack(sys.argv[1])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
'''


@pytest.mark.parametrize("stack", ["eks", "existing"])
def test_a_stack_imports_only_its_own_clouds_sdk(stack: str) -> None:
    result = subprocess.run([sys.executable, "-c", IMPORTS_OF_A_STACK, stack], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = set(json.loads(result.stdout.splitlines()[-1]))
    own = {SDKS[stack]} if stack in SDKS else set()
    assert {sdk for sdk in SDKS.values() if sdk in imported} == own


@pytest.mark.parametrize("cloud", sorted(SDKS))
def test_a_missing_sdk_names_the_extra_to_install(cloud: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, SDKS[cloud], None)  # what an install without the SDK looks like to import
    monkeypatch.delitem(sys.modules, CLOUD_MODULES[cloud], raising=False)
    with pytest.raises(CloudSdkMissing) as raised:
        cloud_for(cloud)
    assert str(raised.value) == (f"cluster.cloud '{cloud}' needs the Python package '{SDKS[cloud]}', which is not "
                                 f"installed: pip install 'rustfs-platform[{cloud}]'")


def test_the_plan_cli_reports_a_missing_sdk_in_one_line() -> None:
    code = ("import sys; sys.modules['pulumi_alicloud'] = None\n"
            "from rustfs_component.plan.__main__ import main\n"
            "sys.exit(main(['--stack', 'ack']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: stacks/Pulumi.ack.yaml: cluster.cloud 'ack' needs the Python package 'pulumi_alicloud', "
        "which is not installed: pip install 'rustfs-platform[ack]'"]


def test_the_extras_install_one_cloud_sdk_each() -> None:
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {extra: {requirement.split(">")[0].split("=")[0].split("<")[0].strip() for requirement in requirements}
             for extra, requirements in extras.items()}
    shared = {"pulumi", "pulumi-kubernetes", "pulumi-random", "pyyaml"}
    packages = {"eks": "pulumi-aws", "ack": "pulumi-alicloud", "tke": "tencentcloud-iac-pulumi"}
    for cloud in CLOUD_MODULES:
        assert names[cloud] == shared | ({packages[cloud]} if cloud in packages else set()), cloud
    assert names["component"] == shared | set(packages.values())
