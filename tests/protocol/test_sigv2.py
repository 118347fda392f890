"""Legacy SigV2 (what boto3's generate_presigned_url emits by default), against botocore's signer."""

from __future__ import annotations

import time

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from storage_engine.auth import verify_request
from storage_engine.errors import AccessDenied, InvalidAccessKeyId, RequestTimeTooSkewed, SignatureDoesNotMatch

from .helpers import ACCESS_KEY, HOST, REGION, SECRET_KEY, make_request, run, settings, store

BASE = f"http://{HOST}"
CREDS = BotoCredentials(ACCESS_KEY, SECRET_KEY)


def verify(request, now: float | None = None, **overrides):
    return run(verify_request(request, store(), settings(**overrides), now=now))


@pytest.mark.parametrize("path", ["/bucket/key", "/bucket/a%20b%2Bc", "/bucket/%E2%82%AC?versionId=3&x-id=GetObject"])
def test_botocore_hmacv1_header(path: str) -> None:
    request = AWSRequest(method="PUT", url=BASE + path, headers={"Content-Type": "text/plain", "x-amz-meta-a": "1"},
                         data=b"body")
    HmacV1Auth(CREDS).add_auth(request)
    headers = dict(request.headers.items())
    verified = verify(make_request("PUT", request.url, headers, b"body"))
    assert verified.access_key == ACCESS_KEY
    with pytest.raises(SignatureDoesNotMatch):
        verify(make_request("PUT", request.url, {**headers, "x-amz-meta-a": "2"}, b"body"))
    with pytest.raises(SignatureDoesNotMatch):
        verify(make_request("DELETE", request.url, headers))
    with pytest.raises(RequestTimeTooSkewed):
        verify(make_request("PUT", request.url, headers, b"body"), now=time.time() + 3600)


def test_botocore_hmacv1_query_and_expiry() -> None:
    request = AWSRequest(method="GET", url=BASE + "/bucket/some%20key?versionId=7")
    HmacV1QueryAuth(CREDS, expires=60).add_auth(request)
    assert verify(make_request("GET", request.url, {})).presigned
    with pytest.raises(AccessDenied, match="expired"):
        verify(make_request("GET", request.url, {}), now=time.time() + 120)
    with pytest.raises(SignatureDoesNotMatch):
        verify(make_request("GET", request.url.replace("versionId=7", "versionId=8"), {}))
    bad_key = request.url.replace(f"AWSAccessKeyId={ACCESS_KEY}", "AWSAccessKeyId=NOPE")
    with pytest.raises(InvalidAccessKeyId):
        verify(make_request("GET", bad_key, {}))


@pytest.mark.parametrize("style", ["path", "virtual"])
def test_boto3_default_presigned_url(style: str) -> None:
    import boto3
    from botocore.config import Config

    endpoint = "http://s3.test:9000" if style == "virtual" else BASE
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          region_name=REGION, config=Config(s3={"addressing_style": style}))
    url = client.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "dir/a b+c.txt"})
    assert "Signature=" in url or "X-Amz-Signature=" in url
    verified = verify(make_request("GET", url, {}), server_domains="s3.test")
    assert verified.presigned and verified.access_key == ACCESS_KEY
