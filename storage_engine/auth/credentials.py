"""Who may sign requests: access key (+ session token) -> secret and principal.

Authentication asks a :class:`CredentialLookup` (``await lookup(access_key, session_token)``): the engine's is
the IAM store (``iam/store.py``: root from the settings, users' keys, service accounts, STS sessions);
:class:`CredentialStore` is the root user alone (tests, tools without a layer). ``lookup`` returns None
for an unknown (or inactive) key; a bad or expired session token raises ``InvalidToken`` /
``ExpiredToken``.
"""

from __future__ import annotations

from typing import Protocol

from storage_engine.config import EngineSettings
from storage_engine.iam.principal import ANONYMOUS, Principal

__all__ = ["CredentialLookup", "CredentialStore", "Credentials", "root_principal"]


def root_principal(access_key: str) -> Principal:
    return Principal("root", access_key, "root")


class Credentials:
    """An access key, its secret (never in reprs) and the principal it authenticates as."""

    __slots__ = ("access_key", "secret_key", "principal")

    def __init__(self, access_key: str, secret_key: str, principal: Principal | None = None, *,
                 is_root: bool = False) -> None:
        if principal is None:     # the root user (is_root=True), or anonymous (no access key)
            if is_root:
                principal = root_principal(access_key)
            elif not access_key:
                principal = ANONYMOUS
            else:
                raise ValueError("Credentials need a principal (or is_root=True for the root user)")
        self.access_key = access_key
        self.secret_key = secret_key
        self.principal = principal

    @property
    def is_root(self) -> bool:
        return self.principal.is_root

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Credentials) and other.access_key == self.access_key
                and other.secret_key == self.secret_key and other.principal == self.principal)

    def __hash__(self) -> int:
        return hash((self.access_key, self.principal))

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key!r}, principal={self.principal!r})"


class CredentialLookup(Protocol):
    async def lookup(self, access_key: str, session_token: str | None = None) -> Credentials | None:
        """The credentials of ``access_key`` (None when unknown or inactive)."""
        ...


class CredentialStore:
    """The root user alone: looks up the secret for an access key (None when the key is unknown)."""

    __slots__ = ("_by_access_key", "_root")

    def __init__(self, root: Credentials) -> None:
        if not root.access_key or not root.secret_key:
            raise ValueError("the root user needs both an access key and a secret key")
        self._root = Credentials(root.access_key, root.secret_key, is_root=True)
        self._by_access_key: dict[str, Credentials] = {self._root.access_key: self._root}

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> CredentialStore:
        return cls(Credentials(settings.access_key, settings.secret_key.get_secret_value(), is_root=True))

    @property
    def root(self) -> Credentials:
        return self._root

    async def lookup(self, access_key: str, session_token: str | None = None) -> Credentials | None:
        del session_token     # the root user has none
        return self._by_access_key.get(access_key)
