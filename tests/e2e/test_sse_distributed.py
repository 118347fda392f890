"""Issue 10 in distributed mode: 4 engine processes on loopback (the README's local form, 2 drives each,
one drive list), with Vault (the session's ``openbao``) as their KMS.

Objects written encrypted through one node decrypt through every other (each node logs in to Vault and
unwraps the data key itself), and a node that cannot reach the KMS fails closed: its encrypted PUTs and
GETs answer 503 KMSUnavailable while the other nodes keep serving the same objects.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import KiB, MiB, assert_same, error_code, payload

NODES, DRIVES = 4, 2
KEY = f"e2e-sse-dist-{uuid.uuid4().hex[:8]}"
BUCKET = "sse-distributed"
CUSTOMER_KEY = bytes(range(32))


def _dead_address() -> str:
    import socket

    with socket.socket() as s:              # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="module")
def nodes(openbao: Any, engine_factory: Callable[..., Any]) -> Iterator[list[Any]]:
    """Four nodes of one pool; the last one's Vault address leads nowhere (its own KMS outage)."""
    openbao.create_key(KEY)
    openbao.create_policy(f"rustfs-{KEY}", openbao.key_policy(KEY))
    token = openbao.create_token([f"rustfs-{KEY}"], ttl="2h")
    env = {**openbao.engine_env(KEY, token=token), "RUSTFS_KMS_TIMEOUT_SECONDS": "2", "RUSTFS_KMS_RETRIES": "2",
           "RUSTFS_SSE_C_ALLOW_INSECURE": "true"}      # plain HTTP between the test and the nodes
    servers = [engine_factory(drives=DRIVES, start=False, name=f"sse-node{i}",
                              env={**env, **({"RUSTFS_KMS_VAULT_ADDRESS": _dead_address()} if i == NODES - 1 else {})})
               for i in range(NODES)]
    drives = [f"http://{s.address}{d}" for s in servers for d in s.drives]
    for server in servers:
        # One drive list for every node: each serves its own two drives and reaches the others over RPC.
        server.command = (lambda s=server: [sys.executable, "-m", "storage_engine", "server",
                                            "--address", s.address, *drives])
    for server in reversed(servers):
        server.start(wait=False)
    for server in servers:
        server.wait_ready()
    for server in servers:
        server.s3 = server.client(retries={"max_attempts": 1, "mode": "standard"})
    servers[0].s3.create_bucket(Bucket=BUCKET)
    yield servers
    for server in servers:
        server.stop()


def test_written_through_one_node_decrypts_through_every_other(nodes: list[Any]) -> None:
    healthy = nodes[:-1]
    objects: dict[str, tuple[bytes, dict[str, Any]]] = {}
    for i, node in enumerate(healthy):
        for mode, extra in (("kms", {"ServerSideEncryption": "aws:kms"}),
                            ("s3", {"ServerSideEncryption": "AES256"}),
                            ("c", {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": CUSTOMER_KEY})):
            key = f"via-{i}-{mode}"
            data = payload(key, 0, MiB + 3 * 64 * KiB + 17)
            node.s3.put_object(Bucket=BUCKET, Key=key, Body=data, **extra)
            objects[key] = (data, {k: v for k, v in extra.items() if k.startswith("SSECustomer")})
    for node in healthy:
        for key, (data, read) in objects.items():
            got = node.s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=1000-200000", **read)["Body"].read()
            assert_same(got, data[1000:200001], f"{key} via {node.name}")
            assert_same(node.s3.get_object(Bucket=BUCKET, Key=key, **read)["Body"].read(), data, f"{key} via {node.name}")
    # SSE-C needs no KMS: the node without one reads those too.
    outage = nodes[-1]
    for key, (data, read) in objects.items():
        if read:
            assert_same(outage.s3.get_object(Bucket=BUCKET, Key=key, **read)["Body"].read(), data, f"{key} via {outage.name}")


def test_a_node_that_cannot_reach_the_kms_fails_closed(nodes: list[Any]) -> None:
    outage, healthy = nodes[-1], nodes[0]
    data = payload("dist-outage", 0, 200 * KiB)
    healthy.s3.put_object(Bucket=BUCKET, Key="kms-obj", Body=data, ServerSideEncryption="aws:kms")
    with pytest.raises(ClientError) as get:
        outage.s3.get_object(Bucket=BUCKET, Key="kms-obj")
    assert error_code(get.value) == "KMSUnavailable"
    assert get.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    for key, extra in (("outage-kms", {"ServerSideEncryption": "aws:kms"}), ("outage-auto", {})):
        with pytest.raises(ClientError) as put:
            outage.s3.put_object(Bucket=BUCKET, Key=key, Body=data, **extra)
        assert error_code(put.value) == "KMSUnavailable", key
        with pytest.raises(ClientError) as head:
            healthy.s3.head_object(Bucket=BUCKET, Key=key)
        assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404, f"{key} was stored"
    # The others still serve the object the outage node could not.
    assert_same(nodes[1].s3.get_object(Bucket=BUCKET, Key="kms-obj")["Body"].read(), data, "via a healthy node")
