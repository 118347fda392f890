"""IAM policy documents (storage_engine.iam.policy / conditions / actions): parsing, validation, evaluation.

Table-driven: each row is a policy (or several), a request and the expected decision; the semantics are AWS's
(IAM User Guide, "Policy evaluation logic" and "Condition operators").
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from storage_engine.api.router import UNAUTHENTICATED, Endpoint
from storage_engine.iam.actions import ENDPOINT_ACTIONS, actions_for, copy_source_action, resource_arn
from storage_engine.iam.policy import Policy, PolicyError, Request, evaluate

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
OTHER = "arn:aws:iam::999999999999:user/eve"


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> str:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        document["Version"] = version
    return json.dumps(document)


def allow(action: Any = "s3:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "s3:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def req(action: str = "s3:GetObject", resource: str = "arn:aws:s3:::b/k", principal: str | None = ALICE,
        **conditions: Any) -> Request:
    """conditions: key with ``__`` for ``:`` (aws__SourceIp=...); a str value is one value."""
    keys = {k.replace("__", ":").lower(): ([v] if isinstance(v, str) else list(v)) for k, v in conditions.items()}
    return Request(action=action, resource=resource, principal=principal, conditions=keys,
                   variables={"aws:username": "alice", "aws:userid": "AIDAALICE", "aws:principaltype": "User"})


# --- actions and resources ---------------------------------------------------------------------------------------

ACTION_CASES = [
    # (statements, request, decision)
    ("allow exact", [allow("s3:GetObject")], req(), "allow"),
    ("no statement matches", [allow("s3:PutObject")], req(), "none"),
    ("action case-insensitive", [allow("S3:getobject")], req(), "allow"),
    ("action wildcard *", [allow("s3:Get*")], req(), "allow"),
    ("action wildcard ?", [allow("s3:GetObjec?")], req(), "allow"),
    ("action wildcard does not over-match", [allow("s3:Get*Tagging")], req(), "none"),
    ("action list", [allow(["s3:PutObject", "s3:GetObject"])], req(), "allow"),
    ("star action", [allow("*")], req(), "allow"),
    ("other service", [allow("iam:*")], req(), "none"),
    ("explicit deny", [deny("s3:GetObject")], req(), "deny"),
    ("deny wins over allow", [allow(), deny("s3:GetObject")], req(), "deny"),
    ("deny wins regardless of order", [deny("s3:GetObject"), allow()], req(), "deny"),
    ("deny of another action", [allow(), deny("s3:PutObject")], req(), "allow"),
    ("NotAction allow excludes", [{"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}], req(), "none"),
    ("NotAction allow includes others", [{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}], req(),
     "allow"),
    ("NotAction deny: everything but iam", [allow(), {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}],
     req(), "deny"),
    ("resource exact", [allow(resource="arn:aws:s3:::b/k")], req(), "allow"),
    ("resource prefix wildcard", [allow(resource="arn:aws:s3:::b/*")], req(resource="arn:aws:s3:::b/a/b/c"),
     "allow"),
    ("resource wildcard ?", [allow(resource="arn:aws:s3:::b/?")], req(), "allow"),
    ("resource case-sensitive", [allow(resource="arn:aws:s3:::B/k")], req(), "none"),
    ("bucket ARN is not its objects", [allow(resource="arn:aws:s3:::b")], req(), "none"),
    ("objects ARN is not the bucket", [allow(resource="arn:aws:s3:::b/*")],
     req("s3:ListBucket", "arn:aws:s3:::b"), "none"),
    ("resource list", [allow(resource=["arn:aws:s3:::x/*", "arn:aws:s3:::b/*"])], req(), "allow"),
    ("NotResource allow excludes", [{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/*"}],
     req(), "none"),
    ("NotResource allow includes others", [{"Effect": "Allow", "Action": "s3:*",
                                            "NotResource": "arn:aws:s3:::secret/*"}], req(), "allow"),
    ("NotResource deny", [allow(), {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::other/*"}],
     req(), "deny"),
    # policy variables
    ("variable username", [allow(resource="arn:aws:s3:::b/home/${aws:username}/*")],
     req(resource="arn:aws:s3:::b/home/alice/f"), "allow"),
    ("variable other user's home", [allow(resource="arn:aws:s3:::b/home/${aws:username}/*")],
     req(resource="arn:aws:s3:::b/home/bob/f"), "none"),
    ("variable name case-insensitive", [allow(resource="arn:aws:s3:::b/${AWS:UserName}")],
     req(resource="arn:aws:s3:::b/alice"), "allow"),
    ("variable userid", [allow(resource="arn:aws:s3:::b/${aws:userid}/*")],
     req(resource="arn:aws:s3:::b/AIDAALICE/x"), "allow"),
    ("variable principaltype", [allow(resource="arn:aws:s3:::b/${aws:PrincipalType}")],
     req(resource="arn:aws:s3:::b/User"), "allow"),
    ("variable from a condition key", [allow(resource="arn:aws:s3:::b/${s3:prefix}")],
     req(resource="arn:aws:s3:::b/docs", s3__prefix="docs"), "allow"),
    ("unknown variable matches nothing", [allow(resource="arn:aws:s3:::b/${aws:nosuch}*")],
     req(resource="arn:aws:s3:::b/x"), "none"),
    ("unknown variable in a deny denies nothing", [allow(), deny(resource="arn:aws:s3:::b/${aws:nosuch}*")],
     req(), "allow"),
    ("variable default value", [allow(resource="arn:aws:s3:::b/${aws:nosuch, 'pub'}/*")],
     req(resource="arn:aws:s3:::b/pub/x"), "allow"),
    ("variable value is literal, not a wildcard", [allow(resource="arn:aws:s3:::b/${aws:username}")],
     Request("s3:GetObject", "arn:aws:s3:::b/anything", ALICE, {}, {"aws:username": "*"}), "none"),
    ("escape ${*} is a literal star", [allow(resource="arn:aws:s3:::b/${*}")],
     req(resource="arn:aws:s3:::b/*"), "allow"),
    ("escape ${*} is not a wildcard", [allow(resource="arn:aws:s3:::b/${*}")],
     req(resource="arn:aws:s3:::b/x"), "none"),
    ("escape ${?}", [allow(resource="arn:aws:s3:::b/${?}")], req(resource="arn:aws:s3:::b/?"), "allow"),
    ("escape ${?} not a wildcard", [allow(resource="arn:aws:s3:::b/${?}")], req(resource="arn:aws:s3:::b/x"),
     "none"),
    ("escape ${$}", [allow(resource="arn:aws:s3:::b/${$}x")], req(resource="arn:aws:s3:::b/$x"), "allow"),
]


@pytest.mark.parametrize(("statements", "request_", "expected"),
                         [pytest.param(s, r, e, id=name) for name, s, r, e in ACTION_CASES])
def test_actions_resources_variables(statements: list[dict[str, Any]], request_: Request, expected: str) -> None:
    assert evaluate([Policy.parse(doc(*statements))], request_) == expected


def test_version_2008_treats_variables_as_literal_text() -> None:
    statement = allow(resource="arn:aws:s3:::b/${aws:username}")
    for version in ("2008-10-17", None):   # AWS's default when Version is missing
        policy = Policy.parse(doc(statement, version=version))
        assert policy.version == "2008-10-17"
        assert evaluate([policy], req(resource="arn:aws:s3:::b/alice")) == "none"
        assert evaluate([policy], req(resource="arn:aws:s3:::b/${aws:username}")) == "allow"


def test_version_2008_does_not_validate_variables_and_defaults_unquote() -> None:
    Policy.parse(doc(allow(resource="arn:aws:s3:::b/${username}"), version="2008-10-17"))
    policy = Policy.parse(doc(allow(resource="arn:aws:s3:::b/${aws:nosuch, 'it''s'}")))
    assert evaluate([policy], req(resource="arn:aws:s3:::b/it's")) == "allow"


def test_many_wildcards_do_not_blow_up() -> None:
    """A policy author's ``*a*a*a...b`` against a long key must not backtrack exponentially (a regex would)."""
    nasty = "*a" * 30 + "b"
    policy = Policy.parse(doc(allow(resource="arn:aws:s3:::b/" + nasty,
                                    Condition={"StringLike": {"s3:prefix": nasty}})))
    started = time.monotonic()
    assert evaluate([policy], req(resource="arn:aws:s3:::b/" + "a" * 3000, s3__prefix="a" * 3000)) == "none"
    assert evaluate([policy], req(resource="arn:aws:s3:::b/" + "a" * 3000 + "b", s3__prefix="a" * 30 + "b")) \
        == "allow"
    assert time.monotonic() - started < 2


def test_several_policies_deny_in_any_wins() -> None:
    reader = Policy.parse(doc(allow("s3:GetObject")))
    guard = Policy.parse(doc(deny("s3:*", "arn:aws:s3:::b/secret/*")))
    writer = Policy.parse(doc(allow("s3:PutObject")))
    assert evaluate([reader, guard], req()) == "allow"
    assert evaluate([reader, guard], req(resource="arn:aws:s3:::b/secret/x")) == "deny"
    assert evaluate([writer, guard], req()) == "none"
    assert evaluate([], req()) == "none"


# --- conditions ----------------------------------------------------------------------------------------------------

def cond(block: dict[str, Any]) -> list[dict[str, Any]]:
    return [allow(Condition=block)]


CONDITION_CASES = [
    # String*
    ("StringEquals match", {"StringEquals": {"s3:prefix": "docs/"}}, {"s3__prefix": "docs/"}, "allow"),
    ("StringEquals case-sensitive", {"StringEquals": {"s3:prefix": "Docs/"}}, {"s3__prefix": "docs/"}, "none"),
    ("StringEquals values ORed", {"StringEquals": {"s3:prefix": ["a/", "docs/"]}}, {"s3__prefix": "docs/"},
     "allow"),
    ("StringEquals key missing", {"StringEquals": {"s3:prefix": "docs/"}}, {}, "none"),
    ("StringEquals no wildcards", {"StringEquals": {"s3:prefix": "do*"}}, {"s3__prefix": "docs/"}, "none"),
    ("condition key case-insensitive", {"StringEquals": {"S3:PREFIX": "docs/"}}, {"s3__prefix": "docs/"}, "allow"),
    ("StringNotEquals other value", {"StringNotEquals": {"s3:prefix": "x"}}, {"s3__prefix": "docs/"}, "allow"),
    ("StringNotEquals same value", {"StringNotEquals": {"s3:prefix": ["x", "docs/"]}}, {"s3__prefix": "docs/"},
     "none"),
    ("StringNotEquals key missing is true", {"StringNotEquals": {"s3:prefix": "x"}}, {}, "allow"),
    ("StringEqualsIgnoreCase", {"StringEqualsIgnoreCase": {"aws:UserAgent": "BOTO3"}}, {"aws__useragent": "boto3"},
     "allow"),
    ("StringNotEqualsIgnoreCase", {"StringNotEqualsIgnoreCase": {"aws:UserAgent": "BOTO3"}},
     {"aws__useragent": "boto3"}, "none"),
    ("StringLike *", {"StringLike": {"s3:prefix": "home/*"}}, {"s3__prefix": "home/alice/"}, "allow"),
    ("StringLike ?", {"StringLike": {"s3:prefix": "v?"}}, {"s3__prefix": "v2"}, "allow"),
    ("StringLike miss", {"StringLike": {"s3:prefix": "home/*"}}, {"s3__prefix": "etc/"}, "none"),
    ("StringLike empty prefix vs ''", {"StringLike": {"s3:prefix": ["", "home/*"]}}, {"s3__prefix": ""}, "allow"),
    ("StringNotLike", {"StringNotLike": {"s3:prefix": "home/*"}}, {"s3__prefix": "etc/"}, "allow"),
    ("StringNotLike excluded", {"StringNotLike": {"s3:prefix": "home/*"}}, {"s3__prefix": "home/x"}, "none"),
    ("StringLike with variable", {"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
     {"s3__prefix": "home/alice/x"}, "allow"),
    ("StringLike with variable, other user", {"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
     {"s3__prefix": "home/bob/x"}, "none"),
    ("StringEquals with escape", {"StringEquals": {"s3:prefix": "${*}"}}, {"s3__prefix": "*"}, "allow"),
    ("StringEquals with unknown variable", {"StringEquals": {"s3:prefix": "${aws:nosuch}"}}, {"s3__prefix": ""},
     "none"),
    # Numeric*
    ("NumericLessThan", {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3__max-keys": "5"}, "allow"),
    ("NumericLessThan equal", {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3__max-keys": "10"}, "none"),
    ("NumericLessThanEquals", {"NumericLessThanEquals": {"s3:max-keys": 10}}, {"s3__max-keys": "10"}, "allow"),
    ("NumericGreaterThan", {"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3__max-keys": "11"}, "allow"),
    ("NumericGreaterThanEquals", {"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3__max-keys": "9"},
     "none"),
    ("NumericEquals decimal", {"NumericEquals": {"s3:max-keys": "10.0"}}, {"s3__max-keys": "10"}, "allow"),
    ("NumericNotEquals", {"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3__max-keys": "10"}, "none"),
    ("Numeric request value not a number", {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3__max-keys": "ten"},
     "none"),
    ("Numeric key missing", {"NumericLessThan": {"s3:max-keys": "10"}}, {}, "none"),
    # Date*
    ("DateLessThan ISO", {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
     {"aws__currenttime": "2026-11-30T08:00:00Z"}, "allow"),
    ("DateLessThan past", {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
     {"aws__currenttime": "2026-11-30T08:00:00Z"}, "none"),
    ("DateGreaterThan epoch policy", {"DateGreaterThan": {"aws:CurrentTime": "1577836800"}},
     {"aws__currenttime": "2026-11-30T08:00:00Z"}, "allow"),
    ("DateEquals epoch vs ISO", {"DateEquals": {"aws:EpochTime": "2020-01-01T00:00:00Z"}},
     {"aws__epochtime": "1577836800"}, "allow"),
    ("DateEquals with offset", {"DateEquals": {"aws:CurrentTime": "2020-01-01T01:00:00+01:00"}},
     {"aws__currenttime": "2020-01-01T00:00:00Z"}, "allow"),
    ("DateNotEquals", {"DateNotEquals": {"aws:CurrentTime": "2020-01-01"}},
     {"aws__currenttime": "2020-01-01T00:00:00Z"}, "none"),
    ("DateLessThanEquals", {"DateLessThanEquals": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
     {"aws__currenttime": "2020-01-01T00:00:00Z"}, "allow"),
    ("DateGreaterThanEquals", {"DateGreaterThanEquals": {"aws:CurrentTime": "2020-01-02"}},
     {"aws__currenttime": "2020-01-01T23:59:59Z"}, "none"),
    # Bool
    ("Bool true", {"Bool": {"aws:SecureTransport": "true"}}, {"aws__securetransport": "true"}, "allow"),
    ("Bool JSON boolean", {"Bool": {"aws:SecureTransport": True}}, {"aws__securetransport": "true"}, "allow"),
    ("Bool case-insensitive", {"Bool": {"aws:SecureTransport": "True"}}, {"aws__securetransport": "TRUE"}, "allow"),
    ("Bool false", {"Bool": {"aws:SecureTransport": "true"}}, {"aws__securetransport": "false"}, "none"),
    ("Bool missing", {"Bool": {"aws:SecureTransport": "false"}}, {}, "none"),
    # BinaryEquals
    ("BinaryEquals", {"BinaryEquals": {"s3:x-amz-meta-b": "QUJD"}}, {"s3__x-amz-meta-b": "QUJD"}, "allow"),
    # IpAddress
    ("IpAddress v4 in", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws__sourceip": "10.1.2.3"}, "allow"),
    ("IpAddress v4 out", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws__sourceip": "11.1.2.3"}, "none"),
    ("IpAddress single address", {"IpAddress": {"aws:SourceIp": "192.0.2.7"}}, {"aws__sourceip": "192.0.2.7"},
     "allow"),
    ("IpAddress list", {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}},
     {"aws__sourceip": "2001:db8::1"}, "allow"),
    ("IpAddress v6 out", {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws__sourceip": "2001:db9::1"}, "none"),
    ("IpAddress v4-mapped v6", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws__sourceip": "::ffff:10.0.0.1"},
     "allow"),
    ("IpAddress v4 net, v6 address", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, {"aws__sourceip": "::1"},
     "none"),
    ("IpAddress garbage request value", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, {"aws__sourceip": "x"},
     "none"),
    ("NotIpAddress out", {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws__sourceip": "11.1.2.3"}, "allow"),
    ("NotIpAddress in", {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws__sourceip": "10.1.2.3"}, "none"),
    ("NotIpAddress missing", {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {}, "allow"),
    # Null
    ("Null true, absent", {"Null": {"s3:x-amz-server-side-encryption": "true"}}, {}, "allow"),
    ("Null true, present", {"Null": {"s3:x-amz-server-side-encryption": "true"}},
     {"s3__x-amz-server-side-encryption": "AES256"}, "none"),
    ("Null false, present", {"Null": {"s3:x-amz-server-side-encryption": False}},
     {"s3__x-amz-server-side-encryption": "AES256"}, "allow"),
    ("Null false, absent", {"Null": {"s3:x-amz-server-side-encryption": "false"}}, {}, "none"),
    # Arn*
    ("ArnEquals", {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:t"}},
     {"aws__sourcearn": "arn:aws:sns:us-east-1:123456789012:t"}, "allow"),
    ("ArnLike wildcard part", {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}},
     {"aws__sourcearn": "arn:aws:sns:eu-west-1:123456789012:topic"}, "allow"),
    ("ArnLike wildcard does not cross parts", {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:t"}},
     {"aws__sourcearn": "arn:aws:sns:eu-west-1:123456789012:t"}, "none"),
    ("ArnLike other account", {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}},
     {"aws__sourcearn": "arn:aws:sns:eu-west-1:999999999999:topic"}, "none"),
    ("ArnNotLike", {"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}},
     {"aws__sourcearn": "arn:aws:sns:eu-west-1:999999999999:topic"}, "allow"),
    ("ArnNotEquals same", {"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:r:1:t"}},
     {"aws__sourcearn": "arn:aws:sns:r:1:t"}, "none"),
    ("ArnLike not an ARN", {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:*"}}, {"aws__sourcearn": "topic"}, "none"),
    # IfExists
    ("IfExists missing is true", {"StringEqualsIfExists": {"s3:x-amz-storage-class": "STANDARD"}}, {}, "allow"),
    ("IfExists present, match", {"StringEqualsIfExists": {"s3:x-amz-storage-class": "STANDARD"}},
     {"s3__x-amz-storage-class": "STANDARD"}, "allow"),
    ("IfExists present, no match", {"StringEqualsIfExists": {"s3:x-amz-storage-class": "STANDARD"}},
     {"s3__x-amz-storage-class": "GLACIER"}, "none"),
    ("NumericLessThanIfExists missing", {"NumericLessThanIfExists": {"s3:max-keys": "10"}}, {}, "allow"),
    ("IpAddressIfExists present out", {"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}},
     {"aws__sourceip": "11.0.0.1"}, "none"),
    # ForAnyValue / ForAllValues
    ("ForAnyValue one matches", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}},
     {"aws__tagkeys": ["owner", "env"]}, "allow"),
    ("ForAnyValue none matches", {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}},
     {"aws__tagkeys": ["owner", "cost"]}, "none"),
    ("ForAnyValue missing is false", {"ForAnyValue:StringEquals": {"aws:TagKeys": "env"}}, {}, "none"),
    ("ForAnyValue StringLike", {"ForAnyValue:StringLike": {"aws:TagKeys": "e*"}}, {"aws__tagkeys": ["a", "env"]},
     "allow"),
    ("ForAnyValue negated: some value outside", {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["env"]}},
     {"aws__tagkeys": ["env", "x"]}, "allow"),
    ("ForAllValues all match", {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
     {"aws__tagkeys": ["team", "env"]}, "allow"),
    ("ForAllValues one outside", {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
     {"aws__tagkeys": ["env", "owner"]}, "none"),
    ("ForAllValues missing is true", {"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}, {}, "allow"),
    ("ForAllValues empty set is true", {"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}},
     {"aws__tagkeys": []}, "allow"),
    ("ForAllValues negated: none allowed", {"ForAllValues:StringNotLike": {"aws:TagKeys": ["sys*"]}},
     {"aws__tagkeys": ["env", "system"]}, "none"),
    ("ForAnyValue IfExists missing", {"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "env"}}, {}, "allow"),
    # multivalued key without a set operator
    ("single-valued operator, multivalued key: any", {"StringEquals": {"aws:TagKeys": "env"}},
     {"aws__tagkeys": ["x", "env"]}, "allow"),
    ("negated operator, multivalued key: none", {"StringNotEquals": {"aws:TagKeys": "env"}},
     {"aws__tagkeys": ["x", "env"]}, "none"),
    # several conditions are ANDed
    ("two operators ANDed, both true", {"StringLike": {"s3:prefix": "home/*"}, "Bool": {"aws:SecureTransport": "true"}},
     {"s3__prefix": "home/a", "aws__securetransport": "true"}, "allow"),
    ("two operators ANDed, one false", {"StringLike": {"s3:prefix": "home/*"},
                                        "Bool": {"aws:SecureTransport": "true"}},
     {"s3__prefix": "home/a", "aws__securetransport": "false"}, "none"),
    ("two keys of one operator ANDed", {"StringEquals": {"s3:prefix": "a", "s3:delimiter": "/"}},
     {"s3__prefix": "a", "s3__delimiter": "|"}, "none"),
]


@pytest.mark.parametrize(("block", "keys", "expected"),
                         [pytest.param(b, k, e, id=name) for name, b, k, e in CONDITION_CASES])
def test_condition_operators(block: dict[str, Any], keys: dict[str, Any], expected: str) -> None:
    assert evaluate([Policy.parse(doc(*cond(block)))], req(**keys)) == expected


def test_deny_unless_tls_and_from_the_office() -> None:
    """A typical guard: deny anything not over TLS or not from 10.0.0.0/8, on top of an allow."""
    policy = Policy.parse(doc(
        allow(),
        deny(Condition={"Bool": {"aws:SecureTransport": "false"}}),
        deny(Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    ))
    assert evaluate([policy], req(aws__securetransport="true", aws__sourceip="10.0.0.9")) == "allow"
    assert evaluate([policy], req(aws__securetransport="false", aws__sourceip="10.0.0.9")) == "deny"
    assert evaluate([policy], req(aws__securetransport="true", aws__sourceip="8.8.8.8")) == "deny"
    assert evaluate([policy], req(aws__securetransport="true")) == "deny"   # no source IP known


def test_home_directory_listing_policy() -> None:
    """AWS's documented example: list only your own home prefix, read and write only under it."""
    policy = Policy.parse(doc(
        allow("s3:ListBucket", "arn:aws:s3:::b",
              Condition={"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}),
        allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::b/home/${aws:username}/*"),
    ))
    bucket = "arn:aws:s3:::b"
    assert evaluate([policy], req("s3:ListBucket", bucket, s3__prefix="home/alice/")) == "allow"
    assert evaluate([policy], req("s3:ListBucket", bucket, s3__prefix="home/bob/")) == "none"
    assert evaluate([policy], req("s3:ListBucket", bucket, s3__prefix="")) == "allow"
    assert evaluate([policy], req("s3:PutObject", "arn:aws:s3:::b/home/alice/x")) == "allow"
    assert evaluate([policy], req("s3:PutObject", "arn:aws:s3:::b/home/bob/x")) == "none"


# --- principals (bucket policies) ---------------------------------------------------------------------------------

PRINCIPAL_CASES = [
    ("star allows anonymous", {"Principal": "*"}, None, "allow"),
    ("star allows a user", {"Principal": "*"}, ALICE, "allow"),
    ("AWS star allows anonymous", {"Principal": {"AWS": "*"}}, None, "allow"),
    ("user ARN matches", {"Principal": {"AWS": ALICE}}, ALICE, "allow"),
    ("user ARN list", {"Principal": {"AWS": [BOB, ALICE]}}, ALICE, "allow"),
    ("other user", {"Principal": {"AWS": BOB}}, ALICE, "none"),
    ("user ARN not anonymous", {"Principal": {"AWS": ALICE}}, None, "none"),
    ("account id covers its users", {"Principal": {"AWS": "123456789012"}}, ALICE, "allow"),
    ("account root covers its users", {"Principal": {"AWS": "arn:aws:iam::123456789012:root"}}, ALICE, "allow"),
    ("account does not cover others", {"Principal": {"AWS": "123456789012"}}, OTHER, "none"),
    ("canonical user is not an ARN", {"Principal": {"CanonicalUser": "ab" * 32}}, ALICE, "none"),
    ("NotPrincipal excludes", {"NotPrincipal": {"AWS": ALICE}}, ALICE, "none"),
    ("NotPrincipal includes others", {"NotPrincipal": {"AWS": ALICE}}, BOB, "allow"),
    ("NotPrincipal includes anonymous", {"NotPrincipal": {"AWS": ALICE}}, None, "allow"),
]


@pytest.mark.parametrize(("element", "principal", "expected"),
                         [pytest.param(el, p, e, id=name) for name, el, p, e in PRINCIPAL_CASES])
def test_bucket_policy_principals(element: dict[str, Any], principal: str | None, expected: str) -> None:
    policy = Policy.parse(doc(allow("s3:GetObject", "arn:aws:s3:::b/*", **element)), bucket_policy=True)
    assert evaluate([policy], req(principal=principal)) == expected


def test_public_read_bucket_policy_with_deny_for_anonymous_writes() -> None:
    policy = Policy.parse(doc(
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::b/*"},
        {"Sid": "Only from the LAN", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
         "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.168.0.0/16", "fd00::/8"]}}},
    ), bucket_policy=True)
    assert evaluate([policy], req(principal=None, aws__sourceip="192.168.1.1")) == "allow"
    assert evaluate([policy], req(principal=None, aws__sourceip="fd00::5")) == "allow"
    assert evaluate([policy], req(principal=None, aws__sourceip="203.0.113.1")) == "deny"
    assert evaluate([policy], req("s3:PutObject", principal=None, aws__sourceip="192.168.1.1")) == "none"


# --- parsing and validation ---------------------------------------------------------------------------------------

def test_statement_object_list_and_round_trip() -> None:
    text = json.dumps({"Version": "2012-10-17", "Id": "p1", "Statement": {
        "Sid": "One", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/*",
        "Condition": {"ForAnyValue:StringLikeIfExists": {"s3:prefix": ["a*", "b"]},
                      "Bool": {"aws:SecureTransport": True}},
    }})
    policy = Policy.parse(text)
    assert len(policy.statements) == 1 and policy.statements[0].sid == "One"
    again = Policy.parse(policy.to_json())
    assert again == policy
    assert json.loads(policy.to_json())["Statement"][0]["Condition"] == {
        "ForAnyValue:StringLikeIfExists": {"s3:prefix": ["a*", "b"]}, "Bool": {"aws:SecureTransport": "true"}}
    bucket = Policy.parse(doc(allow(Principal={"AWS": [ALICE, BOB]}), deny(NotPrincipal="*")), bucket_policy=True)
    assert Policy.parse(bucket.to_json(), bucket_policy=True) == bucket
    assert Policy.parse(text.encode()) == policy


MALFORMED = [
    # (document or raw text, bucket_policy, fragment of the message)
    ("not json {", False, "not valid JSON"),
    ("[]", False, "must be a JSON object"),
    ({"Version": "2012-10-17"}, False, "has no Statement"),
    ({"Version": "2012-10-17", "Statement": []}, False, "Statement is empty"),
    ({"Version": "2020-01-01", "Statement": [allow()]}, False, "invalid Version '2020-01-01'"),
    ({"Version": "2012-10-17", "Statement": [allow()], "Extra": 1}, False, "unknown policy element 'Extra'"),
    ({"Version": "2012-10-17", "Statement": ["Allow"]}, False, "Statement 0 must be a JSON object"),
    (doc({"Action": "s3:*", "Resource": "*"}), False, "missing Effect"),
    (doc({"Effect": "allow", "Action": "s3:*", "Resource": "*"}), False, "Effect must be \"Allow\" or \"Deny\""),
    (doc({"Effect": "Allow", "Resource": "*"}), False, "missing Action (or NotAction)"),
    (doc({"Effect": "Allow", "Action": "s3:*"}), False, "missing Resource (or NotResource)"),
    (doc(allow(NotAction="s3:PutObject")), False, "has both Action and NotAction"),
    (doc(allow(NotResource="*")), False, "has both Resource and NotResource"),
    (doc(allow(action=[])), False, "Action is empty"),
    (doc(allow(action=["s3:GetObject", 7])), False, "Action must be a non-empty string"),
    (doc(allow(action="GetObject")), False, "invalid action 'GetObject'"),
    (doc(allow(resource="b/*")), False, "resource 'b/*' must be an ARN"),
    (doc(allow(resource="arn:aws:s3:::b/${username}")), False, "invalid policy variable ${username}"),
    (doc(allow(Actions="s3:*")), False, "unknown element 'Actions'"),
    (doc(allow(Sid="a b")), False, "Sid 'a b' may contain only letters and digits"),
    (doc(allow(Sid="S1"), allow(Sid="S1")), False, "Sid) must be unique: 'S1'"),
    (doc(allow(Principal="*")), False, "Principal is not allowed in an identity policy"),
    (doc(allow()), True, "missing Principal"),
    (doc(allow(Principal="*", NotPrincipal="*")), True, "has both Principal and NotPrincipal"),
    (doc(allow(Principal="alice")), True, "Principal must be \"*\" or an object"),
    (doc(allow(Principal={"Users": ALICE})), True, "unknown Principal type 'Users'"),
    (doc(allow(Principal={"AWS": "alice"})), True, "invalid principal 'alice'"),
    (doc(allow(Condition={})), False, "Condition must be a non-empty object"),
    (doc(allow(Condition={"StringEquals": "x"})), False, "Condition 'StringEquals' must be a non-empty object"),
    (doc(allow(Condition={"StringEqual": {"s3:prefix": "x"}})), False, "unknown condition operator 'StringEqual'"),
    (doc(allow(Condition={"stringequals": {"s3:prefix": "x"}})), False, "operators are case-sensitive"),
    (doc(allow(Condition={"ForSomeValues:StringEquals": {"s3:prefix": "x"}})), False,
     "unknown condition set operator 'ForSomeValues'"),
    (doc(allow(Condition={"NullIfExists": {"s3:prefix": "true"}})), False, "Null takes no IfExists"),
    (doc(allow(Condition={"Null": {"s3:prefix": "maybe"}})), False, "must be true or false, not 'maybe'"),
    (doc(allow(Condition={"StringEquals": {"prefix": "x"}})), False, "invalid condition key 'prefix'"),
    (doc(allow(Condition={"StringEquals": {"s3:prefix": []}})), False, "has no value"),
    (doc(allow(Condition={"StringEquals": {"s3:prefix": {"a": 1}}})), False, "not dict"),
    (doc(allow(Condition={"NumericLessThan": {"s3:max-keys": "ten"}})), False, "'ten' is not a number"),
    (doc(allow(Condition={"DateLessThan": {"aws:CurrentTime": "tomorrow"}})), False,
     "'tomorrow' is not an ISO 8601 date or epoch seconds"),
    (doc(allow(Condition={"Bool": {"aws:SecureTransport": "yes"}})), False, "'yes' is not true or false"),
    (doc(allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}})), False,
     "'10.0.0.0/33' is not an IP address or CIDR block"),
    (doc(allow(Condition={"BinaryEquals": {"s3:x": "not base64!"}})), False, "is not base64"),
    ('{"Version": "2012-10-17", "Version": "2008-10-17", "Statement": []}', False, "duplicate element 'Version'"),
]


@pytest.mark.parametrize(("document", "bucket_policy", "message"),
                         [pytest.param(d, b, m, id=m) for d, b, m in MALFORMED])
def test_malformed_documents_are_refused_naming_the_problem(document: Any, bucket_policy: bool, message: str) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(PolicyError) as raised:
        Policy.parse(text, bucket_policy=bucket_policy)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_bucket_policy_sid_may_have_spaces_and_condition_errors_name_the_statement() -> None:
    Policy.parse(doc(allow(Sid="Public read", Principal="*")), bucket_policy=True)
    with pytest.raises(PolicyError, match=r"Statement 'Guard': condition 'IpAddress' on 'aws:SourceIp'"):
        Policy.parse(doc(allow(Sid="Guard", Condition={"IpAddress": {"aws:SourceIp": "nope"}})))


# --- actions.py ----------------------------------------------------------------------------------------------------

def test_every_endpoint_has_its_actions() -> None:
    assert set(ENDPOINT_ACTIONS) == set(Endpoint)
    for endpoint in Endpoint:
        actions = ENDPOINT_ACTIONS[endpoint]
        if endpoint in UNAUTHENTICATED or endpoint in (Endpoint.Options, Endpoint.QueryApi):
            assert actions == (), endpoint
            continue
        assert actions, endpoint
        for action in actions_for(endpoint) + actions:
            assert action.startswith(("s3:", "admin:")), (endpoint, action)
            # each is a valid action of a policy document
            Policy.parse(doc(allow(action)))


@pytest.mark.parametrize(("endpoint", "kwargs", "expected"), [
    (Endpoint.GetObject, {}, ("s3:GetObject",)),
    (Endpoint.HeadObject, {}, ("s3:GetObject",)),
    (Endpoint.GetObject, {"version_id": True}, ("s3:GetObjectVersion",)),
    (Endpoint.HeadObject, {"version_id": True}, ("s3:GetObjectVersion",)),
    (Endpoint.DeleteObject, {"version_id": True}, ("s3:DeleteObjectVersion",)),
    (Endpoint.GetObjectTagging, {"version_id": True}, ("s3:GetObjectVersionTagging",)),
    (Endpoint.PutObjectTagging, {}, ("s3:PutObjectTagging",)),
    (Endpoint.PutObject, {"version_id": True}, ("s3:PutObject",)),
    (Endpoint.ListBuckets, {}, ("s3:ListAllMyBuckets",)),
    (Endpoint.ListObjects, {}, ("s3:ListBucket",)),
    (Endpoint.ListObjectsV2, {}, ("s3:ListBucket",)),
    (Endpoint.HeadBucket, {}, ("s3:ListBucket",)),
    (Endpoint.ListObjectVersions, {}, ("s3:ListBucketVersions",)),
    (Endpoint.ListMultipartUploads, {}, ("s3:ListBucketMultipartUploads",)),
    (Endpoint.CreateMultipartUpload, {}, ("s3:PutObject",)),
    (Endpoint.UploadPart, {}, ("s3:PutObject",)),
    (Endpoint.CompleteMultipartUpload, {}, ("s3:PutObject",)),
    (Endpoint.AbortMultipartUpload, {}, ("s3:AbortMultipartUpload",)),
    (Endpoint.ListParts, {}, ("s3:ListMultipartUploadParts",)),
    (Endpoint.CopyObject, {}, ("s3:PutObject",)),
    (Endpoint.GetBucketVersioning, {}, ("s3:GetBucketVersioning",)),
    (Endpoint.PutBucketVersioning, {}, ("s3:PutBucketVersioning",)),
    (Endpoint.GetBucketEncryption, {}, ("s3:GetEncryptionConfiguration",)),
    (Endpoint.PutBucketEncryption, {}, ("s3:PutEncryptionConfiguration",)),
    (Endpoint.DeleteBucketEncryption, {}, ("s3:PutEncryptionConfiguration",)),
    (Endpoint.DeleteBucketCors, {}, ("s3:PutBucketCORS",)),
    (Endpoint.GetBucketTagging, {}, ("s3:GetBucketTagging",)),
    (Endpoint.PutBucketPolicy, {}, ("s3:PutBucketPolicy",)),
    (Endpoint.BucketMetrics, {"method": "GET"}, ("s3:GetMetricsConfiguration",)),
    (Endpoint.BucketMetrics, {"method": "DELETE"}, ("s3:PutMetricsConfiguration",)),
    (Endpoint.AdminHeal, {}, ("admin:Heal",)),
    (Endpoint.AdminKmsRewrap, {}, ("admin:KmsRewrap",)),
])
def test_endpoint_actions(endpoint: Endpoint, kwargs: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert actions_for(endpoint, **kwargs) == expected


def test_copy_source_and_resource_arns() -> None:
    assert copy_source_action() == "s3:GetObject"
    assert copy_source_action(version_id=True) == "s3:GetObjectVersion"
    assert resource_arn("b", "dir/k y") == "arn:aws:s3:::b/dir/k y"
    assert resource_arn("b") == "arn:aws:s3:::b"
    assert resource_arn() == "arn:aws:s3:::*"
    reader = Policy.parse(doc(allow("s3:ListAllMyBuckets", "arn:aws:s3:::*"),
                              allow("s3:GetObject", "arn:aws:s3:::b/*")))
    assert evaluate([reader], req(actions_for(Endpoint.ListBuckets)[0], resource_arn())) == "allow"
    assert evaluate([reader], req(actions_for(Endpoint.HeadObject)[0], resource_arn("b", "k"))) == "allow"
    assert evaluate([reader], req(actions_for(Endpoint.HeadObject, version_id=True)[0],
                                  resource_arn("b", "k"))) == "none"
