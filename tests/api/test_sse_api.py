"""The S3 surface of server-side encryption (api/sse.py, api/bucket_encryption.py) through S3App.

Storage is the fake layer plus the encryption contract of docs/encryption.md (what the request asked
for, the bucket default, SSE-C key checks); no bytes are encrypted here (the storage and e2e tests do that).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest

from storage_engine import errors
from storage_engine.api.app import S3App
from storage_engine.http.types import Headers, Request
from storage_engine.objects.types import (
    ObjectInfo,
    PartInfo,
    PutBody,
    PutOptions,
    SseInfo,
    SseRequest,
)

from .fake_layer import FakeLayer, FakeReader
from .harness import BytesRawBody, Client, Result, install_fake_auth, settings

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ssec(key: bytes = KEY, prefix: str = "x-amz-server-side-encryption-customer-") -> dict[str, str]:
    return {prefix + "algorithm": "AES256", prefix + "key": b64(key),
            prefix + "key-md5": b64(hashlib.md5(key).digest())}


def copy_ssec(key: bytes = KEY) -> dict[str, str]:
    return ssec(key, "x-amz-copy-source-server-side-encryption-customer-")


class SseLayer(FakeLayer):
    """FakeLayer with the encryption contract: SseInfo on versions and uploads, SSE-C keys checked."""

    def __init__(self) -> None:
        super().__init__()
        self.encryption: dict[str, SseRequest] = {}
        self.keys: dict[tuple[str, str, str], bytes] = {}          # SSE-C version -> key
        self.upload_keys: dict[str, bytes] = {}
        self.requests: list[SseRequest | None] = []

    async def get_bucket_encryption(self, bucket: str) -> SseRequest | None:
        self._bucket(bucket)
        return self.encryption.get(bucket)

    async def put_bucket_encryption(self, bucket: str, sse: SseRequest | None) -> None:
        self._bucket(bucket)
        if sse is None:
            self.encryption.pop(bucket, None)
        else:
            self.encryption[bucket] = sse

    def _resolve(self, bucket: str, sse: SseRequest | None) -> SseRequest | None:
        self.requests.append(sse)
        return sse if sse is not None else self.encryption.get(bucket)

    @staticmethod
    def _info(sse: SseRequest | None) -> SseInfo | None:
        if sse is None:
            return None
        if sse.mode == "C":
            assert sse.customer_key is not None
            return SseInfo("C", customer_key_md5=b64(hashlib.md5(sse.customer_key).digest()))
        return SseInfo(sse.mode, kms_key_id=sse.kms_key_id or "default-key", context=dict(sse.context))

    def _seal(self, bucket: str, key: str, sse: SseRequest | None) -> ObjectInfo:
        version = self._bucket(bucket).objects[key][0]
        version.info = replace(version.info, sse=self._info(sse))
        if sse is not None and sse.mode == "C":
            assert sse.customer_key is not None
            self.keys[(bucket, key, version.info.version_id)] = sse.customer_key
        return version.info

    async def put_object(self, bucket: str, key: str, body: PutBody, opts: PutOptions) -> ObjectInfo:
        sse = self._resolve(bucket, opts.sse)
        await super().put_object(bucket, key, body, opts)
        return self._seal(bucket, key, sse)

    def _check_key(self, info: ObjectInfo, customer_key: bytes | None) -> None:
        stored = self.keys.get((info.bucket, info.key, info.version_id))
        if stored is None:
            return
        if customer_key is None:
            raise errors.SseCustomerKeyRequired()
        if customer_key != stored:
            raise errors.AccessDenied()

    async def get_object(self, bucket: str, key: str, version_id: str | None = None, *,
                         customer_key: bytes | None = None) -> FakeReader:
        reader = await super().get_object(bucket, key, version_id)
        self._check_key(reader.info, customer_key)
        return reader

    async def get_object_info(self, bucket: str, key: str, version_id: str | None = None, *,
                              customer_key: bytes | None = None) -> ObjectInfo:
        info = await super().get_object_info(bucket, key, version_id)
        self._check_key(info, customer_key)
        return info

    async def new_multipart_upload(self, bucket: str, key: str, opts: PutOptions) -> str:
        sse = self._resolve(bucket, opts.sse)
        upload_id = await super().new_multipart_upload(bucket, key, opts)
        upload = self._upload(bucket, key, upload_id)
        upload.info = replace(upload.info, sse=self._info(sse))
        upload.opts = replace(upload.opts, sse=sse)
        if sse is not None and sse.customer_key is not None:
            self.upload_keys[upload_id] = sse.customer_key
        return upload_id

    async def put_object_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                              body: PutBody, opts: PutOptions) -> PartInfo:
        wanted = self.upload_keys.get(upload_id)
        given = opts.sse.customer_key if opts.sse is not None else None
        if wanted is not None and given is None:
            raise errors.InvalidRequest("The multipart upload initiate requested encryption. Subsequent part "
                                        "requests must include the appropriate encryption parameters.")
        if wanted != given:
            raise errors.InvalidArgument("The provided encryption parameters did not match the ones used "
                                         "originally.")
        part = await super().put_object_part(bucket, key, upload_id, part_number, body, opts)
        return replace(part, sse=self._upload(bucket, key, upload_id).info.sse)

    async def complete_multipart_upload(self, bucket: str, key: str, upload_id: str, parts: Any,
                                        opts: PutOptions) -> ObjectInfo:
        upload = self._upload(bucket, key, upload_id)
        await super().complete_multipart_upload(bucket, key, upload_id, parts, opts)
        info = self._seal(bucket, key, upload.opts.sse)
        if info.sse is not None and info.sse.mode == "C":      # Complete carries no key: no MD5 to echo
            version = self._bucket(bucket).objects[key][0]
            version.info = info = replace(info, sse=SseInfo("C"))
        return info


class TlsClient(Client):
    """The harness client, with requests marked as having arrived over TLS (or not)."""

    def __init__(self, app: Any, secure: bool = True) -> None:
        super().__init__(app)
        self.secure = secure

    async def request(self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
                      host: str | None = None) -> Result:
        path, _, query_string = target.partition("?")
        query: dict[str, str] = {}
        for name, value in parse_qsl(query_string, keep_blank_values=True):
            query.setdefault(name, value)
        items = [("host", host or self.host)] + list((headers or {}).items())
        request = Request(method=method, raw_path=quote(path, safe="/%+"), query_string=query_string,
                          headers=Headers(items), body=BytesRawBody(body), query=query, secure=self.secure)
        response = await self.app(request)
        data = response.body if isinstance(response.body, bytes) else b"".join(
            [bytes(chunk) async for chunk in response.body])
        if response.on_close is not None:
            await response.on_close()
        out = {name.lower(): value for name, value in response.headers}
        return Result(response.status, out, b"" if method == "HEAD" else data)

    def __call__(self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
                 host: str | None = None) -> Result:
        return asyncio.run(self.request(method, target, body, headers, host))


@pytest.fixture
def layer() -> SseLayer:
    return SseLayer()


@pytest.fixture
def c(monkeypatch: pytest.MonkeyPatch, layer: SseLayer) -> Iterator[TlsClient]:
    install_fake_auth(monkeypatch)
    client = TlsClient(S3App(layer, settings()))
    assert client("PUT", "/bkt").status == 200
    yield client


def error(r: Result) -> tuple[int, str | None]:
    return r.status, r.code


# --- SSE-S3 and SSE-KMS -----------------------------------------------------------------------------------
def test_sse_s3_put_get_head(c: TlsClient, layer: SseLayer) -> None:
    r = c("PUT", "/bkt/k", b"data", {"x-amz-server-side-encryption": "AES256"})
    assert r.status == 200 and r.headers["x-amz-server-side-encryption"] == "AES256"
    assert layer.requests[-1] == SseRequest("S3")
    for method in ("GET", "HEAD"):
        r = c(method, "/bkt/k")
        assert r.status == 200 and r.headers["x-amz-server-side-encryption"] == "AES256"
        assert "x-amz-server-side-encryption-aws-kms-key-id" not in r.headers


def test_sse_kms_key_id_and_context(c: TlsClient, layer: SseLayer) -> None:
    context = {"project": "x", "team": "storage"}
    encoded = b64(json.dumps(context).encode())
    r = c("PUT", "/bkt/k", b"data", {"x-amz-server-side-encryption": "aws:kms",
                                     "x-amz-server-side-encryption-aws-kms-key-id": "tenant-key",
                                     "x-amz-server-side-encryption-context": encoded,
                                     "x-amz-server-side-encryption-bucket-key-enabled": "true"})
    assert r.status == 200
    assert layer.requests[-1] == SseRequest("KMS", kms_key_id="tenant-key", context=context)
    assert r.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert r.headers["x-amz-server-side-encryption-aws-kms-key-id"] == "tenant-key"
    assert json.loads(base64.b64decode(r.headers["x-amz-server-side-encryption-context"])) == context
    assert r.headers["x-amz-server-side-encryption-bucket-key-enabled"] == "false"
    r = c("HEAD", "/bkt/k")
    assert r.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert r.headers["x-amz-server-side-encryption-aws-kms-key-id"] == "tenant-key"
    # Without a key id: the server's default key.
    assert c("PUT", "/bkt/k2", b"d", {"x-amz-server-side-encryption": "aws:kms"}).status == 200
    assert layer.requests[-1] == SseRequest("KMS")


@pytest.mark.parametrize("headers", [
    {"x-amz-server-side-encryption": "AES128"},
    {"x-amz-server-side-encryption": "aws:kms:dsse-nope"},
    {"x-amz-server-side-encryption-aws-kms-key-id": "k"},                       # key id without aws:kms
    {"x-amz-server-side-encryption": "AES256", "x-amz-server-side-encryption-aws-kms-key-id": "k"},
    {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-context": "not base64!"},
    {"x-amz-server-side-encryption": "aws:kms",
     "x-amz-server-side-encryption-context": b64(b'{"a": 1}')},                  # values must be strings
    {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-context": b64(b'["a"]')},
    {"x-amz-server-side-encryption": "AES256", **ssec()},                        # SSE-C with SSE
    {**ssec(), "x-amz-server-side-encryption-customer-algorithm": "AES128"},
    {**ssec(), "x-amz-server-side-encryption-customer-key-md5": b64(hashlib.md5(b"x").digest())},
    {**ssec(bytes(16))},                                                          # not 256 bits
    {"x-amz-server-side-encryption-customer-key": b64(KEY)},                     # triple incomplete
])
def test_put_refuses_bad_sse_headers(c: TlsClient, layer: SseLayer, headers: dict[str, str]) -> None:
    r = c("PUT", "/bkt/k", b"data", headers)
    assert error(r) == (400, "InvalidArgument")
    assert layer.requests == [] and c("HEAD", "/bkt/k").status == 404


def test_get_and_head_refuse_sse_headers(c: TlsClient) -> None:
    c("PUT", "/bkt/k", b"data", {"x-amz-server-side-encryption": "AES256"})
    assert error(c("GET", "/bkt/k", headers={"x-amz-server-side-encryption": "AES256"})) == (400, "InvalidArgument")
    assert c("HEAD", "/bkt/k", headers={"x-amz-server-side-encryption": "aws:kms"}).status == 400


# --- SSE-C --------------------------------------------------------------------------------------------------
def test_sse_c_round_trip_and_key_checks(c: TlsClient, layer: SseLayer) -> None:
    r = c("PUT", "/bkt/k", b"0123456789", ssec())
    md5 = b64(hashlib.md5(KEY).digest())
    assert r.status == 200
    assert r.headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert r.headers["x-amz-server-side-encryption-customer-key-md5"] == md5
    assert "x-amz-server-side-encryption" not in r.headers
    assert layer.requests[-1] == SseRequest("C", customer_key=KEY)
    r = c("GET", "/bkt/k", headers={**ssec(), "range": "bytes=2-4"})
    assert r.status == 206 and r.body == b"234"
    assert r.headers["x-amz-server-side-encryption-customer-key-md5"] == md5
    # Without the key: 400 InvalidRequest (GET with AWS's message; HEAD has no body).
    r = c("GET", "/bkt/k")
    assert error(r) == (400, "InvalidRequest") and b"The correct parameters must be provided" in r.body
    assert c("HEAD", "/bkt/k").status == 400
    # A wrong key: 403.
    assert error(c("GET", "/bkt/k", headers=ssec(OTHER_KEY))) == (403, "AccessDenied")
    assert c("HEAD", "/bkt/k", headers=ssec(OTHER_KEY)).status == 403
    assert c("HEAD", "/bkt/k", headers=ssec()).status == 200


def test_sse_c_needs_tls(layer: SseLayer, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_auth(monkeypatch)
    plain = TlsClient(S3App(layer, settings()), secure=False)
    assert plain("PUT", "/bkt").status == 200
    r = plain("PUT", "/bkt/k", b"data", ssec())
    assert error(r) == (400, "InvalidRequest") and b"must be made over a secure connection" in r.body
    assert layer.requests == []
    # The other modes do not carry a key: fine over plain HTTP.
    assert plain("PUT", "/bkt/k", b"data", {"x-amz-server-side-encryption": "AES256"}).status == 200
    # Behind a TLS-terminating proxy: sse_c_allow_insecure.
    proxied = TlsClient(S3App(layer, settings(sse_c_allow_insecure=True)), secure=False)
    r = proxied("PUT", "/bkt/k", b"data", ssec())
    assert r.status == 200 and r.headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"


# --- bucket default encryption --------------------------------------------------------------------------------
def encryption_xml(algorithm: str, key_id: str | None = None) -> bytes:
    key = f"<KMSMasterKeyID>{key_id}</KMSMasterKeyID>" if key_id else ""
    return (b'<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
            b"<ApplyServerSideEncryptionByDefault><SSEAlgorithm>" + algorithm.encode() + b"</SSEAlgorithm>"
            + key.encode() + b"</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled>"
            b"</Rule></ServerSideEncryptionConfiguration>")


def test_bucket_encryption_put_get_delete(c: TlsClient, layer: SseLayer) -> None:
    r = c("GET", "/bkt?encryption")
    assert error(r) == (404, "ServerSideEncryptionConfigurationNotFoundError")
    assert error(c("GET", "/nope?encryption")) == (404, "NoSuchBucket")
    assert c("PUT", "/bkt?encryption", encryption_xml("aws:kms", "tenant-key")).status == 200
    assert layer.encryption["bkt"] == SseRequest("KMS", kms_key_id="tenant-key")
    r = c("GET", "/bkt?encryption")
    assert r.status == 200
    assert r.find("Rule/ApplyServerSideEncryptionByDefault/SSEAlgorithm") == "aws:kms"
    assert r.find("Rule/ApplyServerSideEncryptionByDefault/KMSMasterKeyID") == "tenant-key"
    assert r.find("Rule/BucketKeyEnabled") == "false"
    # A plain PUT now gets the default (the layer applies it; the response says so).
    r = c("PUT", "/bkt/plain", b"data")
    assert r.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert layer.requests[-1] is None
    assert c("PUT", "/bkt?encryption", encryption_xml("AES256")).status == 200
    assert c("GET", "/bkt?encryption").find("Rule/ApplyServerSideEncryptionByDefault/SSEAlgorithm") == "AES256"
    assert c("DELETE", "/bkt?encryption").status == 204
    assert c("GET", "/bkt?encryption").status == 404
    assert "x-amz-server-side-encryption" not in c("PUT", "/bkt/plain", b"data").headers


@pytest.mark.parametrize("body", [
    b"<ServerSideEncryptionConfiguration/>",
    encryption_xml("AES128"),
    encryption_xml("AES256", "key-with-aes"),
    b"<ServerSideEncryptionConfiguration><Rule></Rule></ServerSideEncryptionConfiguration>",
    b"<Nope/>",
    b"not xml",
])
def test_bucket_encryption_malformed(c: TlsClient, layer: SseLayer, body: bytes) -> None:
    assert error(c("PUT", "/bkt?encryption", body)) == (400, "MalformedXML")
    assert layer.encryption == {}


# --- copies -----------------------------------------------------------------------------------------------
def test_copy_from_sse_c_source(c: TlsClient, layer: SseLayer) -> None:
    c("PUT", "/bkt/src", b"secret", ssec())
    # The source's key is needed...
    assert error(c("PUT", "/bkt/dst", headers={"x-amz-copy-source": "/bkt/src"})) == (400, "InvalidRequest")
    assert error(c("PUT", "/bkt/dst", headers={"x-amz-copy-source": "/bkt/src", **copy_ssec(OTHER_KEY)})) == (
        403, "AccessDenied")
    # ... and the destination's encryption is the request's, never the source's.
    r = c("PUT", "/bkt/dst", headers={"x-amz-copy-source": "/bkt/src", **copy_ssec(),
                                      "x-amz-server-side-encryption": "aws:kms"})
    assert r.status == 200 and r.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert layer.requests[-1] == SseRequest("KMS")
    assert c("GET", "/bkt/dst").body == b"secret"
    r = c("PUT", "/bkt/plain", headers={"x-amz-copy-source": "/bkt/src", **copy_ssec()})
    assert r.status == 200 and not any(h.startswith("x-amz-server-side") for h in r.headers)
    # SSE-C -> SSE-C under another key.
    r = c("PUT", "/bkt/dst2", headers={"x-amz-copy-source": "/bkt/src", **copy_ssec(), **ssec(OTHER_KEY)})
    assert r.headers["x-amz-server-side-encryption-customer-key-md5"] == b64(hashlib.md5(OTHER_KEY).digest())
    assert c("GET", "/bkt/dst2", headers=ssec(OTHER_KEY)).body == b"secret"


def test_copy_onto_itself_changing_only_encryption(c: TlsClient) -> None:
    c("PUT", "/bkt/k", b"data")
    assert error(c("PUT", "/bkt/k", headers={"x-amz-copy-source": "/bkt/k"})) == (400, "InvalidRequest")
    r = c("PUT", "/bkt/k", headers={"x-amz-copy-source": "/bkt/k", "x-amz-server-side-encryption": "AES256"})
    assert r.status == 200 and r.headers["x-amz-server-side-encryption"] == "AES256"
    assert c("HEAD", "/bkt/k").headers["x-amz-server-side-encryption"] == "AES256"


# --- multipart --------------------------------------------------------------------------------------------
def test_multipart_sse_c(c: TlsClient) -> None:
    r = c("POST", "/bkt/mp?uploads", headers=ssec())
    assert r.headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    upload_id = r.find("UploadId")
    r = c("PUT", f"/bkt/mp?partNumber=1&uploadId={upload_id}", b"a" * 10)
    assert error(r) == (400, "InvalidRequest")
    r = c("PUT", f"/bkt/mp?partNumber=1&uploadId={upload_id}", b"a" * 10,
          {**ssec(), "x-amz-server-side-encryption": "AES256"})
    assert error(r) == (400, "InvalidRequest")
    r = c("PUT", f"/bkt/mp?partNumber=1&uploadId={upload_id}", b"a" * 10, ssec())
    assert r.status == 200
    assert r.headers["x-amz-server-side-encryption-customer-key-md5"] == b64(hashlib.md5(KEY).digest())
    etag = r.headers["etag"]
    body = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
            "</CompleteMultipartUpload>").encode()
    r = c("POST", f"/bkt/mp?uploadId={upload_id}", body)
    assert r.status == 200 and r.headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert c("GET", "/bkt/mp", headers=ssec()).body == b"a" * 10


def test_multipart_kms_and_bucket_default(c: TlsClient) -> None:
    r = c("POST", "/bkt/mp?uploads", headers={"x-amz-server-side-encryption": "aws:kms",
                                              "x-amz-server-side-encryption-aws-kms-key-id": "k1"})
    assert r.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert r.headers["x-amz-server-side-encryption-aws-kms-key-id"] == "k1"
    upload_id = r.find("UploadId")
    r = c("PUT", f"/bkt/mp?partNumber=1&uploadId={upload_id}", b"a" * 10)
    assert r.headers["x-amz-server-side-encryption"] == "aws:kms"
    c("PUT", "/bkt?encryption", encryption_xml("AES256"))
    r = c("POST", "/bkt/mp2?uploads")
    assert r.headers["x-amz-server-side-encryption"] == "AES256"


def test_upload_part_copy_from_sse_c_source(c: TlsClient) -> None:
    c("PUT", "/bkt/src", b"0123456789", ssec())
    upload_id = c("POST", "/bkt/mp?uploads", headers=ssec(OTHER_KEY)).find("UploadId")
    target = f"/bkt/mp?partNumber=1&uploadId={upload_id}"
    r = c("PUT", target, headers={"x-amz-copy-source": "/bkt/src", **ssec(OTHER_KEY)})
    assert error(r) == (400, "InvalidRequest")                         # the source's key is missing
    r = c("PUT", target, headers={"x-amz-copy-source": "/bkt/src", "x-amz-copy-source-range": "bytes=0-4",
                                  **copy_ssec(), **ssec(OTHER_KEY)})
    assert r.status == 200, r.body
    assert r.headers["x-amz-server-side-encryption-customer-key-md5"] == b64(hashlib.md5(OTHER_KEY).digest())
    etag = r.find("ETag")
    body = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
            "</CompleteMultipartUpload>").encode()
    assert c("POST", f"/bkt/mp?uploadId={upload_id}", body).status == 200
    assert c("GET", "/bkt/mp", headers=ssec(OTHER_KEY)).body == b"01234"
