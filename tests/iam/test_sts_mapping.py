"""STS without a server: parameters (duration, names, RoleArn, session policy), claims / DNs -> policies, the
session principals, and the STS / OIDC / LDAP settings (storage_engine/iam/sts.py, storage_engine/config.py)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import pytest
from pydantic import ValidationError

from storage_engine.config import EngineSettings, render_env
from storage_engine.errors import ExpiredToken
from storage_engine.iam import tokens
from storage_engine.iam.ldap import LdapIdentity
from storage_engine.iam.policy import Policy
from storage_engine.iam.principal import Principal
from storage_engine.iam.sts import (
    StsError,
    assume_role_principal,
    check_duration,
    check_session_name,
    claim_values,
    ldap_policy_names,
    ldap_principal,
    oidc_mapping,
    role_name,
    session_policy,
    web_identity_principal,
)

READ_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]})


def refused(code: str, fn: Any, *args: Any, **kwargs: Any) -> StsError:
    with pytest.raises(StsError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


# --- parameters ---------------------------------------------------------------------------------
def test_duration_default_bounds_and_aws_wording() -> None:
    assert check_duration(None, 43200) == 3600
    assert check_duration("", 1800) == 1800           # the default never exceeds the maximum
    assert check_duration("900", 43200) == 900
    assert check_duration("43200", 43200) == 43200
    low = refused("ValidationError", check_duration, "899", 43200)
    assert low.status == 400
    assert low.message == ("1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy "
                           "constraint: Member must have value greater than or equal to 900")
    high = refused("ValidationError", check_duration, "3601", 3600)
    assert "exceeds the MaxSessionDuration" in high.message
    refused("ValidationError", check_duration, "12h", 43200)


@pytest.mark.parametrize("name", ["ab", "alice@example.org", "a=b,c.d-e_f+g", "x" * 64])
def test_session_name_pattern_accepts(name: str) -> None:
    assert check_session_name(name) == name


@pytest.mark.parametrize(("name", "constraint"), [
    ("a", "length greater than or equal to 2"), ("x" * 65, "length less than or equal to 64"),
    ("has space", r"pattern: [\w+=,.@-]*"), ("a/b", "pattern"), ("a:b", "pattern")])
def test_session_name_refused(name: str, constraint: str) -> None:
    error = refused("ValidationError", check_session_name, name)
    assert "'roleSessionName'" in error.message and constraint in error.message


def test_session_name_missing() -> None:
    refused("MissingParameter", check_session_name, None)
    assert check_session_name(None, default="alice") == "alice"


def test_role_arn() -> None:
    assert role_name("arn:aws:iam::000000000000:role/reader", required=True) == "reader"
    assert role_name("arn:aws:iam::000000000000:role/team/a/reader", required=True) == "reader"
    assert role_name(None, required=False) == ""
    refused("MissingParameter", role_name, None, required=True)
    refused("ValidationError", role_name, "arn:aws:iam::000000000000:user/alice", required=True)
    refused("ValidationError", role_name, "short", required=True)
    other = refused("AccessDenied", role_name, "arn:aws:iam::123456789012:role/reader", required=True)
    assert other.status == 403


def test_session_policy_canonical_and_checked() -> None:
    assert session_policy(None) is None
    canonical = session_policy(READ_ONLY)
    assert canonical is not None and Policy.parse(canonical) == Policy.parse(READ_ONLY)
    assert " " not in canonical
    refused("MalformedPolicyDocument", session_policy, "{not json")
    refused("MalformedPolicyDocument", session_policy, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}))   # no Principal in it
    long_text = READ_ONLY.replace("b/*", "b/" + "k" * 2100)
    assert "'policy'" in refused("ValidationError", session_policy, long_text).message
    # Under 2048 characters, but its canonical (ASCII-escaped) form is not: AWS's packed-size error.
    packed = READ_ONLY.replace("b/*", "b/" + "\u00e9" * 400)
    assert len(packed) <= 2048
    assert "Packed policy consumes" in refused("PackedPolicyTooLarge", session_policy, packed).message


# --- claims and DNs -> policies -------------------------------------------------------------------
def settings(**values: Any) -> EngineSettings:
    return EngineSettings.model_validate(values)


@pytest.mark.parametrize(("claims", "expected"), [
    ({"policy": "readonly"}, ["readonly"]),
    ({"policy": "readonly, writeonly,"}, ["readonly", "writeonly"]),
    ({"policy": ["readonly", "diagnostics", 7]}, ["readonly", "diagnostics"]),
    ({"policy": {"nested": "x"}}, []),
    ({}, []),
])
def test_claim_values(claims: dict[str, Any], expected: list[str]) -> None:
    assert claim_values(claims, "policy") == expected


def test_claim_values_dotted_keycloak_roles() -> None:
    claims = {"realm_access": {"roles": ["admins", "offline_access"]}}
    assert claim_values(claims, "realm_access.roles") == ["admins", "offline_access"]
    assert claim_values({"a.b": "literal", "a": {"b": "nested"}}, "a.b") == ["literal"]


def test_oidc_policy_claim_and_group_mapping() -> None:
    s = settings(oidc_group_policies={"readers": ["readonly"], "admins": ["consoleAdmin", "readonly"]})
    mapping = oidc_mapping({"sub": "alice", "policy": "diagnostics", "groups": ["readers", "admins", "x"]}, s)
    assert mapping.user == "alice"
    assert mapping.groups == ("readers", "admins", "x")
    assert mapping.policy_names == ("diagnostics", "readonly", "consoleAdmin")


def test_oidc_user_claim_and_roles_claim_settings() -> None:
    s = settings(oidc_user_claim="preferred_username", oidc_policy_claim="", oidc_groups_claim="realm_access.roles",
                 oidc_group_policies={"writer": ["readwrite"]})
    claims = {"sub": "f81d4fae", "preferred_username": "alice", "policy": "consoleAdmin",
              "realm_access": {"roles": ["writer"]}}
    mapping = oidc_mapping(claims, s)
    assert (mapping.user, mapping.policy_names) == ("alice", ("readwrite",))   # the policy claim is off


def test_oidc_no_policy_or_no_user_is_denied() -> None:
    s = settings(oidc_group_policies={"admins": ["consoleAdmin"]})
    assert refused("AccessDenied", oidc_mapping, {"sub": "alice", "groups": ["readers"]}, s).status == 403
    refused("AccessDenied", oidc_mapping, {"policy": "readonly"}, s)


def test_ldap_policies_by_user_and_group_dn_case_insensitive() -> None:
    mapping = {"uid=alice,ou=people,dc=example,dc=org": ["diagnostics"],
               "CN=Readers, OU=Groups, DC=Example, DC=Org": ["readonly"],
               "cn=writers,ou=groups,dc=example,dc=org": ["readwrite", "readonly"]}
    alice = LdapIdentity("uid=alice,ou=people,dc=example,dc=org", "alice",
                         ("cn=readers,ou=groups,dc=example,dc=org", "cn=writers,ou=groups,dc=example,dc=org"))
    assert ldap_policy_names(alice, mapping) == ("diagnostics", "readonly", "readwrite")
    nobody = LdapIdentity("uid=carol,ou=people,dc=example,dc=org", "carol", ("cn=other,dc=example,dc=org",))
    assert refused("AccessDenied", ldap_policy_names, nobody, mapping).status == 403


# --- session principals ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["root", "user"])
def test_assume_role_by_root_or_user(kind: str) -> None:
    name = "root" if kind == "root" else "alice"
    caller = Principal(kind, "AKIAALICE", name)  # pyright: ignore[reportArgumentType]
    p = assume_role_principal(caller, role="reader", session_name="s1", policy=session_policy(READ_ONLY))
    assert (p.kind, p.user, p.parent, p.policy_names) == ("sts", name, name, ())
    assert p.session_policy == Policy.parse(READ_ONLY).to_json()
    assert p.arn == "arn:aws:sts::000000000000:assumed-role/reader/s1"


def test_assume_role_refused_for_sessions_service_accounts_and_anonymous() -> None:
    refused("AccessDenied", assume_role_principal, Principal("sts", "ASIA", "alice", parent="alice"),
            role="r", session_name="s", policy=None)
    refused("AccessDenied", assume_role_principal, Principal("service-account", "SVC", "alice", parent="alice"),
            role="r", session_name="s", policy=None)
    error = refused("MissingAuthenticationToken", assume_role_principal, Principal("anonymous", "", ""),
                    role="r", session_name="s", policy=None)
    assert error.status == 403


def test_web_identity_and_ldap_principals() -> None:
    s = settings(oidc_group_policies={"readers": ["readonly"]})
    claims = {"sub": "alice", "groups": ["readers"], "email_verified": True, "iss": "http://idp"}
    p = web_identity_principal(oidc_mapping(claims, s), claims, role="", session_name="alice-app", policy=None)
    assert (p.kind, p.user, p.parent, p.groups, p.policy_names) == ("sts", "alice", "", ("readers",), ("readonly",))
    assert p.owner_id == Principal("sts", "", "alice").owner_id      # sts/<user>, not the IAM user alice's
    assert dict(p.claims) == {"jwt:sub": ("alice",), "jwt:groups": ("readers",), "jwt:email_verified": ("true",),
                              "jwt:iss": ("http://idp",)}
    identity = LdapIdentity("uid=bob,ou=people,dc=example,dc=org", "bob", ("cn=writers,ou=groups,dc=example,dc=org",))
    q = ldap_principal(identity, ("readwrite",), session_name="bob", policy=None)
    assert (q.user, q.groups, q.policy_names) == ("bob", identity.groups, ("readwrite",))
    assert dict(q.claims) == {"ldap:user": (identity.dn,), "ldap:username": ("bob",), "ldap:groups": identity.groups}


def test_a_session_principal_survives_its_token_until_it_expires() -> None:
    """The principal a web identity maps to, issued as a session token: opened intact (claims, role, session
    name, policies) while valid; ExpiredToken once its duration has passed."""
    key = os.urandom(32)

    async def keyring(key_id: str) -> bytes | None:
        return key if key_id == "k1" else None

    s = settings(oidc_group_policies={"readers": ["readonly"]})
    claims = {"sub": "alice", "groups": ["readers"]}
    principal = web_identity_principal(oidc_mapping(claims, s), claims, role="web", session_name="alice-app",
                                       policy=session_policy(READ_ONLY))
    issued = time.time() - 1000
    creds, _ = tokens.make_session("k1", key, principal, 900, now=issued)
    opened, _ = asyncio.run(tokens.open_session(creds.session_token, creds.access_key, keyring, now=issued + 899))
    assert (opened.user, opened.role, opened.session_name, opened.policy_names, opened.claims,
            opened.session_policy) == ("alice", "web", "alice-app", ("readonly",), principal.claims,
                                       principal.session_policy)
    assert opened.arn == "arn:aws:sts::000000000000:assumed-role/web/alice-app"
    with pytest.raises(ExpiredToken):
        asyncio.run(tokens.open_session(creds.session_token, creds.access_key, keyring))


# --- settings -------------------------------------------------------------------------------------
LDAP = {"ldap_server_url": "ldap://ldap.example.org", "ldap_lookup_bind_dn": "cn=admin,dc=example,dc=org",
        "ldap_lookup_bind_password": "pw", "ldap_user_search_base": "ou=people,dc=example,dc=org",
        "ldap_user_search_filter": "(uid=%s)"}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"ldap_user_search_filter": "(uid=alice)"}, "ldap_user_search_filter"),
    ({"ldap_group_search_base": "ou=groups,dc=example,dc=org", "ldap_group_search_filter": "(member=x)"},
     "ldap_group_search_filter"),
    ({"ldap_server_url": "http://ldap"}, "ldap_server_url"),
    ({"ldap_lookup_bind_password": ""}, "ldap_lookup_bind_password"),
    ({"ldap_group_search_base": "ou=groups,dc=example,dc=org"}, "ldap_group_search_filter"),
    ({"ldap_server_url": "ldaps://ldap", "ldap_start_tls": True}, "ldap_start_tls"),
    ({"oidc_issuer": "http://idp.example.org"}, "oidc_client_id"),
    ({"oidc_issuer": "idp.example.org", "oidc_client_id": "c"}, "oidc_issuer"),
    ({"sts_max_duration_seconds": 43201}, "sts_max_duration_seconds"),
    ({"ldap_policies": {"cn=x": []}}, "ldap_policies"),
])
def test_settings_errors_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        EngineSettings.model_validate({**LDAP, **overrides})
    assert field in str(info.value)
    assert "pw" not in str(info.value).replace("password", "")


def test_settings_secrets_and_json_maps_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = {"cn=readers,ou=groups,dc=example,dc=org": ["readonly"]}
    env = render_env(**LDAP, ldap_policies=mapping, oidc_group_policies={"admins": ["consoleAdmin"]},
                     oidc_client_secret="client-secret")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    loaded = EngineSettings()
    assert loaded.ldap_policies == mapping
    assert loaded.oidc_group_policies == {"admins": ["consoleAdmin"]}
    assert loaded.ldap_lookup_bind_password.get_secret_value() == "pw"
    assert "client-secret" not in repr(loaded) and "client-secret" not in str(loaded.model_dump())
