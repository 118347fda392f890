"""Who is calling: the principal authentication establishes for a request (docs/iam.md, "The principal").

Root (the settings' access key), an IAM user (or one of its access keys), a service account of a user,
an STS session (AssumeRole, web identity, LDAP) or anonymous. The principal carries what the
authorization decision needs (``api/policy.py``): its ARN, its groups, the managed policies an STS
session maps to, an inline session policy, and the owner ID S3 reports for what it creates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

__all__ = ["ACCOUNT_ID", "ANONYMOUS", "Principal", "PrincipalKind", "ROOT_DISPLAY_NAME", "user_arn"]

ACCOUNT_ID = "000000000000"          # one account per tenant (engine): every ARN uses it
ROOT_DISPLAY_NAME = "rustfs"         # the display name S3 reports for the root user's buckets and objects

PrincipalKind = Literal["root", "user", "service-account", "sts", "anonymous"]


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. ``user`` is ``${aws:username}``: the IAM user, the parent user of a service account or
    an AssumeRole session, the OIDC subject (or configured claim), the LDAP username; "root" for root."""

    kind: PrincipalKind
    access_key: str                        # "" for anonymous
    user: str
    groups: tuple[str, ...] = ()           # IAM groups (users); mapped group names / DNs (STS)
    policy_names: tuple[str, ...] = ()     # STS from OIDC / LDAP: the managed policies the claims map to
    session_policy: str | None = None      # inline restriction (service account, STS): canonical JSON
    parent: str = ""                       # service account / AssumeRole: the parent user's name
    expires: float | None = None           # STS: epoch seconds
    role: str = ""                         # STS: the role name (from RoleArn) the session reports
    session_name: str = ""                 # STS: RoleSessionName
    # STS from OIDC / LDAP: the token's claims as condition values, ("jwt:sub", ("alice",)), ...
    claims: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def is_root(self) -> bool:
        return self.kind == "root"

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def arn(self) -> str:
        if self.kind == "root":
            return f"arn:aws:iam::{ACCOUNT_ID}:root"
        if self.kind == "anonymous":
            return "*"
        if self.kind == "sts":
            role = self.role or self.parent or self.user
            return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{self.session_name or self.user}"
        return user_arn(self.parent or self.user)

    @property
    def owner_id(self) -> str:
        """The canonical user ID S3 reports for owners: opaque, 64 hex digits, stable per user.

        Root: sha256 of the root access key (as before IAM existed, so existing buckets keep their owner);
        users and their service accounts / AssumeRole sessions: the user's; OIDC / LDAP sessions: their
        user's under "sts/"."""
        if self.kind == "root":
            text = self.access_key
        elif self.kind == "sts" and not self.parent:
            text = "sts/" + self.user
        elif self.kind == "anonymous":
            text = "anonymous"
        else:
            text = "user/" + (self.parent or self.user)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def display_name(self) -> str:
        if self.kind == "root":
            return ROOT_DISPLAY_NAME
        return self.parent or self.user

    def __repr__(self) -> str:    # no session policy text in logs
        return f"Principal({self.kind}, user={self.user!r}, access_key={self.access_key!r})"


ANONYMOUS = Principal("anonymous", "", "")
