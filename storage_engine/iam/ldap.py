"""LDAP authentication: who a username/password is, and which groups they are in (ldap3, pure Python).

    directory = LdapDirectory(LdapConfig(server_url="ldaps://ldap.example.org", ...))
    identity = await directory.authenticate("alice", "password")   # LdapIdentity(dn, username, groups)

The steps (MinIO's, ``../shared/IDENTITY-NOTES.md``): bind as the lookup user; search the user with
``user_search_filter`` (``%s`` = the username, escaped per RFC 4515), which must find exactly one entry;
bind as that entry's DN with the password; then, as the lookup user again, search the groups with
``group_search_filter`` (``%d`` = the user's DN, ``%s`` = the username, both escaped). The groups are DNs.

An empty password is refused before anything is sent: an LDAP simple bind with a DN and no password is an
"unauthenticated bind" that many servers answer with success (RFC 4513 5.1.2), which would log anyone in.
ldap3 blocks, so every exchange runs in a worker thread; each call opens its own connections.

Errors::

    LdapError
      LdapAuthError      wrong password, unknown or ambiguous user, empty password
      LdapUnavailable    the server cannot be reached, TLS fails, or the lookup user cannot bind
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPInvalidCredentialsResult
from ldap3.utils.conv import escape_filter_chars
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["LdapAuthError", "LdapConfig", "LdapDirectory", "LdapError", "LdapIdentity", "LdapUnavailable"]


class LdapError(Exception):
    pass


class LdapAuthError(LdapError):
    """The username/password pair is not accepted (the message never says which part was wrong)."""


class LdapUnavailable(LdapError):
    """The directory could not be asked: unreachable, TLS failure, or the lookup bind was refused."""


class LdapConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    server_url: str = Field(description="ldap://host[:port] or ldaps://host[:port] (required).")
    start_tls: bool = Field(False, description="StartTLS on an ldap:// URL (default false; not with ldaps://).")
    ca_file: str | None = Field(None, description="PEM CA bundle for ldaps:// or StartTLS (default: the system's).")
    lookup_bind_dn: str = Field(description="The DN the searches bind as (required).")
    lookup_bind_password: SecretStr = Field(description="That DN's password (required).")
    user_search_base: str = Field(description="Where users are searched (required).")
    user_search_filter: str = Field(description="Filter with %s for the username, e.g. (uid=%s) (required).")
    group_search_base: str = Field("", description="Where groups are searched (default: no group lookup).")
    group_search_filter: str = Field(
        "", description="Filter with %d (user DN) and/or %s (username), e.g. (&(objectClass=groupOfNames)"
                        "(member=%d)) (default: no group lookup; required with group_search_base).")
    timeout: float = Field(10.0, gt=0, description="Seconds for connecting and for each answer (default 10).")

    @field_validator("server_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.fullmatch(r"ldaps?://[^/?#\s]+/?", value):
            raise ValueError("must be ldap://host[:port] or ldaps://host[:port]")
        return value

    @field_validator("user_search_filter")
    @classmethod
    def _user_filter(cls, value: str) -> str:
        if "%s" not in value:
            raise ValueError("must contain %s (the username)")
        return value

    @model_validator(mode="after")
    def _combinations(self) -> LdapConfig:
        if self.start_tls and self.server_url.startswith("ldaps://"):
            raise ValueError("start_tls: not with an ldaps:// server_url (it is TLS already)")
        if bool(self.group_search_base) != bool(self.group_search_filter):
            raise ValueError("group_search_base and group_search_filter: give both or neither")
        if self.group_search_filter and "%d" not in self.group_search_filter and "%s" not in self.group_search_filter:
            raise ValueError("group_search_filter: must contain %d (user DN) or %s (username)")
        return self


@dataclass(frozen=True)
class LdapIdentity:
    dn: str
    username: str
    groups: tuple[str, ...]        # group DNs, in the directory's order


# Bind results that mean "these credentials are refused": inappropriateAuthentication, invalidCredentials,
# insufficientAccessRights, unwillingToPerform (e.g. a locked account). Anything else: the server's trouble.
_REFUSED = frozenset({48, 49, 50, 53})


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace %d / %s in one pass with filter-escaped values (a value is never substituted again)."""
    return re.sub(r"%[ds]", lambda m: escape_filter_chars(values[m.group(0)[1]]), template)


class LdapDirectory:
    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self._tls: ldap3.Tls | None = None
        if config.server_url.startswith("ldaps://") or config.start_tls:
            self._tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_file,
                                  version=ssl.PROTOCOL_TLS_CLIENT)

    async def authenticate(self, username: str, password: str) -> LdapIdentity:
        if not username or not password:
            raise LdapAuthError("invalid username or password")    # never an unauthenticated bind
        # A new ldap3.Server each time: one remembers an address that failed as unavailable for minutes.
        server = ldap3.Server(self.config.server_url.rstrip("/"), use_ssl=self.config.server_url.startswith("ldaps://"),
                              tls=self._tls, get_info=ldap3.NONE, connect_timeout=self.config.timeout)
        return await asyncio.to_thread(self._authenticate, server, username, password)

    # --- blocking, in a worker thread ---------------------------------------------------------------
    def _connection(self, server: ldap3.Server, dn: str, password: str) -> ldap3.Connection:
        conn = ldap3.Connection(server, user=dn, password=password, authentication=ldap3.SIMPLE,
                                receive_timeout=max(1, math.ceil(self.config.timeout)), raise_exceptions=False,
                                read_only=True, auto_referrals=False)
        conn.open()
        if self.config.start_tls and not conn.start_tls():
            conn.unbind()
            raise LdapUnavailable(f"StartTLS with {self.config.server_url} failed: {conn.result}")
        return conn

    def _lookup(self, server: ldap3.Server) -> ldap3.Connection:
        conn = self._connection(server, self.config.lookup_bind_dn, self.config.lookup_bind_password.get_secret_value())
        if not conn.bind():
            result = conn.result
            conn.unbind()
            raise LdapUnavailable(f"the lookup bind as {self.config.lookup_bind_dn} was refused: "
                                  f"{result.get('description')}")
        return conn

    def _authenticate(self, server: ldap3.Server, username: str, password: str) -> LdapIdentity:
        try:
            lookup = self._lookup(server)
            try:
                dn = self._find_user(lookup, username)
            finally:
                lookup.unbind()
            user = self._connection(server, dn, password)
            try:
                if not user.bind():
                    if user.result.get("result") in _REFUSED:
                        raise LdapAuthError("invalid username or password")
                    raise LdapUnavailable(f"the bind as {dn} failed: {user.result.get('description')}")
            finally:
                user.unbind()
            groups: tuple[str, ...] = ()
            if self.config.group_search_filter:
                lookup = self._lookup(server)        # as MinIO: the user's own bind may not see the groups
                try:
                    groups = self._find_groups(lookup, dn, username)
                finally:
                    lookup.unbind()
        except LDAPInvalidCredentialsResult:
            raise LdapAuthError("invalid username or password") from None
        except LDAPException as e:
            raise LdapUnavailable(f"{self.config.server_url}: {type(e).__name__}: {e}") from None
        return LdapIdentity(dn=dn, username=username, groups=groups)

    def _search(self, conn: ldap3.Connection, base: str, search_filter: str) -> list[dict[str, Any]]:
        if not conn.search(base, search_filter, search_scope=ldap3.SUBTREE, attributes=ldap3.NO_ATTRIBUTES,
                           time_limit=max(1, math.ceil(self.config.timeout))):
            code = conn.result.get("result")
            if code in (0, 32):                 # success with no entries / noSuchObject (base missing)
                return []
            raise LdapUnavailable(f"search under {base} failed: {conn.result.get('description')}")
        return [e for e in conn.response or [] if e.get("type") == "searchResEntry"]

    def _find_user(self, conn: ldap3.Connection, username: str) -> str:
        entries = self._search(conn, self.config.user_search_base,
                               _fill(self.config.user_search_filter, {"s": username, "d": username}))
        if len(entries) != 1:
            raise LdapAuthError("invalid username or password")    # unknown, or ambiguous: never guess
        return str(entries[0]["dn"])

    def _find_groups(self, conn: ldap3.Connection, dn: str, username: str) -> tuple[str, ...]:
        entries = self._search(conn, self.config.group_search_base,
                               _fill(self.config.group_search_filter, {"d": dn, "s": username}))
        return tuple(str(e["dn"]) for e in entries)

