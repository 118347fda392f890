"""The IAM bootstrap document: policies, groups and users declared in a file, applied at every start.

    parse_bootstrap(document) -> Bootstrap                 BootstrapError: one line naming the field
    load_bootstrap(path) -> (Bootstrap, {access key: secret})   ... or the file (secret files read here)
    await apply_bootstrap_file(store, path)                create what is missing, converge what it declares

The CLI loads the document before the server starts (a bad one stops it with one line); the object layer applies it
once the IAM store is up (`objects/layer.py`), on every start, on every node.

The document (``RUSTFS_IAM_BOOTSTRAP_FILE``; the component renders it as a ConfigMap, docs/iam.md "Component")::

    {"policies": {"<name>": <IAM policy document>},
     "groups":   {"<name>": {"policies": ["<policy>", ...]}},
     "users":    {"<name>": {"groups": ["<group>"], "policies": ["<policy>"],
                             "access_key": "<20+ of A-Z 0-9>", "secret_key_file": "/path/to/file"}}}

Secrets only by file reference: a user's secret key is read from ``secret_key_file`` (a mounted Secret), and a
missing or unreadable file stops the engine with one line. Policy names may be the documents declared here or
the store's built-in policies (``BUILTIN_POLICIES``); groups must be declared here.

Applying is idempotent and never deletes what the document does not declare: a declared policy gets the declared
document; a declared group gets exactly the declared policies attached; a declared user gets exactly the declared
groups and policies, and its declared access key with the secret from the file (a changed file replaces the key's secret; a key an
administrator deactivated stays so). Undeclared users, groups,
policies, keys and memberships of undeclared users are left alone. Every node of a distributed engine applies the
document; it does so under the config store's lock ``iam-bootstrap/apply``, and a concurrent creation by another
node (EntityAlreadyExists) is taken as done.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from storage_engine.iam.policy import Policy, PolicyError

if TYPE_CHECKING:
    from storage_engine.iam.store import IamStore

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["BUILTIN_POLICIES", "Bootstrap", "BootstrapError", "BootstrapGroup", "BootstrapUser", "apply_bootstrap",
           "apply_bootstrap_file",
           "load_bootstrap", "parse_bootstrap"]

# The store's built-in managed policies (docs/iam.md "The IAM store"), which a document may name without declaring.
BUILTIN_POLICIES = frozenset({"readwrite", "readonly", "writeonly", "diagnostics", "consoleAdmin"})

# IAM's name rules: users and groups [\w+=,.@-]{1,64} / {1,128}, policies {1,128}.
UserName = Annotated[str, StringConstraints(pattern=r"^[\w+=,.@-]{1,64}$")]
GroupName = Annotated[str, StringConstraints(pattern=r"^[\w+=,.@-]{1,128}$")]
PolicyName = Annotated[str, StringConstraints(pattern=r"^[\w+=,.@-]{1,128}$")]
AccessKeyId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{16,128}$")]

SECRET_MIN, SECRET_MAX = 8, 128
LOCK = ("iam-bootstrap", "apply")


class BootstrapError(ValueError):
    """The bootstrap document or a file it names is unusable; the message is one line naming the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BootstrapGroup(_Strict):
    """A group and the managed policies attached to it."""

    policies: list[PolicyName] = Field(default_factory=list, description="Attached policies. Default none.")


class BootstrapUser(_Strict):
    """A user, its groups and attached policies, and optionally one access key whose secret is in a file."""

    groups: list[GroupName] = Field(default_factory=list, description="Groups (declared ones). Default none.")
    policies: list[PolicyName] = Field(default_factory=list, description="Attached policies. Default none.")
    access_key: AccessKeyId | None = Field(
        default=None, description="The user's access key id; needs secret_key_file. Default: none (no key).")
    secret_key_file: str | None = Field(
        default=None, description="File holding the key's secret (a mounted Secret); needs access_key. Default none.")

    @model_validator(mode="after")
    def _key_pair(self) -> BootstrapUser:
        if (self.access_key is None) != (self.secret_key_file is None):
            raise ValueError("access_key and secret_key_file go together: give both or neither")
        if self.secret_key_file is not None and not self.secret_key_file.startswith("/"):
            raise ValueError(f"secret_key_file must be an absolute path, got {self.secret_key_file!r}")
        return self


class Bootstrap(_Strict):
    """The whole document. `secrets` (access key -> secret) is filled by `load_bootstrap` from the files."""

    policies: dict[PolicyName, dict[str, Any]] = Field(
        default_factory=dict, description="Managed policies by name: IAM policy documents. Default none.")
    groups: dict[GroupName, BootstrapGroup] = Field(default_factory=dict, description="Groups by name. Default none.")
    users: dict[UserName, BootstrapUser] = Field(default_factory=dict, description="Users by name. Default none.")

    @field_validator("policies")
    @classmethod
    def _documents(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, document in value.items():
            try:
                Policy.from_document(document)
            except PolicyError as exc:
                raise ValueError(f"policy {name!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _references(self) -> Bootstrap:
        known = BUILTIN_POLICIES | set(self.policies)
        for kind, entries in (("groups", self.groups), ("users", self.users)):
            for name, entry in entries.items():
                unknown = sorted(set(entry.policies) - known)
                if unknown:
                    raise ValueError(f"{kind}.{name}.policies: {unknown} are neither declared in policies nor "
                                     f"built in ({sorted(BUILTIN_POLICIES)})")
        keys: dict[str, str] = {}
        for name, user in self.users.items():
            if name.lower() == "root":
                raise ValueError("users.root: 'root' is the root user, not an IAM user name")
            missing = sorted(set(user.groups) - set(self.groups))
            if missing:
                raise ValueError(f"users.{name}.groups: {missing} are not declared in groups")
            if user.access_key is not None:
                if user.access_key in keys:
                    raise ValueError(f"users.{name}.access_key: already the key of user {keys[user.access_key]!r}")
                keys[user.access_key] = name
        return self

    def members(self, group: str) -> list[str]:
        """The declared users of a group."""
        return sorted(name for name, user in self.users.items() if group in user.groups)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): what the component writes into its ConfigMap."""
        return json.dumps(self.model_dump(mode="json", exclude_defaults=True), sort_keys=True, indent=2)


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "document"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def parse_bootstrap(document: object) -> Bootstrap:
    """Validate a decoded document (no files read). BootstrapError names the first bad field."""
    try:
        return Bootstrap.model_validate(document)
    except ValidationError as exc:
        raise BootstrapError(_one_line(exc)) from None


def load_bootstrap(path: str) -> tuple[Bootstrap, dict[str, str]]:
    """Read and validate the document at `path` and every secret file it names -> (document, {access key: secret}).

    BootstrapError (one line, never a secret) when the file is missing or not JSON, a field is wrong, or a
    user's secret file is missing, unreadable, or not a usable secret."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BootstrapError(f"cannot read the IAM bootstrap file {path}: {exc.strerror or exc}") from None
    try:
        decoded = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BootstrapError(f"IAM bootstrap file {path} is not JSON: {exc.msg} (line {exc.lineno})") from None
    bootstrap = parse_bootstrap(decoded)
    secrets: dict[str, str] = {}
    for name, user in bootstrap.users.items():
        if user.access_key is None or user.secret_key_file is None:
            continue
        try:
            secret = Path(user.secret_key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable text"
            raise BootstrapError(f"users.{name}.secret_key_file: cannot read {user.secret_key_file}: "
                                 f"{reason}") from None
        if not SECRET_MIN <= len(secret) <= SECRET_MAX or any(c.isspace() for c in secret):
            raise BootstrapError(f"users.{name}.secret_key_file: the secret in {user.secret_key_file} must be "
                                 f"{SECRET_MIN} to {SECRET_MAX} characters without spaces")
        secrets[user.access_key] = secret
    return bootstrap, secrets


async def apply_bootstrap(store: IamStore, bootstrap: Bootstrap, secrets: dict[str, str]) -> None:
    """Create what is missing and converge what `bootstrap` declares (module docstring); deletes nothing else.
    Runs under the config store's lock LOCK, so the nodes of a distributed engine apply it one after another."""
    async with store.config.lock(*LOCK):
        for name, document in bootstrap.policies.items():
            canonical = Policy.from_document(document).to_json()
            existing = await _absent_is_none(store.get_policy(name))
            if existing is None or Policy.parse(existing.document).to_json() != canonical:
                await store.put_policy(name, canonical)
        for name, group in bootstrap.groups.items():
            await _ensure_group(store, name, group)
        for name, user in bootstrap.users.items():
            await _ensure_user(store, name, user, secrets.get(user.access_key or ""))


async def apply_bootstrap_file(store: IamStore, path: str) -> None:
    """Load `path` (and its secret files) and apply it: called once the IAM store is up, at every start."""
    bootstrap, secrets = load_bootstrap(path)
    await apply_bootstrap(store, bootstrap, secrets)
    log.info("IAM bootstrap applied: %d policies, %d groups, %d users", len(bootstrap.policies),
             len(bootstrap.groups), len(bootstrap.users))


async def _get_or_create(get: Callable[[str], Awaitable[T]], create: Callable[[str], Awaitable[object]],
                         name: str) -> T:
    """The user / group ``name``, created when missing (a racing node's EntityAlreadyExists is fine)."""
    existing = await _absent_is_none(get(name))
    if existing is None:
        await _exists_is_fine(create(name))
        existing = await get(name)
    return existing


async def _converge(declared: Iterable[str], current: Iterable[str], add: Callable[[str], Awaitable[object]],
                    remove: Callable[[str], Awaitable[object]]) -> None:
    """Make ``current`` (attachments, memberships) exactly ``declared``: add the missing, remove the undeclared
    (one already gone is fine)."""
    wanted, present = set(declared), set(current)
    for item in sorted(wanted - present):
        await add(item)
    for item in sorted(present - wanted):
        await _absent_is_none(remove(item))


async def _ensure_group(store: IamStore, name: str, group: BootstrapGroup) -> None:
    existing = await _get_or_create(store.get_group, store.create_group, name)
    await _converge(group.policies, existing.attached, lambda p: store.attach_group_policy(name, p),
                    lambda p: store.detach_group_policy(name, p))


async def _ensure_user(store: IamStore, name: str, user: BootstrapUser, secret: str | None) -> None:
    existing = await _get_or_create(store.get_user, store.create_user, name)
    await _converge(user.groups, existing.groups, lambda g: store.add_user_to_group(g, name),
                    lambda g: store.remove_user_from_group(g, name))
    await _converge(user.policies, existing.attached, lambda p: store.attach_user_policy(name, p),
                    lambda p: store.detach_user_policy(name, p))
    if user.access_key is None or secret is None:
        return
    keys = {k.access_key: k for k in await store.list_access_keys(name)}
    if user.access_key in keys:
        current = await store.lookup(user.access_key)
        if current is None or current.secret_key == secret:   # the same key, or deactivated by an admin: kept
            return
        await _absent_is_none(store.delete_access_key(name, user.access_key))  # its secret file changed
    await store.create_access_key(name, access_key=user.access_key, secret_key=secret)


async def _absent_is_none(call: Awaitable[T]) -> T | None:
    from storage_engine.iam.store import IamError

    try:
        return await call
    except IamError as exc:
        if exc.code != "NoSuchEntity":
            raise
        return None


async def _exists_is_fine(call: Awaitable[Any]) -> None:
    from storage_engine.iam.store import IamError

    try:
        await call
    except IamError as exc:
        if exc.code != "EntityAlreadyExists":
            raise
