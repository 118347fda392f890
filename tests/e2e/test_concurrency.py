"""Concurrent writers and readers of one key: one complete version wins, and nobody sees a torn object.

Every test runs against the shared one-process server and against a server with two worker processes
(``RUSTFS_WORKERS=2``), where the racing requests land in different processes and only the on-disk
locks and atomic renames keep them apart.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import KiB, MiB, assert_same, md5_hex, payload, remove_bucket


@pytest.fixture(scope="module")
def two_workers(engine_factory: Any) -> Iterator[Any]:
    server = engine_factory(name="workers2", env={"RUSTFS_WORKERS": "2"})
    yield server
    server.discard()


@pytest.fixture(params=["1-worker", "2-workers"])
def target(request: pytest.FixtureRequest, unique_name: Any) -> Iterator[tuple[Any, str]]:
    """(server, fresh bucket on it)."""
    server = request.getfixturevalue("engine" if request.param == "1-worker" else "two_workers")
    client = server.client()
    name = unique_name("cc")
    client.create_bucket(Bucket=name)
    yield server, name
    if server.is_running():
        remove_bucket(client, name)


def test_concurrent_puts_to_one_key_leave_one_complete_version(target: tuple[Any, str]) -> None:
    engine, bucket = target
    client = engine.client(max_pool_connections=8)
    for rnd in range(8):
        size = (3 * MiB + 17) if rnd % 2 else 100 * KiB        # erasure-coded and inline
        bodies = [payload(f"race{rnd}", w, size) for w in range(4)]
        barrier = threading.Barrier(len(bodies))

        def put(body: bytes) -> str:
            barrier.wait(10)
            return str(client.put_object(Bucket=bucket, Key="race", Body=body)["ETag"])

        with ThreadPoolExecutor(len(bodies)) as pool:
            etags = list(pool.map(put, bodies))
        assert etags == [f'"{md5_hex(b)}"' for b in bodies]
        got = client.get_object(Bucket=bucket, Key="race")
        data = got["Body"].read()
        assert data in bodies, f"round {rnd}: {len(data)} bytes (md5 {md5_hex(data)}) match no writer"
        assert got["ETag"] == f'"{md5_hex(data)}"', "ETag and body come from different writes"
        listed = client.list_objects_v2(Bucket=bucket, Prefix="race")["Contents"]
        assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("race", size, got["ETag"])]


def test_concurrent_multipart_completes_to_one_key(target: tuple[Any, str]) -> None:
    engine, bucket = target
    client = engine.client(max_pool_connections=8)
    bodies = [payload("mprace", w, 5 * MiB + 1000) for w in range(3)]
    uploads = []
    for body in bodies:
        uid = client.create_multipart_upload(Bucket=bucket, Key="mprace")["UploadId"]
        e1 = client.upload_part(Bucket=bucket, Key="mprace", UploadId=uid, PartNumber=1, Body=body[:5 * MiB])["ETag"]
        e2 = client.upload_part(Bucket=bucket, Key="mprace", UploadId=uid, PartNumber=2, Body=body[5 * MiB:])["ETag"]
        uploads.append((uid, [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]))
    barrier = threading.Barrier(len(uploads))

    def complete(upload: tuple[str, list[dict[str, Any]]]) -> None:
        barrier.wait(10)
        client.complete_multipart_upload(Bucket=bucket, Key="mprace", UploadId=upload[0],
                                         MultipartUpload={"Parts": upload[1]})

    with ThreadPoolExecutor(len(uploads)) as pool:
        list(pool.map(complete, uploads))
    data = client.get_object(Bucket=bucket, Key="mprace")["Body"].read()
    assert data in bodies, f"{len(data)} bytes (md5 {md5_hex(data)}) match no upload"


def test_readers_never_see_a_torn_object(target: tuple[Any, str]) -> None:
    """One writer overwrites a key again and again while readers fetch it whole and in ranges.

    Every response must be self-consistent: its bytes are exactly (a slice of) the version its
    ETag names.
    """
    engine, bucket = target
    client = engine.client(max_pool_connections=8)
    size = 2 * MiB + 333
    versions = {i: payload("torn", i, size) for i in range(12)}
    by_etag = {f'"{hashlib.md5(v).hexdigest()}"': i for i, v in versions.items()}
    client.put_object(Bucket=bucket, Key="k", Body=versions[0])
    done = threading.Event()
    problems: list[str] = []
    reads = [0]

    def writer() -> None:
        try:
            for i in range(1, len(versions)):
                client.put_object(Bucket=bucket, Key="k", Body=versions[i])
        finally:
            done.set()

    def reader(n: int) -> None:
        deadline = time.monotonic() + 120
        i = 0
        while (not done.is_set() or i < 3) and time.monotonic() < deadline and i < 500:
            i += 1
            if (i + n) % 2:
                first, last = (i * 7919) % (size - 1000), None
                last = first + 999
                got = client.get_object(Bucket=bucket, Key="k", Range=f"bytes={first}-{last}")
            else:
                first, last = 0, size - 1
                got = client.get_object(Bucket=bucket, Key="k")
            data = got["Body"].read()
            reads[0] += 1
            version = by_etag.get(got["ETag"])
            if version is None:
                problems.append(f"unknown ETag {got['ETag']}")
            elif data != versions[version][first:last + 1]:
                problems.append(f"bytes {first}-{last} do not match version {version} named by the ETag")

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads)
    assert not problems, problems[:10]
    assert reads[0] >= 9
    assert_same(client.get_object(Bucket=bucket, Key="k")["Body"].read(), versions[len(versions) - 1])


def test_many_clients_different_keys(target: tuple[Any, str]) -> None:
    engine, bucket = target
    client = engine.client(max_pool_connections=16)
    keys = [f"p/{i:03d}" for i in range(64)]

    def put(key: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=payload(key, 0, 10 * KiB + len(key)))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, keys))
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="p/")["Contents"]]
    assert listed == keys

    def get(key: str) -> bool:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read() == payload(key, 0, 10 * KiB + len(key))

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(get, keys))
    try:
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    except ClientError as exc:
        raise AssertionError(exc.response) from exc
    assert client.list_objects_v2(Bucket=bucket, Prefix="p/")["KeyCount"] == 0


def test_conditional_create_race(target: tuple[Any, str]) -> None:
    """Concurrent ``If-None-Match: *`` PUTs of one new key: exactly one wins, the others get 412/409."""
    engine, bucket = target
    client = engine.client(max_pool_connections=8)
    for rnd in range(6):
        key = f"once-{rnd}"
        bodies = [payload(key, w, 200 * KiB if rnd % 2 else 1000) for w in range(4)]
        barrier = threading.Barrier(len(bodies))

        def put(body: bytes) -> str:
            barrier.wait(10)
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
                return "ok"
            except ClientError as exc:
                return str(exc.response["Error"]["Code"])

        with ThreadPoolExecutor(len(bodies)) as pool:
            outcomes = list(pool.map(put, bodies))
        assert outcomes.count("ok") == 1, outcomes
        assert set(outcomes) <= {"ok", "PreconditionFailed", "ConditionalRequestConflict"}, outcomes
        winner = bodies[outcomes.index("ok")]
        assert_same(client.get_object(Bucket=bucket, Key=key)["Body"].read(), winner, key)


def test_open_download_survives_overwrite_and_delete(target: tuple[Any, str]) -> None:
    """A GET that has started keeps streaming the version it opened, even when the key is overwritten
    and deleted meanwhile (the engine must not read the new version's or missing shards mid-stream)."""
    engine, bucket = target
    client = engine.client()
    old = payload("held", 0, 32 * MiB + 5)   # more than the socket buffers hold
    client.put_object(Bucket=bucket, Key="held", Body=old)
    for multipart in (False, True):
        if multipart:
            uid = client.create_multipart_upload(Bucket=bucket, Key="held")["UploadId"]
            parts = []
            for n, start in enumerate(range(0, len(old), 5 * MiB), 1):
                etag = client.upload_part(Bucket=bucket, Key="held", UploadId=uid, PartNumber=n,
                                          Body=old[start:start + 5 * MiB])["ETag"]
                parts.append({"PartNumber": n, "ETag": etag})
            client.complete_multipart_upload(Bucket=bucket, Key="held", UploadId=uid,
                                             MultipartUpload={"Parts": parts})
        resp = client.get_object(Bucket=bucket, Key="held")
        stream = resp["Body"]
        head = stream.read(MiB)
        other = engine.client()
        for i in range(2):
            other.put_object(Bucket=bucket, Key="held", Body=payload("held-new", i, 32 * MiB + 5))
        other.delete_object(Bucket=bucket, Key="held")
        rest = stream.read()
        assert_same(head + rest, old, f"download opened before the overwrite (multipart={multipart})")


def test_puts_and_deletes_racing_in_shared_directories(target: tuple[Any, str]) -> None:
    """Deleting the last key of a directory prunes the directory while other clients create keys in it.

    Each thread owns its keys and alternates PUT and DELETE on them; all threads share the same few
    (nested) directories, so empty-directory pruning races with commits. Every request must succeed,
    and afterwards each key is exactly in the state its thread's last request left it.
    """
    engine, bucket = target
    client = engine.client(max_pool_connections=12)
    dirs = ["d0", "d0/x/y", "d1/z"]
    errors: list[str] = []
    final: dict[str, bytes | None] = {}

    def worker(t: int) -> None:
        keys = [f"{d}/t{t}-{j}" for d in dirs for j in range(2)]
        for i in range(12):
            for key in keys:
                try:
                    if (i + len(key)) % 2:
                        body = f"{key}#{i}".encode() * (1 + i % 3)
                        client.put_object(Bucket=bucket, Key=key, Body=body)
                        final[key] = body
                    else:
                        client.delete_object(Bucket=bucket, Key=key)
                        final[key] = None
                except ClientError as exc:
                    errors.append(f"{key} round {i}: {exc.response['Error']['Code']} "
                                  f"{exc.response['ResponseMetadata']['HTTPStatusCode']}")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(worker, range(6)))
    assert not errors, errors[:10]
    listed = set()
    token = None
    for _ in range(20):
        page = client.list_objects_v2(Bucket=bucket, **({"ContinuationToken": token} if token else {}))
        listed |= {o["Key"] for o in page.get("Contents", [])}
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    expected = {k for k, v in final.items() if v is not None}
    assert listed == expected, (sorted(listed - expected)[:5], sorted(expected - listed)[:5])
    for key in sorted(expected):
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == final[key], key
