"""Handler semantics through S3App, with storage faked (``fake_layer``) and authentication stubbed."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest

from .fake_layer import FakeLayer
from .harness import Client, install_fake_auth, settings

from storage_engine.api.app import S3App


@pytest.fixture
def layer() -> FakeLayer:
    return FakeLayer()


@pytest.fixture
def c(monkeypatch: pytest.MonkeyPatch, layer: FakeLayer) -> Iterator[Client]:
    install_fake_auth(monkeypatch)
    client = Client(S3App(layer, settings(server_domains="s3.test")))
    assert client("PUT", "/bkt").status == 200
    yield client


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# --- buckets -------------------------------------------------------------------------------------------
def test_buckets(c: Client) -> None:
    r = c("GET", "/")
    assert r.status == 200 and r.find("Buckets/Bucket/Name") == "bkt"
    assert r.find("Owner/DisplayName")
    assert c("PUT", "/bkt").status == 200          # already owned: AWS's legacy answer in us-east-1
    assert c("HEAD", "/bkt").status == 200
    head = c("HEAD", "/nope")
    assert head.status == 404 and head.body == b""
    assert c("GET", "/nope?list-type=2").code == "NoSuchBucket"
    assert c("PUT", "/Bad_Name").code == "InvalidBucketName"
    assert c("PUT", "/rustfs").code == "InvalidBucketName"
    loc = c("GET", "/bkt?location")
    assert loc.status == 200 and loc.xml().text is None
    c("PUT", "/bkt/k", b"x")
    assert c("DELETE", "/bkt").code == "BucketNotEmpty"
    c("DELETE", "/bkt/k")
    assert c("DELETE", "/bkt").status == 204


def test_create_bucket_location_constraint(c: Client) -> None:
    body = b"<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>"
    assert c("PUT", "/bk2", body).status == 200
    body = body.replace(b"us-east-1", b"eu-west-1")
    assert c("PUT", "/bk3", body).code == "IllegalLocationConstraintException"
    assert c("PUT", "/bk4", b"<bad").code == "MalformedXML"


def test_versioning_config(c: Client) -> None:
    r = c("GET", "/bkt?versioning")
    assert r.status == 200 and r.find("Status") is None
    body = b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>'
    assert c("PUT", "/bkt?versioning", body).status == 200
    assert c("GET", "/bkt?versioning").find("Status") == "Enabled"
    assert c("PUT", "/bkt?versioning", b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>").code == "MalformedXML"


def test_virtual_hosted_style(c: Client) -> None:
    assert c("PUT", "/key", b"data", host="bkt.s3.test:9000").status == 200
    assert c("GET", "/bkt/key").body == b"data"
    assert c("GET", "/?list-type=2", host="bkt.s3.test").find("Contents/Key") == "key"


# --- objects -------------------------------------------------------------------------------------------
def test_put_get_head_metadata(c: Client) -> None:
    data = b"hello world"
    r = c("PUT", "/bkt/dir/a b+c.txt", data, {"x-amz-meta-Color": "blue", "content-type": "text/plain",
                                              "cache-control": "max-age=1", "content-md5": md5_b64(data),
                                              "x-amz-tagging": "t1=v1&t2=v2"})
    assert r.status == 200 and r.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    g = c("GET", "/bkt/dir/a%20b%2Bc.txt")
    assert g.status == 200 and g.body == data
    assert g.headers["content-type"] == "text/plain"
    assert g.headers["x-amz-meta-color"] == "blue"
    assert g.headers["cache-control"] == "max-age=1"
    assert g.headers["x-amz-tagging-count"] == "2"
    assert g.headers["accept-ranges"] == "bytes"
    assert "x-amz-version-id" not in g.headers
    h = c("HEAD", "/bkt/dir/a%20b%2Bc.txt")
    assert h.status == 200 and h.headers["content-length"] == str(len(data)) and h.body == b""
    default = c("PUT", "/bkt/plain", b"x")
    assert default.status == 200
    assert c("GET", "/bkt/plain").headers["content-type"] == "binary/octet-stream"


def test_put_errors(c: Client) -> None:
    assert c("PUT", "/bkt/k", b"x", {"content-md5": "garbage"}).code == "InvalidDigest"
    assert c("PUT", "/bkt/k", b"x", {"content-md5": md5_b64(b"y")}).code == "BadDigest"
    assert c("PUT", "/bkt/k", b"x", {"x-amz-storage-class": "GLACIER"}).code == "InvalidStorageClass"
    assert c("PUT", "/bkt/k", b"x", {"x-amz-meta-big": "v" * 2100}).code == "MetadataTooLarge"
    assert c("PUT", "/bkt/k", b"x", {"x-amz-tagging": "&".join(f"k{i}=v" for i in range(11))}).code == "InvalidTag"
    assert c("PUT", "/bkt/" + "k" * 1025, b"x").code == "KeyTooLongError"
    r = c("PUT", "/bkt/a%00b", b"x")
    assert r.status == 400 and r.code == "InvalidObjectName"
    assert c("GET", "/bkt/missing").code == "NoSuchKey"
    assert c("GET", "/bkt/missing").find("Resource") == "/bkt/missing"


def test_storage_class_round_trip(c: Client) -> None:
    c("PUT", "/bkt/rrs", b"x", {"x-amz-storage-class": "REDUCED_REDUNDANCY"})
    assert c("HEAD", "/bkt/rrs").headers["x-amz-storage-class"] == "REDUCED_REDUNDANCY"
    listing = c("GET", "/bkt?list-type=2")
    assert listing.find("Contents/StorageClass") == "REDUCED_REDUNDANCY"


def test_conditional_put(c: Client) -> None:
    assert c("PUT", "/bkt/k", b"1", {"if-none-match": "*"}).status == 200
    assert c("PUT", "/bkt/k", b"2", {"if-none-match": "*"}).code == "PreconditionFailed"
    etag = c("HEAD", "/bkt/k").headers["etag"]
    assert c("PUT", "/bkt/k", b"3", {"if-match": etag}).status == 200
    assert c("PUT", "/bkt/k", b"4", {"if-match": etag}).code == "PreconditionFailed"


def test_ranges(c: Client) -> None:
    data = bytes(range(100))
    c("PUT", "/bkt/r", data)
    r = c("GET", "/bkt/r", headers={"range": "bytes=10-19"})
    assert r.status == 206 and r.body == data[10:20] and r.headers["content-range"] == "bytes 10-19/100"
    assert r.headers["content-length"] == "10"
    assert c("GET", "/bkt/r", headers={"range": "bytes=-5"}).body == data[-5:]
    assert c("GET", "/bkt/r", headers={"range": "bytes=95-"}).body == data[95:]
    bad = c("GET", "/bkt/r", headers={"range": "bytes=100-"})
    assert bad.status == 416 and bad.code == "InvalidRange" and bad.headers["content-range"] == "bytes */100"
    assert c("GET", "/bkt/r", headers={"range": "bytes=9-1"}).status == 200
    head = c("HEAD", "/bkt/r", headers={"range": "bytes=0-0"})
    assert head.status == 206 and head.headers["content-length"] == "1"


def test_conditional_get(c: Client) -> None:
    c("PUT", "/bkt/k", b"x")
    etag = c("HEAD", "/bkt/k").headers["etag"]
    r = c("GET", "/bkt/k", headers={"if-none-match": etag})
    assert r.status == 304 and r.body == b"" and r.headers["etag"] == etag
    assert c("GET", "/bkt/k", headers={"if-match": '"nope"'}).code == "PreconditionFailed"
    assert c("HEAD", "/bkt/k", headers={"if-match": '"nope"'}).status == 412
    assert c("GET", "/bkt/k", headers={"if-modified-since": "Sun, 01 Jan 2090 00:00:00 GMT"}).status == 304
    assert c("GET", "/bkt/k", headers={"if-unmodified-since": "Sun, 01 Jan 2000 00:00:00 GMT"}).status == 412


def test_response_overrides(c: Client) -> None:
    c("PUT", "/bkt/k", b"x", {"content-type": "text/plain"})
    r = c("GET", "/bkt/k?response-content-type=image/png&response-content-disposition=attachment")
    assert r.headers["content-type"] == "image/png" and r.headers["content-disposition"] == "attachment"


def test_checksum_mode(c: Client) -> None:
    c("PUT", "/bkt/k", b"x", {"x-amz-checksum-crc32": "iZTJnw=="})
    assert "x-amz-checksum-crc32" not in c("GET", "/bkt/k").headers
    assert c("GET", "/bkt/k", headers={"x-amz-checksum-mode": "ENABLED"}).headers["x-amz-checksum-crc32"] == "iZTJnw=="
    ranged = c("GET", "/bkt/k", headers={"x-amz-checksum-mode": "ENABLED", "range": "bytes=0-0"})
    assert "x-amz-checksum-crc32" not in ranged.headers


def test_copy_object(c: Client) -> None:
    c("PUT", "/bkt/src", b"payload", {"x-amz-meta-a": "1", "content-type": "text/plain", "x-amz-tagging": "t=1"})
    r = c("PUT", "/bkt/dst", headers={"x-amz-copy-source": "/bkt/src"})
    assert r.status == 200 and r.find("ETag") == f'"{hashlib.md5(b"payload").hexdigest()}"'
    assert r.find("LastModified", ).endswith("Z")  # type: ignore[union-attr]
    g = c("GET", "/bkt/dst")
    assert g.body == b"payload" and g.headers["x-amz-meta-a"] == "1" and g.headers["content-type"] == "text/plain"
    assert g.headers["x-amz-tagging-count"] == "1"
    c("PUT", "/bkt/dst2", headers={"x-amz-copy-source": "bkt/src", "x-amz-metadata-directive": "REPLACE",
                                   "x-amz-meta-b": "2"})
    g2 = c("GET", "/bkt/dst2")
    assert "x-amz-meta-a" not in g2.headers and g2.headers["x-amz-meta-b"] == "2"
    assert g2.headers["content-type"] == "binary/octet-stream"
    assert c("PUT", "/bkt/src", headers={"x-amz-copy-source": "/bkt/src"}).code == "InvalidRequest"
    assert c("PUT", "/bkt/src", headers={"x-amz-copy-source": "/bkt/src",
                                         "x-amz-metadata-directive": "REPLACE"}).status == 200
    assert c("PUT", "/bkt/x", headers={"x-amz-copy-source": "/bkt/missing"}).code == "NoSuchKey"
    assert c("PUT", "/bkt/x", headers={"x-amz-copy-source": "/bkt/src",
                                       "x-amz-copy-source-if-match": '"nope"'}).code == "PreconditionFailed"
    assert c("PUT", "/bkt/x", headers={"x-amz-copy-source": "nobucketkey"}).code == "InvalidArgument"
    assert c("PUT", "/bkt/x", headers={"x-amz-copy-source": "/bkt/src",
                                       "x-amz-metadata-directive": "MOVE"}).code == "InvalidArgument"


def test_copy_source_version(c: Client) -> None:
    c("PUT", "/bkt?versioning", b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>")
    v1 = c("PUT", "/bkt/src", b"one").headers["x-amz-version-id"]
    c("PUT", "/bkt/src", b"two")
    r = c("PUT", "/bkt/dst", headers={"x-amz-copy-source": f"/bkt/src?versionId={v1}"})
    assert r.status == 200 and r.headers["x-amz-copy-source-version-id"] == v1
    assert c("GET", "/bkt/dst").body == b"one"
    marker = c("DELETE", "/bkt/src").headers["x-amz-version-id"]
    assert c("PUT", "/bkt/x", headers={"x-amz-copy-source": f"/bkt/src?versionId={marker}"}).code == "InvalidRequest"
    assert c("PUT", "/bkt/x", headers={"x-amz-copy-source": "/bkt/src"}).code == "NoSuchKey"


# --- versioning ----------------------------------------------------------------------------------------
def test_versions_and_delete_markers(c: Client) -> None:
    c("PUT", "/bkt?versioning", b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>")
    v1 = c("PUT", "/bkt/k", b"1").headers["x-amz-version-id"]
    v2 = c("PUT", "/bkt/k", b"2").headers["x-amz-version-id"]
    assert c("GET", f"/bkt/k?versionId={v1}").body == b"1"
    d = c("DELETE", "/bkt/k")
    assert d.status == 204 and d.headers["x-amz-delete-marker"] == "true"
    marker = d.headers["x-amz-version-id"]
    g = c("GET", "/bkt/k")
    assert g.code == "NoSuchKey" and g.headers["x-amz-delete-marker"] == "true"
    assert c("GET", "/bkt/k?versionId=").code == "InvalidArgument"
    listing = c("GET", "/bkt?versions")
    assert [v.find("{http://s3.amazonaws.com/doc/2006-03-01/}VersionId").text  # type: ignore[union-attr]
            for v in listing.findall("Version")] == [v2, v1]
    assert listing.find("DeleteMarker/VersionId") == marker
    assert listing.find("DeleteMarker/IsLatest") == "true"
    assert c("GET", "/bkt?versions&version-id-marker=x").code == "InvalidArgument"
    c("DELETE", f"/bkt/k?versionId={marker}")
    assert c("GET", "/bkt/k").body == b"2"


# --- listing -------------------------------------------------------------------------------------------
def _fill(c: Client, keys: list[str]) -> None:
    for key in keys:
        assert c("PUT", f"/bkt/{key}", b"x").status == 200


def test_list_v2_pagination_and_delimiter(c: Client) -> None:
    _fill(c, ["a/1", "a/2", "b", "c/1", "d"])
    r = c("GET", "/bkt?list-type=2&delimiter=/")
    assert [e.text for e in r.xml().iter("{http://s3.amazonaws.com/doc/2006-03-01/}Prefix")][1:] == ["a/", "c/"]
    assert r.find("KeyCount") == "4"
    keys: list[str] = []
    token = None
    while True:
        target = "/bkt?list-type=2&max-keys=2" + (f"&continuation-token={token}" if token else "")
        page = c("GET", target)
        keys += [e.text or "" for e in page.xml().iter("{http://s3.amazonaws.com/doc/2006-03-01/}Key")]
        if page.find("IsTruncated") != "true":
            break
        token = page.find("NextContinuationToken")
    assert keys == ["a/1", "a/2", "b", "c/1", "d"]
    assert c("GET", "/bkt?list-type=2&start-after=b").find("Contents/Key") == "c/1"
    assert c("GET", "/bkt?list-type=2&max-keys=-1").code == "InvalidArgument"
    assert c("GET", "/bkt?list-type=2&max-keys=x").code == "InvalidArgument"
    assert c("GET", "/bkt?list-type=2&continuation-token=%%%").code == "InvalidArgument"
    assert c("GET", "/bkt?list-type=2&max-keys=0").find("KeyCount") == "0"
    assert c("GET", "/bkt?list-type=2&encoding-type=bogus").code == "InvalidArgument"
    assert c("GET", "/bkt?list-type=2").find("Contents/Owner") is None
    assert c("GET", "/bkt?list-type=2&fetch-owner=true").find("Contents/Owner/ID")


def test_list_v1(c: Client) -> None:
    _fill(c, ["a", "b", "c"])
    r = c("GET", "/bkt?max-keys=2")
    assert r.find("IsTruncated") == "true" and r.find("NextMarker") == "b"
    assert r.find("Contents/Owner/ID")
    assert c("GET", "/bkt?marker=b").find("Contents/Key") == "c"


def test_list_url_encoding(c: Client) -> None:
    _fill(c, ["sp ace/x+y", "ctl%01char"])
    r = c("GET", "/bkt?list-type=2&encoding-type=url&prefix=sp%20ace/")
    assert r.find("Contents/Key") == "sp+ace/x%2By" and r.find("Prefix") == "sp+ace/"      # AWS: space as "+"
    r2 = c("GET", "/bkt?list-type=2&encoding-type=url&prefix=ctl")
    assert r2.find("Contents/Key") == "ctl%01char"
    assert c("GET", "/bkt?list-type=2&prefix=sp").find("Contents/Key") == "sp ace/x+y"


# --- delete objects ------------------------------------------------------------------------------------
def test_delete_objects(c: Client) -> None:
    _fill(c, ["a", "b"])
    body = (b"<Delete><Object><Key>a</Key></Object><Object><Key>b</Key></Object>"
            b"<Object><Key>missing</Key></Object><Object><Key>" + b"k" * 1025 + b"</Key></Object></Delete>")
    r = c("POST", "/bkt?delete", body, {"content-md5": md5_b64(body)})
    assert r.status == 200
    assert sorted(e.text or "" for e in r.xml().iter("{http://s3.amazonaws.com/doc/2006-03-01/}Key")) == [
        "a", "b", "k" * 1025, "missing"]
    assert r.find("Error/Code") == "KeyTooLongError"
    quiet = b"<Delete><Quiet>true</Quiet><Object><Key>q</Key></Object></Delete>"
    q = c("POST", "/bkt?delete", quiet)
    assert q.find("Deleted") is None
    assert c("POST", "/bkt?delete", body, {"content-md5": md5_b64(b"other")}).code == "BadDigest"
    assert c("POST", "/bkt?delete", b"<Delete></Delete>").code == "MalformedXML"
    many = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"
    assert c("POST", "/bkt?delete", many).code == "MalformedXML"
    assert c("GET", "/bkt?list-type=2").find("KeyCount") == "0"


# --- tagging -------------------------------------------------------------------------------------------
def test_tagging(c: Client) -> None:
    c("PUT", "/bkt/k", b"x")
    body = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b&amp;</Key><Value></Value></Tag></TagSet></Tagging>"
    assert c("PUT", "/bkt/k?tagging", body).status == 200
    r = c("GET", "/bkt/k?tagging")
    assert [(t[0].text, t[1].text or "") for t in r.findall("TagSet/Tag")] == [("a", "1"), ("b&", "")]
    too_many = b"<Tagging><TagSet>" + b"".join(
        f"<Tag><Key>k{i}</Key><Value>v</Value></Tag>".encode() for i in range(11)) + b"</TagSet></Tagging>"
    assert c("PUT", "/bkt/k?tagging", too_many).code == "InvalidTag"
    assert c("DELETE", "/bkt/k?tagging").status == 204
    assert c("GET", "/bkt/k?tagging").findall("TagSet/Tag") == []
    assert c("GET", "/bkt/missing?tagging").code == "NoSuchKey"


# --- multipart -----------------------------------------------------------------------------------------
def test_multipart(c: Client) -> None:
    init = c("POST", "/bkt/big?uploads", headers={"x-amz-meta-m": "1", "content-type": "text/csv"})
    upload_id = init.find("UploadId")
    assert init.status == 200 and upload_id
    part1 = b"a" * (5 << 20)
    e1 = c("PUT", f"/bkt/big?partNumber=1&uploadId={upload_id}", part1).headers["etag"]
    e2 = c("PUT", f"/bkt/big?partNumber=2&uploadId={upload_id}", b"tail").headers["etag"]
    parts = c("GET", f"/bkt/big?uploadId={upload_id}")
    assert [p.find("{http://s3.amazonaws.com/doc/2006-03-01/}PartNumber").text  # type: ignore[union-attr]
            for p in parts.findall("Part")] == ["1", "2"]
    uploads = c("GET", "/bkt?uploads")
    assert uploads.find("Upload/UploadId") == upload_id
    assert c("PUT", f"/bkt/big?partNumber=0&uploadId={upload_id}", b"x").code == "InvalidArgument"
    assert c("PUT", f"/bkt/big?partNumber=10001&uploadId={upload_id}", b"x").code == "InvalidArgument"
    wrong_order = (f"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>{e2}</ETag></Part>"
                   f"<Part><PartNumber>1</PartNumber><ETag>{e1}</ETag></Part></CompleteMultipartUpload>")
    assert c("POST", f"/bkt/big?uploadId={upload_id}", wrong_order.encode()).code == "InvalidPartOrder"
    assert c("POST", f"/bkt/big?uploadId={upload_id}", b"<CompleteMultipartUpload/>").code == "MalformedXML"
    done = (f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>{e1}</ETag></Part>'
            f"<Part><PartNumber>2</PartNumber><ETag>{e2}</ETag></Part></CompleteMultipartUpload>")
    r = c("POST", f"/bkt/big?uploadId={upload_id}", done.encode())
    assert r.status == 200 and (r.find("ETag") or "").endswith('-2"')
    g = c("GET", "/bkt/big?partNumber=2")
    assert g.status == 206 and g.body == b"tail" and g.headers["x-amz-mp-parts-count"] == "2"
    assert c("HEAD", "/bkt/big?partNumber=3").status == 400      # InvalidPartNumber, as AWS
    assert c("GET", "/bkt/big", headers={"range": "bytes=0-1"}).body == b"aa"
    assert c("GET", "/bkt/big").headers["content-type"] == "text/csv"
    assert c("GET", f"/bkt/big?uploadId={upload_id}").code == "NoSuchUpload"


def test_upload_part_copy_and_abort(c: Client) -> None:
    c("PUT", "/bkt/src", bytes(range(256)) * 4)
    upload_id = c("POST", "/bkt/dst?uploads").find("UploadId")
    r = c("PUT", f"/bkt/dst?partNumber=1&uploadId={upload_id}",
          headers={"x-amz-copy-source": "/bkt/src", "x-amz-copy-source-range": "bytes=0-9"})
    assert r.status == 200 and r.find("ETag") == f'"{hashlib.md5(bytes(range(10))).hexdigest()}"'
    bad = c("PUT", f"/bkt/dst?partNumber=1&uploadId={upload_id}",
            headers={"x-amz-copy-source": "/bkt/src", "x-amz-copy-source-range": "bytes=0-5000"})
    assert bad.code == "InvalidRange"
    assert c("DELETE", f"/bkt/dst?uploadId={upload_id}").status == 204
    assert c("DELETE", f"/bkt/dst?uploadId={upload_id}").code == "NoSuchUpload"
    assert c("PUT", "/bkt/dst?partNumber=1&uploadId=nope", headers={"x-amz-copy-source": "/bkt/src"}).code == "NoSuchUpload"


# --- engine endpoints and errors -----------------------------------------------------------------------
def test_health_and_admin(c: Client) -> None:
    assert c("GET", "/rustfs/health/live").status == 200
    assert c("HEAD", "/rustfs/health/ready").status == 200
    r = c("POST", "/rustfs/admin/v3/heal/bkt")
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    assert c("POST", "/rustfs/admin/v3/heal/nope").code == "NoSuchBucket"


def test_not_implemented_and_methods(c: Client) -> None:
    r = c("PUT", "/bkt?policy", b"{}")
    assert r.status == 501 and r.code == "NotImplemented"
    assert c("GET", "/bkt?policy").code == "NoSuchBucketPolicy"
    assert c("GET", "/nope?cors").code == "NoSuchBucket"
    assert c("GET", "/bkt?lifecycle").code == "NoSuchLifecycleConfiguration"
    assert c("GET", "/bkt?logging").status == 200
    assert c("GET", "/bkt?policyStatus").code == "NoSuchBucketPolicy"
    assert c("PATCH", "/bkt/k").code == "MethodNotAllowed"
    assert c("GET", "/bkt?acl").find("AccessControlList/Grant/Permission") == "FULL_CONTROL"


def test_internal_errors_do_not_leak(c: Client, layer: FakeLayer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*_args: object) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(layer, "list_buckets", boom)
    r = c("GET", "/")
    assert r.status == 500 and r.code == "InternalError" and b"secret" not in r.body
    assert c("GET", "/rustfs/health/ready").status in (200, 503)


def test_readiness_hook(c: Client, layer: FakeLayer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def not_ready() -> bool:
        return False

    monkeypatch.setattr(layer, "ready", not_ready, raising=False)
    assert c("GET", "/rustfs/health/ready").status == 503
    assert c("GET", "/rustfs/health/live").status == 200
