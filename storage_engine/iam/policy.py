"""IAM policy documents: parse and validate them as AWS does, and evaluate them against a request (pure, no I/O).

    Policy.parse(text, bucket_policy=False) -> Policy      PolicyError names what is wrong
    evaluate(policies, Request(...)) -> "allow" | "deny" | "none"

A document is ``{"Version": ..., "Id": ..., "Statement": statement | [statements]}``; a statement has ``Sid``,
``Effect`` (``Allow`` | ``Deny``), exactly one of ``Action`` / ``NotAction`` and of ``Resource`` /
``NotResource``, an optional ``Condition`` and, in bucket policies only (where one is required), exactly one of
``Principal`` / ``NotPrincipal``. Unknown elements, operators and effects are refused.

Evaluation (AWS's, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
a statement applies when its action, resource, principal and every condition match; an explicit Deny in any
policy wins, else any Allow allows, else the answer is "none" (an implicit deny, which the caller may still
turn into an allow from another source such as an ACL).

Matching: actions case-insensitively with ``*`` / ``?``; resources case-sensitively with ``*`` / ``?`` and
policy variables (``${aws:username}``; ``${aws:username, 'default'}``; escapes ``${*}``, ``${?}``, ``${$}``);
a variable with no value makes that resource match nothing. Variables are expanded only in version
"2012-10-17" documents; in "2008-10-17" (the default when Version is missing) ``${...}`` is literal text.
Principals: ``"*"`` or ``{"AWS": "*"}`` is everyone including anonymous callers; ``{"AWS": arn}`` that
principal; an account (``"123456789012"`` or ``arn:aws:iam::123456789012:root``) every principal of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from storage_engine.iam.conditions import Condition, PolicyError, check_variables, wildcard_match

__all__ = ["Decision", "Policy", "PolicyError", "Principal", "Request", "Statement", "evaluate"]

Decision = Literal["allow", "deny", "none"]

VERSIONS = ("2012-10-17", "2008-10-17")
DEFAULT_VERSION = "2008-10-17"       # AWS's when Version is omitted (policy variables are then literal text)
_DOCUMENT_KEYS = ("Version", "Id", "Statement")
_STATEMENT_KEYS = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                   "NotResource", "Condition")
_PRINCIPAL_TYPES = ("AWS", "CanonicalUser", "Federated", "Service")
_ACTION = re.compile(r"\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+")
_ACCOUNT = re.compile(r"\d{12}")
_ACCOUNT_ROOT = re.compile(r"arn:[^:]+:iam::(\d{12}):root")


@dataclass(frozen=True, slots=True)
class Request:
    """What a decision needs to know about one request."""
    action: str                                          # "s3:GetObject"
    resource: str                                        # "arn:aws:s3:::bucket/key" or "arn:aws:s3:::bucket"
    principal: str | None = None                         # the caller's ARN; None = anonymous
    conditions: Mapping[str, Sequence[str]] = field(default_factory=dict[str, Sequence[str]])  # lower-cased keys
    variables: Mapping[str, str] = field(default_factory=dict[str, str])  # "aws:username", ... (lower-cased)


@dataclass(frozen=True, slots=True)
class Principal:
    """A Principal / NotPrincipal element: ``"*"`` or ``{type: [ids]}``."""
    everyone: bool = False
    ids: tuple[tuple[str, str], ...] = ()                # (type, id)

    def matches(self, principal: str | None) -> bool:
        if self.everyone:
            return True
        for kind, ident in self.ids:
            if kind != "AWS":
                continue
            if ident == "*":
                return True
            if principal is None:
                continue
            if ident == principal:
                return True
            account = ident if _ACCOUNT.fullmatch(ident) else None
            root = _ACCOUNT_ROOT.fullmatch(ident)
            account = account or (root.group(1) if root else None)
            if account is not None and _account_of(principal) == account:
                return True
        return False

    def to_json(self) -> Any:
        if self.everyone:
            return "*"
        grouped: dict[str, list[str]] = {}
        for kind, ident in self.ids:
            grouped.setdefault(kind, []).append(ident)
        return {kind: ids[0] if len(ids) == 1 else ids for kind, ids in grouped.items()}


def _account_of(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[0] == "arn" and parts[4] else None


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_action: bool = False
    not_resource: bool = False
    principal: Principal | None = None                   # None: any (identity policies)
    not_principal: bool = False
    conditions: tuple[Condition, ...] = ()
    sid: str | None = None

    def applies(self, request: Request, *, variables: bool = True) -> bool:
        """Action, resource, principal and every condition match ``request``."""
        action_hit = any(wildcard_match(a, request.action, ignore_case=True, expand_variables=False)
                         for a in self.actions)
        if action_hit == self.not_action:
            return False
        resource_hit = any(wildcard_match(r, request.resource, variables=request.variables,
                                          conditions=request.conditions, expand_variables=variables)
                           for r in self.resources)
        if resource_hit == self.not_resource:
            return False
        if self.principal is not None and self.principal.matches(request.principal) == self.not_principal:
            return False
        return all(c.evaluate(request.conditions, request.variables, expand_variables=variables)
                   for c in self.conditions)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.sid is not None:
            out["Sid"] = self.sid
        out["Effect"] = self.effect
        if self.principal is not None:
            out["NotPrincipal" if self.not_principal else "Principal"] = self.principal.to_json()
        out["NotAction" if self.not_action else "Action"] = _one_or_list(self.actions)
        out["NotResource" if self.not_resource else "Resource"] = _one_or_list(self.resources)
        if self.conditions:
            block: dict[str, dict[str, Any]] = {}
            for c in self.conditions:
                block.setdefault(c.name, {})[c.key] = _one_or_list(c.values)
            out["Condition"] = block
        return out


def _one_or_list(items: tuple[str, ...]) -> str | list[str]:
    return items[0] if len(items) == 1 else list(items)


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]
    id: str | None = None

    @classmethod
    def parse(cls, text: str | bytes, *, bucket_policy: bool = False) -> Policy:
        """Parse and validate a JSON policy document; PolicyError names what is wrong."""
        try:
            document: object = json.loads(text, object_pairs_hook=_no_duplicates)
        except PolicyError:
            raise
        except (ValueError, UnicodeDecodeError) as exc:
            raise PolicyError(f"the policy is not valid JSON: {exc}") from None
        return cls.from_document(document, bucket_policy=bucket_policy)

    @classmethod
    def from_document(cls, document: object, *, bucket_policy: bool = False) -> Policy:
        if not isinstance(document, dict):
            raise PolicyError("the policy must be a JSON object")
        doc: dict[str, Any] = document  # pyright: ignore[reportUnknownVariableType]
        for key in doc:
            if key not in _DOCUMENT_KEYS:
                raise PolicyError(f"unknown policy element {key!r} (allowed: {', '.join(_DOCUMENT_KEYS)})")
        version = doc.get("Version", DEFAULT_VERSION)
        if version not in VERSIONS:
            raise PolicyError(f"invalid Version {version!r} (use \"2012-10-17\")")
        ident = doc.get("Id")
        if ident is not None and not isinstance(ident, str):
            raise PolicyError("Id must be a string")
        if "Statement" not in doc:
            raise PolicyError("the policy has no Statement")
        raw = doc["Statement"]
        items: list[Any] = raw if isinstance(raw, list) else [raw]  # pyright: ignore[reportUnknownVariableType]
        if not items:
            raise PolicyError("Statement is empty")
        variables = version == "2012-10-17"
        statements = tuple(_statement(item, index, bucket_policy, variables) for index, item in enumerate(items))
        sids = [s.sid for s in statements if s.sid is not None]
        for sid in sids:
            if sids.count(sid) > 1:
                raise PolicyError(f"Statement IDs (Sid) must be unique: {sid!r} is used twice")
        return cls(version=version, statements=statements, id=ident)

    def to_json(self) -> str:
        document: dict[str, Any] = {"Version": self.version}
        if self.id is not None:
            document["Id"] = self.id
        document["Statement"] = [s.to_json() for s in self.statements]
        return json.dumps(document, separators=(",", ":"))

    def evaluate(self, request: Request) -> Decision:
        """This policy alone: "deny" if a Deny statement applies, else "allow" if an Allow does, else "none"."""
        variables = self.version == "2012-10-17"
        allowed = False
        for statement in self.statements:
            if statement.applies(request, variables=variables):
                if statement.effect == "Deny":
                    return "deny"
                allowed = True
        return "allow" if allowed else "none"


def evaluate(policies: Iterable[Policy], request: Request) -> Decision:
    """All ``policies`` together: an explicit deny in any wins, else any allow, else "none"."""
    allowed = False
    for policy in policies:
        decision = policy.evaluate(request)
        if decision == "deny":
            return "deny"
        allowed = allowed or decision == "allow"
    return "allow" if allowed else "none"


# --- parsing ---------------------------------------------------------------------------------------------------

def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise PolicyError(f"duplicate element {key!r}")
        out[key] = value
    return out


def _statement(raw: object, index: int, bucket_policy: bool, variables: bool) -> Statement:
    where = f"Statement {index}"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a JSON object")
    item: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
    sid = item.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise PolicyError(f"{where}: Sid must be a string")
        if not bucket_policy and not re.fullmatch(r"[A-Za-z0-9]*", sid):
            raise PolicyError(f"{where}: Sid {sid!r} may contain only letters and digits")
        where = f"Statement {sid!r}" if sid else where
    for key in item:
        if key not in _STATEMENT_KEYS:
            raise PolicyError(f"{where}: unknown element {key!r} (allowed: {', '.join(_STATEMENT_KEYS)})")
    effect = item.get("Effect")
    if effect is None:
        raise PolicyError(f"{where}: missing Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}: Effect must be \"Allow\" or \"Deny\", not {effect!r}")
    actions, not_action = _exactly_one(item, "Action", "NotAction", where)
    for action in actions:
        if not _ACTION.fullmatch(action):
            raise PolicyError(f"{where}: invalid action {action!r} (actions look like \"s3:GetObject\" "
                              "and must be prefixed by their service)")
    resources, not_resource = _exactly_one(item, "Resource", "NotResource", where)
    for resource in resources:
        if resource != "*" and not resource.startswith("arn:"):
            raise PolicyError(f"{where}: resource {resource!r} must be an ARN (\"arn:aws:s3:::bucket/key\") "
                              "or \"*\"")
        try:
            if variables:
                check_variables(resource)
        except PolicyError as exc:
            raise PolicyError(f"{where}: {exc}") from None
    principal, not_principal = _principal(item, where, bucket_policy)
    conditions = _conditions(item.get("Condition"), where, variables) if "Condition" in item else ()
    return Statement(effect=effect, actions=actions, resources=resources, not_action=not_action,
                     not_resource=not_resource, principal=principal, not_principal=not_principal,
                     conditions=conditions, sid=sid)


def _strings(value: object, element: str, where: str) -> tuple[str, ...]:
    items: list[Any] = value if isinstance(value, list) else [value]  # pyright: ignore[reportUnknownVariableType]
    if not items:
        raise PolicyError(f"{where}: {element} is empty")
    for entry in items:
        if not isinstance(entry, str) or not entry:
            raise PolicyError(f"{where}: {element} must be a non-empty string or a list of them, not {entry!r}")
    return tuple(items)


def _exactly_one(item: dict[str, Any], positive: str, negative: str, where: str) -> tuple[tuple[str, ...], bool]:
    if positive in item and negative in item:
        raise PolicyError(f"{where}: has both {positive} and {negative} (use exactly one)")
    if positive in item:
        return _strings(item[positive], positive, where), False
    if negative in item:
        return _strings(item[negative], negative, where), True
    raise PolicyError(f"{where}: missing {positive} (or {negative})")


def _principal(item: dict[str, Any], where: str, bucket_policy: bool) -> tuple[Principal | None, bool]:
    present = [k for k in ("Principal", "NotPrincipal") if k in item]
    if not bucket_policy:
        if present:
            raise PolicyError(f"{where}: {present[0]} is not allowed in an identity policy "
                              "(only in bucket policies)")
        return None, False
    if len(present) != 1:
        raise PolicyError(f"{where}: " + ("has both Principal and NotPrincipal (use exactly one)" if present
                                          else "missing Principal (bucket policies need one, e.g. \"*\")"))
    element = present[0]
    raw = item[element]
    if raw == "*":
        return Principal(everyone=True), element == "NotPrincipal"
    if not isinstance(raw, dict) or not raw:
        raise PolicyError(f"{where}: {element} must be \"*\" or an object such as {{\"AWS\": [\"arn:...\"]}}")
    ids: list[tuple[str, str]] = []
    for kind, value in raw.items():  # pyright: ignore[reportUnknownVariableType]
        if kind not in _PRINCIPAL_TYPES:
            raise PolicyError(f"{where}: unknown {element} type {kind!r} (allowed: {', '.join(_PRINCIPAL_TYPES)})")
        for ident in _strings(value, f"{element} {kind}", where):
            if kind == "AWS" and ident != "*" and not ident.startswith("arn:") and not _ACCOUNT.fullmatch(ident):
                raise PolicyError(f"{where}: invalid principal {ident!r} (an ARN, a 12-digit account id or \"*\")")
            ids.append((str(kind), ident))  # pyright: ignore[reportUnknownArgumentType]
    return Principal(ids=tuple(ids)), element == "NotPrincipal"


def _conditions(raw: object, where: str, variables: bool) -> tuple[Condition, ...]:
    if not isinstance(raw, dict) or not raw:
        raise PolicyError(f"{where}: Condition must be a non-empty object of operator -> {{key: values}}")
    out: list[Condition] = []
    operators: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
    for operator, block in operators.items():
        if not isinstance(block, dict) or not block:
            raise PolicyError(f"{where}: Condition {operator!r} must be a non-empty object of key -> values")
        keys: dict[str, Any] = block  # pyright: ignore[reportUnknownVariableType]
        for key, values in keys.items():
            try:
                out.append(Condition.parse(operator, str(key), values, variables=variables))
            except PolicyError as exc:
                raise PolicyError(f"{where}: {exc}") from None
    return tuple(out)
