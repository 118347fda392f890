"""POST Object (browser uploads) against the running server: forms signed by boto3's
``generate_presigned_post`` (SigV4) and by hand (SigV2), posted with ``requests`` as a browser would, their
policy conditions, success actions and redirects, AWS's errors, and a large file streamed with bounded RSS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import EngineServer

from .helpers import MiB
from .test_memory import RssSampler


def signer(engine: EngineServer, version: str = "s3v4") -> Any:
    return boto3.client("s3", endpoint_url=engine.url, region_name=engine.region,
                        aws_access_key_id=engine.access_key, aws_secret_access_key=engine.secret_key,
                        config=Config(signature_version=version, s3={"addressing_style": "path"}))


def post(url: str, fields: dict[str, str], content: bytes = b"hello, form", filename: str = "hello.txt",
         **kwargs: Any) -> requests.Response:
    return requests.post(url, data=fields, files={"file": (filename, content, "text/plain")},
                         allow_redirects=False, timeout=60, **kwargs)


def error_of(response: requests.Response) -> tuple[int, str, str]:
    root = ElementTree.fromstring(response.content)
    return response.status_code, root.findtext("Code") or "", root.findtext("Message") or ""


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def test_presigned_post_sigv4_201(engine: EngineServer, s3: Any, bucket: str) -> None:
    form = signer(engine).generate_presigned_post(
        bucket, "docs/report.txt",
        Fields={"success_action_status": "201", "Content-Type": "text/plain", "x-amz-meta-origin": "browser"},
        Conditions=[{"success_action_status": "201"}, ["starts-with", "$Content-Type", "text/"],
                    {"x-amz-meta-origin": "browser"}])
    response = post(form["url"], form["fields"])
    assert response.status_code == 201, response.text
    body = ElementTree.fromstring(response.content)
    etag = '"' + hashlib.md5(b"hello, form").hexdigest() + '"'
    assert body.tag == "PostResponse"
    assert (body.findtext("Bucket"), body.findtext("Key"), body.findtext("ETag")) == (bucket, "docs/report.txt", etag)
    assert body.findtext("Location") == response.headers["Location"]
    assert response.headers["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="docs/report.txt")
    assert got["Body"].read() == b"hello, form"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"origin": "browser"}


def test_content_md5_and_tagging_fields(engine: EngineServer, s3: Any, bucket: str) -> None:
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag></TagSet></Tagging>"
    good = base64.b64encode(hashlib.md5(b"hello, form").digest()).decode()
    form = signer(engine).generate_presigned_post(
        bucket, "tagged", Fields={"tagging": tagging, "Content-MD5": good},
        Conditions=[{"tagging": tagging}, ["starts-with", "$Content-MD5", ""]])
    assert post(form["url"], form["fields"]).status_code == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == [{"Key": "team", "Value": "web"}]
    assert error_of(post(form["url"], form["fields"], b"other bytes"))[:2] == (400, "BadDigest")
    assert s3.get_object(Bucket=bucket, Key="tagged")["Body"].read() == b"hello, form"


def test_default_204_and_200(engine: EngineServer, s3: Any, bucket: str) -> None:
    client = signer(engine)
    form = client.generate_presigned_post(bucket, "plain")
    response = post(form["url"], form["fields"])
    assert (response.status_code, response.content) == (204, b"")
    assert response.headers["ETag"] == '"' + hashlib.md5(b"hello, form").hexdigest() + '"'
    form = client.generate_presigned_post(bucket, "ok", Fields={"success_action_status": "200"},
                                          Conditions=[{"success_action_status": "200"}])
    assert post(form["url"], form["fields"]).status_code == 200
    assert s3.get_object(Bucket=bucket, Key="ok")["ContentType"] == "binary/octet-stream"


def test_filename_and_redirect(engine: EngineServer, s3: Any, bucket: str) -> None:
    redirect = "https://app.example/done?from=form"
    form = signer(engine).generate_presigned_post(
        bucket, "uploads/${filename}", Fields={"success_action_redirect": redirect},
        Conditions=[["starts-with", "$success_action_redirect", "https://app.example/"]])
    response = post(form["url"], form["fields"], b"picture", filename="cat.png")
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://app.example/done"
    params = parse_qs(location.query)
    assert params == {"from": ["form"], "bucket": [bucket], "key": ["uploads/cat.png"],
                      "etag": ['"' + hashlib.md5(b"picture").hexdigest() + '"']}
    assert s3.get_object(Bucket=bucket, Key="uploads/cat.png")["Body"].read() == b"picture"
    # Not an http(s) URL (or not a URL at all): no redirect, the status answers (AWS ignores it too).
    for unusable in ("javascript:alert(1)", "http://[::1/broken"):
        form = signer(engine).generate_presigned_post(bucket, "k", Fields={"success_action_redirect": unusable},
                                                      Conditions=[{"success_action_redirect": unusable}])
        response = post(form["url"], form["fields"])
        assert response.status_code == 204 and "app.example" not in response.headers["Location"]


def sigv2_form(engine: EngineServer, policy: dict[str, Any], fields: dict[str, str]) -> dict[str, str]:
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    signature = base64.b64encode(hmac.new(engine.secret_key.encode(), encoded.encode(), hashlib.sha1).digest())
    return {**fields, "AWSAccessKeyId": engine.access_key, "policy": encoded, "signature": signature.decode()}


def test_hand_built_sigv2_form(engine: EngineServer, s3: Any, bucket: str) -> None:
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    policy = {"expiration": expiration, "conditions": [
        {"bucket": bucket}, ["starts-with", "$key", "v2/"], {"acl": "private"}, ["content-length-range", 1, 100]]}
    fields = sigv2_form(engine, policy, {"key": "v2/object", "acl": "private"})
    response = post(f"{engine.url}/{bucket}", fields, b"signed with v2")
    assert response.status_code == 204, response.text
    assert s3.get_object(Bucket=bucket, Key="v2/object")["Body"].read() == b"signed with v2"
    fields["signature"] = base64.b64encode(b"\0" * 20).decode()
    assert error_of(post(f"{engine.url}/{bucket}", fields))[:2] == (403, "SignatureDoesNotMatch")


def test_content_length_range(engine: EngineServer, s3: Any, bucket: str) -> None:
    form = signer(engine).generate_presigned_post(bucket, "sized", Conditions=[["content-length-range", 10, 20]])
    small = post(form["url"], form["fields"], b"x" * 9)
    assert error_of(small)[:2] == (400, "EntityTooSmall")
    large = post(form["url"], form["fields"], b"x" * 21)
    assert error_of(large)[:2] == (400, "EntityTooLarge")
    assert not exists(s3, bucket, "sized")
    assert post(form["url"], form["fields"], b"x" * 20).status_code == 204


@pytest.mark.parametrize(("change", "status", "code", "message"), [
    ({"x-amz-signature": "0" * 64}, 403, "SignatureDoesNotMatch", None),
    ({"key": "elsewhere/k"}, 403, "AccessDenied", 'Policy Condition failed: ["starts-with", "$key", "in/"]'),
    ({"x-amz-meta-unsigned": "1"}, 403, "AccessDenied", "Invalid according to Policy: Extra input fields: x-amz-meta-unsigned"),
    ({"x-amz-credential": "NOSUCHKEY/20260101/us-east-1/s3/aws4_request"}, 403, "InvalidAccessKeyId", None),
    ({"key": ""}, 400, "InvalidArgument", "must contain a field named 'key'"),
])
def test_form_refused(engine: EngineServer, s3: Any, bucket: str, change: dict[str, str], status: int, code: str,
                      message: str | None) -> None:
    form = signer(engine).generate_presigned_post(bucket, "in/${filename}")
    fields = {**form["fields"], **change}
    if not fields["key"]:
        del fields["key"]
    got = error_of(post(form["url"], fields))
    assert got[:2] == (status, code)
    assert message is None or message in got[2]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def sigv4_form(engine: EngineServer, policy: dict[str, Any], fields: dict[str, str]) -> dict[str, str]:
    """A SigV4 form signed by hand (AWS's "Calculating a signature": HMAC-SHA256 of the base64 policy)."""
    now = time.gmtime()
    date, amz_date = time.strftime("%Y%m%d", now), time.strftime("%Y%m%dT%H%M%SZ", now)
    credential = f"{engine.access_key}/{date}/{engine.region}/s3/aws4_request"
    signed = {**fields, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential, "x-amz-date": amz_date}
    conditions = [*policy["conditions"], *({name: value} for name, value in signed.items() if name not in fields)]
    encoded = base64.b64encode(json.dumps({**policy, "conditions": conditions}).encode()).decode()
    key = ("AWS4" + engine.secret_key).encode()
    for part in (date, engine.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return {**signed, "policy": encoded,
            "x-amz-signature": hmac.new(key, encoded.encode(), hashlib.sha256).hexdigest()}


def test_expired_policy(engine: EngineServer, s3: Any, bucket: str) -> None:
    policy = {"expiration": "2020-01-01T00:00:00.000Z", "conditions": [{"bucket": bucket}, {"key": "late"}]}
    assert error_of(post(f"{engine.url}/{bucket}", sigv4_form(engine, policy, {"key": "late"}))) == (
        403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    policy["expiration"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 60))
    assert post(f"{engine.url}/{bucket}", sigv4_form(engine, policy, {"key": "late"})).status_code == 204
    assert exists(s3, bucket, "late")


def test_credential_for_another_region(engine: EngineServer, bucket: str) -> None:
    form = signer(engine).generate_presigned_post(bucket, "k")
    credential = form["fields"]["x-amz-credential"].replace(f"/{engine.region}/", "/eu-west-3/")
    status, code, message = error_of(post(form["url"], {**form["fields"], "x-amz-credential": credential}))
    assert (status, code) == (400, "AuthorizationQueryParametersError")
    assert f"the region 'eu-west-3' is wrong; expecting '{engine.region}'" in message


def test_not_a_form(engine: EngineServer, bucket: str) -> None:
    response = requests.post(f"{engine.url}/{bucket}", data=b"k=v", timeout=30,
                             headers={"Content-Type": "application/octet-stream"})
    assert error_of(response)[:2] == (412, "PreconditionFailed")


def big_form(head: bytes, size: int, tail: bytes, sampler: RssSampler) -> Iterator[bytes]:
    yield head
    block = os.urandom(MiB)
    for index in range(size // MiB):
        yield index.to_bytes(8, "little") + block[8:]
        if index % 4 == 0:
            sampler.sample(in_flight=True)
    yield tail


def test_large_file_streams_with_bounded_memory(engine: EngineServer, s3: Any, bucket: str) -> None:
    size = 64 * MiB
    form = signer(engine).generate_presigned_post(bucket, "big", Conditions=[["content-length-range", 1, size]])
    boundary = "----rustfs-post-test-boundary"
    head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                    for name, value in form["fields"].items())
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'.encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    sampler = RssSampler(engine.pid)
    baseline = sampler.rss()
    connection = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=120)
    connection.request("POST", f"/{bucket}", body=big_form(head, size, tail, sampler), headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(head) + size + len(tail))})
    response = connection.getresponse()
    assert response.status == 204, response.read()
    connection.close()
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == size
    assert sampler.in_flight_samples >= 8
    assert sampler.peak - baseline < size // 2, f"RSS grew by {(sampler.peak - baseline) / MiB:.0f} MiB"


def test_anonymous_form_allowed_by_bucket_policy(engine: EngineServer, s3: Any, bucket: str) -> None:
    url = f"{engine.url}/{bucket}"
    assert error_of(post(url, {"key": "public/a"}))[:2] == (403, "AccessDenied")    # no policy yet
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/public/*"}]}))
    assert post(url, {"key": "public/${filename}"}, b"anonymous", filename="a.txt").status_code == 204
    assert s3.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"anonymous"
    assert error_of(post(url, {"key": "private/a"}))[:2] == (403, "AccessDenied")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"RestrictPublicBuckets": True})
    assert error_of(post(url, {"key": "public/b"}))[:2] == (403, "AccessDenied")
    assert not exists(s3, bucket, "public/b")


def test_bucket_policy_conditions_see_the_form_fields(engine: EngineServer, s3: Any, bucket: str) -> None:
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringEquals": {"s3:x-amz-server-side-encryption": "AES256"}}}]}))
    url = f"{engine.url}/{bucket}"
    assert error_of(post(url, {"key": "plain"}))[:2] == (403, "AccessDenied")
    response = post(url, {"key": "encrypted", "x-amz-server-side-encryption": "AES256"})
    assert response.status_code == 204, response.text
    assert response.headers["x-amz-server-side-encryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="encrypted")["ServerSideEncryption"] == "AES256"


def test_form_signed_by_an_iam_user_is_authorized_as_that_user(engine: EngineServer, s3: Any, bucket: str) -> None:
    iam = boto3.client("iam", endpoint_url=engine.url, region_name=engine.region,
                       aws_access_key_id=engine.access_key, aws_secret_access_key=engine.secret_key)
    user = f"post-{bucket}"[:64]
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="uploads", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject",
                                               "Resource": f"arn:aws:s3:::{bucket}/{user}/*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    client = boto3.client("s3", endpoint_url=engine.url, region_name=engine.region,
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    try:
        form = client.generate_presigned_post(bucket, "${filename}", Conditions=[["starts-with", "$key", ""]])
        fields = {**form["fields"], "key": f"{user}/${{filename}}"}
        assert post(form["url"], fields, b"mine", filename="a.txt").status_code == 204
        assert s3.get_object(Bucket=bucket, Key=f"{user}/a.txt")["Body"].read() == b"mine"
        fields["key"] = "someone-else/a.txt"
        assert error_of(post(form["url"], fields))[:2] == (403, "AccessDenied")
        # The user's STS session signs forms too: the token is a form field (and a condition).
        session = boto3.client("sts", endpoint_url=engine.url, region_name=engine.region,
                               aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                               ).assume_role(RoleArn="arn:aws:iam::000000000000:role/uploader",
                                             RoleSessionName="form")["Credentials"]
        temporary = boto3.client("s3", endpoint_url=engine.url, region_name=engine.region,
                                 aws_access_key_id=session["AccessKeyId"],
                                 aws_secret_access_key=session["SecretAccessKey"],
                                 aws_session_token=session["SessionToken"],
                                 config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        form = temporary.generate_presigned_post(bucket, f"{user}/session.txt")
        assert "x-amz-security-token" in form["fields"]
        response = post(form["url"], form["fields"], b"from a session")
        assert response.status_code == 204, response.text
        assert s3.get_object(Bucket=bucket, Key=f"{user}/session.txt")["Body"].read() == b"from a session"
        del form["fields"]["x-amz-security-token"]
        assert error_of(post(form["url"], form["fields"]))[:2] == (400, "InvalidToken")
    finally:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        iam.delete_user_policy(UserName=user, PolicyName="uploads")
        iam.delete_user(UserName=user)
