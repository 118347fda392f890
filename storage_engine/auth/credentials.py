"""Who may sign requests: access key -> secret. Every lookup goes through :class:`CredentialStore`.

Today the store holds the root user from the settings (``RUSTFS_ACCESS_KEY`` / ``RUSTFS_SECRET_KEY``);
IAM users and STS session credentials will be added behind the same ``lookup``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage_engine.config import EngineSettings


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    is_root: bool = False


class CredentialStore:
    """Looks up the secret for an access key (None when the key is unknown)."""

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

    def lookup(self, access_key: str) -> Credentials | None:
        return self._by_access_key.get(access_key)
