"""Fixtures of the API tests: ``endpoint`` runs each client-level test against the in-process server
over the fake layer, and against the real engine once the object layer exists."""

from __future__ import annotations

import importlib
import importlib.util
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .live import Endpoint, InProcessServer


def _engine_available() -> bool:
    if importlib.util.find_spec("storage_engine.objects.layer") is None:
        return False
    try:
        importlib.import_module("storage_engine.objects.layer")
    except ImportError:          # still being written
        return False
    return True


@pytest.fixture(scope="session")
def fake_endpoint() -> Iterator[Endpoint]:
    server = InProcessServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["fake", "engine"])
def endpoint(request: pytest.FixtureRequest) -> Endpoint:
    if request.param == "fake":
        return request.getfixturevalue("fake_endpoint")
    if not _engine_available():
        pytest.skip("storage_engine.objects.layer is not there yet")
    engine = request.getfixturevalue("engine")
    return Endpoint(engine.url, engine.access_key, engine.secret_key)


@pytest.fixture(scope="session")
def client(endpoint: Endpoint) -> Any:
    return endpoint.client()


@pytest.fixture
def bkt(client: Any) -> Iterator[str]:
    """A fresh bucket, emptied and removed afterwards."""
    name = f"api-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    yield name
    empty_bucket(client, name)


def empty_bucket(client: Any, name: str) -> None:
    """Abort uploads, delete every version and marker, then the bucket.

    A few passes: concurrent deletes under one "directory" can transiently lose write quorum in the
    storage layer (reported); cleanup must not turn that into a test error.
    """
    for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
        client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for _ in range(3):
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                     for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if items:
                client.delete_objects(Bucket=name, Delete={"Objects": items, "Quiet": True})
        if not client.list_object_versions(Bucket=name, MaxKeys=1).get("Versions"):
            break
    client.delete_bucket(Bucket=name)
