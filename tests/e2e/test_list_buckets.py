"""ListBuckets paging and filtering against an engine of its own (its buckets are only these): ``max-buckets``,
``continuation-token``, ``prefix`` and ``bucket-region`` with boto3 (and its paginator), AWS's errors raw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import EngineServer

NAMES = sorted([f"pg-{i:02d}" for i in range(7)] + ["other-a", "other-b"])


@pytest.fixture(scope="module")
def server(engine_factory: Callable[..., EngineServer]) -> EngineServer:
    server = engine_factory(name="list-buckets")
    client = server.client()
    for name in NAMES:
        client.create_bucket(Bucket=name)
    return server


@pytest.fixture(scope="module")
def client(server: EngineServer) -> Any:
    return server.client()


def names(answer: dict[str, Any]) -> list[str]:
    return [b["Name"] for b in answer.get("Buckets", [])]


def test_pages(client: Any) -> None:
    answer = client.list_buckets()          # unpaged: everything, in name order
    assert names(answer) == NAMES and "ContinuationToken" not in answer and "Prefix" not in answer
    seen: list[str] = []
    answer = client.list_buckets(MaxBuckets=4)
    pages = 1
    while True:
        assert len(names(answer)) <= 4
        seen += names(answer)
        if "ContinuationToken" not in answer:
            break
        answer = client.list_buckets(MaxBuckets=4, ContinuationToken=answer["ContinuationToken"])
        pages += 1
    assert seen == NAMES and pages == 3
    # A page that ends exactly at the last bucket carries no token.
    assert "ContinuationToken" not in client.list_buckets(MaxBuckets=len(NAMES))
    paginator = client.get_paginator("list_buckets")
    pages_seen = [names(page) for page in paginator.paginate(PaginationConfig={"PageSize": 2})]
    assert sum(pages_seen, []) == NAMES and all(len(p) <= 2 for p in pages_seen)


def test_prefix_and_region(client: Any, server: EngineServer) -> None:
    answer = client.list_buckets(Prefix="pg-", MaxBuckets=5)
    assert names(answer) == NAMES[2:7] and answer["Prefix"] == "pg-" and "ContinuationToken" in answer
    rest = client.list_buckets(Prefix="pg-", MaxBuckets=5, ContinuationToken=answer["ContinuationToken"])
    assert names(rest) == NAMES[7:] and rest["Prefix"] == "pg-" and "ContinuationToken" not in rest
    assert names(client.list_buckets(Prefix="nothing-")) == []
    assert names(client.list_buckets(BucketRegion=server.region)) == NAMES
    assert all(b["BucketRegion"] == server.region for b in client.list_buckets()["Buckets"])
    assert names(client.list_buckets(BucketRegion="eu-west-3")) == []


@pytest.mark.parametrize("query", ["max-buckets=0", "max-buckets=10001", "max-buckets=many",
                                   "continuation-token=%25%25not-base64"])
def test_invalid_arguments(server: EngineServer, query: str) -> None:
    status, reply = server.request("GET", "/", query)
    assert status == 400 and b"<Code>InvalidArgument</Code>" in reply, reply
