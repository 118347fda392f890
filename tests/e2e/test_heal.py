"""Drive loss and bitrot on a 4-drive set (EC 2+2), then ``python -m storage_engine heal``.

On-disk layout (``storage_engine/drives/paths.py``): a key ``a/b`` is ``<drive>/<bucket>/a/b.xl.meta``
(all versions, and this drive's shards of small objects inline), and the shards of larger objects are
``<drive>/<bucket>/a/b.xl.data/<data-id>/part.N``.

Round 1 damages two drives (as many as the parity): every shard file on d1 gets a byte flipped in its
middle, and d2's whole bucket directory is deleted. Every object must still read back bit-exact. The
heal command must report rebuilt shards and put them back on disk, which round 2 proves by damaging
the *other* two drives the same way: now only the healed drives can serve the data.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .helpers import KiB, MiB, assert_same, payload

# key -> size; inline objects are <= 128 KiB (the default inline threshold).
OBJECTS = {
    "inline-small": 1000,
    "inline-100k": 100 * KiB,
    "dir/sub/ec-3m": 3 * MiB + 5,
    "ec-1m": MiB,
    "ec-empty-ish": 129 * KiB,
}
MULTIPART = "mp/two-parts"     # 5 MiB + 1 MiB + 7, uploaded in two parts


def data_of(key: str) -> bytes:
    if key == MULTIPART:
        return payload(key, "heal", 6 * MiB + 7)
    return payload(key, "heal", OBJECTS[key])


def shard_files(drive: Path, bucket: str) -> list[Path]:
    """Every data shard file (``part.N`` under ``*.xl.data``) and every inline meta file of ``bucket``."""
    root = drive / bucket
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        in_data = any(p.endswith(".xl.data") for p in path.relative_to(root).parts[:-1])
        if in_data and path.name.startswith("part."):
            found.append(path)
        elif path.name.endswith(".xl.meta") and not (path.parent / (path.name[:-len(".xl.meta")] + ".xl.data")).exists():
            found.append(path)          # an inline object: its shards live in the meta file
    return found


def flip_middle_byte(path: Path) -> None:
    size = path.stat().st_size
    assert size > 0, path
    with open(path, "r+b") as f:
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
        f.flush()
        os.fsync(f.fileno())


def damage(server: Any, bucket: str, corrupt: list[int], wipe: list[int]) -> dict[Path, bytes]:
    """Flip a byte in every shard on the ``corrupt`` drives; delete the ``wipe`` drives' bucket
    directories. Returns the corrupted files' new contents."""
    corrupted = {}
    for i in corrupt:
        files = shard_files(server.drives[i], bucket)
        assert files, f"no shard files found under {server.drives[i] / bucket}"
        for f in files:
            flip_middle_byte(f)
            corrupted[f] = f.read_bytes()
    for i in wipe:
        target = server.drives[i] / bucket
        assert target.is_dir(), target
        shutil.rmtree(target)
    return corrupted


def read_all(client: Any, bucket: str, keys: list[str]) -> None:
    for key in keys:
        data = data_of(key)
        assert_same(client.get_object(Bucket=bucket, Key=key)["Body"].read(), data, key)
        if len(data) > 10:
            mid = len(data) // 2
            got = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={mid - 5}-{mid + 4}")["Body"].read()
            assert_same(got, data[mid - 5:mid + 5], f"{key} range")


def run_heal(server: Any, bucket: str | None) -> tuple[str, dict[str, int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
    env.update({"RUSTFS_ACCESS_KEY": server.access_key, "RUSTFS_SECRET_KEY": server.secret_key,
                "RUSTFS_REGION": server.region})
    cmd = [sys.executable, "-m", "storage_engine", "heal", "--endpoint", server.url]
    if bucket:
        cmd.append(bucket)
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"heal exited {proc.returncode}:\n{out}"
    counts = {m.group(1).replace(" ", "_"): int(m.group(2))
              for m in re.finditer(r"^\s*([a-z ]+):\s*(\d+)\s*$", out, re.M)}
    return out, counts


@pytest.mark.parametrize("drives", [4, 8], ids=["4-drives-EC2", "8-drives-EC4"])
def test_drive_loss_bitrot_and_heal(make_engine: Any, drives: int) -> None:
    parity = drives // 2                                        # default parity: 4 drives -> 2, 8 -> 4
    # No background scan: only reads and the heal command may repair.
    server = make_engine(drives=drives, name="heal", env={"RUSTFS_HEAL_INTERVAL_SECONDS": "0"})
    client = server.client()
    bucket = "healme"
    client.create_bucket(Bucket=bucket)
    for key in OBJECTS:
        client.put_object(Bucket=bucket, Key=key, Body=data_of(key))
    body = data_of(MULTIPART)
    uid = client.create_multipart_upload(Bucket=bucket, Key=MULTIPART)["UploadId"]
    parts = []
    for n, (start, end) in enumerate(((0, 5 * MiB), (5 * MiB, len(body))), 1):
        etag = client.upload_part(Bucket=bucket, Key=MULTIPART, UploadId=uid, PartNumber=n,
                                  Body=body[start:end])["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    client.complete_multipart_upload(Bucket=bucket, Key=MULTIPART, UploadId=uid, MultipartUpload={"Parts": parts})
    keys = sorted([*OBJECTS, MULTIPART])
    for d in server.drives:
        n = len(shard_files(d, bucket))
        assert n == len(keys) + 1, f"{d}: expected one shard file per object (two for the multipart), got {n}"
    half = parity // 2
    first_group, second_group = list(range(parity)), list(range(parity, 2 * parity))

    # Round 1: bitrot on the first half of the first `parity` drives, the other half's bucket gone.
    # Read half the objects before healing, so the heal command certainly has work left even if
    # reads repair what they touch.
    corrupted = damage(server, bucket, corrupt=first_group[:half], wipe=first_group[half:])
    first, second = keys[::2], keys[1::2]
    read_all(client, bucket, first)
    listed = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert listed == keys

    out, counts = run_heal(server, bucket)
    assert counts.get("shards_rebuilt", 0) > 0, f"heal reported no rebuilt shards:\n{out}"
    assert counts.get("failures", 0) == 0, out
    read_all(client, bucket, second)
    # The shards are back on disk: the wiped drives hold every object again, none is still corrupt.
    for d in [server.drives[i] for i in first_group]:
        n = len(shard_files(d, bucket))
        assert n == len(keys) + 1, f"after heal, {d} holds {n} shard files, expected {len(keys) + 1}:\n{out}"
    still_bad = [str(f) for f, content in corrupted.items() if f.exists() and f.read_bytes() == content]
    assert not still_bad, f"corrupt shards left after heal: {still_bad}\n{out}"

    # Round 2: the same damage on the other two drives; only the healed ones can serve now.
    damage(server, bucket, corrupt=second_group[:half], wipe=second_group[half:])
    read_all(client, bucket, keys)
    # These reads may already have healed every object (heal on read), so only the result counts.
    out, counts = run_heal(server, None)
    assert counts.get("failures", 0) == 0, out
    for d in server.drives:
        assert len(shard_files(d, bucket)) == len(keys) + 1, f"{d} after the second heal:\n{out}"
    # And a restart on the healed drives serves everything.
    server.restart()
    read_all(server.client(), bucket, keys)


def test_whole_drive_lost_and_replaced(make_engine: Any) -> None:
    """A drive wiped entirely (format file included) is re-formatted on restart and healed."""
    server = make_engine(name="replace", env={"RUSTFS_HEAL_INTERVAL_SECONDS": "0"})
    client = server.client()
    client.create_bucket(Bucket="repl")
    for key in OBJECTS:
        client.put_object(Bucket="repl", Key=key, Body=data_of(key))
    server.stop()
    shutil.rmtree(server.drives[3])
    server.drives[3].mkdir()
    server.start()
    read_all(server.client(), "repl", sorted(OBJECTS))
    out, counts = run_heal(server, None)
    assert counts.get("failures", 0) == 0, out
    assert len(shard_files(server.drives[3], "repl")) == len(OBJECTS), out
    # Now lose two other drives: d4 (healed) must serve with d1 or d2.
    for d in server.drives[1:3]:
        shutil.rmtree(d / "repl")
    read_all(server.client(), "repl", sorted(OBJECTS))


@pytest.mark.parametrize("lost", [3])
def test_more_losses_than_parity_fail_cleanly(make_engine: Any, lost: int) -> None:
    """Beyond parity the data is gone: reads must fail with an error, never return wrong bytes."""
    server = make_engine(name="beyond")
    client = server.client(retries={"max_attempts": 1, "mode": "standard"})
    client.create_bucket(Bucket="gone")
    client.put_object(Bucket="gone", Key="k", Body=data_of("dir/sub/ec-3m"))
    for d in server.drives[:lost]:
        for f in shard_files(d, "gone"):
            flip_middle_byte(f)
    from botocore.exceptions import ClientError

    try:
        got = client.get_object(Bucket="gone", Key="k")["Body"].read()
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] >= 500 or \
            exc.response["Error"]["Code"] in ("NoSuchKey",), exc.response
    except Exception:   # the body may be cut short once corruption is found mid-stream
        pass
    else:
        assert got == data_of("dir/sub/ec-3m"), "returned wrong bytes instead of an error"


def meta_files(drive: Path, bucket: str) -> list[Path]:
    return sorted(p for p in (drive / bucket).rglob("*.xl.meta") if p.is_file())


def test_corrupt_metadata_on_parity_drives(make_engine: Any) -> None:
    """Metadata files (the header, not the inline data) corrupted on two drives: reads still work and
    heal repairs them, so two *other* drives can then lose theirs."""
    server = make_engine(name="metaheal", env={"RUSTFS_HEAL_INTERVAL_SECONDS": "0"})
    client = server.client()
    client.create_bucket(Bucket="meta")
    keys = sorted(OBJECTS)
    for key in keys:
        client.put_object(Bucket="meta", Key=key, Body=data_of(key))
    for d in server.drives[:2]:
        for f in meta_files(d, "meta"):
            raw = bytearray(f.read_bytes())
            raw[20] ^= 0xFF                    # inside the msgpack header (after the 16-byte prefix)
            f.write_bytes(bytes(raw))
    read_all(client, "meta", keys)
    assert sorted(o["Key"] for o in client.list_objects_v2(Bucket="meta")["Contents"]) == keys
    out, counts = run_heal(server, "meta")
    assert counts.get("failures", 0) == 0, out
    for d in server.drives[2:]:
        shutil.rmtree(d / "meta")
    read_all(server.client(), "meta", keys)


def test_drive_offline_during_writes_then_back(make_engine: Any) -> None:
    """A drive disappears while objects are written (the write quorum still holds), comes back, and
    heal fills it in: afterwards it can stand in for two lost drives."""
    server = make_engine(name="offline", env={"RUSTFS_HEAL_INTERVAL_SECONDS": "0"})
    client = server.client()
    client.create_bucket(Bucket="off")
    client.put_object(Bucket="off", Key="before", Body=data_of("ec-1m"))
    d4 = server.drives[3]
    away = d4.with_name(d4.name + "-away")
    d4.rename(away)
    try:
        for key in OBJECTS:
            client.put_object(Bucket="off", Key=f"during/{key}", Body=data_of(key))
    finally:
        if d4.exists():                        # anything the engine created meanwhile is not the drive
            shutil.rmtree(d4)
        away.rename(d4)
    keys = [f"during/{k}" for k in OBJECTS]
    for key in keys:
        assert_same(client.get_object(Bucket="off", Key=key)["Body"].read(), data_of(key.split("/", 1)[1]), key)
    out, counts = run_heal(server, "off")
    assert counts.get("failures", 0) == 0, out     # the reads above may have healed everything already
    assert len(shard_files(d4, "off")) == len(OBJECTS) + 1, out
    for d in server.drives[:2]:
        shutil.rmtree(d / "off")
    fresh = server.client()
    for key in keys:
        assert_same(fresh.get_object(Bucket="off", Key=key)["Body"].read(), data_of(key.split("/", 1)[1]), key)


def test_reduced_redundancy_storage_class(make_engine: Any) -> None:
    """REDUCED_REDUNDANCY (EC:1 by default) survives one lost drive; STANDARD beside it survives two."""
    server = make_engine(name="rrs", env={"RUSTFS_HEAL_INTERVAL_SECONDS": "0"})
    client = server.client()
    client.create_bucket(Bucket="rrs")
    rrs, std = payload("rrs", 0, 2 * MiB + 1), payload("std", 0, 2 * MiB + 1)
    client.put_object(Bucket="rrs", Key="rrs", Body=rrs, StorageClass="REDUCED_REDUNDANCY")
    client.put_object(Bucket="rrs", Key="std", Body=std)
    assert client.head_object(Bucket="rrs", Key="rrs").get("StorageClass") == "REDUCED_REDUNDANCY"
    assert client.head_object(Bucket="rrs", Key="std").get("StorageClass") in (None, "STANDARD")
    listed = {o["Key"]: o.get("StorageClass") for o in client.list_objects_v2(Bucket="rrs")["Contents"]}
    assert listed["rrs"] == "REDUCED_REDUNDANCY"
    shutil.rmtree(server.drives[0] / "rrs")
    assert_same(client.get_object(Bucket="rrs", Key="rrs")["Body"].read(), rrs, "RRS with one drive lost")
    assert_same(client.get_object(Bucket="rrs", Key="std")["Body"].read(), std)
    out, counts = run_heal(server, "rrs")
    assert counts.get("failures", 0) == 0, out
    shutil.rmtree(server.drives[1] / "rrs")
    assert_same(server.client().get_object(Bucket="rrs", Key="rrs")["Body"].read(), rrs, "RRS after heal")


def test_swapped_drives_are_recognised(make_engine: Any) -> None:
    """Drives carry their identity: after two drive directories are swapped, the server either puts
    each drive back in its slot (from its format), or leaves the two out (refuses them), or refuses
    to start. It never decodes shards in the wrong order: every read is bit-exact or an error."""
    server = make_engine(name="swap", env={"RUSTFS_HEAL_INTERVAL_SECONDS": "0"})
    client = server.client()
    client.create_bucket(Bucket="swap")
    keys = sorted(OBJECTS)
    for key in keys:
        client.put_object(Bucket="swap", Key=key, Body=data_of(key))
    server.stop()
    d1, d2 = server.drives[0], server.drives[1]
    tmp = d1.with_name("swap-tmp")
    d1.rename(tmp)
    d2.rename(d1)
    tmp.rename(d2)
    try:
        server.start()
    except RuntimeError as exc:                 # refusing to start is acceptable, with a reason
        assert "exited" in str(exc), exc
        return
    read_all(server.client(), "swap", keys)
    # With the other two drives' data gone, only the swapped pair could serve: exact bytes or errors.
    for d in server.drives[2:]:
        shutil.rmtree(d / "swap")
    from botocore.exceptions import ClientError

    client = server.client(retries={"max_attempts": 1, "mode": "standard"})
    for key in keys:
        try:
            got = client.get_object(Bucket="swap", Key=key)["Body"].read()
        except ClientError:
            continue
        assert_same(got, data_of(key), f"{key} from the swapped drives")
