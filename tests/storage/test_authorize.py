"""The authorization decision (api/policy.py, docs/iam.md "The decision") as a table over in-memory
principals and policies, the request's condition keys (api/request_conditions.py), AWS's "public"
(api/bucket_policy.py), and ``authorize`` itself on a real layer for anonymous callers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from storage_engine.api.bucket_policy import is_public, parse_bucket_policy
from storage_engine.api.context import ReqCtx
from storage_engine.api.policy import Sources, authorize, decide
from storage_engine.api.public_access_block import PublicAccessBlock
from storage_engine.api.request_conditions import request_conditions, source_ip
from storage_engine.api.router import Endpoint
from storage_engine.auth import verify_request
from storage_engine.errors import AccessDenied, MalformedPolicy
from storage_engine.http.types import Headers, Request as HttpRequest
from storage_engine.iam.policy import Policy, Request
from storage_engine.iam.principal import ANONYMOUS, Principal
from storage_engine.objects.layer import ErasureObjectLayer

ROOT = Principal("root", "ROOTKEY", "root")
ALICE = Principal("user", "AKIAALICE", "alice")
BOB = Principal("user", "AKIABOB", "bob")
ALICE_SA = Principal("service-account", "AKIAALICESA", "alice", parent="alice",
                     session_policy=json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                               "Resource": "*"}]}))
BUCKET = "data"


def identity(effect: str, action: str = "s3:GetObject", resource: str = "arn:aws:s3:::data/*") -> Policy:
    return Policy.from_document({"Version": "2012-10-17",
                                 "Statement": [{"Effect": effect, "Action": action, "Resource": resource}]})


def bucket_policy(effect: str, principal: Any = "*", action: str = "s3:GetObject", **extra: Any) -> Policy:
    return Policy.from_document({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Principal": principal, "Action": action, "Resource": "arn:aws:s3:::data/*", **extra}]},
        bucket_policy=True)


def request(principal: Principal, action: str = "s3:GetObject", key: str = "k") -> Request:
    return Request(action=action, resource=f"arn:aws:s3:::{BUCKET}/{key}",
                   principal=None if principal.is_anonymous else principal.arn)


ALLOW_ID, DENY_ID = identity("Allow"), identity("Deny")
ALLOW_ALL, DENY_ALL = bucket_policy("Allow"), bucket_policy("Deny")
ALLOW_ALICE = bucket_policy("Allow", {"AWS": "arn:aws:iam::000000000000:user/alice"})
SESSION_PUT = Policy.from_document({"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]})
RESTRICT = PublicAccessBlock(restrict_public_buckets=True)
READER = Principal("sts", "ASIAREADER", "alice", parent="alice", role="reader", session_name="s1")
WRITER = Principal("sts", "ASIAWRITER", "alice", parent="alice", role="writer", session_name="s1")
ALLOW_READER_ROLE = bucket_policy("Allow", {"AWS": "arn:aws:iam::000000000000:role/reader"})
ALLOW_READER_SESSION = bucket_policy("Allow", {"AWS": READER.arn})

# (case, principal, sources, acl grants it, allowed)
TABLE: list[tuple[str, Principal, Sources, bool, bool]] = [
    ("root: always", ROOT, Sources(identity=[DENY_ID], bucket=DENY_ALL), False, True),
    ("user: nothing allows", ALICE, Sources(), False, False),
    ("user: identity allow", ALICE, Sources(identity=[ALLOW_ID]), False, True),
    ("user: identity deny beats identity allow", ALICE, Sources(identity=[ALLOW_ID, DENY_ID]), False, False),
    ("user: bucket-policy allow for everyone", ALICE, Sources(bucket=ALLOW_ALL), False, True),
    ("user: bucket-policy allow for her", ALICE, Sources(bucket=ALLOW_ALICE), False, True),
    ("user: bucket-policy allow for someone else", BOB, Sources(bucket=ALLOW_ALICE), False, False),
    ("user: identity deny beats bucket allow", ALICE, Sources(identity=[DENY_ID], bucket=ALLOW_ALL), False, False),
    ("user: bucket deny beats identity allow", ALICE, Sources(identity=[ALLOW_ID], bucket=DENY_ALL), False, False),
    ("user: bucket deny beats ownership", ALICE, Sources(bucket=DENY_ALL, owner=ALICE.owner_id), False, False),
    ("user: owner may do anything", ALICE, Sources(owner=ALICE.owner_id), False, True),
    ("user: another's bucket", BOB, Sources(owner=ALICE.owner_id), False, False),
    ("user: ACL grant", BOB, Sources(owner=ALICE.owner_id), True, True),
    ("user: ACL grant does not beat a deny", BOB, Sources(identity=[DENY_ID]), True, False),
    ("service account: session allows, parent allows", ALICE_SA,
     Sources(identity=[ALLOW_ID], session=Policy.parse(ALICE_SA.session_policy or "")), False, True),
    ("session policy intersects identity", ALICE, Sources(identity=[ALLOW_ID], session=SESSION_PUT), False, False),
    ("session policy intersects ownership", ALICE, Sources(owner=ALICE.owner_id, session=SESSION_PUT), False, False),
    ("session policy intersects ACLs", ALICE, Sources(session=SESSION_PUT), True, False),
    ("session allows, nothing else does", ALICE, Sources(session=Policy.parse(ALICE_SA.session_policy or "")),
     False, False),
    ("anonymous: nothing allows", ANONYMOUS, Sources(), False, False),
    ("anonymous: identity policies never apply", ANONYMOUS, Sources(identity=[ALLOW_ID]), False, False),
    ("anonymous: public bucket policy", ANONYMOUS, Sources(bucket=ALLOW_ALL, bucket_public=True), False, True),
    ("anonymous: a policy naming a user", ANONYMOUS, Sources(bucket=ALLOW_ALICE), False, False),
    ("anonymous: RestrictPublicBuckets", ANONYMOUS,
     Sources(bucket=ALLOW_ALL, bucket_public=True, block=RESTRICT), False, False),
    ("user: RestrictPublicBuckets keeps the account's principals", ALICE,
     Sources(bucket=ALLOW_ALL, bucket_public=True, block=RESTRICT), False, True),
    ("anonymous: owns nothing", ANONYMOUS, Sources(owner=ANONYMOUS.owner_id), False, False),
    ("anonymous: public ACL", ANONYMOUS, Sources(), True, True),
    ("anonymous: bucket deny beats a public ACL", ANONYMOUS, Sources(bucket=DENY_ALL), True, False),
    ("session: a bucket policy naming its role", READER, Sources(bucket=ALLOW_READER_ROLE), False, True),
    ("session: a bucket policy naming its session", READER, Sources(bucket=ALLOW_READER_SESSION), False, True),
    ("session: a bucket policy naming another role", WRITER, Sources(bucket=ALLOW_READER_ROLE), False, False),
    ("session: a Deny naming its role wins", READER,
     Sources(identity=[ALLOW_ID], bucket=bucket_policy("Deny", {"AWS": "arn:aws:iam::000000000000:role/reader"})),
     False, False),
]


@pytest.mark.parametrize(("principal", "sources", "acl", "allowed"), [row[1:] for row in TABLE],
                         ids=[row[0] for row in TABLE])
def test_decision_table(principal: Principal, sources: Sources, acl: bool, allowed: bool) -> None:
    assert decide(principal, request(principal), sources, acl=acl) is allowed


def test_conditions_and_variables_reach_the_policies() -> None:
    own_prefix = Policy.from_document({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data",
         "Condition": {"StringLike": {"s3:prefix": "home/${aws:username}/*"}}}]})
    http = _http_request("GET", "/data", "list-type=2&prefix=home/alice/x", client="10.1.2.3:5555")
    conditions = request_conditions(http, ALICE, ())
    assert conditions["s3:prefix"] == ["home/alice/x"] and conditions["aws:username"] == ["alice"]
    listing = Request(action="s3:ListBucket", resource="arn:aws:s3:::data", principal=ALICE.arn,
                      conditions=conditions, variables={"aws:username": "alice"})
    assert decide(ALICE, listing, Sources(identity=[own_prefix]))
    assert not decide(BOB, replace(listing, variables={"aws:username": "bob"}), Sources(identity=[own_prefix]))


@pytest.mark.parametrize(("client", "forwarded", "trusted", "expected"), [
    ("10.1.2.3:5555", None, ("127.0.0.0/8",), "10.1.2.3"),
    ("10.1.2.3:5555", "203.0.113.9", ("127.0.0.0/8",), "10.1.2.3"),        # an untrusted peer cannot claim one
    ("127.0.0.1:5555", "203.0.113.9, 10.0.0.1", ("127.0.0.0/8",), "203.0.113.9"),
    ("127.0.0.1:5555", "203.0.113.9", (), "127.0.0.1"),                     # no trusted proxies
    ("[::1]:5555", "2001:db8::1", ("::1/128",), "2001:db8::1"),
    ("127.0.0.1:5555", "not-an-address", ("127.0.0.0/8",), "127.0.0.1"),
])
def test_source_ip(client: str, forwarded: str | None, trusted: tuple[str, ...], expected: str) -> None:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    assert source_ip(_http_request("GET", "/", client=client, headers=headers), trusted) == expected


@pytest.mark.parametrize(("statement", "public"), [
    ({"Principal": "*"}, True),
    ({"Principal": {"AWS": "*"}}, True),
    ({"Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"}}, False),
    ({"Principal": {"AWS": "arn:aws:iam::*:root"}}, True),
    ({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}, False),
    ({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}}, True),
    ({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceAccount": "000000000000"}}}, False),
    ({"Principal": "*", "Condition": {"StringLike": {"aws:SourceAccount": "0*"}}}, True),
    ({"Principal": "*", "Condition": {"StringEquals": {"s3:prefix": "x"}}}, True),
    ({"Principal": "*", "Effect": "Deny"}, False),
])
def test_is_public(statement: dict[str, Any], public: bool) -> None:
    document = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*",
                               **statement}]}
    assert is_public(Policy.from_document(document, bucket_policy=True)) is public


def test_bucket_policy_must_name_its_bucket() -> None:
    good = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
                           "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/x/*"]}]}
    parse_bucket_policy(json.dumps(good).encode(), "data")
    for resource in ("arn:aws:s3:::data2/*", "arn:aws:s3:::*", "*", "arn:aws:s3:::dat*"):
        bad = {"Statement": [{**good["Statement"][0], "Resource": resource}]}
        with pytest.raises(MalformedPolicy, match="Policy has invalid resource"):
            parse_bucket_policy(json.dumps(bad).encode(), "data")


# --- authorize() on a real layer -----------------------------------------------------------------------------
def _http_request(method: str, path: str, query: str = "", *, client: str = "127.0.0.1:1",
                  headers: dict[str, str] | None = None) -> HttpRequest:
    from urllib.parse import parse_qsl

    class Empty:
        length = 0

        async def read(self, n: int) -> bytes:
            return b""

    return HttpRequest(method=method, raw_path=path, query_string=query,
                       headers=Headers([("host", "s3.test"), *(headers or {}).items()]), body=Empty(),  # type: ignore[arg-type]
                       client=client, query=dict(parse_qsl(query, keep_blank_values=True)))


async def _anonymous_decision(layer: ErasureObjectLayer, endpoint: Endpoint, method: str, key: str = "k",
                              query: str = "") -> bool:
    http = _http_request(method, f"/{BUCKET}/{key}" if key else f"/{BUCKET}", query)
    req = await verify_request(http, layer.iam, layer.settings)
    ctx = ReqCtx(layer=layer, settings=layer.settings, endpoint=endpoint, bucket=BUCKET, key=key,
                 identity=req.principal, request_id="t", query=http.query, headers=http.headers)
    try:
        await authorize(ctx, req)
    except AccessDenied:
        return False
    return True


def test_authorize_anonymous_by_the_stored_bucket_policy(with_layer: Callable[..., Any]) -> None:
    async def check(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket(BUCKET)
        assert not await _anonymous_decision(layer, Endpoint.GetObject, "GET")
        policy = bucket_policy("Allow", action="s3:GetObject")
        await layer.buckets.update(BUCKET, lambda meta: replace(meta, policy=policy.to_json()))
        assert await _anonymous_decision(layer, Endpoint.GetObject, "GET")
        assert await _anonymous_decision(layer, Endpoint.HeadObject, "HEAD")
        assert not await _anonymous_decision(layer, Endpoint.GetObject, "GET", query="versionId=v1")   # ...Version
        assert not await _anonymous_decision(layer, Endpoint.PutObject, "PUT")
        assert not await _anonymous_decision(layer, Endpoint.GetBucketPolicy, "GET", key="", query="policy=")
        await layer.buckets.update(BUCKET, lambda meta: replace(meta, public_access_block=(False, False, False, True)))
        assert not await _anonymous_decision(layer, Endpoint.GetObject, "GET")
    with_layer(check)


def test_request_headers_as_condition_keys_never_secrets() -> None:
    http = _http_request("PUT", "/data/k", headers={"x-amz-acl": "private", "x-amz-tagging": "team=a",
                                                    "x-amz-server-side-encryption-customer-key": "c2VjcmV0",
                                                    "x-amz-security-token": "token"})
    conditions = request_conditions(http, ALICE, ())
    assert conditions["s3:x-amz-acl"] == ["private"] and conditions["s3:requestobjecttag/team"] == ["a"]
    assert not any("customer-key" in key or "security-token" in key for key in conditions)
    assert "c2VjcmV0" not in repr(conditions)
