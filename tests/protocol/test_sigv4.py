"""SigV4 header and presigned-URL verification, checked against botocore's own signer."""

from __future__ import annotations

import hashlib
import time

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from storage_engine.auth import VerifiedRequest, presign_url, sign_request, verify_request
from storage_engine.errors import (
    AccessDenied, AuthorizationHeaderMalformed, AuthorizationQueryParametersError, InvalidAccessKeyId,
    InvalidRequest, RequestTimeTooSkewed, S3Error, SignatureDoesNotMatch, XAmzContentSHA256Mismatch,
)

from .helpers import ACCESS_KEY, HOST, REGION, SECRET_KEY, make_request, read_all, run, settings, store

BASE = f"http://{HOST}"


def boto_sign(method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b"",
              *, unsigned: bool = False, secret: str = SECRET_KEY, access: str = ACCESS_KEY) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    if unsigned:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(BotoCredentials(access, secret), "s3", REGION).add_auth(request)
    return request


def to_request(signed: AWSRequest, *, method: str | None = None, url: str | None = None,
               body: bytes | None = None, extra: dict[str, str] | None = None, drop: str | None = None):
    url = (url or signed.url).replace("https://", "http://")
    headers = {k: v for k, v in signed.headers.items() if k.lower() != (drop or "").lower()}
    headers.update(extra or {})
    data = (signed.body or b"") if body is None else body
    if isinstance(data, str):
        data = data.encode()
    assert isinstance(data, bytes)
    return make_request(method or signed.method, url, headers, data)


def verify(request, **kwargs) -> VerifiedRequest:
    return run(verify_request(request, store(), settings(), **kwargs))


def verify_and_read(request, **kwargs) -> bytes:
    async def go() -> bytes:
        verified = await verify_request(request, store(), settings(), **kwargs)
        return await read_all(verified.body)
    return run(go())


PATHS = [
    "/bucket/key",
    "/bucket/a%20b/c%2Bd",
    "/bucket/%E2%82%AC%20euro~tilde",
    "/bucket/dir//double/./dots/../x",
    "/bucket/special%21%27%28%29%2A",
    "/",
]


@pytest.mark.parametrize("path", PATHS)
def test_botocore_header_signature_verifies(path: str) -> None:
    signed = boto_sign("GET", BASE + path + "?list-type=2&prefix=a%2Fb&max-keys=10&empty=")
    verified = verify(to_request(signed))
    assert verified.access_key == ACCESS_KEY and verified.is_root and not verified.presigned


def test_signed_payload_is_verified_at_the_end() -> None:
    body = b"hello world" * 1000
    signed = boto_sign("PUT", BASE + "/bucket/key", {"Content-Type": "text/plain"}, body)
    assert verify_and_read(to_request(signed)) == body
    with pytest.raises(XAmzContentSHA256Mismatch):
        verify_and_read(to_request(signed, body=body[:-1] + b"X"))


def test_unsigned_payload() -> None:
    body = b"x" * 5000
    signed = boto_sign("PUT", BASE + "/bucket/key", {}, body, unsigned=True)
    assert signed.headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert verify_and_read(to_request(signed, body=b"y" * 5000)) == b"y" * 5000


@pytest.mark.parametrize("tamper", ["method", "path", "query", "header", "date", "add-query"])
def test_tampered_request_is_rejected(tamper: str) -> None:
    signed = boto_sign("GET", BASE + "/bucket/key?versionId=1", {"x-amz-meta-a": "1", "Range": "bytes=0-1"})
    if tamper == "method":
        request = to_request(signed, method="DELETE")
    elif tamper == "path":
        request = to_request(signed, url=BASE + "/bucket/kez?versionId=1")
    elif tamper == "query":
        request = to_request(signed, url=BASE + "/bucket/key?versionId=2")
    elif tamper == "add-query":
        request = to_request(signed, url=BASE + "/bucket/key?versionId=1&acl")
    elif tamper == "header":
        request = to_request(signed, extra={"x-amz-meta-a": "2"})
    else:
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + 5))
        request = to_request(signed, extra={"X-Amz-Date": amz_date})
    with pytest.raises(SignatureDoesNotMatch):
        verify(request)


def test_wrong_secret_and_unknown_key() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        verify(to_request(boto_sign("GET", BASE + "/b", secret="wrong-secret")))
    with pytest.raises(InvalidAccessKeyId):
        verify(to_request(boto_sign("GET", BASE + "/b", access="AKIDUNKNOWN")))


def test_clock_skew() -> None:
    signed = boto_sign("GET", BASE + "/b")
    verify(to_request(signed), now=time.time() + 800)
    with pytest.raises(RequestTimeTooSkewed):
        verify(to_request(signed), now=time.time() + 1000)
    with pytest.raises(RequestTimeTooSkewed):
        verify(to_request(signed), now=time.time() - 1000)


def test_anonymous_and_malformed() -> None:
    anonymous = verify(make_request("GET", BASE + "/b", {}))    # authorize() decides (docs/iam.md)
    assert anonymous.is_anonymous and not anonymous.is_root and anonymous.access_key == ""
    with pytest.raises(InvalidRequest):
        verify(make_request("GET", BASE + "/b", {"Authorization": "AWS4-ECDSA-P256-SHA256 Credential=x"}))
    signed = boto_sign("GET", BASE + "/b")
    good = signed.headers["Authorization"]
    for bad in [good.replace("Credential=", "Cred="), good.replace("/aws4_request", "/aws5_request"),
                good.replace("Signature=", "Signature=zz"), good.replace("/us-east-1/", "/eu-west-1/"),
                good.replace("SignedHeaders=host;", "SignedHeaders=")]:
        with pytest.raises((AuthorizationHeaderMalformed, SignatureDoesNotMatch)):
            verify(to_request(signed, extra={"Authorization": bad}))
    with pytest.raises(AccessDenied):   # no date at all
        verify(to_request(signed, drop="X-Amz-Date"))


def test_presigned_url_from_botocore() -> None:
    request = AWSRequest(method="GET", url=BASE + "/bucket/some%20key?versionId=abc")
    S3SigV4QueryAuth(BotoCredentials(ACCESS_KEY, SECRET_KEY), "s3", REGION, expires=600).add_auth(request)
    verified = verify(make_request("GET", request.url, {}))
    assert verified.presigned
    with pytest.raises(AccessDenied, match="expired"):
        verify(make_request("GET", request.url, {}), now=time.time() + 700)
    with pytest.raises(SignatureDoesNotMatch):
        verify(make_request("GET", request.url.replace("some%20key", "other"), {}))
    with pytest.raises(SignatureDoesNotMatch):
        verify(make_request("PUT", request.url, {}))


def test_presigned_expiry_limits() -> None:
    request = AWSRequest(method="GET", url=BASE + "/bucket/key")
    S3SigV4QueryAuth(BotoCredentials(ACCESS_KEY, SECRET_KEY), "s3", REGION, expires=8 * 24 * 3600).add_auth(request)
    with pytest.raises(AuthorizationQueryParametersError):
        verify(make_request("GET", request.url, {}))
    with pytest.raises(AuthorizationQueryParametersError):
        verify(make_request("GET", request.url.replace("X-Amz-Credential=", "X-Amz-Credential=x"), {}))


def test_boto3_generate_presigned_url() -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=BASE, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          region_name=REGION, config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    url = client.generate_presigned_url("put_object", Params={"Bucket": "bkt", "Key": "a b/c+d.txt"}, ExpiresIn=300)
    assert verify(make_request("PUT", url, {})).presigned


def test_own_signer_matches_verifier_and_botocore() -> None:
    url = BASE + "/bucket/a%20b?uploads=&prefix=x%2By"
    payload = hashlib.sha256(b"data").hexdigest()
    headers = {"Content-Type": "text/plain", "x-amz-meta-k": "  v   w "}
    added = sign_request("PUT", url, headers, payload, ACCESS_KEY, SECRET_KEY, REGION)
    assert verify_and_read(make_request("PUT", url, {**headers, **added}, b"data")) == b"data"
    presigned = presign_url("GET", url, ACCESS_KEY, SECRET_KEY, REGION, expires=60)
    assert verify(make_request("GET", presigned, {})).presigned
    with pytest.raises(AccessDenied):
        verify(make_request("GET", presigned, {}), now=time.time() + 120)


def test_plus_in_query_means_space_for_form_encoding_clients() -> None:
    # Some clients put '+' for a space in the query and sign it as %20.
    url = BASE + "/bucket?prefix=a%20b"
    added = sign_request("GET", url, {}, "UNSIGNED-PAYLOAD", ACCESS_KEY, SECRET_KEY, REGION)
    verify(make_request("GET", BASE + "/bucket?prefix=a+b", added))


def test_non_ascii_header_value_signed_by_botocore() -> None:
    signed = boto_sign("PUT", BASE + "/bucket/k", {"x-amz-meta-name": "caf\u00e9"}, b"")
    # http.client sends the value as Latin-1; the server decodes header bytes as Latin-1.
    verify(to_request(signed))


def test_verified_request_cannot_be_forged() -> None:
    with pytest.raises(TypeError):
        VerifiedRequest(object(), None, None, None, False, "")  # type: ignore[arg-type]


def test_errors_are_s3_errors() -> None:
    for cls in (AccessDenied, SignatureDoesNotMatch, AuthorizationQueryParametersError):
        assert issubclass(cls, S3Error)
