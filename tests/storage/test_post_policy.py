"""Browser uploads, offline: the POST policy document (auth/post_policy.py), the forms boto3 signs, and the
streaming multipart reader of api/post_object.py (delimiters split across reads, the 20 KiB field budget).

The semantics are AWS's ("Creating a POST policy", "Browser-based uploads using POST (AWS Signature Version 4)").
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import given, settings
from hypothesis import strategies as st

from storage_engine.api.post_object import FileBody, MultipartForm, form_boundary
from storage_engine.auth.credentials import Credentials
from storage_engine.auth.post_policy import PostPolicy, form_signature
from storage_engine.errors import S3Error

ACCESS, SECRET = "AKIAPOSTTEST00000000", "post-test-secret-key-0000000000000000000"
CREDS = Credentials(ACCESS, SECRET, is_root=True)
FUTURE = "2099-01-01T00:00:00.000Z"


def encode(document: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def code_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(S3Error) as info:
        call()
    return info.value.code, info.value.message


def presigned(version: str = "s3v4", **kwargs: Any) -> dict[str, str]:
    """The fields boto3 puts in a form ("s3v4", or "s3": SigV2, its default), signed locally (no network)."""
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                          endpoint_url="http://127.0.0.1:9", config=Config(signature_version=version))
    post = client.generate_presigned_post(Bucket="photos", **kwargs)
    return {name.lower(): value for name, value in post["fields"].items()}


# --- the policy document ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "number"), [("s3v4", 4), ("s3", 2)])
def test_boto3_form_verifies_and_passes_its_own_policy(version: str, number: int) -> None:
    fields = presigned(version, Key="user/a.txt", Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}])
    signature = form_signature(fields)
    assert signature is not None and signature.version == number and signature.access_key == ACCESS
    signature.verify(CREDS)
    PostPolicy.parse(signature.policy).check(fields, bucket="photos", now=time.time())


def test_wrong_secret_is_signature_does_not_match() -> None:
    signature = form_signature(presigned(Key="k"))
    assert signature is not None
    assert code_of(lambda: signature.verify(Credentials(ACCESS, "x" * 40, is_root=True)))[0] == "SignatureDoesNotMatch"


def test_sigv2_form_signature() -> None:
    policy = encode({"expiration": FUTURE, "conditions": [{"bucket": "photos"}, ["starts-with", "$key", ""]]})
    good = base64.b64encode(hmac.new(SECRET.encode(), policy.encode(), hashlib.sha1).digest()).decode()
    fields = {"key": "k", "awsaccesskeyid": ACCESS, "policy": policy, "signature": good}
    signature = form_signature(fields)
    assert signature is not None and signature.version == 2
    signature.verify(CREDS)
    bad = form_signature({**fields, "signature": base64.b64encode(b"0" * 20).decode()})
    assert bad is not None
    assert code_of(lambda: bad.verify(CREDS))[0] == "SignatureDoesNotMatch"


def test_unsigned_form_and_policy_without_signature() -> None:
    assert form_signature({"key": "k"}) is None
    assert code_of(lambda: form_signature({"key": "k", "policy": "e30="}))[0] == "InvalidArgument"
    assert code_of(lambda: form_signature({"key": "k", "x-amz-signature": "00"}))[0] == "InvalidArgument"


def check(conditions: list[Any], fields: dict[str, str], *, bucket: str = "photos",
          expiration: str = FUTURE) -> None:
    PostPolicy.parse(encode({"expiration": expiration, "conditions": conditions})).check(
        fields, bucket=bucket, now=time.time())


@pytest.mark.parametrize(("conditions", "fields"), [
    ([["eq", "$key", "a"]], {"key": "a"}),
    ([{"key": "a"}], {"key": "a"}),
    ([["starts-with", "$key", "user/"]], {"key": "user/x"}),
    ([["starts-with", "$key", ""]], {"key": "anything"}),
    ([["starts-with", "$Content-Type", "image/"], ["eq", "$key", "k"]], {"key": "k", "content-type": "image/png"}),
    ([{"bucket": "photos"}, ["starts-with", "$key", ""]], {"key": "k"}),
    ([["starts-with", "$key", ""], ["starts-with", "$x-amz-meta-tag", ""]], {"key": "k", "x-amz-meta-tag": "v"}),
    ([["starts-with", "$key", ""]], {"key": "k", "x-ignore-me": "1", "file": "", "policy": "", "signature": ""}),
    ([["EQ", "$KEY", "k"]], {"key": "k"}),
])
def test_conditions_that_hold(conditions: list[Any], fields: dict[str, str]) -> None:
    check(conditions, fields)


@pytest.mark.parametrize(("conditions", "fields", "message"), [
    ([["eq", "$key", "a"]], {"key": "b"}, 'Policy Condition failed: ["eq", "$key", "a"]'),
    ([["starts-with", "$key", "user/"]], {"key": "other/x"}, 'Policy Condition failed: ["starts-with", "$key", "user/"]'),
    ([{"bucket": "photos"}, ["starts-with", "$key", ""]], {"key": "k", "bucket": "photos"}, None),
    ([{"bucket": "other"}], {}, 'Policy Condition failed: ["eq", "$bucket", "other"]'),
    ([["starts-with", "$Content-Type", "image/"], ["eq", "$key", "k"]], {"key": "k", "content-type": "image/png, text/html"},
     "Policy Condition failed"),
    ([["eq", "$key", "k"]], {"key": "k", "x-amz-meta-extra": "v", "acl": "private"},
     "Extra input fields: x-amz-meta-extra, acl"),
])
def test_conditions_that_fail(conditions: list[Any], fields: dict[str, str], message: str | None) -> None:
    if message is None:      # a "bucket" form field needs no condition of its own when "bucket" has one
        check(conditions, fields)
        return
    code, text = code_of(lambda: check(conditions, fields))
    assert code == "AccessDenied"
    assert text.startswith("Invalid according to Policy: ") and message in text


def test_expired_policy() -> None:
    code, text = code_of(lambda: check([["starts-with", "$key", ""]], {"key": "k"}, expiration="2001-01-01T00:00:00Z"))
    assert (code, text) == ("AccessDenied", "Invalid according to Policy: Policy expired.")


@pytest.mark.parametrize("encoded", [
    "not base64!", base64.b64encode(b"[1]").decode(), encode({"conditions": []}),
    encode({"expiration": "soon", "conditions": []}), encode({"expiration": FUTURE, "conditions": {}}),
    encode({"expiration": FUTURE, "conditions": [["content-length-range", 10, 1]]}),
    encode({"expiration": FUTURE, "conditions": [["content-length-range", "a", 1]]}),
    encode({"expiration": FUTURE, "conditions": [["matches", "$key", "x"]]}),
    encode({"expiration": FUTURE, "conditions": [["eq", "key", "x"]]}),
    encode({"expiration": FUTURE, "conditions": [{"key": 1}]}),
])
def test_malformed_policy_document(encoded: str) -> None:
    assert code_of(lambda: PostPolicy.parse(encoded))[0] == "InvalidPolicyDocument"


def test_content_length_range() -> None:
    policy = PostPolicy.parse(encode({"expiration": FUTURE, "conditions": [["content-length-range", 10, 20]]}))
    policy.check_size(5, final=False)          # more may come
    policy.check_size(10, final=True)
    policy.check_size(20, final=True)
    assert code_of(lambda: policy.check_size(9, final=True))[0] == "EntityTooSmall"
    assert code_of(lambda: policy.check_size(21, final=False))[0] == "EntityTooLarge"


# --- the streaming multipart reader ------------------------------------------------------------------------
class ChunkedBody:
    """A PutBody handing out ``data`` in pieces of at most ``step`` bytes."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.offset = data, step, 0

    async def read(self, n: int) -> bytes:
        piece = self.data[self.offset:self.offset + min(n, self.step)]
        self.offset += len(piece)
        return piece

    def checksums(self) -> dict[str, str]:
        return {}


BOUNDARY = "----WebKitFormBoundaryX7zq"


def form_bytes(fields: list[tuple[str, str]], content: bytes, after: bytes = b"") -> bytes:
    out = [b"preamble\r\n"]
    for name, value in fields:
        out.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    out.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a b.txt"\r\n'
               f"Content-Type: text/plain\r\n\r\n".encode())
    return b"".join(out) + content + f"\r\n--{BOUNDARY}\r\n".encode() + after + f"\r\n--{BOUNDARY}--\r\n".encode()


async def read_all(form: MultipartForm, size: int) -> bytes:
    body = FileBody(form, None)
    chunks = []
    while True:
        chunk = await body.read(size)
        chunks.append(chunk)
        if len(chunk) < size:
            return b"".join(chunks)


@pytest.mark.parametrize("step", [1, 7, 64, 1 << 20])
def test_form_fields_and_file_across_read_edges(step: int) -> None:
    asyncio.run(form_across_read_edges(step))


async def form_across_read_edges(step: int) -> None:
    # The file contains most of a delimiter, twice: only the whole "\r\n--boundary" ends it.
    content = (b"x" * 100 + f"\r\n--{BOUNDARY[:-1]}".encode() + b"\r\n--" + b"y" * 300) * 3
    data = form_bytes([("key", "user/${filename}"), ("x-amz-meta-note", "héllo")], content,
                      after=b'Content-Disposition: form-data; name="ignored"\r\n\r\nafter the file')
    form = MultipartForm(ChunkedBody(data, step), form_boundary(f'multipart/form-data; boundary="{BOUNDARY}"'))
    fields, file = await form.fields()
    assert fields == [("key", "user/${filename}"), ("x-amz-meta-note", "héllo")]
    assert (file.filename, file.content_type) == ("a b.txt", "text/plain")
    for size in (1, 5, 1000):
        form = MultipartForm(ChunkedBody(data, step), BOUNDARY.encode())
        await form.fields()
        assert await read_all(form, size) == content


def test_fields_before_the_file_are_bounded() -> None:
    data = form_bytes([("key", "k"), ("x-amz-meta-big", "v" * 30_000)], b"data")
    form = MultipartForm(ChunkedBody(data, 4096), BOUNDARY.encode())
    with pytest.raises(S3Error) as info:
        asyncio.run(form.fields())
    assert info.value.code == "MaxPostPreDataLengthExceededError"


@pytest.mark.parametrize(("data", "code"), [
    (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--{BOUNDARY}--\r\n".encode(),
     "IncorrectNumberOfFilesInPostRequest"),
    (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk".encode(), "MalformedPOSTRequest"),
    (f"--{BOUNDARY}\r\nContent-Disposition: attachment; name=\"key\"\r\n\r\nk\r\n--{BOUNDARY}--".encode(),
     "MalformedPOSTRequest"),
    (b"no boundary at all", "MalformedPOSTRequest"),
])
def test_malformed_forms(data: bytes, code: str) -> None:
    form = MultipartForm(ChunkedBody(data, 10), BOUNDARY.encode())
    with pytest.raises(S3Error) as info:
        asyncio.run(form.fields())
    assert info.value.code == code


def test_file_without_closing_delimiter() -> None:
    data = form_bytes([("key", "k")], b"content").rsplit(b"\r\n--", 2)[0]
    form = MultipartForm(ChunkedBody(data, 10), BOUNDARY.encode())

    async def upload() -> bytes:
        await form.fields()
        return await read_all(form, 4)

    with pytest.raises(S3Error) as info:
        asyncio.run(upload())
    assert info.value.code == "MalformedPOSTRequest"


def test_form_must_be_multipart() -> None:
    assert code_of(lambda: form_boundary("application/x-www-form-urlencoded"))[0] == "PreconditionFailed"
    assert code_of(lambda: form_boundary(None))[0] == "PreconditionFailed"
    assert code_of(lambda: form_boundary("multipart/form-data"))[0] == "MalformedPOSTRequest"


@settings(max_examples=150, deadline=None)
@given(content=st.binary(max_size=600).map(lambda data: data.replace(b"#", f"\r\n--{BOUNDARY}"[:9].encode())),
       step=st.integers(1, 97), size=st.integers(1, 300))
def test_any_file_content_read_in_any_pieces(content: bytes, step: int, size: int) -> None:
    """Whatever the file holds (here often pieces of the delimiter) and however the body and the reads are cut,
    the file's bytes come back exactly."""
    form = MultipartForm(ChunkedBody(form_bytes([("key", "k")], content), step), BOUNDARY.encode())

    async def upload() -> bytes:
        await form.fields()
        return await read_all(form, size)

    assert asyncio.run(upload()) == content
