"""Issue 10 end to end: SSE-S3, SSE-KMS and SSE-C with boto3 against a real engine process.

One engine serves every test here: the session's HTTPS engine (``tls_engine``; SSE-C keys travel only
over TLS) with the configuration-free KMS (the static key the engine creates on first start). Plain HTTP
(the session ``engine``) only for the refusal of SSE-C over it. The Vault-backed tests are test_sse_vault.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, IncompleteReadError, ResponseStreamingError

from .helpers import KiB, MiB, assert_same, error_code, payload

PACKAGE = 64 * KiB
KEY_1 = hashlib.sha256(b"customer key 1").digest()
KEY_2 = hashlib.sha256(b"customer key 2").digest()
CONTEXT = {"project": "issue-10", "team": "storage"}
MODES = ("plain", "S3", "KMS", "C")
# How a failed GET shows: an error status before the body, or a body cut short after the headers.
READ_FAILED = (ClientError, IncompleteReadError, ResponseStreamingError)


@pytest.fixture(scope="module")
def s3e(tls_engine: Any) -> Any:
    return tls_engine.tls_client


@pytest.fixture(scope="module")
def kms_key(s3e: Any, module_bucket: str) -> str:
    """The engine's default KMS key id, as an SSE-KMS PUT without a key id reports it."""
    resp = s3e.put_object(Bucket=module_bucket, Key="probe-default-key", Body=b"x", ServerSideEncryption="aws:kms")
    assert resp["ServerSideEncryption"] == "aws:kms"
    return str(resp["SSEKMSKeyId"])


@pytest.fixture(scope="module")
def module_bucket(s3e: Any) -> Iterator[str]:
    name = "sse-e2e-shared"
    s3e.create_bucket(Bucket=name)
    yield name


@pytest.fixture
def sbucket(s3e: Any, unique_name: Callable[[str], str]) -> str:
    name = unique_name("sse")
    s3e.create_bucket(Bucket=name)
    return name


def context_header(context: dict[str, str]) -> str:
    return base64.b64encode(json.dumps(context).encode()).decode()


def write_args(mode: str, kms_key: str, customer_key: bytes = KEY_1) -> dict[str, Any]:
    """boto3 arguments of a write (PutObject, CreateMultipartUpload, CopyObject destination) in ``mode``."""
    if mode == "S3":
        return {"ServerSideEncryption": "AES256"}
    if mode == "KMS":
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key,
                "SSEKMSEncryptionContext": context_header(CONTEXT)}
    if mode == "C":
        return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": customer_key}
    return {}


def read_args(mode: str, customer_key: bytes = KEY_1) -> dict[str, Any]:
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": customer_key} if mode == "C" else {}


def copy_source_args(mode: str, customer_key: bytes = KEY_1) -> dict[str, Any]:
    if mode != "C":
        return {}
    return {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": customer_key}


def assert_mode(resp: dict[str, Any], mode: str, kms_key: str, customer_key: bytes = KEY_1) -> None:
    """The SSE response headers say ``mode``."""
    if mode == "plain":
        assert "ServerSideEncryption" not in resp and "SSECustomerAlgorithm" not in resp, resp
    elif mode == "S3":
        assert resp["ServerSideEncryption"] == "AES256"
    elif mode == "KMS":
        assert resp["ServerSideEncryption"] == "aws:kms" and resp["SSEKMSKeyId"] == kms_key
    else:
        assert resp["SSECustomerAlgorithm"] == "AES256"
        md5 = base64.b64encode(hashlib.md5(customer_key).digest()).decode()
        assert resp["SSECustomerKeyMD5"] == md5


def get_range(s3e: Any, bucket: str, key: str, spec: str, mode: str) -> bytes:
    resp = s3e.get_object(Bucket=bucket, Key=key, Range=f"bytes={spec}", **read_args(mode))
    return bytes(resp["Body"].read())


def drive_files(tls_engine: Any, bucket: str) -> list[Path]:
    return [p for drive in tls_engine.drives for p in (Path(drive) / bucket).rglob("*") if p.is_file()]


def plaintext_on_drives(tls_engine: Any, bucket: str, data: bytes) -> bool:
    """Whether any 64-byte piece of ``data`` (at a few offsets) is in a file of ``bucket`` on the drives."""
    probes = [data[i:i + 64] for i in (0, 4 * KiB + 100, len(data) // 2, len(data) - 64)]
    return any(probe in path.read_bytes() for path in drive_files(tls_engine, bucket) for probe in probes)


# --- the three modes: single PUT, ranges, multipart -----------------------------------------------------
@pytest.mark.parametrize("mode", ["S3", "KMS", "C"])
def test_single_put_and_ranges(s3e: Any, tls_engine: Any, sbucket: str, kms_key: str, mode: str) -> None:
    data = payload("single", mode, 3 * PACKAGE + 1000)
    resp = s3e.put_object(Bucket=sbucket, Key="obj", Body=data, **write_args(mode, kms_key))
    assert_mode(resp, mode, kms_key)
    if mode == "KMS":
        # The context of the request comes back on the write.
        sent = json.loads(base64.b64decode(resp["ResponseMetadata"]["HTTPHeaders"][
            "x-amz-server-side-encryption-context"]))
        assert sent == CONTEXT
    if mode == "S3":
        assert resp["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    head = s3e.head_object(Bucket=sbucket, Key="obj", **read_args(mode))
    assert head["ContentLength"] == len(data)
    assert_mode(head, mode, kms_key)
    got = s3e.get_object(Bucket=sbucket, Key="obj", **read_args(mode))
    assert_mode(got, mode, kms_key)
    assert_same(got["Body"].read(), data, f"{mode} GET")
    edges = [(0, 0), (PACKAGE - 1, PACKAGE), (PACKAGE, 2 * PACKAGE - 1), (100, 2 * PACKAGE + 5),
             (3 * PACKAGE, len(data) - 1), (len(data) - 1, len(data) - 1)]
    for first, last in edges:
        assert_same(get_range(s3e, sbucket, "obj", f"{first}-{last}", mode), data[first:last + 1],
                    f"{mode} range {first}-{last}")
    assert_same(get_range(s3e, sbucket, "obj", "-10", mode), data[-10:], f"{mode} suffix range")
    # An empty object and a small (inline) one.
    for size in (0, 100):
        small = payload("small", mode, size)
        s3e.put_object(Bucket=sbucket, Key=f"small-{size}", Body=small, **write_args(mode, kms_key))
        body = s3e.get_object(Bucket=sbucket, Key=f"small-{size}", **read_args(mode))["Body"].read()
        assert_same(body, small, f"{mode} {size} bytes")
    # The same search finds the bytes of a plain object (so it would find the encrypted one's, were they there).
    control = payload("control", mode, len(data))
    s3e.put_object(Bucket=sbucket, Key="control", Body=control)
    assert plaintext_on_drives(tls_engine, sbucket, control)
    assert not plaintext_on_drives(tls_engine, sbucket, data), f"{mode}: plaintext on the drives"


@pytest.mark.parametrize("mode", ["S3", "KMS", "C"])
def test_multipart_three_parts(s3e: Any, tls_engine: Any, sbucket: str, kms_key: str, mode: str) -> None:
    part_size = 5 * MiB
    data = payload("multipart", mode, 2 * part_size + MiB + 7)
    create = s3e.create_multipart_upload(Bucket=sbucket, Key="mp", **write_args(mode, kms_key))
    assert_mode(create, mode, kms_key)
    upload_id = create["UploadId"]
    parts = []
    for number, offset in enumerate(range(0, len(data), part_size), start=1):
        resp = s3e.upload_part(Bucket=sbucket, Key="mp", UploadId=upload_id, PartNumber=number,
                               Body=data[offset:offset + part_size], **read_args(mode))
        assert_mode(resp, mode, kms_key)
        parts.append({"PartNumber": number, "ETag": resp["ETag"]})
    done = s3e.complete_multipart_upload(Bucket=sbucket, Key="mp", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    assert done["ETag"].strip('"').endswith("-3")
    if mode != "C":
        assert_mode(done, mode, kms_key)
    head = s3e.head_object(Bucket=sbucket, Key="mp", **read_args(mode))
    assert head["ContentLength"] == len(data) and head["ETag"] == done["ETag"]
    assert_same(s3e.get_object(Bucket=sbucket, Key="mp", **read_args(mode))["Body"].read(), data, f"{mode} mp")
    for first, last in [(part_size - 10, part_size + 10), (part_size - PACKAGE, 2 * part_size + PACKAGE),
                        (2 * part_size, len(data) - 1), (12345, 12345 + 3 * PACKAGE)]:
        assert_same(get_range(s3e, sbucket, "mp", f"{first}-{last}", mode), data[first:last + 1],
                    f"{mode} multipart range {first}-{last}")
    part2 = s3e.get_object(Bucket=sbucket, Key="mp", PartNumber=2, **read_args(mode))["Body"].read()
    assert_same(part2, data[part_size:2 * part_size], f"{mode} partNumber=2")
    assert not plaintext_on_drives(tls_engine, sbucket, data), f"{mode}: plaintext on the drives"


# --- SSE-C key checks ------------------------------------------------------------------------------------
def test_sse_c_wrong_or_missing_key(s3e: Any, module_bucket: str) -> None:
    s3e.put_object(Bucket=module_bucket, Key="ssec", Body=b"secret" * 1000, **write_args("C", ""))
    with pytest.raises(ClientError) as wrong:
        s3e.get_object(Bucket=module_bucket, Key="ssec", **read_args("C", KEY_2))
    assert wrong.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error_code(wrong.value) == "AccessDenied"
    with pytest.raises(ClientError) as head_missing:
        s3e.head_object(Bucket=module_bucket, Key="ssec")
    assert head_missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as head_wrong:
        s3e.head_object(Bucket=module_bucket, Key="ssec", **read_args("C", KEY_2))
    assert head_wrong.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as get_missing:
        s3e.get_object(Bucket=module_bucket, Key="ssec")
    assert get_missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error_code(get_missing.value) == "InvalidRequest"
    # Listings need no key.
    keys = [o["Key"] for o in s3e.list_objects_v2(Bucket=module_bucket)["Contents"]]
    assert "ssec" in keys


def test_sse_c_refused_over_plain_http(engine: Any, bucket: str, s3: Any) -> None:
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", **write_args("C", ""))
    assert error_code(refused.value) == "InvalidRequest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_unknown_kms_key(s3e: Any, module_bucket: str) -> None:
    with pytest.raises(ClientError) as refused:
        s3e.put_object(Bucket=module_bucket, Key="nokey", Body=b"data", ServerSideEncryption="aws:kms",
                       SSEKMSKeyId="no-such-key")
    assert error_code(refused.value) == "KMS.NotFoundException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError):
        s3e.head_object(Bucket=module_bucket, Key="nokey")


# --- copies between modes ------------------------------------------------------------------------------
def test_copy_object_between_every_pair_of_modes(s3e: Any, module_bucket: str, kms_key: str) -> None:
    data = payload("copy", 0, 2 * PACKAGE + 333)
    for source in MODES:
        s3e.put_object(Bucket=module_bucket, Key=f"src-{source}", Body=data, **write_args(source, kms_key))
    for source in MODES:
        for dest in MODES:
            key = f"dst-{source}-{dest}"
            resp = s3e.copy_object(Bucket=module_bucket, Key=key,
                                   CopySource={"Bucket": module_bucket, "Key": f"src-{source}"},
                                   **copy_source_args(source), **write_args(dest, kms_key, KEY_2))
            assert_mode(resp, dest, kms_key, KEY_2)
            got = s3e.get_object(Bucket=module_bucket, Key=key, **read_args(dest, KEY_2))
            assert_mode(got, dest, kms_key, KEY_2)
            assert_same(got["Body"].read(), data, f"copy {source} -> {dest}")
    # An SSE-C source without its key cannot be copied.
    with pytest.raises(ClientError) as refused:
        s3e.copy_object(Bucket=module_bucket, Key="nope", CopySource={"Bucket": module_bucket, "Key": "src-C"})
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # A copy onto itself that changes only the encryption: plaintext -> SSE-S3 in place.
    s3e.put_object(Bucket=module_bucket, Key="inplace", Body=data)
    s3e.copy_object(Bucket=module_bucket, Key="inplace", CopySource={"Bucket": module_bucket, "Key": "inplace"},
                    ServerSideEncryption="AES256")
    assert s3e.head_object(Bucket=module_bucket, Key="inplace")["ServerSideEncryption"] == "AES256"
    assert_same(s3e.get_object(Bucket=module_bucket, Key="inplace")["Body"].read(), data, "in place")
    # SSE-C key rotation in place: the old key opens the source, the new one encrypts the copy.
    s3e.copy_object(Bucket=module_bucket, Key="src-C", CopySource={"Bucket": module_bucket, "Key": "src-C"},
                    **copy_source_args("C", KEY_1), **write_args("C", kms_key, KEY_2))
    assert_same(s3e.get_object(Bucket=module_bucket, Key="src-C", **read_args("C", KEY_2))["Body"].read(), data,
                "SSE-C rotated in place")
    with pytest.raises(ClientError) as old_key:
        s3e.head_object(Bucket=module_bucket, Key="src-C", **read_args("C", KEY_1))
    assert old_key.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_upload_part_copy_from_sse_c_source(s3e: Any, sbucket: str, kms_key: str) -> None:
    source = payload("upc", 0, 6 * MiB)
    s3e.put_object(Bucket=sbucket, Key="src", Body=source, **write_args("C", kms_key, KEY_1))
    upload_id = s3e.create_multipart_upload(Bucket=sbucket, Key="dst", **write_args("C", kms_key, KEY_2))["UploadId"]
    copied = s3e.upload_part_copy(Bucket=sbucket, Key="dst", UploadId=upload_id, PartNumber=1,
                                  CopySource={"Bucket": sbucket, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}",
                                  **copy_source_args("C", KEY_1), **read_args("C", KEY_2))
    tail = s3e.upload_part(Bucket=sbucket, Key="dst", UploadId=upload_id, PartNumber=2, Body=b"tail",
                           **read_args("C", KEY_2))
    s3e.complete_multipart_upload(Bucket=sbucket, Key="dst", UploadId=upload_id, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": tail["ETag"]}]})
    got = s3e.get_object(Bucket=sbucket, Key="dst", **read_args("C", KEY_2))["Body"].read()
    assert_same(got, source[:5 * MiB] + b"tail", "UploadPartCopy from SSE-C")
    with pytest.raises(ClientError):
        s3e.get_object(Bucket=sbucket, Key="dst", **read_args("C", KEY_1))


# --- bucket default encryption ---------------------------------------------------------------------------
def test_bucket_default_encryption(s3e: Any, tls_engine: Any, sbucket: str, kms_key: str) -> None:
    with pytest.raises(ClientError) as none:
        s3e.get_bucket_encryption(Bucket=sbucket)
    assert error_code(none.value) == "ServerSideEncryptionConfigurationNotFoundError"
    s3e.put_bucket_encryption(Bucket=sbucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key}}]})
    rule = s3e.get_bucket_encryption(Bucket=sbucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key}
    data = payload("default", 0, PACKAGE + 10)
    resp = s3e.put_object(Bucket=sbucket, Key="kms-default", Body=data)
    assert resp["ServerSideEncryption"] == "aws:kms" and resp["SSEKMSKeyId"] == kms_key
    assert_same(s3e.get_object(Bucket=sbucket, Key="kms-default")["Body"].read(), data, "default KMS")
    # A request's own encryption wins over the default.
    assert s3e.put_object(Bucket=sbucket, Key="own", Body=b"x", ServerSideEncryption="AES256")[
        "ServerSideEncryption"] == "AES256"
    s3e.put_bucket_encryption(Bucket=sbucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    assert s3e.put_object(Bucket=sbucket, Key="s3-default", Body=data)["ServerSideEncryption"] == "AES256"
    multipart = s3e.create_multipart_upload(Bucket=sbucket, Key="mp-default")
    assert multipart["ServerSideEncryption"] == "AES256"
    s3e.abort_multipart_upload(Bucket=sbucket, Key="mp-default", UploadId=multipart["UploadId"])
    assert not plaintext_on_drives(tls_engine, sbucket, data)
    s3e.delete_bucket_encryption(Bucket=sbucket)
    with pytest.raises(ClientError):
        s3e.get_bucket_encryption(Bucket=sbucket)
    assert "ServerSideEncryption" not in s3e.put_object(Bucket=sbucket, Key="plain", Body=b"x")
    # Objects written under the old default still read.
    assert_same(s3e.get_object(Bucket=sbucket, Key="s3-default")["Body"].read(), data, "after delete")


# --- tampering: never wrong bytes ------------------------------------------------------------------------
def _part_files(tls_engine: Any, bucket: str, key: str) -> list[Path]:
    return sorted(p for drive in tls_engine.drives for p in (Path(drive) / bucket / f"{key}.xl.data").glob("*/part.1"))


def test_spliced_ciphertext_fails_the_get(s3e: Any, tls_engine: Any, sbucket: str) -> None:
    """Another object's ciphertext in place of this one's, on every drive (each shard intact as a file, so
    bitrot checks and erasure coding see nothing): the GET fails, a 500 before the body or a cut body after."""
    size = 2 * MiB + 5
    mine, theirs = payload("splice", "mine", size), payload("splice", "theirs", size)
    s3e.put_object(Bucket=sbucket, Key="mine", Body=mine, ServerSideEncryption="AES256")
    s3e.put_object(Bucket=sbucket, Key="theirs", Body=theirs, ServerSideEncryption="AES256")
    targets, sources = _part_files(tls_engine, sbucket, "mine"), _part_files(tls_engine, sbucket, "theirs")
    assert len(targets) == len(sources) == len(tls_engine.drives)
    for target, source in zip(targets, sources):
        target.write_bytes(source.read_bytes())
    got: bytes | None = None
    with pytest.raises(READ_FAILED) as failed:
        got = bytes(s3e.get_object(Bucket=sbucket, Key="mine")["Body"].read())
    assert got is None
    if isinstance(failed.value, ClientError):
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    # A range inside the first package fails too (it is read and authenticated on its own).
    with pytest.raises(READ_FAILED):
        s3e.get_object(Bucket=sbucket, Key="mine", Range="bytes=0-99")["Body"].read()
    # The object whose bytes were borrowed still reads.
    assert_same(s3e.get_object(Bucket=sbucket, Key="theirs")["Body"].read(), theirs, "the source of the splice")
