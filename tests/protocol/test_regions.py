"""SigV4 regions (docs/iam.md "Regions"): without an explicit region the verifier accepts a signature
scoped to any region, verified with the client's region; with RUSTFS_REGION only that region.

Requests are signed by botocore's own signers (header, presigned) and, for aws-chunked streaming
signatures, by hand from the AWS documentation.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from pydantic import SecretStr, ValidationError

from storage_engine.auth import verify_request
from storage_engine.config import EngineSettings
from storage_engine.errors import (
    AuthorizationHeaderMalformed, AuthorizationQueryParametersError, SignatureDoesNotMatch,
)

from .helpers import ACCESS_KEY, HOST, SECRET_KEY, make_request, read_all, run, store

BASE = f"http://{HOST}"
REGIONS = ["US", "eu-west-3", "us-east-1", "cn-north-1", "garage"]


@pytest.fixture
def regionless(monkeypatch: pytest.MonkeyPatch) -> EngineSettings:
    """Settings whose region was not given: no RUSTFS_REGION in the environment, no override."""
    monkeypatch.delenv("RUSTFS_REGION", raising=False)
    return EngineSettings(access_key=ACCESS_KEY, secret_key=SecretStr(SECRET_KEY))


def explicit(region: str = "us-east-1") -> EngineSettings:
    return EngineSettings(access_key=ACCESS_KEY, secret_key=SecretStr(SECRET_KEY), region=region)


def header_signed(region: str, url: str = BASE + "/bucket/key") -> AWSRequest:
    request = AWSRequest(method="GET", url=url, data=b"", headers={})
    S3SigV4Auth(BotoCredentials(ACCESS_KEY, SECRET_KEY), "s3", region).add_auth(request)
    return request


def url_of(request: AWSRequest) -> str:
    assert request.url is not None
    return request.url


def presigned(region: str) -> str:
    request = AWSRequest(method="GET", url=BASE + "/bucket/key")
    S3SigV4QueryAuth(BotoCredentials(ACCESS_KEY, SECRET_KEY), "s3", region, expires=600).add_auth(request)
    assert request.url is not None
    return request.url


@pytest.mark.parametrize("region", REGIONS)
def test_regionless_server_accepts_any_region(regionless: EngineSettings, region: str) -> None:
    signed = header_signed(region)
    verified = run(verify_request(make_request("GET", url_of(signed), dict(signed.headers.items())), store(),
                                  regionless))
    # The server answers with the client's region; S3's legacy "US" (s3cmd's default) is us-east-1.
    assert verified.region == ("us-east-1" if region == "US" else region)
    verified = run(verify_request(make_request("GET", presigned(region), {}), store(), regionless))
    assert verified.presigned and verified.region == ("us-east-1" if region == "US" else region)


def test_regionless_server_verifies_with_the_clients_region(regionless: EngineSettings) -> None:
    # A signature computed for one region and sent with another region in its scope does not match.
    signed = header_signed("eu-west-3")
    headers = dict(signed.headers.items())
    headers["Authorization"] = headers["Authorization"].replace("/eu-west-3/", "/eu-west-1/")
    with pytest.raises(SignatureDoesNotMatch):
        run(verify_request(make_request("GET", url_of(signed), headers), store(), regionless))
    url = presigned("eu-west-3").replace("%2Feu-west-3%2F", "%2Feu-west-1%2F")
    with pytest.raises(SignatureDoesNotMatch):
        run(verify_request(make_request("GET", url, {}), store(), regionless))


def test_regionless_server_refuses_a_region_that_is_no_name(regionless: EngineSettings) -> None:
    signed = header_signed("eu west<3")
    with pytest.raises(AuthorizationHeaderMalformed, match="not a valid region name"):
        run(verify_request(make_request("GET", url_of(signed), dict(signed.headers.items())), store(), regionless))


def test_explicit_region_is_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    # RUSTFS_REGION counts as explicit, even with the default's value.
    monkeypatch.setenv("RUSTFS_REGION", "us-east-1")
    settings = EngineSettings(access_key=ACCESS_KEY, secret_key=SecretStr(SECRET_KEY))
    signed = header_signed("US")
    with pytest.raises(AuthorizationHeaderMalformed) as raised:
        run(verify_request(make_request("GET", url_of(signed), dict(signed.headers.items())), store(), settings))
    # AWS's wording, and the header botocore follows to the right region.
    assert raised.value.message == ("The authorization header is malformed; the region 'US' is wrong; "
                                    "expecting 'us-east-1'.")
    assert raised.value.headers == {"x-amz-bucket-region": "us-east-1"}
    with pytest.raises(AuthorizationQueryParametersError) as query_raised:
        run(verify_request(make_request("GET", presigned("eu-west-3"), {}), store(), settings))
    assert query_raised.value.message == ("Error parsing the X-Amz-Credential parameter; the region 'eu-west-3' "
                                          "is wrong; expecting 'us-east-1'.")
    assert query_raised.value.headers == {"x-amz-bucket-region": "us-east-1"}
    # The explicit region itself, even when it is the default's value.
    assert run(verify_request(make_request("GET", presigned("us-east-1"), {}), store(), settings)).region \
        == "us-east-1"
    assert run(verify_request(make_request("GET", presigned("eu-1"), {}), store(), explicit("eu-1"))).region \
        == "eu-1"


def test_region_setting_is_a_region_name() -> None:
    with pytest.raises(ValidationError, match="region"):
        EngineSettings(region="")
    with pytest.raises(ValidationError, match="region"):
        EngineSettings(region="eu west")


# --- aws-chunked streaming signatures, scoped to the client's region ------------------------------------
AMZ_DATE = "20240501T120000Z"
NOW = calendar.timegm((2024, 5, 1, 12, 0, 0))
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def _key(region: str) -> bytes:
    key = ("AWS4" + SECRET_KEY).encode()
    for part in ("20240501", region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def streaming_put(region: str, data: bytes, chunk: int = 1000) -> tuple[dict[str, str], bytes]:
    scope = f"20240501/{region}/s3/aws4_request"
    headers = {"host": HOST, "x-amz-date": AMZ_DATE, "x-amz-content-sha256": STREAMING,
               "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    names = sorted(headers)
    canonical = "\n".join(["PUT", "/bucket/key", "", "".join(f"{n}:{headers[n]}\n" for n in names),
                           ";".join(names), STREAMING])
    sts = "\n".join(["AWS4-HMAC-SHA256", AMZ_DATE, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    previous = hmac.new(_key(region), sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={previous}")
    wire = bytearray()
    for piece in [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", AMZ_DATE, scope, previous,
                         hashlib.sha256(b"").hexdigest(), hashlib.sha256(piece).hexdigest()])
        previous = hmac.new(_key(region), sts.encode(), hashlib.sha256).hexdigest()
        wire += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n"
    return headers, bytes(wire)


@pytest.mark.parametrize("region", ["US", "ap-southeast-2"])
def test_regionless_server_verifies_chunk_signatures_in_the_clients_region(regionless: EngineSettings,
                                                                          region: str) -> None:
    data = bytes(range(256)) * 10
    headers, wire = streaming_put(region, data)

    async def go(body: bytes) -> bytes:
        verified = await verify_request(make_request("PUT", BASE + "/bucket/key", headers, body, chunked=True),
                                        store(), regionless, now=NOW)
        return await read_all(verified.body)

    assert run(go(wire)) == data
    with pytest.raises(SignatureDoesNotMatch):     # a chunk changed in flight
        run(go(wire.replace(data[1000:1010], b"x" * 10, 1)))
