"""The component runs under Pulumi's stock unit-test mocks (outputs = inputs), as other teams test their programs:
outputs a real provider computes (a certificate authority, OIDC identities, kubeconfigs, public IPs) are then
absent, and nothing may dereference them."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
import yaml
from component_support import REPO, STACKS
from pulumi.runtime import Mocks, settings
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, set_mocks

from rustfs_component import ObjectStoragePlatform, PlatformConfig
from rustfs_component.config import ExternalS3ColdTier
from rustfs_component.plan.render import _ensure_event_loop


class StockMocks(Mocks):
    """What Pulumi's documentation shows for unit tests: every resource's outputs are its inputs."""

    def __init__(self) -> None:
        self.resources = 0

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources += 1
        return args.name + "_id", args.inputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def stack_platform_config(stack: str) -> PlatformConfig:
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return PlatformConfig.model_validate(document["config"]["rustfs-platform:platform"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_platform_runs_under_stock_mocks(stack: str) -> None:
    config = stack_platform_config(stack)
    _ensure_event_loop()
    settings.ROOT.set(None)  # a fresh root Stack, as each test program has
    mocks = StockMocks()
    set_mocks(mocks, project="stock-mocks", stack=stack, preview=False)
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        external = isinstance(getattr(config.cluster, "cold_tier", None), ExternalS3ColdTier)
        external_key = pulumi.Output.secret("stock-mocks-key") if external else None
        platform = ObjectStoragePlatform(config.name, config, cold_tier_secret_access_key=external_key)
        tenants = {name: pulumi.Output.all(t.endpoint, t.credentials_secret_name, t.cold_tier_secret_name)
                   for name, t in platform.tenants.items()}
        return pulumi.Output.all(platform.kubeconfig, tenants).apply(lambda values: resolved.update(
            kubeconfig=values[0], tenants=values[1]))

    try:
        program()  # raises what any apply or registration raised
    except Exception as error:  # its message, without Pulumi's deep chain of awaits
        pytest.fail(f"{stack} under stock mocks: {type(error).__name__}: {error}", pytrace=False)
    assert set(resolved["tenants"]) == {t.name for t in config.tenants}
    for endpoint, _, _ in resolved["tenants"].values():
        assert endpoint.startswith("https://") and endpoint.endswith(":9000")  # TLS is on by default
    assert mocks.resources > 10
