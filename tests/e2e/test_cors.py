"""CORS against a real engine: Put/Get/DeleteBucketCors with boto3 and the AWS CLI (AWS's errors for bad
documents), the preflight ``OPTIONS`` answered from the rules, and the CORS headers of actual requests that
carry ``Origin`` (raw HTTP: what a browser sends and sees)."""

from __future__ import annotations

import http.client
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EngineServer, empty_bucket
from tests.e2e.helpers import aws_s3api

from .test_bucket_policy import expect

RULES = [
    {"ID": "app", "AllowedOrigins": ["https://app.example.com", "https://*.tools.example.com"],
     "AllowedMethods": ["GET", "PUT", "HEAD"], "AllowedHeaders": ["Content-Type", "x-amz-*"],
     "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 600},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]


@pytest.fixture(scope="module")
def server(engine_factory: Callable[..., EngineServer]) -> EngineServer:
    return engine_factory(name="cors")


@pytest.fixture(scope="module")
def client(server: EngineServer) -> Any:
    return server.client()


@pytest.fixture
def cbucket(client: Any, unique_name: Callable[[str], str]) -> Iterator[str]:
    name = unique_name("cors")
    client.create_bucket(Bucket=name)
    yield name
    empty_bucket(client, name)
    client.delete_bucket(Bucket=name)


def send(server: EngineServer, method: str, path: str, headers: dict[str, str],
         sign: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One raw request; ``sign``: SigV4 as root. Returns status, lower-cased headers, body."""
    if sign:
        headers = server.sign(method, path, "", headers=headers)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def error(body: bytes) -> tuple[str | None, str | None]:
    root = ET.fromstring(body)
    return root.findtext("Code"), root.findtext("Message")


def preflight(server: EngineServer, path: str, origin: str | None, method: str | None,
              headers: str | None = None) -> tuple[int, dict[str, str], bytes]:
    sent = {}
    if origin is not None:
        sent["Origin"] = origin
    if method is not None:
        sent["Access-Control-Request-Method"] = method
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return send(server, "OPTIONS", path, sent)


# --- the API --------------------------------------------------------------------------------------------------
def test_put_get_delete(client: Any, cbucket: str) -> None:
    expect("NoSuchCORSConfiguration", 404, client.get_bucket_cors, Bucket=cbucket)
    assert client.put_bucket_cors(Bucket=cbucket, CORSConfiguration={"CORSRules": RULES})[
        "ResponseMetadata"]["HTTPStatusCode"] == 200
    assert client.get_bucket_cors(Bucket=cbucket)["CORSRules"] == RULES
    # A second put replaces the rules.
    client.put_bucket_cors(Bucket=cbucket, CORSConfiguration={"CORSRules": RULES[1:]})
    assert client.get_bucket_cors(Bucket=cbucket)["CORSRules"] == RULES[1:]
    assert client.delete_bucket_cors(Bucket=cbucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect("NoSuchCORSConfiguration", 404, client.get_bucket_cors, Bucket=cbucket)
    expect("NoSuchBucket", 404, client.get_bucket_cors, Bucket=cbucket + "-none")
    expect("NoSuchBucket", 404, client.put_bucket_cors, Bucket=cbucket + "-none",
           CORSConfiguration={"CORSRules": RULES})


@pytest.mark.parametrize(("rules", "code", "message"), [
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}], "InvalidRequest", "Unsupported method is PATCH"),
    ([{"AllowedOrigins": ["https://*.*.example.com"], "AllowedMethods": ["GET"]}], "InvalidRequest",
     "can not have more than one wildcard"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-*-*"]}], "InvalidRequest",
     'AllowedHeader "x-*-*" can not have more than one wildcard'),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["x-amz-*"]}], "InvalidRequest",
     "wildcard"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101, "InvalidRequest", "100 rules"),
    ([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ID": "x" * 256}], "InvalidRequest", "255"),
])
def test_invalid_rules(client: Any, cbucket: str, rules: list[dict[str, Any]], code: str, message: str) -> None:
    caught = expect(code, 400, client.put_bucket_cors, Bucket=cbucket, CORSConfiguration={"CORSRules": rules})
    assert message in caught.response["Error"]["Message"]
    expect("NoSuchCORSConfiguration", 404, client.get_bucket_cors, Bucket=cbucket)


@pytest.mark.parametrize("body", [
    b"<CORSConfiguration/>",                                                               # no rule
    b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",  # no method
    b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",  # no origin
    b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
    b"<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule></CORSConfiguration>",
    b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
    b"<Colour>red</Colour></CORSRule></CORSConfiguration>",
    b"<CORSConfiguration><CORSRule>",
])
def test_malformed_documents(server: EngineServer, cbucket: str, body: bytes) -> None:
    status, reply = server.request("PUT", f"/{cbucket}", "cors=", body)
    assert status == 400 and b"<Code>MalformedXML</Code>" in reply, reply


# --- the preflight ----------------------------------------------------------------------------------------------
def test_preflight_without_rules_and_without_bucket(server: EngineServer, cbucket: str) -> None:
    status, _, body = preflight(server, f"/{cbucket}/k", "https://app.example.com", "GET")
    assert status == 403 and error(body) == ("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")
    status, _, body = preflight(server, f"/{cbucket}-none/k", "https://app.example.com", "GET")
    assert status == 404 and error(body)[0] == "NoSuchBucket"


def test_preflight_answered_from_the_rules(client: Any, server: EngineServer, cbucket: str) -> None:
    client.put_bucket_cors(Bucket=cbucket, CORSConfiguration={"CORSRules": RULES})
    status, headers, body = preflight(server, f"/{cbucket}/photos/a.jpg", "https://app.example.com", "PUT",
                                      "Content-Type, X-Amz-Date")
    assert status == 200 and body == b""
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-allow-methods"] == "GET, PUT, HEAD"
    assert headers["access-control-allow-headers"] == "content-type, x-amz-date"
    assert headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    assert headers["access-control-max-age"] == "600"
    assert headers["vary"] == "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
    # The one wildcard of an origin; the bucket itself.
    status, headers, _ = preflight(server, f"/{cbucket}", "https://ci.tools.example.com", "HEAD")
    assert status == 200 and headers["access-control-allow-origin"] == "https://ci.tools.example.com"
    # Any origin, GET only: the second rule, answered with '*' and no credentials.
    status, headers, _ = preflight(server, f"/{cbucket}/k", "https://elsewhere.example.org", "GET")
    assert status == 200 and headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in headers and "access-control-max-age" not in headers
    assert headers["access-control-allow-methods"] == "GET"


@pytest.mark.parametrize(("origin", "method", "headers"), [
    ("https://elsewhere.example.org", "PUT", None),           # origin of no rule allowing PUT
    ("https://app.example.com", "DELETE", None),              # method of no rule
    ("https://app.example.com", "PUT", "content-type, authorization"),  # a header no rule allows
    ("https://tools.example.com", "PUT", None),               # the wildcard needs its dot
])
def test_preflight_not_allowed(client: Any, server: EngineServer, cbucket: str, origin: str, method: str,
                               headers: str | None) -> None:
    client.put_bucket_cors(Bucket=cbucket, CORSConfiguration={"CORSRules": RULES})
    status, answer, body = preflight(server, f"/{cbucket}/k", origin, method, headers)
    code, message = error(body)
    assert status == 403 and code == "AccessForbidden" and "access-control-allow-origin" not in answer
    assert message is not None and message.startswith("CORSResponse: This CORS request is not allowed.")


def test_preflight_needs_origin_and_method(client: Any, server: EngineServer, cbucket: str) -> None:
    client.put_bucket_cors(Bucket=cbucket, CORSConfiguration={"CORSRules": RULES})
    status, _, body = preflight(server, f"/{cbucket}/k", None, "GET")
    assert status == 400 and error(body) == ("BadRequest", "Insufficient information. Origin request header needed.")
    status, _, body = preflight(server, f"/{cbucket}/k", "https://app.example.com", None)
    assert status == 400 and error(body) == ("BadRequest", "Invalid Access-Control-Request-Method: null")
    status, _, body = preflight(server, f"/{cbucket}/k", "https://app.example.com", "PATCH")
    assert status == 400 and error(body) == ("BadRequest", "Invalid Access-Control-Request-Method: PATCH")


# --- actual requests ---------------------------------------------------------------------------------------------
def test_actual_requests_carry_the_headers(client: Any, server: EngineServer, cbucket: str) -> None:
    client.put_object(Bucket=cbucket, Key="k", Body=b"hello")
    origin = {"Origin": "https://app.example.com"}
    status, headers, _ = send(server, "GET", f"/{cbucket}/k", origin, sign=True)
    assert status == 200 and "access-control-allow-origin" not in headers     # no rules yet
    client.put_bucket_cors(Bucket=cbucket, CORSConfiguration={"CORSRules": RULES})
    status, headers, body = send(server, "GET", f"/{cbucket}/k", origin, sign=True)
    assert status == 200 and body == b"hello"
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-allow-methods"] == "GET, PUT, HEAD"
    assert headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    assert headers["access-control-max-age"] == "600"
    assert "Origin" in headers["vary"]
    # Errors carry them too (the browser must be able to read them); HEAD as well.
    status, headers, _ = send(server, "GET", f"/{cbucket}/missing", origin, sign=True)
    assert status == 404 and headers["access-control-allow-origin"] == "https://app.example.com"
    status, headers, _ = send(server, "HEAD", f"/{cbucket}/k", origin, sign=True)
    assert status == 200 and headers["access-control-allow-methods"] == "GET, PUT, HEAD"
    # No Origin, or an origin and method no rule allows: nothing.
    status, headers, _ = send(server, "GET", f"/{cbucket}/k", {}, sign=True)
    assert status == 200 and not any(h.startswith("access-control-") for h in headers)
    status, headers, _ = send(server, "DELETE", f"/{cbucket}/k", origin, sign=True)
    assert status == 204 and not any(h.startswith("access-control-") for h in headers)
    status, headers, _ = send(server, "GET", f"/{cbucket}", {"Origin": "https://other.example.org"}, sign=True)
    assert status == 200 and headers["access-control-allow-origin"] == "*"


# --- the AWS CLI --------------------------------------------------------------------------------------------------
def test_aws_cli_put_and_get_bucket_cors(server: EngineServer, cbucket: str, tmp_path: Path) -> None:
    aws = aws_s3api(server, tmp_path / "awshome")
    document = tmp_path / "cors.json"
    document.write_text(json.dumps({"CORSRules": RULES}))

    done = aws("put-bucket-cors", "--bucket", cbucket, "--cors-configuration", f"file://{document}")
    assert done.returncode == 0, done.stderr
    done = aws("get-bucket-cors", "--bucket", cbucket)
    assert done.returncode == 0 and json.loads(done.stdout)["CORSRules"] == RULES, done.stderr
    assert aws("delete-bucket-cors", "--bucket", cbucket).returncode == 0
    done = aws("get-bucket-cors", "--bucket", cbucket)
    assert done.returncode != 0 and b"NoSuchCORSConfiguration" in done.stderr
