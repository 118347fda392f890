"""Routing: method + host + path + query -> endpoint, bucket, key."""

from __future__ import annotations

import pytest

from storage_engine.api.router import Endpoint, host_bucket, resolve
from storage_engine.errors import InvalidURI, MethodNotAllowed
from storage_engine.http.types import Headers, Request


class _NoBody:
    async def read(self, n: int) -> bytes:
        return b""

    @property
    def length(self) -> int | None:
        return 0


def request(method: str, target: str, host: str = "127.0.0.1:9000", **headers: str) -> Request:
    path, _, query_string = target.partition("?")
    query: dict[str, str] = {}
    for item in query_string.split("&") if query_string else []:
        name, _, value = item.partition("=")
        query.setdefault(name, value)
    items = [("host", host)] + [(k.replace("_", "-"), v) for k, v in headers.items()]
    return Request(method=method, raw_path=path, query_string=query_string, headers=Headers(items),
                   body=_NoBody(), query=query)


@pytest.mark.parametrize(("method", "target", "endpoint"), [
    ("GET", "/", Endpoint.ListBuckets),
    ("PUT", "/b1", Endpoint.CreateBucket),
    ("PUT", "/b1/", Endpoint.CreateBucket),
    ("DELETE", "/b1", Endpoint.DeleteBucket),
    ("HEAD", "/b1", Endpoint.HeadBucket),
    ("GET", "/b1", Endpoint.ListObjects),
    ("GET", "/b1?list-type=2&prefix=a", Endpoint.ListObjectsV2),
    ("GET", "/b1?location", Endpoint.GetBucketLocation),
    ("GET", "/b1?versioning", Endpoint.GetBucketVersioning),
    ("PUT", "/b1?versioning", Endpoint.PutBucketVersioning),
    ("GET", "/b1?versions", Endpoint.ListObjectVersions),
    ("GET", "/b1?uploads", Endpoint.ListMultipartUploads),
    ("POST", "/b1?delete", Endpoint.DeleteObjects),
    ("GET", "/b1?policy", Endpoint.GetBucketPolicy),
    ("GET", "/b1?policyStatus", Endpoint.GetBucketPolicyStatus),
    ("PUT", "/b1?lifecycle", Endpoint.PutBucketLifecycleConfiguration),
    ("GET", "/b1?acl", Endpoint.GetBucketAcl),
    ("GET", "/b1/k", Endpoint.GetObject),
    ("HEAD", "/b1/k", Endpoint.HeadObject),
    ("PUT", "/b1/k", Endpoint.PutObject),
    ("DELETE", "/b1/k", Endpoint.DeleteObject),
    ("GET", "/b1/k?tagging", Endpoint.GetObjectTagging),
    ("PUT", "/b1/k?tagging", Endpoint.PutObjectTagging),
    ("DELETE", "/b1/k?tagging", Endpoint.DeleteObjectTagging),
    ("GET", "/b1/k?versionId=abc", Endpoint.GetObject),
    ("POST", "/b1/k?uploads", Endpoint.CreateMultipartUpload),
    ("PUT", "/b1/k?partNumber=1&uploadId=u", Endpoint.UploadPart),
    ("POST", "/b1/k?uploadId=u", Endpoint.CompleteMultipartUpload),
    ("DELETE", "/b1/k?uploadId=u", Endpoint.AbortMultipartUpload),
    ("GET", "/b1/k?uploadId=u", Endpoint.ListParts),
    ("GET", "/b1/k?partNumber=2", Endpoint.GetObject),
    ("POST", "/b1/k?select&select-type=2", Endpoint.SelectObjectContent),
    ("GET", "/b1/k?retention", Endpoint.GetObjectRetention),
    ("GET", "/rustfs/health/live", Endpoint.HealthLive),
    ("HEAD", "/rustfs/health/ready", Endpoint.HealthReady),
    ("POST", "/rustfs/admin/v3/heal", Endpoint.AdminHeal),
    ("POST", "/rustfs/admin/v3/heal/b1", Endpoint.AdminHeal),
])
def test_endpoints(method: str, target: str, endpoint: Endpoint) -> None:
    assert resolve(request(method, target), []).endpoint is endpoint


def test_copy_endpoints() -> None:
    assert resolve(request("PUT", "/b/k", x_amz_copy_source="/a/b"), []).endpoint is Endpoint.CopyObject
    route = resolve(request("PUT", "/b/k?partNumber=1&uploadId=x", x_amz_copy_source="/a/b"), [])
    assert route.endpoint is Endpoint.UploadPartCopy


def test_path_style_decodes_bucket_and_key() -> None:
    route = resolve(request("GET", "/b1/a%20b/c%2Bd+e/%E2%82%AC"), [])
    assert (route.bucket, route.key) == ("b1", "a b/c+d+e/\u20ac")
    assert not route.virtual_host


def test_key_keeps_trailing_slash_and_inner_slashes() -> None:
    route = resolve(request("PUT", "/b1/dir/sub/"), [])
    assert route.key == "dir/sub/"


def test_admin_bucket() -> None:
    assert resolve(request("POST", "/rustfs/admin/v3/heal/b1"), []).bucket == "b1"


@pytest.mark.parametrize("host", ["b1.s3.example.com", "B1.S3.example.com:9000"])
def test_virtual_hosted_style(host: str) -> None:
    route = resolve(request("GET", "/some/key", host=host), ["s3.example.com"])
    assert (route.endpoint, route.bucket, route.key, route.virtual_host) == (
        Endpoint.GetObject, "b1", "some/key", True)
    bucket_route = resolve(request("GET", "/?list-type=2", host=host), ["s3.example.com"])
    assert (bucket_route.endpoint, bucket_route.bucket) == (Endpoint.ListObjectsV2, "b1")


def test_domain_itself_is_path_style() -> None:
    route = resolve(request("GET", "/b1/k", host="s3.example.com:9000"), ["s3.example.com"])
    assert (route.bucket, route.key, route.virtual_host) == ("b1", "k", False)


def test_host_bucket() -> None:
    assert host_bucket("[::1]:9000", ["s3.example.com"]) is None
    assert host_bucket("a.b.s3.example.com", ["s3.example.com"]) == "a.b"
    assert host_bucket("s3.example.com", ["s3.example.com"]) is None
    assert host_bucket("other.com", ["s3.example.com"]) is None


def test_invalid_utf8_path() -> None:
    with pytest.raises(InvalidURI):
        resolve(request("GET", "/b1/%FF%FE"), [])


def test_bad_methods() -> None:
    with pytest.raises(MethodNotAllowed):
        resolve(request("PATCH", "/b1/k"), [])
    with pytest.raises(MethodNotAllowed):
        resolve(request("PUT", "/"), [])
    with pytest.raises(MethodNotAllowed):
        resolve(request("GET", "/rustfs/admin/v3/heal"), [])
