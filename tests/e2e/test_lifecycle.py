"""Bucket lifecycle over S3 (docs/tiering.md): the configuration API with boto3, AWS's errors for bad
rules, and expirations applied by the scanner on an engine whose rule clock runs three days ahead."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from storage_engine.cluster.config_store import record_key
from storage_engine.drives import paths
from storage_engine.objects.scanner import CURSOR_KIND, CURSOR_NAME
from tests.e2e.helpers import run_cli
from tests.e2e.test_metrics import TOKEN, scrape
from tests.local_cluster import local_cluster

DAY = 86400
RULES = {"Rules": [
    {"ID": "old-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}},
    {"ID": "noncurrent", "Status": "Enabled", "Filter": {"Prefix": "docs/"},
     "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
    {"ID": "markers", "Status": "Enabled", "Filter": {"Prefix": "gone/"},
     "Expiration": {"ExpiredObjectDeleteMarker": True}},
    {"ID": "big-tmp", "Status": "Enabled",
     "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "class", "Value": "scratch"}],
                        "ObjectSizeGreaterThan": 10}},
     "Expiration": {"Days": 2}},
    {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": "keep/"}, "Expiration": {"Days": 1}},
    {"ID": "uploads", "Status": "Enabled", "Filter": {"Prefix": "up/"},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
]}


@pytest.fixture(scope="module")
def ahead(engine_factory: Callable[..., Any]) -> Any:
    """An engine whose lifecycle clock is three days ahead and whose scanner passes every half second."""
    return engine_factory(name="lifecycle", env={"RUSTFS_SCANNER_INTERVAL_SECONDS": "0.5",
                                                  "RUSTFS_SCANNER_DELAY": "0",
                                                  "RUSTFS_ILM_CLOCK_OFFSET_SECONDS": str(3 * DAY)})


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_lifecycle_configuration_round_trip(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_code(exc) == ("NoSuchLifecycleConfiguration", 404)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=RULES)
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["old-logs", "noncurrent", "markers", "big-tmp", "off", "uploads"]
    assert got[5]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert got[0]["Expiration"] == {"Days": 1} and got[0]["Filter"] == {"Prefix": "logs/"}
    assert got[3]["Filter"]["And"]["Tags"] == [{"Key": "class", "Value": "scratch"}]
    assert got[4]["Status"] == "Disabled"
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_code(exc) == ("NoSuchLifecycleConfiguration", 404)


@pytest.mark.parametrize(("rule", "code"), [
    ({"ID": "a", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 0}}, "InvalidArgument"),
    ({"ID": "a", "Status": "Enabled", "Filter": {"Prefix": ""},
      "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}, "InvalidStorageClass"),
    ({"ID": "a", "Status": "Enabled", "Filter": {"Prefix": ""},
      "Expiration": {"Date": "2030-01-01T12:00:00Z"}}, "InvalidArgument"),
    ({"ID": "a", "Status": "Enabled", "Filter": {"Prefix": ""}}, "InvalidArgument"),
])
def test_bad_rules_are_refused_with_aws_errors(s3: Any, bucket: str, rule: dict[str, Any], code: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    assert error_code(exc) == (code, 400)
    with pytest.raises(ClientError):                      # nothing was stored
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.2)


def keys(s3: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_the_scanner_expires_what_the_rules_say_and_nothing_else(ahead: Any) -> None:
    s3 = ahead.client()
    s3.create_bucket(Bucket="plain")
    for key in ("logs/a", "logs/b", "keep/a", "data/a", "tmp/small", "tmp/big", "tmp/untagged"):
        s3.put_object(Bucket="plain", Key=key, Body=b"x" * (100 if key != "tmp/small" else 5),
                      Tagging="class=scratch" if key in ("tmp/small", "tmp/big") else "")
    s3.put_bucket_lifecycle_configuration(Bucket="plain", LifecycleConfiguration=RULES)
    wait_until(lambda: not keys(s3, "plain") & {"logs/a", "logs/b", "tmp/big"}, "logs/* and tmp/big expired")
    assert keys(s3, "plain") == {"keep/a", "data/a", "tmp/small", "tmp/untagged"}
    # What the rules do not reach stays, byte for byte, through further passes.
    assert s3.get_object(Bucket="plain", Key="data/a")["Body"].read() == b"x" * 100


def test_incomplete_uploads_under_the_rule_are_aborted(ahead: Any) -> None:
    s3 = ahead.client()
    s3.create_bucket(Bucket="uploads")
    stale = s3.create_multipart_upload(Bucket="uploads", Key="up/big")["UploadId"]
    kept = s3.create_multipart_upload(Bucket="uploads", Key="other/big")["UploadId"]
    s3.put_bucket_lifecycle_configuration(Bucket="uploads", LifecycleConfiguration=RULES)

    def uploads() -> set[str]:
        return {u["UploadId"] for u in s3.list_multipart_uploads(Bucket="uploads").get("Uploads", [])}

    wait_until(lambda: stale not in uploads(), "the upload under up/ aborted")
    assert kept in uploads()
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket="uploads", Key="up/big", UploadId=stale)
    assert error_code(exc) == ("NoSuchUpload", 404)


def test_noncurrent_versions_and_lone_delete_markers_expire_in_a_versioned_bucket(ahead: Any) -> None:
    s3 = ahead.client()
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="versioned", Key="docs/a", Body=b"v1")["VersionId"]
    current = s3.put_object(Bucket="versioned", Key="docs/a", Body=b"v2")["VersionId"]
    s3.put_object(Bucket="versioned", Key="gone/x", Body=b"x")
    s3.delete_object(Bucket="versioned", Key="gone/x")
    s3.put_bucket_lifecycle_configuration(Bucket="versioned", LifecycleConfiguration=RULES)

    def versions() -> list[tuple[str, str, bool]]:
        listed = s3.list_object_versions(Bucket="versioned")
        return sorted([(v["Key"], v["VersionId"], False) for v in listed.get("Versions", [])]
                      + [(m["Key"], m["VersionId"], True) for m in listed.get("DeleteMarkers", [])])

    # docs/a: the noncurrent v1 goes, the current v2 stays. gone/x: the object is noncurrent under its
    # marker, but only "markers" applies there (no noncurrent rule), so both stay: the marker is not alone.
    wait_until(lambda: ("docs/a", first, False) not in versions(), "the noncurrent version of docs/a expired")
    listed = versions()
    assert ("docs/a", current, False) in listed
    assert [v for v in listed if v[0] == "gone/x" and v[2]]
    assert s3.get_object(Bucket="versioned", Key="docs/a")["Body"].read() == b"v2"
    # Remove the object version under the marker: the marker is now alone, and expires.
    under = next(v for v in listed if v[0] == "gone/x" and not v[2])
    s3.delete_object(Bucket="versioned", Key="gone/x", VersionId=under[1])
    wait_until(lambda: not [v for v in versions() if v[0] == "gone/x"], "the lone delete marker of gone/x expired")


def test_ilm_run_applies_the_rules_now_and_reports(engine_factory: Callable[..., Any]) -> None:
    # No scanner passes at all: only the command may expire anything.
    server = engine_factory(name="ilm-run", env={"RUSTFS_SCANNER_INTERVAL_SECONDS": "0",
                                                 "RUSTFS_ILM_CLOCK_OFFSET_SECONDS": str(3 * DAY)})
    s3 = server.client()
    s3.create_bucket(Bucket="now")
    for key in ("logs/1", "logs/2", "data/1"):
        s3.put_object(Bucket="now", Key=key, Body=b"x")
    s3.create_multipart_upload(Bucket="now", Key="up/part")
    s3.put_bucket_lifecycle_configuration(Bucket="now", LifecycleConfiguration=RULES)
    assert keys(s3, "now") == {"logs/1", "logs/2", "data/1"}       # nothing happens by itself
    status, out = run_cli(server, "ilm-run", "now")
    assert status == 0, out
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s*([a-z ]+):\s*(\d+)\s*$", out, re.M)}
    assert counts == {"buckets": 1, "versions expired": 2, "versions transitioned": 0, "uploads aborted": 1,
                      "failures": 0}, out
    assert keys(s3, "now") == {"data/1"}
    assert not s3.list_multipart_uploads(Bucket="now").get("Uploads")
    status, out = run_cli(server, "ilm-run", "no-such-bucket")
    assert status == 1 and "NoSuchBucket" in out


def test_rules_put_through_one_node_expire_for_every_node(tmp_path: Path) -> None:
    """Four local nodes: the rules go in through node 1, whichever node leads the scans applies them, and
    every node reads the result."""
    env = {"RUSTFS_ACCESS_KEY": "ilm-dist-access", "RUSTFS_SECRET_KEY": "ilm-dist-secret-0123456789",
           "RUSTFS_AUDIT_STDOUT": "false", "RUSTFS_SCANNER_INTERVAL_SECONDS": "0.5", "RUSTFS_SCANNER_DELAY": "0",
           "RUSTFS_ILM_CLOCK_OFFSET_SECONDS": str(3 * DAY)}
    with local_cluster(tmp_path, env) as nodes:
        first = nodes[0].client()
        first.create_bucket(Bucket="shared")
        for key in ("logs/1", "logs/2", "data/1"):
            nodes[2].client().put_object(Bucket="shared", Key=key, Body=b"x" * 1000)
        first.put_bucket_lifecycle_configuration(Bucket="shared", LifecycleConfiguration=RULES)
        assert nodes[3].client().get_bucket_lifecycle_configuration(Bucket="shared")["Rules"][0]["ID"] == "old-logs"
        last = nodes[-1].client()
        wait_until(lambda: keys(last, "shared") == {"data/1"}, "logs/* expired, as every node sees")
        for node in nodes:
            assert keys(node.client(), "shared") == {"data/1"}


def test_a_scan_cut_by_a_crash_resumes_where_it_stopped(make_engine: Callable[..., Any]) -> None:
    """The scanner keeps its position in the config store: killed mid-pass, the engine resumes in the same
    bucket after the last saved key, and the pass completes with the right counts."""
    # Paced to at least a second a page (4 pages here): the walk is slow enough to be cut.
    server = make_engine(name="scan-resume", env={"RUSTFS_SCANNER_INTERVAL_SECONDS": "0.2",
                                                  "RUSTFS_SCANNER_DELAY": "100", "RUSTFS_METRICS_TOKEN": TOKEN})
    s3 = server.client()
    s3.create_bucket(Bucket="many")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket="many", Key=f"k{i:04d}", Body=b"x"), range(800)))
    cursor = [d / paths.SYS_VOLUME / paths.meta_path(record_key(CURSOR_KIND, CURSOR_NAME)) for d in server.drives]
    wait_until(lambda: any(p.exists() for p in cursor), "the scanner saved its position", 120)
    server.kill9()
    server.start()
    wait_until(lambda: "usage scan: resuming in bucket many after key 'k" in server.log_tail(400),
               "the restarted scanner resumed", 60)
    wait_until(lambda: 'rustfs_bucket_objects{bucket="many"} 800.0' in scrape(server),
               "the resumed pass counted all 800 objects", 120)
    wait_until(lambda: not any(p.exists() for p in cursor), "the finished pass dropped its position", 60)
