"""Raw HTTP against the server: error documents, malformed input, probes, presigned URLs, admin heal."""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from pydantic import SecretStr

from storage_engine.admin_client import heal
from storage_engine.auth import sign_request
from storage_engine.config import EngineSettings

from .live import REGION, Endpoint


class Raw:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def __call__(self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
                 sign: bool = True, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
        host_name, port = self.endpoint.host_port
        all_headers = dict(headers or {})
        if host:
            all_headers["Host"] = host
        if sign:
            url = f"http://{host or f'{host_name}:{port}'}{target}"
            all_headers.update(sign_request(method, url, all_headers, hashlib.sha256(body).hexdigest(),
                                            self.endpoint.access_key, self.endpoint.secret_key, REGION))
        connection = http.client.HTTPConnection(host_name, port, timeout=30)
        try:
            connection.putrequest(method, target, skip_host=bool(host), skip_accept_encoding=True)
            for name, value in all_headers.items():
                connection.putheader(name, value)
            if body or method in ("PUT", "POST"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            connection.close()


def code(body: bytes) -> str | None:
    return ET.fromstring(body).findtext("Code")


@pytest.fixture(scope="module")
def raw(endpoint: Endpoint) -> Raw:
    return Raw(endpoint)


def test_health_probes_need_no_credentials(raw: Raw) -> None:
    for method in ("GET", "HEAD"):
        for path in ("/rustfs/health/live", "/rustfs/health/ready"):
            status, _, _ = raw(method, path, sign=False)
            assert status == 200, (method, path)


def test_error_document_shape(raw: Raw) -> None:
    status, headers, body = raw("GET", "/", sign=False)
    assert status == 403 and headers["content-type"] == "application/xml"
    root = ET.fromstring(body)
    assert root.tag == "Error" and root.findtext("Code") == "AccessDenied"
    assert root.findtext("Message") and root.findtext("RequestId") == headers["x-amz-request-id"]
    status, _, body = raw("GET", "/no-such-bucket-here/key")
    assert status == 404 and code(body) == "NoSuchBucket"
    assert ET.fromstring(body).findtext("Resource") == "/no-such-bucket-here/key"


def test_not_implemented(raw: Raw, bkt: str) -> None:
    status, _, body = raw("PUT", f"/{bkt}?website=", b"<WebsiteConfiguration/>")
    assert status == 501 and code(body) == "NotImplemented"
    status, _, body = raw("GET", f"/{bkt}?policy=")
    assert status == 404 and code(body) == "NoSuchBucketPolicy"
    status, _, body = raw("GET", f"/{bkt}/k?torrent=")
    assert status == 501 and code(body) == "NotImplemented"


@pytest.mark.parametrize(("target", "expected"), [
    ("/{b}/nul%00byte", "InvalidObjectName"),
    ("/{b}/" + "k" * 1025, "KeyTooLongError"),
    ("/UPPER_case/k", "InvalidBucketName"),
    ("/{b}/bad%FFutf8", "InvalidURI"),
])
def test_malformed_names(raw: Raw, bkt: str, target: str, expected: str) -> None:
    status, _, body = raw("PUT", target.format(b=bkt), b"data")
    assert status == 400 and code(body) == expected


@pytest.mark.parametrize("target", ["/{b}/nul%00byte", "/{b}/" + "k" * 1025])
def test_reads_of_keys_no_one_can_store_are_not_found(raw: Raw, bkt: str, target: str) -> None:
    for method in ("GET", "HEAD"):
        status, _, body = raw(method, target.format(b=bkt))
        assert status == 404 and (method == "HEAD" or code(body) == "NoSuchKey"), (method, status, body)


@pytest.mark.parametrize("doc", [
    b"not xml at all",
    b"<Delete><Object><Key>a</Key></Object>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Delete><Object><Key>&a;</Key></Object></Delete>',
    b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><Delete><Object><Key>k</Key></Object></Delete>',
    b"<Wrong><Object><Key>k</Key></Object></Wrong>",
])
def test_malformed_xml(raw: Raw, bkt: str, doc: bytes) -> None:
    status, _, body = raw("POST", f"/{bkt}?delete=", doc, {"Content-MD5": _md5(doc)})
    assert status == 400 and code(body) == "MalformedXML"


def _md5(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_bad_query_arguments(raw: Raw, bkt: str) -> None:
    for target in (f"/{bkt}?list-type=2&max-keys=abc", f"/{bkt}?list-type=2&encoding-type=base64",
                   f"/{bkt}/k?uploadId=x&partNumber=0"):
        method = "PUT" if "uploadId" in target else "GET"
        status, _, body = raw(method, target, b"" if method == "GET" else b"x")
        assert status == 400 and code(body) == "InvalidArgument", target


def test_presigned_urls(endpoint: Endpoint, bkt: str) -> None:
    # boto3 presigns with SigV2 unless told otherwise; the engine speaks SigV4.
    client = endpoint.client(signature_version="s3v4")
    put_url = client.generate_presigned_url("put_object", Params={"Bucket": bkt, "Key": "pre signed+key"},
                                            ExpiresIn=300)
    request = urllib.request.Request(put_url, data=b"via presigned put", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    get_url = client.generate_presigned_url("get_object", Params={"Bucket": bkt, "Key": "pre signed+key"},
                                            ExpiresIn=300)
    with urllib.request.urlopen(get_url, timeout=30) as response:
        assert response.read() == b"via presigned put"
    tampered = get_url.replace("pre%20signed", "pre%20signeX")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(tampered, timeout=30)
    assert exc.value.code == 403


def test_virtual_hosted_style(raw: Raw, endpoint: Endpoint, bkt: str) -> None:
    if endpoint.settings is None or not endpoint.settings.domains:
        pytest.skip("the server has no RUSTFS_SERVER_DOMAINS")
    domain = endpoint.settings.domains[0]
    port = endpoint.host_port[1]
    status, _, _ = raw("PUT", "/vhost/key", b"vh", host=f"{bkt}.{domain}:{port}")
    assert status == 200
    status, _, body = raw("GET", "/vhost/key", host=f"{bkt}.{domain}:{port}")
    assert status == 200 and body == b"vh"


def test_admin_heal(endpoint: Endpoint, bkt: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = EngineSettings(access_key=endpoint.access_key, secret_key=SecretStr(endpoint.secret_key),
                              region=REGION)
    assert heal(settings, endpoint.url, bkt) == 0
    assert "objects scanned" in capsys.readouterr().out
    assert heal(settings, endpoint.url, None) == 0
    assert heal(settings, endpoint.url, "no-such-bucket-x") == 1
    wrong = EngineSettings(access_key=endpoint.access_key, secret_key=SecretStr("wrong-secret"), region=REGION)
    assert heal(wrong, endpoint.url, None) == 1


def test_heal_command_line(endpoint: Endpoint, bkt: str) -> None:
    """``python -m storage_engine heal [--endpoint URL] [BUCKET]`` with the root credentials from the env."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
    env.update(RUSTFS_ACCESS_KEY=endpoint.access_key, RUSTFS_SECRET_KEY=endpoint.secret_key, RUSTFS_REGION=REGION)
    done = subprocess.run([sys.executable, "-m", "storage_engine", "heal", "--endpoint", endpoint.url, bkt],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"Heal of {bkt}" in done.stdout and "objects scanned" in done.stdout


def test_virtual_hosted_style_engine(request: pytest.FixtureRequest, endpoint: Endpoint) -> None:
    """The real engine with RUSTFS_SERVER_DOMAINS: bucket in the Host header, key in the path."""
    if endpoint.settings is not None:
        pytest.skip("covered by test_virtual_hosted_style on the in-process server")
    engine = request.getfixturevalue("engine_factory")(env={"RUSTFS_SERVER_DOMAINS": "s3.test"}, name="vhost")
    try:
        vhost = Endpoint(engine.url, engine.access_key, engine.secret_key)
        vhost.client().create_bucket(Bucket="vhost-bucket")
        raw = Raw(vhost)
        host = f"vhost-bucket.s3.test:{engine.port}"
        assert raw("PUT", "/a/key+1", b"virtual", host=host)[0] == 200
        status, _, body = raw("GET", "/a/key+1", host=host)
        assert status == 200 and body == b"virtual"
        status, _, body = raw("GET", "/?list-type=2", host=host)
        assert status == 200 and b"<Key>a/key+1</Key>" in body
        assert vhost.client().get_object(Bucket="vhost-bucket", Key="a/key+1")["Body"].read() == b"virtual"
    finally:
        engine.stop()


def test_content_md5(raw: Raw, bkt: str) -> None:
    assert raw("PUT", f"/{bkt}/md5", b"data", {"Content-MD5": _md5(b"data")})[0] == 200
    status, _, body = raw("PUT", f"/{bkt}/md5", b"data", {"Content-MD5": _md5(b"other")})
    assert status == 400 and code(body) == "BadDigest"
    status, _, body = raw("PUT", f"/{bkt}/md5", b"data", {"Content-MD5": "not-base64"})
    assert status == 400 and code(body) == "InvalidDigest"
    status, _, body = raw("GET", f"/{bkt}/md5")
    assert status == 200 and body == b"data"


def test_conditional_304_has_no_body(raw: Raw, bkt: str) -> None:
    _, headers, _ = raw("PUT", f"/{bkt}/c", b"data")
    status, got, body = raw("GET", f"/{bkt}/c", headers={"If-None-Match": headers["etag"]})
    assert status == 304 and body == b"" and got["etag"] == headers["etag"]
    status, got, body = raw("GET", f"/{bkt}/c", headers={"Range": "bytes=10-"})
    assert status == 416 and got["content-range"] == "bytes */4" and code(body) == "InvalidRange"
