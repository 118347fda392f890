"""storage_engine.iam.ldap against a real slapd (tests/ldap_server.py): who logs in, with which groups."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from pydantic import ValidationError

from ldap_server import SUFFIX, Slapd
from storage_engine.iam.ldap import LdapAuthError, LdapConfig, LdapDirectory, LdapIdentity, LdapUnavailable

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def config(slapd: Slapd, **overrides: Any) -> LdapConfig:
    settings: dict[str, Any] = dict(
        server_url=slapd.url, lookup_bind_dn=slapd.manager_dn, lookup_bind_password=slapd.manager_password,
        user_search_base=f"ou=people,{SUFFIX}", user_search_filter="(&(objectClass=inetOrgPerson)(uid=%s))",
        group_search_base=f"ou=groups,{SUFFIX}", group_search_filter="(&(objectClass=groupOfNames)(member=%d))",
        timeout=5)
    return LdapConfig(**(settings | overrides))


@pytest.fixture
def directory(slapd: Slapd) -> LdapDirectory:
    return LdapDirectory(config(slapd))


def test_right_password_authenticates_with_groups(directory: LdapDirectory, slapd: Slapd) -> None:
    identity = run(directory.authenticate("alice", "alice-password"))
    assert identity == LdapIdentity(dn=slapd.user_dn("alice"), username="alice",
                                    groups=(slapd.group_dn("readers"), slapd.group_dn("writers")))
    assert run(directory.authenticate("bob", "bob-password")).groups == (slapd.group_dn("writers"),)


def test_groups_by_username(slapd: Slapd) -> None:
    directory = LdapDirectory(config(slapd, group_search_filter="(member=uid=%s,ou=people," + SUFFIX + ")"))
    assert run(directory.authenticate("bob", "bob-password")).groups == (slapd.group_dn("writers"),)


def test_without_group_search_no_groups(slapd: Slapd) -> None:
    directory = LdapDirectory(config(slapd, group_search_base="", group_search_filter=""))
    assert run(directory.authenticate("alice", "alice-password")).groups == ()


@pytest.mark.parametrize("username, password", [
    ("alice", "bob-password"),              # wrong password
    ("alice", "alice-password "),
    ("mallory", "alice-password"),          # unknown user
    ("alice", ""),                          # unauthenticated bind: slapd here would say yes
    ("", "alice-password"),
], ids=["wrong-password", "trailing-space", "unknown-user", "empty-password", "empty-username"])
def test_refused(directory: LdapDirectory, username: str, password: str) -> None:
    with pytest.raises(LdapAuthError):
        run(directory.authenticate(username, password))


@pytest.mark.parametrize("username", ["al*", "*", "alice)(uid=*", "*)(|(uid=*", "alice\\", "al\\2a"])
def test_filter_injection_in_the_username_is_escaped(directory: LdapDirectory, username: str) -> None:
    with pytest.raises(LdapAuthError):
        run(directory.authenticate(username, "alice-password"))


def test_username_with_filter_metacharacters_logs_in(directory: LdapDirectory, slapd: Slapd) -> None:
    identity = run(directory.authenticate("o*brien(x)", "obrien-password"))
    assert identity.dn == slapd.user_dn("o*brien(x)") and identity.groups == ()


def test_wrong_lookup_password_is_unavailable(slapd: Slapd) -> None:
    directory = LdapDirectory(config(slapd, lookup_bind_password="not-the-manager-password"))
    with pytest.raises(LdapUnavailable, match="lookup bind"):
        run(directory.authenticate("alice", "alice-password"))


def test_server_down_is_unavailable(directory: LdapDirectory, slapd: Slapd) -> None:
    slapd.stop()
    try:
        with pytest.raises(LdapUnavailable):
            run(directory.authenticate("alice", "alice-password"))
    finally:
        slapd.start()
    assert run(directory.authenticate("alice", "alice-password")).username == "alice"


@pytest.mark.parametrize("overrides, field", [
    ({"server_url": "http://127.0.0.1:389"}, "server_url"),
    ({"user_search_filter": "(uid=alice)"}, "user_search_filter"),
    ({"group_search_filter": ""}, "group_search_filter"),
    ({"server_url": "ldaps://127.0.0.1:636", "start_tls": True}, "start_tls"),
])
def test_config_errors_name_the_field(slapd: Slapd, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        config(slapd, **overrides)
