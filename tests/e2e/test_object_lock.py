"""S3 Object Lock (docs/object-lock.md) with boto3 and the AWS CLI, on one engine: the backup-style flow (lock on
write, delete refused, retention expiry, then delete allowed), legal holds, GOVERNANCE bypass, COMPLIANCE, the
bucket's configuration, and AWS's errors; lifecycle never removes a locked version; one test on four nodes."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from boto3.session import Session
from botocore.exceptions import ClientError

from storage_engine.checksums import checksum_of
from tests.e2e.helpers import aws_s3api, run_cli
from tests.local_cluster import local_cluster

DAY = 86400
GOVERNANCE_DAY = {"ObjectLockEnabled": "Enabled",
                  "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}


@pytest.fixture(scope="module")
def server(engine_factory: Callable[..., Any]) -> Any:
    """One engine for the module; its lifecycle clock runs three days ahead, applied only by ``ilm-run``."""
    return engine_factory(name="object-lock", env={"RUSTFS_SCANNER_INTERVAL_SECONDS": "0", "RUSTFS_AUDIT_STDOUT": "false",
                                                    "RUSTFS_ILM_CLOCK_OFFSET_SECONDS": str(3 * DAY)})


@pytest.fixture(scope="module")
def s3(server: Any) -> Any:
    return server.client()


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def in_seconds(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def locked_bucket(s3: Any, name: str, config: dict[str, Any] | None = None) -> str:
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    if config is not None:
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=config)
    return name


def refused(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as exc:
        call()
    return error_of(exc)


def delete_when_expired(s3: Any, bucket: str, key: str, version_id: str, **extra: Any) -> float:
    """Poll the delete of a version whose retention runs out in a few seconds (at most ~20 s); returns how
    long it was refused."""
    start = time.monotonic()
    while True:
        try:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id, **extra)
            return time.monotonic() - start
        except ClientError as exc:
            response: Any = exc.response
            assert response["Error"]["Code"] == "AccessDenied", response
            assert time.monotonic() - start < 20, "the retention did not expire in time"
            time.sleep(0.25)


# --- the bucket's configuration ---------------------------------------------------------------------------------
def test_bucket_configuration_and_versioning(s3: Any) -> None:
    name = locked_bucket(s3, "lock-config")
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"}
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=GOVERNANCE_DAY)
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == GOVERNANCE_DAY
    years = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}}}
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=years)
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == years
    # Versioning cannot be suspended on a bucket with object lock.
    assert refused(lambda: s3.put_bucket_versioning(
        Bucket=name, VersioningConfiguration={"Status": "Suspended"})) == ("InvalidBucketState", 409)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"


def test_configuration_errors_as_aws(s3: Any) -> None:
    s3.create_bucket(Bucket="lock-plain")
    assert refused(lambda: s3.get_object_lock_configuration(Bucket="lock-plain")) == (
        "ObjectLockConfigurationNotFoundError", 404)
    # Lock on an existing bucket needs versioning Enabled first (then it is allowed, as AWS now allows).
    assert refused(lambda: s3.put_object_lock_configuration(
        Bucket="lock-plain", ObjectLockConfiguration=GOVERNANCE_DAY)) == ("InvalidBucketState", 409)
    s3.put_bucket_versioning(Bucket="lock-plain", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket="lock-plain", ObjectLockConfiguration=GOVERNANCE_DAY)
    assert s3.get_object_lock_configuration(Bucket="lock-plain")["ObjectLockConfiguration"] == GOVERNANCE_DAY
    for bad, expected in [
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}},
         ("InvalidArgument", 400)),
        ({"ObjectLockEnabled": "Enabled",
          "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}}, ("MalformedXML", 400)),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "FOREVER", "Days": 1}}},
         ("MalformedXML", 400)),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Days": 1}}}, ("MalformedXML", 400)),
    ]:
        assert refused(lambda: s3.put_object_lock_configuration(
            Bucket="lock-plain", ObjectLockConfiguration=bad)) == expected, bad


def test_lock_requests_on_a_bucket_without_lock_are_invalid(s3: Any) -> None:
    s3.create_bucket(Bucket="lock-none")
    s3.put_bucket_versioning(Bucket="lock-none", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="lock-none", Key="k", Body=b"x")["VersionId"]
    assert refused(lambda: s3.put_object(Bucket="lock-none", Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                         ObjectLockRetainUntilDate=in_seconds(DAY))) == ("InvalidRequest", 400)
    assert refused(lambda: s3.put_object(Bucket="lock-none", Key="k", Body=b"x",
                                         ObjectLockLegalHoldStatus="ON")) == ("InvalidRequest", 400)
    assert refused(lambda: s3.create_multipart_upload(
        Bucket="lock-none", Key="k", ObjectLockLegalHoldStatus="ON")) == ("InvalidRequest", 400)
    assert refused(lambda: s3.put_object_retention(
        Bucket="lock-none", Key="k", VersionId=version,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_seconds(DAY)})) == ("InvalidRequest", 400)
    assert refused(lambda: s3.put_object_legal_hold(Bucket="lock-none", Key="k",
                                                    LegalHold={"Status": "ON"})) == ("InvalidRequest", 400)
    assert refused(lambda: s3.get_object_retention(Bucket="lock-none", Key="k")) == ("InvalidRequest", 400)
    assert refused(lambda: s3.get_object_legal_hold(Bucket="lock-none", Key="k")) == ("InvalidRequest", 400)
    assert s3.list_object_versions(Bucket="lock-none")["Versions"][0]["VersionId"] == version


def test_bad_lock_headers_and_documents(s3: Any) -> None:
    name = locked_bucket(s3, "lock-bad")
    version = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
    # In the past, or only half of mode and date.
    assert refused(lambda: s3.put_object(Bucket=name, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                         ObjectLockRetainUntilDate=in_seconds(-60))) == ("InvalidArgument", 400)
    assert refused(lambda: s3.put_object(Bucket=name, Key="k", Body=b"x",
                                         ObjectLockMode="GOVERNANCE")) == ("InvalidArgument", 400)
    assert refused(lambda: s3.put_object_retention(
        Bucket=name, Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_seconds(-60)})) == (
        "InvalidArgument", 400)
    assert refused(lambda: s3.put_object_retention(Bucket=name, Key="k", Retention={"Mode": "GOVERNANCE"})) == (
        "MalformedXML", 400)
    assert refused(lambda: s3.put_object_legal_hold(Bucket=name, Key="k", LegalHold={"Status": "MAYBE"})) == (
        "MalformedXML", 400)
    # Nothing set on the version yet: no lock configuration of its own.
    assert refused(lambda: s3.get_object_retention(Bucket=name, Key="k", VersionId=version)) == (
        "NoSuchObjectLockConfiguration", 404)
    assert refused(lambda: s3.get_object_legal_hold(Bucket=name, Key="k")) == ("NoSuchObjectLockConfiguration", 404)
    s3.delete_object(Bucket=name, Key="k", VersionId=version)       # unlocked: goes


# --- the backup-style flow ------------------------------------------------------------------------------------------
def test_backup_flow_default_retention_blocks_deletes_overwrite_keeps_the_locked_version(s3: Any) -> None:
    name = locked_bucket(s3, "lock-backup", GOVERNANCE_DAY)
    before = time.time()
    first = s3.put_object(Bucket=name, Key="db.dump", Body=b"monday")["VersionId"]
    retention = s3.get_object_retention(Bucket=name, Key="db.dump", VersionId=first)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert before + DAY - 5 <= retention["RetainUntilDate"].timestamp() <= time.time() + DAY + 5
    head = s3.head_object(Bucket=name, Key="db.dump")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] == retention["RetainUntilDate"]
    assert "ObjectLockLegalHoldStatus" not in head
    # Nobody removes it, root included: not by version id, not by DeleteObjects.
    assert refused(lambda: s3.delete_object(Bucket=name, Key="db.dump", VersionId=first)) == ("AccessDenied", 403)
    result = s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "db.dump", "VersionId": first}]})
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("db.dump", "AccessDenied")]
    # An overwrite is a new version; a DELETE without a version id adds a delete marker (AWS); the locked one stays.
    second = s3.put_object(Bucket=name, Key="db.dump", Body=b"tuesday")["VersionId"]
    assert second != first
    marker = s3.delete_object(Bucket=name, Key="db.dump")
    assert marker["DeleteMarker"] is True
    listed = s3.list_object_versions(Bucket=name, Prefix="db.dump")
    assert {v["VersionId"] for v in listed["Versions"]} == {first, second}
    assert s3.get_object(Bucket=name, Key="db.dump", VersionId=first)["Body"].read() == b"monday"
    # GOVERNANCE yields to root with the bypass header.
    s3.delete_object(Bucket=name, Key="db.dump", VersionId=first, BypassGovernanceRetention=True)
    result = s3.delete_objects(Bucket=name, BypassGovernanceRetention=True,
                               Delete={"Objects": [{"Key": "db.dump", "VersionId": second}]})
    assert not result.get("Errors") and result["Deleted"][0]["VersionId"] == second
    # The marker has no retention of its own: it goes.
    s3.delete_object(Bucket=name, Key="db.dump", VersionId=marker["VersionId"])
    assert not s3.list_object_versions(Bucket=name).get("Versions")


def test_explicit_retain_until_expires_then_delete_is_allowed(s3: Any) -> None:
    name = locked_bucket(s3, "lock-expiry")
    until = in_seconds(3)
    version = s3.put_object(Bucket=name, Key="nightly", Body=b"data", ObjectLockMode="COMPLIANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    got = s3.get_object(Bucket=name, Key="nightly")
    assert got["ObjectLockMode"] == "COMPLIANCE"
    assert got["ObjectLockRetainUntilDate"].timestamp() == int(until.timestamp())     # boto3 sends whole seconds
    assert refused(lambda: s3.delete_object(Bucket=name, Key="nightly", VersionId=version)) == ("AccessDenied", 403)
    waited = delete_when_expired(s3, name, "nightly", version)
    assert waited > 0.5
    assert not s3.list_object_versions(Bucket=name).get("Versions")


def test_legal_hold_blocks_even_after_retention(s3: Any) -> None:
    name = locked_bucket(s3, "lock-hold")
    version = s3.put_object(Bucket=name, Key="evidence", Body=b"e", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=in_seconds(2), ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.get_object_legal_hold(Bucket=name, Key="evidence")["LegalHold"] == {"Status": "ON"}
    assert s3.head_object(Bucket=name, Key="evidence")["ObjectLockLegalHoldStatus"] == "ON"
    time.sleep(2.5)                                               # the retention is over; the hold is not
    for extra in ({}, {"BypassGovernanceRetention": True}):
        assert refused(lambda: s3.delete_object(Bucket=name, Key="evidence", VersionId=version, **extra)) == (
            "AccessDenied", 403)
    s3.put_object_legal_hold(Bucket=name, Key="evidence", VersionId=version, LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=name, Key="evidence")["LegalHold"] == {"Status": "OFF"}
    s3.delete_object(Bucket=name, Key="evidence", VersionId=version)


def test_compliance_cannot_be_bypassed_or_shortened(s3: Any) -> None:
    name = locked_bucket(s3, "lock-compliance")
    version = s3.put_object(Bucket=name, Key="ledger", Body=b"l")["VersionId"]
    long = in_seconds(DAY)
    s3.put_object_retention(Bucket=name, Key="ledger", VersionId=version,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": long})
    assert refused(lambda: s3.delete_object(Bucket=name, Key="ledger", VersionId=version,
                                            BypassGovernanceRetention=True)) == ("AccessDenied", 403)
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": in_seconds(60)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": in_seconds(2 * DAY)}):
        assert refused(lambda: s3.put_object_retention(Bucket=name, Key="ledger", VersionId=version,
                                                       BypassGovernanceRetention=True, Retention=retention)) == (
            "AccessDenied", 403)
    # Extending is allowed.
    longer = in_seconds(2 * DAY)
    s3.put_object_retention(Bucket=name, Key="ledger", VersionId=version,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": longer})
    got = s3.get_object_retention(Bucket=name, Key="ledger", VersionId=version)["Retention"]
    assert got["Mode"] == "COMPLIANCE" and abs(got["RetainUntilDate"].timestamp() - longer.timestamp()) < 0.01


def test_governance_is_shortened_only_with_the_bypass(s3: Any) -> None:
    name = locked_bucket(s3, "lock-governance")
    version = s3.put_object(Bucket=name, Key="g", Body=b"g", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=in_seconds(DAY))["VersionId"]
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": in_seconds(2)}
    assert refused(lambda: s3.put_object_retention(Bucket=name, Key="g", VersionId=version,
                                                   Retention=shorter)) == ("AccessDenied", 403)
    s3.put_object_retention(Bucket=name, Key="g", VersionId=version, Retention=shorter,
                            BypassGovernanceRetention=True)
    delete_when_expired(s3, name, "g", version)


def test_copy_and_multipart_take_the_lock_headers(s3: Any) -> None:
    name = locked_bucket(s3, "lock-writes")
    s3.put_object(Bucket=name, Key="src", Body=b"source", ObjectLockLegalHoldStatus="ON")
    until = in_seconds(DAY)
    copied = s3.copy_object(Bucket=name, Key="copy", CopySource={"Bucket": name, "Key": "src"},
                            ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    head = s3.head_object(Bucket=name, Key="copy")
    assert head["ObjectLockMode"] == "GOVERNANCE" and "ObjectLockLegalHoldStatus" not in head   # not the source's
    upload = s3.create_multipart_upload(Bucket=name, Key="mp", ObjectLockMode="COMPLIANCE",
                                        ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    part = s3.upload_part(Bucket=name, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 100)
    done = s3.complete_multipart_upload(Bucket=name, Key="mp", UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    head = s3.head_object(Bucket=name, Key="mp")
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockLegalHoldStatus"] == "ON"
    for key, version in (("copy", copied["VersionId"]), ("mp", done["VersionId"])):
        assert refused(lambda: s3.delete_object(Bucket=name, Key=key, VersionId=version)) == ("AccessDenied", 403)


def test_bypass_needs_the_permission_for_iam_users(server: Any, s3: Any) -> None:
    """A user allowed to delete versions but not s3:BypassGovernanceRetention cannot bypass GOVERNANCE; one
    allowed it can (DeleteObject and DeleteObjects); nobody bypasses COMPLIANCE. Lock headers on writes need
    s3:PutObjectRetention / s3:PutObjectLegalHold, as on AWS."""
    name = locked_bucket(s3, "lock-iam")
    iam = Session().client("iam", endpoint_url=server.url, region_name=server.region,
                                         aws_access_key_id=server.access_key,
                                         aws_secret_access_key=server.secret_key)
    base = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion",
            "s3:PutObjectRetention", "s3:GetObjectRetention"]
    clients = {}
    for user, actions in (("lock-plain-user", base),
                          ("lock-bypass-user", [*base, "s3:BypassGovernanceRetention", "s3:PutObjectLegalHold"])):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="lock", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions,
                                                    "Resource": [f"arn:aws:s3:::{name}/*"]}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        clients[user] = server.client(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    plain, bypass = clients["lock-plain-user"], clients["lock-bypass-user"]
    # Lock headers on a write need their APIs' actions too (plain lacks s3:PutObjectLegalHold).
    assert refused(lambda: plain.put_object(Bucket=name, Key="k0", Body=b"x", ObjectLockLegalHoldStatus="ON")) == (
        "AccessDenied", 403)
    assert refused(lambda: plain.create_multipart_upload(Bucket=name, Key="k0", ObjectLockLegalHoldStatus="ON")) \
        == ("AccessDenied", 403)
    first, second = (plain.put_object(Bucket=name, Key=f"k{i}", Body=b"x", ObjectLockMode="GOVERNANCE",
                                      ObjectLockRetainUntilDate=in_seconds(DAY))["VersionId"] for i in (1, 2))
    assert refused(lambda: plain.delete_object(Bucket=name, Key="k1", VersionId=first,
                                               BypassGovernanceRetention=True)) == ("AccessDenied", 403)
    assert refused(lambda: plain.put_object_retention(
        Bucket=name, Key="k1", VersionId=first, BypassGovernanceRetention=True,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_seconds(60)})) == ("AccessDenied", 403)
    result = plain.delete_objects(Bucket=name, BypassGovernanceRetention=True,
                                  Delete={"Objects": [{"Key": "k2", "VersionId": second}]})
    assert [e["Code"] for e in result["Errors"]] == ["AccessDenied"]
    bypass.delete_object(Bucket=name, Key="k1", VersionId=first, BypassGovernanceRetention=True)
    result = bypass.delete_objects(Bucket=name, BypassGovernanceRetention=True,
                                   Delete={"Objects": [{"Key": "k2", "VersionId": second}]})
    assert not result.get("Errors")
    kept = bypass.put_object(Bucket=name, Key="k3", Body=b"x", ObjectLockMode="COMPLIANCE",
                             ObjectLockRetainUntilDate=in_seconds(DAY))["VersionId"]
    assert refused(lambda: bypass.delete_object(Bucket=name, Key="k3", VersionId=kept,
                                                BypassGovernanceRetention=True)) == ("AccessDenied", 403)


def test_condition_keys_limit_what_users_may_lock(server: Any, s3: Any) -> None:
    """s3:object-lock-remaining-retention-days, -mode and -legal-hold in a user's policy, from a write's lock headers
    and from the documents of PutObjectRetention and PutObjectLegalHold."""
    name = locked_bucket(s3, "lock-conditions")
    iam = Session().client("iam", endpoint_url=server.url, region_name=server.region,
                           aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key)
    objects = [f"arn:aws:s3:::{name}/*"]

    def deny(action: str, condition: dict[str, Any]) -> dict[str, Any]:
        return {"Effect": "Deny", "Action": action, "Resource": objects, "Condition": condition}

    iam.create_user(UserName="lock-limited")
    iam.put_user_policy(UserName="lock-limited", PolicyName="limits", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:PutObjectRetention",
                                           "s3:PutObjectLegalHold"], "Resource": objects},
            deny("s3:PutObjectRetention", {"NumericGreaterThan": {"s3:object-lock-remaining-retention-days": "30"}}),
            deny("s3:PutObjectRetention", {"StringEquals": {"s3:object-lock-mode": "COMPLIANCE"}}),
            deny("s3:PutObjectLegalHold", {"StringEquals": {"s3:object-lock-legal-hold": "OFF"}})]}))
    key = iam.create_access_key(UserName="lock-limited")["AccessKey"]
    user = server.client(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    # From a write's headers.
    version = user.put_object(Bucket=name, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                              ObjectLockRetainUntilDate=in_seconds(10 * DAY))["VersionId"]
    assert refused(lambda: user.put_object(Bucket=name, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                           ObjectLockRetainUntilDate=in_seconds(60 * DAY))) == ("AccessDenied", 403)
    assert refused(lambda: user.put_object(Bucket=name, Key="k", Body=b"x", ObjectLockMode="COMPLIANCE",
                                           ObjectLockRetainUntilDate=in_seconds(DAY))) == ("AccessDenied", 403)
    # From the documents.
    user.put_object_retention(Bucket=name, Key="k", VersionId=version,
                              Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_seconds(20 * DAY)})
    for retention in ({"Mode": "GOVERNANCE", "RetainUntilDate": in_seconds(60 * DAY)},
                      {"Mode": "COMPLIANCE", "RetainUntilDate": in_seconds(25 * DAY)}):
        assert refused(lambda: user.put_object_retention(Bucket=name, Key="k", VersionId=version,
                                                         Retention=retention)) == ("AccessDenied", 403)
    user.put_object_legal_hold(Bucket=name, Key="k", VersionId=version, LegalHold={"Status": "ON"})
    assert refused(lambda: user.put_object_legal_hold(Bucket=name, Key="k", VersionId=version,
                                                      LegalHold={"Status": "OFF"})) == ("AccessDenied", 403)
    s3.put_object_legal_hold(Bucket=name, Key="k", VersionId=version, LegalHold={"Status": "OFF"})
    retention = s3.get_object_retention(Bucket=name, Key="k", VersionId=version)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert 19 * DAY < (retention["RetainUntilDate"] - datetime.now(timezone.utc)).total_seconds() <= 20 * DAY


def test_lock_requests_need_a_digest_of_their_body(server: Any, s3: Any) -> None:
    """As on AWS: Content-MD5 or an x-amz-checksum-* on the lock APIs, and on writes that lock what they store
    (lock headers, or the bucket's default retention), PutObject and UploadPart; others need none."""
    plain = locked_bucket(s3, "lock-digest")
    defaulted = locked_bucket(s3, "lock-digest-default", GOVERNANCE_DAY)
    s3.put_object(Bucket=plain, Key="k", Body=b"x")
    until = in_seconds(DAY).strftime("%Y-%m-%dT%H:%M:%SZ")

    def send(method: str, path: str, query: str = "", body: bytes = b"", **headers: str) -> tuple[int, str]:
        status, answer = server.request(method, path, query, body, headers)
        code = answer.split(b"<Code>")[1].split(b"</Code>")[0].decode() if b"<Code>" in answer else ""
        return status, code

    def with_md5(body: bytes) -> dict[str, str]:
        return {"content-md5": base64.b64encode(hashlib.md5(body).digest()).decode()}

    hold = b"<LegalHold><Status>ON</Status></LegalHold>"
    retention = f"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>{until}</RetainUntilDate></Retention>".encode()
    config = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"
    for path, query, body in ((f"/{plain}/k", "legal-hold=", hold), (f"/{plain}/k", "retention=", retention),
                              (f"/{plain}", "object-lock=", config)):
        assert send("PUT", path, query, body) == (400, "InvalidRequest"), query
        assert send("PUT", path, query, body, **with_md5(body))[0] == 200, query
    lock_headers = {"x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until}
    assert send("PUT", f"/{plain}/locked", "", b"data", **lock_headers) == (400, "InvalidRequest")
    assert send("PUT", f"/{plain}/held", "", b"data", **{"x-amz-object-lock-legal-hold": "ON"}) == (
        400, "InvalidRequest")
    assert send("PUT", f"/{plain}/locked", "", b"data", **lock_headers, **with_md5(b"data"))[0] == 200
    assert send("PUT", f"/{plain}/unlocked", "", b"data")[0] == 200       # no lock parameters: no digest needed
    assert send("PUT", f"/{defaulted}/k", "", b"data") == (400, "InvalidRequest")
    assert send("PUT", f"/{defaulted}/k", "", b"data",
                **{"x-amz-checksum-crc32": checksum_of("CRC32", b"data")})[0] == 200
    upload = s3.create_multipart_upload(Bucket=defaulted, Key="mp")["UploadId"]
    assert send("PUT", f"/{defaulted}/mp", f"partNumber=1&uploadId={upload}", b"part") == (400, "InvalidRequest")
    assert send("PUT", f"/{defaulted}/mp", f"partNumber=1&uploadId={upload}", b"part", **with_md5(b"part"))[0] == 200


# --- lifecycle --------------------------------------------------------------------------------------------------
def test_lifecycle_never_expires_a_locked_version(server: Any, s3: Any) -> None:
    name = locked_bucket(s3, "lock-ilm")
    locked = s3.put_object(Bucket=name, Key="old", Body=b"1", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=in_seconds(30 * DAY))["VersionId"]
    free = s3.put_object(Bucket=name, Key="free", Body=b"1")["VersionId"]
    s3.put_object(Bucket=name, Key="old", Body=b"2")
    s3.put_object(Bucket=name, Key="free", Body=b"2")
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "noncurrent", "Status": "Enabled", "Filter": {"Prefix": ""},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
    status, out = run_cli(server, "ilm-run", name)       # the rules' clock is three days ahead
    assert status == 0, out
    remaining = {v["VersionId"] for v in s3.list_object_versions(Bucket=name)["Versions"]}
    assert free not in remaining                           # the rule applied ...
    assert locked in remaining                             # ... but never to the locked version
    assert s3.get_object(Bucket=name, Key="old", VersionId=locked)["Body"].read() == b"1"


# --- the AWS CLI -------------------------------------------------------------------------------------------------
def test_aws_cli_flow(server: Any, tmp_path: Path) -> None:
    aws = aws_s3api(server, tmp_path / "awshome")
    assert aws("create-bucket", "--bucket", "lock-cli", "--object-lock-enabled-for-bucket").returncode == 0
    proc = aws("put-object-lock-configuration", "--bucket", "lock-cli", "--object-lock-configuration",
               json.dumps(GOVERNANCE_DAY))
    assert proc.returncode == 0, proc.stderr
    body = tmp_path / "backup.tar"
    body.write_bytes(b"backup")
    put = aws("put-object", "--bucket", "lock-cli", "--key", "backup.tar", "--body", str(body))
    assert put.returncode == 0, put.stderr
    version = json.loads(put.stdout)["VersionId"]
    got = json.loads(aws("get-object-retention", "--bucket", "lock-cli", "--key", "backup.tar").stdout)
    assert got["Retention"]["Mode"] == "GOVERNANCE"
    denied = aws("delete-object", "--bucket", "lock-cli", "--key", "backup.tar", "--version-id", version)
    assert denied.returncode != 0 and b"AccessDenied" in denied.stderr
    bypass = aws("delete-object", "--bucket", "lock-cli", "--key", "backup.tar", "--version-id", version,
                 "--bypass-governance-retention")
    assert bypass.returncode == 0, bypass.stderr


# --- distributed ---------------------------------------------------------------------------------------------------
def test_lock_set_through_one_node_holds_on_another(tmp_path: Path) -> None:
    env = {"RUSTFS_ACCESS_KEY": "lock-dist-access", "RUSTFS_SECRET_KEY": "lock-dist-secret-0123456789",
           "RUSTFS_AUDIT_STDOUT": "false"}
    with local_cluster(tmp_path, env) as nodes:
        first, other = nodes[0].client(), nodes[3].client()
        locked_bucket(first, "shared-lock", GOVERNANCE_DAY)
        version = nodes[1].client().put_object(Bucket="shared-lock", Key="k", Body=b"x" * 1000)["VersionId"]
        first.put_object_legal_hold(Bucket="shared-lock", Key="k", VersionId=version, LegalHold={"Status": "ON"})
        assert other.get_object_lock_configuration(Bucket="shared-lock")["ObjectLockConfiguration"] == GOVERNANCE_DAY
        assert other.head_object(Bucket="shared-lock", Key="k")["ObjectLockLegalHoldStatus"] == "ON"
        assert refused(lambda: other.delete_object(Bucket="shared-lock", Key="k", VersionId=version,
                                                   BypassGovernanceRetention=True)) == ("AccessDenied", 403)
        assert refused(lambda: other.put_bucket_versioning(
            Bucket="shared-lock", VersioningConfiguration={"Status": "Suspended"})) == ("InvalidBucketState", 409)
