"""Invalid configs are rejected with an error that names the offending field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from rustfs_component.config import PlatformConfig, PoolConfig, TenantConfig
from rustfs_component.config.base import format_quantity, quantity_value
from rustfs_component.namespaces import quota_for

IMAGE = "ghcr.io/acme/rustfs-engine:0.1.0@sha256:" + "a" * 64
VALID: dict[str, Any] = {
    "cluster": {"cloud": "eks", "region": "eu-west-1", "availability_zones": ["eu-west-1a", "eu-west-1b"]},
    "engine": {"image": IMAGE},
    "tenants": [{"name": "t1", "pools": [{"name": "pool0"}]}],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """VALID with one field replaced; `path` is dotted, list indexes as numbers."""
    config = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node: Any = config
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return config


def _error_locations(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(config)
    return [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in caught.value.errors()]


def test_valid_config_gets_production_defaults() -> None:
    config = PlatformConfig.model_validate(VALID)
    pool = config.tenants[0].pools[0]
    assert (pool.servers, pool.drives_per_server, pool.tier) == (4, 4, "hot")
    assert config.cluster.cloud == "eks" and config.cluster.tiers["warm"].volume_type == "st1"


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("cluster.cloud", "gke", "cluster"),  # discriminator: names the allowed clouds
    ("cluster.availability_zones", ["eu-west-1a"], "cluster.eks.availability_zones"),
    ("cluster.regoin", "x", "cluster.eks.regoin"),  # a typo is an error, never a silent default
    ("engine.image", "ghcr.io/acme/rustfs-engine:latest", "engine.image"),
    ("tenants.0.name", "Bad_Name", "tenants.0.name"),
    ("tenants.0.pools.0.servers", 0, "tenants.0.pools.0.servers"),
    ("tenants.0.pools.0.drive_size", "lots", "tenants.0.pools.0.drive_size"),
    ("tenants.0.engine_settings", {"acces_key": "x"}, "tenants.0.engine_settings"),
    ("tenants.0.engine_settings", {"volumes": "/x"}, "tenants.0.engine_settings"),
    ("tenants.0.engine_settings", {"storage_class_standard": "RAID5"}, "tenants.0.engine_settings"),
])
def test_invalid_field_is_named(path: str, value: Any, expected: str) -> None:
    locations = _error_locations(_with(path, value))
    assert any(loc.startswith(expected) for loc in locations), locations


def test_duplicate_tenants_are_rejected() -> None:
    config = copy.deepcopy(VALID)
    config["tenants"].append(copy.deepcopy(config["tenants"][0]))
    assert any("duplicate tenant names" in loc for loc in _error_locations(config))


def test_tier_without_node_pool_names_both_fields() -> None:
    config = _with("cluster.node_pools", [{"name": "hot", "tier": "hot", "instance_type": "m7i.large"}])
    config["tenants"][0]["pools"][0]["tier"] = "warm"
    [message] = _error_locations(config)
    assert "tenants[t1].pools[pool0].tier" in message and "cluster.node_pools" in message


def test_generic_tier_needs_exactly_one_source() -> None:
    config = copy.deepcopy(VALID)
    config["cluster"] = {"cloud": "existing", "tiers": {"hot": {"provisioner": "x", "existing_storage_class": "y"},
                                                        "warm": {"existing_storage_class": "y"}}}
    assert any("cluster.existing.tiers.hot" in loc for loc in _error_locations(config))


def test_pool_of_two_or_three_drives_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 4"):
        PoolConfig(name="p", servers=1, drives_per_server=3)


def test_quota_sums_pools_exactly() -> None:
    tenants = [TenantConfig(name="a", pools=[PoolConfig(name="p", servers=4, drives_per_server=4, drive_size="100Gi")]),
               TenantConfig(name="b", pools=[PoolConfig(name="p", servers=2, drives_per_server=2, drive_size="1Ti")])]
    quota = quota_for(tenants)
    assert quota["requests.storage"] == f"{16 * 100 + 4 * 1024}Gi"
    assert quota["pods"] == "6" and quota["persistentvolumeclaims"] == "20"
    assert quota["requests.cpu"] == "6000m" and quota["limits.memory"] == f"{6 * 2048}Mi"
    assert format_quantity(quantity_value("100m") * 3, "m") == "300m"
