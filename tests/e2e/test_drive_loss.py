"""Drive loss, exactly (issue 7): 4 drives (EC:2) lose their contents while the engine runs or while it
is stopped, and a listing, a read, a write, readiness and ``heal`` must each give the right answer.

- within parity (2 drives wiped): every GET works, and ListObjects lists every key or answers 503,
  never a silently short page;
- ``heal`` restores the wiped drives completely (format included: a restart accepts them) and its
  report counts the keys reads had already repaired; afterwards the healed drives alone serve everything;
- beyond parity (3 drives wiped): GET, PUT and ListBuckets answer 503, readiness too, and a restart
  formats nothing;
- readiness follows the drives: 503 while too few are there, 200 once they are back.

A wiped drive is noticed within seconds (its format is re-read); tests that need the engine to have
noticed wait for readiness to say so, with a bounded loop.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from .helpers import KiB, assert_same, payload
from .test_heal import run_heal

# 20 keys: small ones (inline in their metadata) and larger ones (shard files).
KEYS = {f"k{i:02d}" + ("/deep" if i % 5 == 0 else ""): (3 * KiB if i % 2 else 300 * KiB) for i in range(20)}
BUCKET = "loss"
ENV = {"RUSTFS_HEAL_INTERVAL_SECONDS": "0"}      # only reads and the heal command repair
NOTICE_TIMEOUT = 30.0


def data_of(key: str) -> bytes:
    return payload(key, "loss", KEYS[key])


def wipe(drive: Path) -> None:
    """``rm -rf drive/*``: the drive is still there, empty. The engine runs meanwhile: a file it removes
    itself (a temporary one) while we walk is simply gone."""
    def gone_is_fine(function: Any, path: str, error: Any) -> None:
        if not issubclass(error[0], FileNotFoundError):
            raise error[1]
    for entry in drive.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, onerror=gone_is_fine)
        else:
            entry.unlink(missing_ok=True)


def fill(server: Any) -> Any:
    client = server.client(retries={"max_attempts": 1, "mode": "standard"})
    client.create_bucket(Bucket=BUCKET)
    for key in KEYS:
        client.put_object(Bucket=BUCKET, Key=key, Body=data_of(key))
    return client


def read_every_key(client: Any) -> None:
    for key in KEYS:
        assert_same(client.get_object(Bucket=BUCKET, Key=key)["Body"].read(), data_of(key), key)


def listed_or_503(client: Any) -> None:
    """Every key, or 503: never a short listing."""
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, PaginationConfig={"PageSize": 7})
        keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 503, exc.response
        return
    assert keys == sorted(KEYS)


def ready_status(server: Any) -> int:
    return int(server.request("GET", "/rustfs/health/ready", sign=False, timeout=10)[0])


def wait_for(check: Callable[[], bool], what: str, server: Any, timeout: float = NOTICE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f}s: {what}\n{server.log_tail()}")


def status_of(call: Callable[[], Any]) -> int:
    """The HTTP status a client call ends with; 0 when nothing answers (not listening yet)."""
    try:
        call()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    except EndpointConnectionError:
        return 0
    return 200


def formatted(drive: Path) -> bool:
    return (drive / ".rustfs.sys" / "format.json").is_file()


@pytest.mark.parametrize("when", ["running", "stopped"])
def test_two_drives_wiped_within_parity(make_engine: Any, when: str) -> None:
    server = make_engine(name=f"wipe2-{when}", env=ENV)
    client = fill(server)
    if when == "stopped":
        server.stop()
    for drive in server.drives[:2]:
        wipe(drive)
    if when == "stopped":
        server.start()
        client = server.client(retries={"max_attempts": 1, "mode": "standard"})
    listed_or_503(client)
    read_every_key(client)
    listed_or_503(client)


def test_heal_restores_wiped_drives_completely(make_engine: Any) -> None:
    server = make_engine(name="wipe-heal", env=ENV)
    client = fill(server)
    # Reads repair what they find damaged: 5 keys lose their metadata on d3, and are read.
    repaired = sorted(KEYS)[:5]
    for key in repaired:
        (server.drives[2] / BUCKET / f"{key}.xl.meta").unlink()
        assert_same(client.get_object(Bucket=BUCKET, Key=key)["Body"].read(), data_of(key), key)
    # The repairs run in the background: wiping two more drives before they land would leave those
    # keys on one drive, beyond any parity.
    wait_for(lambda: all((server.drives[2] / BUCKET / f"{key}.xl.meta").exists() for key in repaired),
             "reads repaired the keys they found damaged", server)
    for drive in server.drives[:2]:
        wipe(drive)
    out, counts = run_heal(server, None)
    assert counts.get("failures", 0) == 0, out
    assert counts.get("repaired_by_reads", 0) >= len(repaired), out
    assert all(formatted(d) for d in server.drives[:2]), out
    server.restart()
    assert "holds data" not in server.log_tail(200)
    # Only the healed drives and d3 are left: and then only the healed drives.
    wipe(server.drives[3])
    client = server.client(retries={"max_attempts": 1, "mode": "standard"})
    read_every_key(client)
    wipe(server.drives[2])
    read_every_key(client)


def test_three_drives_wiped_answers_503_and_formats_nothing(make_engine: Any) -> None:
    server = make_engine(name="wipe3", env=ENV)
    client = fill(server)
    for drive in server.drives[:3]:
        wipe(drive)
    wait_for(lambda: ready_status(server) == 503, "readiness 503 with 3 of 4 drives wiped", server)
    key = next(iter(KEYS))
    assert status_of(lambda: client.get_object(Bucket=BUCKET, Key=key)) == 503
    assert status_of(lambda: client.head_object(Bucket=BUCKET, Key=key)) == 503
    assert status_of(lambda: client.put_object(Bucket=BUCKET, Key="new", Body=b"x")) == 503
    assert status_of(lambda: client.list_buckets()) == 503
    assert status_of(lambda: client.list_objects_v2(Bucket=BUCKET)) == 503

    server.stop()
    server.start(wait=False)
    wait_for(lambda: status_of(lambda: server.client(retries={"max_attempts": 1, "mode": "standard"})
                               .get_object(Bucket=BUCKET, Key=key)) == 503,
             "GET answers 503 after a restart below quorum", server)
    client = server.client(retries={"max_attempts": 1, "mode": "standard"})
    assert status_of(lambda: client.list_buckets()) == 503
    assert status_of(lambda: client.put_object(Bucket=BUCKET, Key="new", Body=b"x")) == 503
    assert ready_status(server) == 503
    assert server.is_running()
    assert not any(formatted(d) for d in server.drives[:3]), "formatted drives below quorum"


def test_readiness_follows_drives(make_engine: Any) -> None:
    server = make_engine(name="ready", env=ENV)
    client = fill(server)
    assert ready_status(server) == 200
    away = [d.with_name(d.name + "-away") for d in server.drives[:3]]
    for drive, moved in zip(server.drives[:3], away):
        drive.rename(moved)
    try:
        wait_for(lambda: ready_status(server) == 503, "readiness 503 with 3 of 4 drives gone", server)
        assert status_of(lambda: client.get_object(Bucket=BUCKET, Key=next(iter(KEYS)))) == 503
    finally:
        for drive, moved in zip(server.drives[:3], away):
            if drive.exists():                 # anything created meanwhile is not the drive
                shutil.rmtree(drive)
            os.rename(moved, drive)
    wait_for(lambda: ready_status(server) == 200, "readiness 200 once the drives are back", server)
    read_every_key(client)
