"""The IAM store: users, access keys, groups, managed and inline policies, service accounts, STS sessions.

Everything lives in the cluster-wide config store (``cluster/config_store.py``), so every node sees a change
as it sees bucket changes (peer notification, else the periodic reload)::

    iam-user/<name>          {"name", "id", "created", "groups", "attached", "inline", "enabled"}
    iam-group/<name>         {"name", "id", "created", "members", "attached", "inline"}
    iam-policy/<name>        {"name", "id", "document", "description", "created", "updated"}
    iam-key/<access key>     {"ak", "secret": sealed, "user", "status", "created", "kind", "policy", "name", "desc"}
    iam-keyring/keyring      {"keys": [{"id", "kb", "kid", "wk", "created"}, ...]}   (newest last)

Secrets are sealed with AES-256-GCM under the newest keyring key (the access key as associated data); keyring
keys are random, each stored wrapped by the engine's KMS (``layer.sse.kms()``) and created once, under the
config store's lock. The newest keyring key also MACs session tokens (``iam/tokens.py``); older ones stay to
read. Secrets never appear in logs or reprs.

A user's groups are kept in the user record (what ``policies_for`` reads on every request) and the group's
members in the group record (what GetGroup lists); both change together, under the user's and then the group's
record lock. Parsed records are cached by their bytes, so a request costs the config store's freshness check.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage_engine import errors
from storage_engine.auth.credentials import Credentials, root_principal
from storage_engine.crypto.kms import KmsError
from storage_engine.iam import tokens
from storage_engine.iam.policy import Policy, PolicyError
from storage_engine.iam.principal import ACCOUNT_ID, Principal, user_arn
from storage_engine.iam.tokens import SessionCredentials

if TYPE_CHECKING:
    from storage_engine.cluster.config_store import ConfigStore
    from storage_engine.config import EngineSettings
    from storage_engine.crypto.sse import SseService

__all__ = ["AccessKey", "BUILTIN_POLICIES", "Group", "IamError", "IamStore", "ManagedPolicy", "User"]

log = logging.getLogger(__name__)

USER, GROUP, POLICY, KEY, KEYRING = "iam-user", "iam-group", "iam-policy", "iam-key", "iam-keyring"
KEYRING_NAME = "keyring"
MAX_KEYS_PER_USER = 2                 # AWS's limit of access keys per user (service accounts are not counted)
MAX_POLICY_BYTES = 6144               # AWS: a managed policy document is at most 6,144 characters
_NAME = re.compile(r"[\w+=,.@-]{1,64}")
_POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}")
_ACCESS_KEY = re.compile(r"[A-Za-z0-9]{16,128}")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0234567"

KeyStatus = Literal["Active", "Inactive"]
KeyKind = Literal["user", "service-account"]


# --- errors -------------------------------------------------------------------------------------------
class IamError(Exception):
    """An IAM API error: ``code`` (AWS's), ``status``, ``message``."""

    STATUS = {"NoSuchEntity": 404, "EntityAlreadyExists": 409, "DeleteConflict": 409, "LimitExceeded": 409,
              "MalformedPolicyDocument": 400, "InvalidInput": 400, "ValidationError": 400, "AccessDenied": 403,
              "InvalidAction": 400, "ServiceFailure": 500}

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        self.code = code
        self.message = message
        self.status = status if status is not None else self.STATUS.get(code, 400)
        super().__init__(f"{code}: {message}")


def _no_such(what: str, name: str) -> IamError:
    return IamError("NoSuchEntity", f"The {what} with name {name} cannot be found.")


def _exists(what: str, name: str) -> IamError:
    return IamError("EntityAlreadyExists", f"{what} with name {name} already exists.")


# --- records ------------------------------------------------------------------------------------------
def _arn(kind: str, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:{kind}/{name}"


@dataclass(slots=True)
class User:
    name: str
    user_id: str
    created: float
    groups: tuple[str, ...] = ()
    attached: tuple[str, ...] = ()
    inline: dict[str, str] = field(default_factory=dict)
    enabled: bool = True

    @property
    def arn(self) -> str:
        return user_arn(self.name)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.user_id, "created": self.created, "groups": list(self.groups),
                "attached": list(self.attached), "inline": self.inline, "enabled": self.enabled}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> User:
        return cls(doc["name"], doc["id"], doc["created"], tuple(doc["groups"]), tuple(doc["attached"]),
                   dict(doc["inline"]), bool(doc.get("enabled", True)))


@dataclass(slots=True)
class Group:
    name: str
    group_id: str
    created: float
    members: tuple[str, ...] = ()
    attached: tuple[str, ...] = ()
    inline: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return _arn("group", self.name)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.group_id, "created": self.created, "members": list(self.members),
                "attached": list(self.attached), "inline": self.inline}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Group:
        return cls(doc["name"], doc["id"], doc["created"], tuple(doc["members"]), tuple(doc["attached"]),
                   dict(doc["inline"]))


@dataclass(slots=True)
class ManagedPolicy:
    name: str
    policy_id: str
    document: str
    description: str = ""
    created: float = 0.0
    updated: float = 0.0
    builtin: bool = False

    @property
    def arn(self) -> str:
        return _arn("policy", self.name)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.policy_id, "document": self.document,
                "description": self.description, "created": self.created, "updated": self.updated}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ManagedPolicy:
        return cls(doc["name"], doc["id"], doc["document"], doc.get("description", ""), doc["created"],
                   doc["updated"])


@dataclass(slots=True)
class AccessKey:
    access_key: str
    secret_key: str = field(repr=False)
    user: str
    status: KeyStatus = "Active"
    created: float = 0.0
    kind: KeyKind = "user"
    session_policy: str | None = None
    name: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class _KeyRecord:
    """A parsed ``iam-key`` record; the secret still sealed."""

    access_key: str
    sealed: dict[str, str]
    user: str
    status: KeyStatus
    created: float
    kind: KeyKind
    session_policy: str | None
    name: str
    description: str

    def to_json(self) -> dict[str, Any]:
        return {"ak": self.access_key, "secret": self.sealed, "user": self.user, "status": self.status,
                "created": self.created, "kind": self.kind, "policy": self.session_policy, "name": self.name,
                "desc": self.description}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> _KeyRecord:
        return cls(doc["ak"], doc["secret"], doc["user"], doc["status"], doc["created"], doc["kind"],
                   doc.get("policy"), doc.get("name", ""), doc.get("desc", ""))


# --- built-in policies (MinIO's canned policies) ------------------------------------------------------
def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, separators=(",", ":"))


def _allow(actions: list[str], resource: str = "arn:aws:s3:::*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": [resource]}


# As MinIO's (minio/pkg policy/constants.go). consoleAdmin: MinIO's "admin:*" covers user and policy management;
# ours is the IAM API, so it also allows "iam:*" explicitly.
BUILTIN_DOCUMENTS: dict[str, str] = {
    "readwrite": _doc(_allow(["s3:*"])),
    "readonly": _doc(_allow(["s3:GetBucketLocation", "s3:GetObject"])),
    "writeonly": _doc(_allow(["s3:PutObject"])),
    "diagnostics": _doc(_allow(["admin:Profiling", "admin:ServerTrace", "admin:ConsoleLog", "admin:ServerInfo",
                                "admin:TopLocksInfo", "admin:OBDInfo", "admin:BandwidthMonitor",
                                "admin:Prometheus"])),
    "consoleAdmin": _doc(_allow(["admin:*"], "*"), _allow(["kms:*"], "*"), _allow(["iam:*"], "*"),
                         _allow(["s3:*"])),
}
BUILTIN_POLICIES = frozenset(BUILTIN_DOCUMENTS)
_BUILTIN = {name: ManagedPolicy(name, "ANPA" + name.upper()[:17].ljust(17, "0"), doc, f"Built-in policy {name}",
                                builtin=True) for name, doc in BUILTIN_DOCUMENTS.items()}
# Sessions derived from the root user (AssumeRole by root): everything, as root.
_ROOT_SESSION_POLICY = Policy.parse(_doc(_allow(["*"], "*")))
_DENY_ALL = Policy.parse(_doc({"Effect": "Deny", "Action": ["*"], "Resource": ["*"]}))


def _new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def parse_policy(document: str) -> Policy:
    """An identity policy document, or IamError MalformedPolicyDocument saying what is wrong."""
    if len(document) > MAX_POLICY_BYTES:
        raise IamError("LimitExceeded", f"Cannot exceed quota for PolicySize: {MAX_POLICY_BYTES}")
    try:
        return Policy.parse(document)
    except (PolicyError, ValueError) as exc:
        raise IamError("MalformedPolicyDocument", str(exc) or "The policy document is malformed.") from None


def policy_name_of(name_or_arn: str) -> str:
    """``readonly`` or ``arn:aws:iam::000000000000:policy/readonly`` (any path) -> ``readonly``."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("policy/"):
            raise IamError("InvalidInput", f"ARN {name_or_arn} is not valid.")
        name_or_arn = parts[5].rsplit("/", 1)[-1]
    if not _POLICY_NAME.fullmatch(name_or_arn):
        raise IamError("ValidationError", f"The specified value for policyName is invalid: {name_or_arn!r}")
    return name_or_arn


def _check_name(name: str, what: str = "userName") -> str:
    if not _NAME.fullmatch(name or ""):
        raise IamError("ValidationError", f"The specified value for {what} is invalid. It must contain only "
                                          "alphanumeric characters and/or the following: +=,.@_-")
    return name


T = TypeVar("T")


# --- the store ----------------------------------------------------------------------------------------
class IamStore:
    """IAM state over the config store, and the credential lookup of every request (``auth.verify``)."""

    def __init__(self, config: ConfigStore, sse: SseService, settings: EngineSettings) -> None:
        self.config = config
        self._sse = sse
        self.settings = settings
        self._root = Credentials(settings.access_key, settings.secret_key.get_secret_value(),
                                 root_principal(settings.access_key))
        self._parsed: dict[tuple[str, str], tuple[bytes, Any]] = {}        # record -> (its bytes, parsed)
        self._secrets: dict[str, tuple[bytes, Credentials]] = {}           # access key -> (record bytes, creds)
        self._keys: dict[str, bytes] = {}                                  # keyring key id -> key (unwrapped)
        self._policies: dict[str, tuple[str, Policy]] = {}                 # document -> parsed (bounded)
        self._keyring_lock = asyncio.Lock()

    @property
    def root(self) -> Credentials:
        return self._root

    # --- the per-request lookup -------------------------------------------------------------------
    async def lookup(self, access_key: str, session_token: str | None = None) -> Credentials | None:
        """The credentials of ``access_key``: root, a user's key, a service account, an STS session.

        None (-> InvalidAccessKeyId) for unknown and Inactive keys, disabled users, deleted parents;
        InvalidToken / ExpiredToken for STS keys with a missing, foreign, forged or expired token."""
        if access_key == self._root.access_key:
            return self._root
        if tokens.is_session_key(access_key):
            if not session_token:
                raise errors.InvalidToken()
            principal, secret = await tokens.open_session(session_token, access_key, self._keyring_key)
            if principal.parent and principal.parent != "root":
                parent = await self._user(principal.parent)
                if parent is None or not parent.enabled:
                    return None
            return Credentials(access_key, secret, principal)
        if not _ACCESS_KEY.fullmatch(access_key):
            return None
        data = await self.config.get(KEY, access_key)
        if data is None:
            return None
        cached = self._secrets.get(access_key)
        if cached is not None and cached[0] == data:
            creds = cached[1]
            record = self._record(KEY, access_key, data, _KeyRecord.from_json)
        else:
            record = self._record(KEY, access_key, data, _KeyRecord.from_json)
            secret = await self._open_secret(record.access_key, record.sealed)
            user = record.user
            if record.kind == "service-account":
                principal = Principal("service-account", access_key, user, session_policy=record.session_policy,
                                      parent=user)
            else:
                principal = Principal("user", access_key, user)
            creds = Credentials(access_key, secret, principal)
            if len(self._secrets) > 10000:
                self._secrets.clear()
            self._secrets[access_key] = (data, creds)
        if record.status != "Active":
            return None
        owner = await self._user(record.user)
        if owner is None or not owner.enabled:
            return None
        if creds.principal.groups != owner.groups and creds.principal.kind == "user":
            creds = Credentials(access_key, creds.secret_key,
                                Principal("user", access_key, record.user, groups=owner.groups))
            self._secrets[access_key] = (data, creds)
        return creds

    async def policies_for(self, principal: Principal) -> tuple[list[Policy], Policy | None]:
        """(identity policies, session policy) of ``principal``: a user's inline + attached + each group's
        inline + attached; an STS principal's mapped ``policy_names`` (OIDC / LDAP) or its parent's
        (AssumeRole); a service account's parent's. Root and anonymous have none here."""
        session = self._policy(principal.session_policy) if principal.session_policy else None
        if principal.kind in ("root", "anonymous"):
            return [], session
        if principal.kind == "sts" and not principal.parent:
            return [p for p in [await self._managed_policy(n) for n in principal.policy_names] if p], session
        name = principal.parent or principal.user
        if name == "root" and principal.kind == "sts":
            return [_ROOT_SESSION_POLICY], session
        user = await self._user(name)
        if user is None or not user.enabled:
            return [], session
        out = [self._policy(doc) for doc in user.inline.values()]
        out += [p for p in [await self._managed_policy(n) for n in user.attached] if p]
        for group_name in user.groups:
            group = await self._group(group_name)
            if group is None:
                continue
            out += [self._policy(doc) for doc in group.inline.values()]
            out += [p for p in [await self._managed_policy(n) for n in group.attached] if p]
        return out, session

    async def issue_session(self, principal: Principal, duration_seconds: int) -> SessionCredentials:
        """Stateless STS credentials for ``principal`` (see ``iam/tokens.py``)."""
        key_id, key = await self._newest_key()
        creds, _ = tokens.make_session(key_id, key, principal, duration_seconds)
        return creds

    # --- users ------------------------------------------------------------------------------------
    async def create_user(self, name: str) -> User:
        _check_name(name)
        if name == "root":
            raise IamError("InvalidInput", "A user cannot be named root.")
        async with self.config.lock(USER, name):
            if await self._user(name) is not None:
                raise _exists("User", name)
            user = User(name, _new_id("AIDA"), time.time())
            await self._put(USER, name, user.to_json())
        return user

    async def get_user(self, name: str) -> User:
        user = await self._user(_check_name(name))
        if user is None:
            raise _no_such("user", name)
        return user

    async def list_users(self) -> list[User]:
        return [u for u in [await self._user(n) for n in await self.config.names(USER)] if u is not None]

    async def delete_user(self, name: str) -> None:
        async with self.config.lock(USER, name):
            user = await self.get_user(name)
            if any(k.user == name for k in await self._key_records()):
                raise IamError("DeleteConflict", "Cannot delete entity, must delete access keys first.")
            if user.inline:
                raise IamError("DeleteConflict", "Cannot delete entity, must delete policies first.")
            if user.attached:
                raise IamError("DeleteConflict", "Cannot delete entity, must detach all policies first.")
            if user.groups:
                raise IamError("DeleteConflict", "Cannot delete entity, must remove users from group first.")
            await self.config.delete(USER, name)

    async def set_user_enabled(self, name: str, enabled: bool) -> User:
        return await self._update_user(name, lambda u: setattr(u, "enabled", enabled))

    # --- access keys ------------------------------------------------------------------------------
    async def create_access_key(self, user: str, *, access_key: str | None = None,
                                secret_key: str | None = None) -> AccessKey:
        """A new key of ``user`` (at most two); ``access_key`` / ``secret_key`` import given ones."""
        async with self.config.lock(USER, user):
            await self.get_user(user)
            if sum(k.user == user and k.kind == "user" for k in await self._key_records()) >= MAX_KEYS_PER_USER:
                raise IamError("LimitExceeded", f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}")
            return await self._new_key(user, "user", None, "", "", access_key, secret_key)

    async def list_access_keys(self, user: str) -> list[AccessKey]:
        await self.get_user(user)
        return [self._public(k) for k in await self._key_records() if k.user == user and k.kind == "user"]

    async def update_access_key(self, user: str, access_key: str, status: str) -> None:
        if status not in ("Active", "Inactive"):
            raise IamError("ValidationError", "Status must be Active or Inactive.")
        async with self.config.lock(KEY, access_key):
            record = await self._user_key(user, access_key)
            doc = record.to_json()
            doc["status"] = status
            await self._put(KEY, access_key, doc)

    async def delete_access_key(self, user: str, access_key: str) -> None:
        async with self.config.lock(KEY, access_key):
            await self._user_key(user, access_key)
            await self.config.delete(KEY, access_key)

    # --- service accounts -------------------------------------------------------------------------
    async def create_service_account(self, user: str, policy: str | None = None, name: str = "",
                                     description: str = "", *, access_key: str | None = None,
                                     secret_key: str | None = None) -> AccessKey:
        """An extra key of ``user``, acting with the user's policies narrowed by ``policy``."""
        canonical = parse_policy(policy).to_json() if policy else None
        async with self.config.lock(USER, user):
            await self.get_user(user)
            return await self._new_key(user, "service-account", canonical, name, description, access_key,
                                       secret_key)

    async def list_service_accounts(self, user: str) -> list[AccessKey]:
        await self.get_user(user)
        return [self._public(k) for k in await self._key_records() if k.user == user and k.kind == "service-account"]

    async def delete_service_account(self, access_key: str) -> None:
        async with self.config.lock(KEY, access_key):
            record = await self._key(access_key)
            if record is None or record.kind != "service-account":
                raise _no_such("service account", access_key)
            await self.config.delete(KEY, access_key)

    # --- inline user policies ---------------------------------------------------------------------
    async def put_user_policy(self, user: str, policy_name: str, document: str) -> None:
        await _put_inline(self._update_user, user, policy_name, document)

    async def get_user_policy(self, user: str, policy_name: str) -> str:
        return _inline_document(await self.get_user(user), "user policy", policy_name)

    async def list_user_policies(self, user: str) -> list[str]:
        return sorted((await self.get_user(user)).inline)

    async def delete_user_policy(self, user: str, policy_name: str) -> None:
        await _delete_inline(self._update_user, user, "user policy", policy_name)

    # --- managed policies -------------------------------------------------------------------------
    async def create_policy(self, name: str, document: str, description: str = "") -> ManagedPolicy:
        name = policy_name_of(name)
        parse_policy(document)
        if name in BUILTIN_POLICIES:
            raise _exists("Policy", name)
        async with self.config.lock(POLICY, name):
            if await self._stored_policy(name) is not None:
                raise _exists("A policy", name)
            now = time.time()
            policy = ManagedPolicy(name, _new_id("ANPA"), document, description, now, now)
            await self._put(POLICY, name, policy.to_json())
        return policy

    async def put_policy(self, name: str, document: str, description: str = "") -> ManagedPolicy:
        """Create ``name`` or replace its document (the bootstrap file's converge)."""
        name = policy_name_of(name)
        parse_policy(document)
        if name in BUILTIN_POLICIES:
            raise IamError("InvalidInput", f"{name} is a built-in policy and cannot be changed.")
        async with self.config.lock(POLICY, name):
            now = time.time()
            old = await self._stored_policy(name)
            policy = ManagedPolicy(name, old.policy_id if old else _new_id("ANPA"), document,
                                   description or (old.description if old else ""), old.created if old else now, now)
            await self._put(POLICY, name, policy.to_json())
        return policy

    async def get_policy(self, name_or_arn: str) -> ManagedPolicy:
        name = policy_name_of(name_or_arn)
        policy = _BUILTIN.get(name) or await self._stored_policy(name)
        if policy is None:
            raise IamError("NoSuchEntity", f"Policy {_arn('policy', name)} does not exist or is not attachable.")
        return policy

    async def list_policies(self) -> list[ManagedPolicy]:
        stored = [p for p in [await self._stored_policy(n) for n in await self.config.names(POLICY)] if p]
        return sorted([*_BUILTIN.values(), *stored], key=lambda p: p.name)

    async def delete_policy(self, name_or_arn: str) -> None:
        policy = await self.get_policy(name_or_arn)
        if policy.builtin:
            raise IamError("InvalidInput", f"{policy.name} is a built-in policy and cannot be deleted.")
        if await self.policy_attachments(policy.name):
            raise IamError("DeleteConflict", "Cannot delete a policy attached to entities.")
        async with self.config.lock(POLICY, policy.name):
            await self.config.delete(POLICY, policy.name)

    async def policy_attachments(self, name: str) -> list[str]:
        """The ARNs of the users and groups ``name`` is attached to."""
        users = [u.arn for u in await self.list_users() if name in u.attached]
        return users + [g.arn for g in await self.list_groups() if name in g.attached]

    async def attach_user_policy(self, user: str, policy_arn: str) -> None:
        name = (await self.get_policy(policy_arn)).name
        await self._update_user(user, lambda u: setattr(u, "attached", _added(u.attached, name)))

    async def detach_user_policy(self, user: str, policy_arn: str) -> None:
        name = policy_name_of(policy_arn)
        await self._update_user(user, lambda u: setattr(u, "attached", _removed(u.attached, name, "Policy")))

    async def list_attached_user_policies(self, user: str) -> list[ManagedPolicy]:
        return [await self._attached(n) for n in (await self.get_user(user)).attached]

    # --- groups -----------------------------------------------------------------------------------
    async def create_group(self, name: str) -> Group:
        _check_name(name, "groupName")
        async with self.config.lock(GROUP, name):
            if await self._group(name) is not None:
                raise _exists("Group", name)
            group = Group(name, _new_id("AGPA"), time.time())
            await self._put(GROUP, name, group.to_json())
        return group

    async def get_group(self, name: str) -> Group:
        group = await self._group(_check_name(name, "groupName"))
        if group is None:
            raise _no_such("group", name)
        return group

    async def list_groups(self) -> list[Group]:
        return [g for g in [await self._group(n) for n in await self.config.names(GROUP)] if g is not None]

    async def delete_group(self, name: str) -> None:
        async with self.config.lock(GROUP, name):
            group = await self.get_group(name)
            if group.members:
                raise IamError("DeleteConflict", "Cannot delete entity, must remove users from group first.")
            if group.inline or group.attached:
                raise IamError("DeleteConflict", "Cannot delete entity, must delete policies first.")
            await self.config.delete(GROUP, name)

    async def add_user_to_group(self, group: str, user: str) -> None:
        async with self.config.lock(USER, user):
            found = await self.get_user(user)
            async with self.config.lock(GROUP, group):
                g = await self.get_group(group)
                if user not in g.members:
                    g.members = (*g.members, user)
                    await self._put(GROUP, group, g.to_json())
            if group not in found.groups:
                found.groups = (*found.groups, group)
                await self._put(USER, user, found.to_json())

    async def remove_user_from_group(self, group: str, user: str) -> None:
        async with self.config.lock(USER, user):
            found = await self.get_user(user)
            async with self.config.lock(GROUP, group):
                g = await self.get_group(group)
                if user not in g.members and group not in found.groups:
                    raise IamError("NoSuchEntity", f"User {user} is not in group {group}.")
                g.members = tuple(m for m in g.members if m != user)
                await self._put(GROUP, group, g.to_json())
            found.groups = tuple(n for n in found.groups if n != group)
            await self._put(USER, user, found.to_json())

    async def list_groups_for_user(self, user: str) -> list[Group]:
        return [g for g in [await self._group(n) for n in (await self.get_user(user)).groups] if g is not None]

    async def group_members(self, group: str) -> list[User]:
        return [u for u in [await self._user(n) for n in (await self.get_group(group)).members] if u is not None]

    async def put_group_policy(self, group: str, policy_name: str, document: str) -> None:
        await _put_inline(self._update_group, group, policy_name, document)

    async def get_group_policy(self, group: str, policy_name: str) -> str:
        return _inline_document(await self.get_group(group), "group policy", policy_name)

    async def list_group_policies(self, group: str) -> list[str]:
        return sorted((await self.get_group(group)).inline)

    async def delete_group_policy(self, group: str, policy_name: str) -> None:
        await _delete_inline(self._update_group, group, "group policy", policy_name)

    async def attach_group_policy(self, group: str, policy_arn: str) -> None:
        name = (await self.get_policy(policy_arn)).name
        await self._update_group(group, lambda g: setattr(g, "attached", _added(g.attached, name)))

    async def detach_group_policy(self, group: str, policy_arn: str) -> None:
        name = policy_name_of(policy_arn)
        await self._update_group(group, lambda g: setattr(g, "attached", _removed(g.attached, name, "Policy")))

    async def list_attached_group_policies(self, group: str) -> list[ManagedPolicy]:
        return [await self._attached(n) for n in (await self.get_group(group)).attached]

    # --- the keyring ------------------------------------------------------------------------------
    async def rotate_key(self) -> str:
        """A new newest keyring key (secrets sealed and sessions issued from now on use it); its id."""
        async with self.config.lock(KEYRING, KEYRING_NAME):
            entries = await self._keyring()
            entry = await self._make_key_entry()
            await self._put(KEYRING, KEYRING_NAME, {"keys": [*entries, entry]})
        resealed = 0
        for record in await self._key_records():     # secrets move to the new key; old keys stay to read
            async with self.config.lock(KEY, record.access_key):
                current = await self._key(record.access_key)
                if current is None or current.sealed.get("kid") == entry["id"]:
                    continue
                secret = await self._open_secret(current.access_key, current.sealed)
                doc = current.to_json()
                doc["secret"] = await self._seal(current.access_key, secret)
                await self._put(KEY, current.access_key, doc)
                resealed += 1
        log.info("IAM keyring: new key %s; %d secret(s) sealed again under it", entry["id"], resealed)
        return str(entry["id"])

    async def _keyring(self) -> list[dict[str, Any]]:
        data = await self.config.get(KEYRING, KEYRING_NAME)
        if data is None:
            return []
        return list(self._record(KEYRING, KEYRING_NAME, data, lambda doc: doc["keys"]))

    async def _make_key_entry(self) -> dict[str, Any]:
        kms = await self._sse.kms()
        try:
            data_key = await kms.generate_data_key(kms.default_key_id)
        except KmsError as exc:
            raise errors.KMSUnavailable(f"The KMS cannot make an IAM keyring key: {type(exc).__name__}") from exc
        key_id = f"k{int(time.time())}-{secrets.token_hex(4)}"
        self._keys[key_id] = data_key.plaintext
        return {"id": key_id, "kb": kms.backend, "kid": kms.default_key_id,
                "wk": base64.b64encode(data_key.wrapped).decode(), "created": time.time()}

    async def _newest_key(self) -> tuple[str, bytes]:
        entries = await self._keyring()
        if not entries:
            async with self._keyring_lock, self.config.lock(KEYRING, KEYRING_NAME):
                entries = await self._keyring()
                if not entries:
                    entries = [await self._make_key_entry()]
                    await self._put(KEYRING, KEYRING_NAME, {"keys": entries})
        entry = entries[-1]
        key = await self._keyring_key(str(entry["id"]))
        if key is None:
            raise errors.InternalError()
        return str(entry["id"]), key

    async def _keyring_key(self, key_id: str) -> bytes | None:
        key = self._keys.get(key_id)
        if key is not None:
            return key
        entry = next((e for e in await self._keyring() if e["id"] == key_id), None)
        if entry is None:
            return None
        kms = await self._sse.kms()
        try:
            key = await kms.decrypt(str(entry["kid"]), base64.b64decode(entry["wk"]))
        except KmsError as exc:
            raise errors.KMSUnavailable(f"The KMS cannot open IAM keyring key {key_id}: {type(exc).__name__}") from exc
        self._keys[key_id] = key
        return key

    async def _seal(self, access_key: str, secret: str) -> dict[str, str]:
        return await self.seal(f"iam-secret:{access_key}", secret)

    async def _open_secret(self, access_key: str, sealed: dict[str, str]) -> str:
        return await self.unseal(f"iam-secret:{access_key}", sealed)

    async def seal(self, label: str, secret: str) -> dict[str, str]:
        """``secret`` sealed under the newest keyring key, bound to ``label`` (what it is the secret of)."""
        key_id, key = await self._newest_key()
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, secret.encode(), label.encode())
        return {"kid": key_id, "n": base64.b64encode(nonce).decode(), "c": base64.b64encode(sealed).decode()}

    async def unseal(self, label: str, sealed: dict[str, str]) -> str:
        """What ``seal(label, ...)`` sealed; InternalError (logged) when it does not open."""
        key = await self._keyring_key(sealed["kid"])
        if key is None:
            log.error("%s: sealed under an unknown keyring key", label)
            raise errors.InternalError()
        try:
            plain = AESGCM(key).decrypt(base64.b64decode(sealed["n"]), base64.b64decode(sealed["c"]), label.encode())
        except InvalidTag:
            log.error("%s: the sealed secret does not open", label)
            raise errors.InternalError() from None
        return plain.decode()

    # --- helpers ----------------------------------------------------------------------------------
    def _record(self, kind: str, name: str, data: bytes, parse: Callable[[dict[str, Any]], T]) -> T:
        cached = self._parsed.get((kind, name))
        if cached is not None and (cached[0] is data or cached[0] == data):
            return cached[1]
        value = parse(json.loads(data))
        if len(self._parsed) > 20000:
            self._parsed.clear()
        self._parsed[(kind, name)] = (data, value)
        return value

    async def _put(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        await self.config.put(kind, name, json.dumps(doc, separators=(",", ":")).encode())

    async def _user(self, name: str) -> User | None:
        data = await self.config.get(USER, name)
        return None if data is None else self._copy(self._record(USER, name, data, User.from_json))

    async def _group(self, name: str) -> Group | None:
        data = await self.config.get(GROUP, name)
        return None if data is None else self._copy(self._record(GROUP, name, data, Group.from_json))

    @staticmethod
    def _copy(value: T) -> T:
        """A cached record, copied so a caller's changes never reach the cache."""
        if isinstance(value, User):
            return User(value.name, value.user_id, value.created, value.groups, value.attached,
                        dict(value.inline), value.enabled)  # type: ignore[return-value]
        if isinstance(value, Group):
            return Group(value.name, value.group_id, value.created, value.members, value.attached,
                         dict(value.inline))  # type: ignore[return-value]
        return value

    async def _stored_policy(self, name: str) -> ManagedPolicy | None:
        data = await self.config.get(POLICY, name)
        return None if data is None else self._record(POLICY, name, data, ManagedPolicy.from_json)

    async def _managed_policy(self, name: str) -> Policy | None:
        managed = _BUILTIN.get(name) or await self._stored_policy(name)
        return None if managed is None else self._policy(managed.document)

    async def _attached(self, name: str) -> ManagedPolicy:
        return _BUILTIN.get(name) or await self._stored_policy(name) or ManagedPolicy(name, "", "{}")

    def _policy(self, document: str) -> Policy:
        cached = self._policies.get(document)
        if cached is not None:
            return cached[1]
        try:
            parsed = Policy.parse(document)
        except (PolicyError, ValueError):
            log.warning("a stored IAM policy no longer parses: it denies everything until replaced")
            parsed = _DENY_ALL
        if len(self._policies) > 4096:
            self._policies.clear()
        self._policies[document] = (document, parsed)
        return parsed

    async def _key(self, access_key: str) -> _KeyRecord | None:
        data = await self.config.get(KEY, access_key)
        return None if data is None else self._record(KEY, access_key, data, _KeyRecord.from_json)

    async def _key_records(self) -> list[_KeyRecord]:
        return [k for k in [await self._key(n) for n in await self.config.names(KEY)] if k is not None]

    async def _user_key(self, user: str, access_key: str) -> _KeyRecord:
        await self.get_user(user)
        record = await self._key(access_key)
        if record is None or record.user != user or record.kind != "user":
            raise IamError("NoSuchEntity", f"The Access Key with id {access_key} cannot be found.")
        return record

    async def _new_key(self, user: str, kind: KeyKind, policy: str | None, name: str, description: str,
                       access_key: str | None, secret_key: str | None) -> AccessKey:
        if access_key is not None and (not _ACCESS_KEY.fullmatch(access_key) or tokens.is_session_key(access_key)
                                       or access_key == self._root.access_key):
            raise IamError("InvalidInput", "The access key must be 16 to 128 letters and digits, not the root "
                                           "user's, and not start with ASIA.")
        if secret_key is not None and not 8 <= len(secret_key) <= 128:
            raise IamError("InvalidInput", "The secret key must be 8 to 128 characters.")
        access_key = access_key or tokens.new_access_key()
        secret_key = secret_key or tokens.new_secret_key()
        async with self.config.lock(KEY, access_key):
            if await self._key(access_key) is not None:
                raise _exists("Access key", access_key)
            record = _KeyRecord(access_key, await self._seal(access_key, secret_key), user, "Active", time.time(),
                                kind, policy, name, description)
            await self._put(KEY, access_key, record.to_json())
        return AccessKey(access_key, secret_key, user, "Active", record.created, kind, policy, name, description)

    @staticmethod
    def _public(record: _KeyRecord) -> AccessKey:
        return AccessKey(record.access_key, "", record.user, record.status, record.created, record.kind,
                         record.session_policy, record.name, record.description)

    async def _update_user(self, name: str, change: Callable[[User], object]) -> User:
        async with self.config.lock(USER, name):
            user = await self.get_user(name)
            change(user)
            await self._put(USER, name, user.to_json())
            return user

    async def _update_group(self, name: str, change: Callable[[Group], object]) -> Group:
        async with self.config.lock(GROUP, name):
            group = await self.get_group(name)
            change(group)
            await self._put(GROUP, name, group.to_json())
            return group


def _added(items: tuple[str, ...], name: str) -> tuple[str, ...]:
    return items if name in items else (*items, name)


def _removed(items: tuple[str, ...], name: str, what: str) -> tuple[str, ...]:
    if name not in items:
        raise IamError("NoSuchEntity", f"{what} {_arn('policy', name)} was not found.")
    return tuple(i for i in items if i != name)


# --- inline policies of users and groups: one piece of code for both ------------------------------------------
_Update = Callable[[str, Callable[[Any], object]], Awaitable[object]]


async def _put_inline(update: _Update, owner: str, policy_name: str, document: str) -> None:
    """Put{User,Group}Policy: ``update`` is the store's ``_update_user`` / ``_update_group``."""
    parse_policy(document)
    name = policy_name_of(policy_name)
    await update(owner, lambda o: o.inline.__setitem__(name, document))


def _inline_document(owner: User | Group, what: str, policy_name: str) -> str:
    found = owner.inline.get(policy_name)
    if found is None:
        raise _no_such(what, policy_name)
    return found


async def _delete_inline(update: _Update, owner: str, what: str, policy_name: str) -> None:
    def change(o: User | Group) -> None:
        if o.inline.pop(policy_name, None) is None:
            raise _no_such(what, policy_name)
    await update(owner, change)
