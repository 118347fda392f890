"""Fixtures for the identity tests: a real slapd and a real OpenID provider, each started once a session.

    slapd         tests/ldap_server.Slapd with alice (groups readers, writers), bob (writers), and a user
                  whose uid holds LDAP filter metacharacters; skipped when Debian's slapd is missing
    oidc_server   tests/oidc_server.OidcServer issuing tokens for alice; skipped (with npm's reason) when
                  oidc-provider cannot be installed
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ldap_server import Slapd, slapd_binary
from oidc_server import OidcServer, node_modules_unavailable

USERS = {"alice": "alice-password", "bob": "bob-password", "o*brien(x)": "obrien-password"}
GROUPS = {"readers": ["alice"], "writers": ["alice", "bob"]}
OIDC_USER = {"sub": "alice", "preferred_username": "alice", "groups": ["readers"]}


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    if slapd_binary() is None:
        pytest.skip("no slapd: install Debian's slapd and ldap-utils (scripts/test does)")
    server = Slapd(tmp_path_factory.mktemp("slapd"), users=USERS, groups=GROUPS)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    reason = node_modules_unavailable()
    if reason is not None:
        pytest.skip(reason)
    server = OidcServer(tmp_path_factory.mktemp("oidc"), user=OIDC_USER)
    server.start()
    yield server
    server.stop()
