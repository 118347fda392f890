"""The engine container is rendered from the engine's own contract (storage_engine.config/topology)."""

from __future__ import annotations

import pytest
from storage_engine.config import EngineSettings, env_name
from storage_engine.topology import parse_pools

from rustfs_component.engine import PoolTopology, engine_env, server_args, topology_expressions


def _pool(name: str, servers: int, drives: int) -> PoolTopology:
    return PoolTopology(statefulset=f"t1-{name}", headless_service=f"t1-{name}-hl", namespace="ns",
                        servers=servers, drives_per_server=drives)


def test_distributed_pools_use_the_headless_service_pod_names() -> None:
    expressions = topology_expressions([_pool("pool0", 4, 4), _pool("pool1", 2, 8)])
    assert expressions == [
        "http://t1-pool0-{0...3}.t1-pool0-hl.ns.svc.cluster.local:9000/data{0...3}",
        "http://t1-pool1-{0...1}.t1-pool1-hl.ns.svc.cluster.local:9000/data{0...7}",
    ]
    pools = parse_pools(expressions)  # the engine's own parser agrees
    assert [len(p.drives) for p in pools] == [16, 16]
    assert pools[0].drives[5] == "http://t1-pool0-1.t1-pool0-hl.ns.svc.cluster.local:9000/data1"


def test_a_single_server_uses_local_paths() -> None:
    assert topology_expressions([_pool("pool0", 1, 4)]) == ["/data{0...3}"]
    assert topology_expressions([_pool("pool0", 1, 1)]) == ["/data0"]
    assert server_args([_pool("pool0", 1, 4)]) == ["server", "--address", ":9000", "/data{0...3}"]


def test_env_names_come_from_the_engine_settings() -> None:
    env = engine_env("t1-credentials", {"region": "eu-1", "heal_interval_seconds": 600})
    names = [e["name"] for e in env]
    assert names == [env_name("heal_interval_seconds"), env_name("region"), env_name("access_key"), env_name("secret_key")]
    assert all(name.startswith("RUSTFS_") and name.removeprefix("RUSTFS_").lower() in EngineSettings.model_fields
               for name in names)
    secret_refs = [e for e in env if "value_from" in e]
    assert [e["value_from"]["secret_key_ref"]["name"] for e in secret_refs] == ["t1-credentials"] * 2
    assert all("value" not in e for e in secret_refs)


def test_invalid_engine_values_fail_at_render_time() -> None:
    with pytest.raises(ValueError):
        engine_env("s", {"max_clock_skew_seconds": 0})


def test_the_region_is_always_rendered_so_the_engine_stays_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without RUSTFS_REGION the engine accepts signatures of any region (docs/iam.md "Regions").
    for settings, region in (({}, "us-east-1"), ({"region": "eu-1"}, "eu-1")):
        values = {e["name"]: e["value"] for e in engine_env("s", settings) if "value" in e}
        assert values[env_name("region")] == region
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        engine = EngineSettings()
        assert engine.region == region and engine.region_is_explicit
