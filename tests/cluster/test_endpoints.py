"""Which drive endpoints a node takes as its own (``cluster/endpoints.py``)."""

from __future__ import annotations

import pytest

from storage_engine.cluster.endpoints import LocalityResolver, is_distributed, parse_endpoint
from storage_engine.config import EngineSettings


def resolver(address: str, local_host: str = "", hostname: str = "some-other-machine") -> LocalityResolver:
    settings = EngineSettings(address=address, local_host=local_host)
    return LocalityResolver(settings, hostname=hostname)


def test_parse_endpoints() -> None:
    local = parse_endpoint("/data1")
    assert not local.is_url and local.path == "/data1"
    remote = parse_endpoint("http://Node-1.svc:9000/data0")
    assert (remote.scheme, remote.host, remote.port, remote.path) == ("http", "node-1.svc", 9000, "/data0")
    assert remote.base_url == "http://node-1.svc:9000"
    assert parse_endpoint("https://n1/d1").port == 443
    for bad in ("ftp://n1:21/d1", "http://n1:9000", "http://:9000/d1"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)
    assert is_distributed(["/d1", "http://n1:9000/d1"]) and not is_distributed(["/d1", "/d2"])


def test_same_machine_nodes_differ_by_port() -> None:
    """The README's local form: every node gets the same list and its own --address."""
    node2 = resolver("127.0.0.1:9002")
    assert node2.is_local(parse_endpoint("http://127.0.0.1:9002/srv/n2/d1"))
    assert not node2.is_local(parse_endpoint("http://127.0.0.1:9001/srv/n1/d1"))
    assert node2.is_local(parse_endpoint("/srv/n2/d1"))        # a plain path is always local


def test_bound_address_excludes_other_local_addresses() -> None:
    """127.0.0.2 is this machine too, but a node bound to 127.0.0.1 is not the node at 127.0.0.2."""
    node = resolver("127.0.0.1:9000")
    assert node.is_local(parse_endpoint("http://127.0.0.1:9000/d1"))
    assert node.is_local(parse_endpoint("http://localhost:9000/d1"))
    assert not node.is_local(parse_endpoint("http://127.0.0.2:9000/d1"))


def test_wildcard_address_finds_itself_by_name_or_address() -> None:
    pod = resolver(":9000", hostname="t1-pool0-2")
    # A Kubernetes pod's host name is the first label of its DNS name (which may not resolve yet).
    assert pod.is_local(parse_endpoint("http://t1-pool0-2.t1-hl.ns.svc.cluster.local:9000/data0"))
    assert pod.is_local(parse_endpoint("http://t1-pool0-3.t1-hl.ns.svc.cluster.local:9000/data0")) is None
    assert pod.is_local(parse_endpoint("http://127.0.0.1:9000/data0"))          # resolves to us
    assert pod.is_local(parse_endpoint("http://192.0.2.7:9000/data0")) is False  # TEST-NET: not ours
    assert pod.is_local(parse_endpoint("http://t1-pool0-2.t1-hl:9001/data0")) is False   # another port


def test_configured_local_host_wins() -> None:
    node = resolver(":9000", local_host="node-b.example")
    assert node.is_local(parse_endpoint("http://node-b.example:9000/d1"))
    assert node.is_local(parse_endpoint("http://node-b:9000/d1"))
