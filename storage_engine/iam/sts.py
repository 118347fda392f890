"""STS: who a temporary session is. The pure part of AssumeRole, AssumeRoleWithWebIdentity and
AssumeRoleWithLDAPIdentity (no I/O; ``api/sts.py`` verifies tokens / passwords and issues the session).

    check_duration(params.get("DurationSeconds"), settings.sts_max_duration_seconds) -> seconds
    check_session_name(...), role_name(...) -> the role / session names the session reports
    session_policy(params.get("Policy")) -> canonical JSON or None
    oidc_mapping(claims, settings) -> OidcMapping(user, groups, policy_names)
    ldap_policy_names(identity, settings.ldap_policies) -> policy names
    assume_role_principal(caller, ...) / web_identity_principal(...) / ldap_principal(...) -> Principal

Policies (``../shared/IDENTITY-NOTES.md`` section 3): an AssumeRole session keeps its parent's identity
policies, intersected with the session policy (the store's ``policies_for``); an OIDC session gets the
managed policies named by the policy claim (a string, a comma-separated list or an array) and those
``oidc_group_policies`` maps its groups / roles claim values to; an LDAP session those ``ldap_policies`` maps
its user DN and group DNs to (DNs compared case-insensitively, spaces around ``,`` and ``=`` ignored).
No policy at all -> AccessDenied: a session that could do nothing is refused at the door (MinIO does too).

Errors (STS's codes, AWS's wording; ``StsError`` is an ``S3Error``, rendered by ``api/sts.py``)::

    StsError
      ValidationError 400, MalformedPolicyDocument 400, PackedPolicyTooLarge 400, InvalidParameterValue 400,
      MissingParameter 400, InvalidAction 400, InvalidIdentityToken 400, ExpiredTokenException 400,
      IDPCommunicationError 400, MissingAuthenticationToken 403, AccessDenied 403,
      ServiceUnavailable 503, NotImplemented 501
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import parse_dn

from storage_engine.config import EngineSettings
from storage_engine.errors import S3Error
from storage_engine.iam.ldap import LdapIdentity
from storage_engine.iam.policy import Policy, PolicyError
from storage_engine.iam.principal import ACCOUNT_ID, Principal

__all__ = [
    "MAX_POLICY_CHARS", "MIN_DURATION_SECONDS", "OidcMapping", "StsError", "assume_role_principal",
    "check_duration", "check_session_name", "claim_values", "ldap_principal", "ldap_policy_names",
    "normalize_dn", "oidc_mapping", "role_name", "session_policy", "sts_error", "web_identity_principal",
]

MIN_DURATION_SECONDS = 900
DEFAULT_DURATION_SECONDS = 3600
MAX_POLICY_CHARS = 2048             # AWS: the plain text of a session policy; also its packed size here
_SESSION_NAME = re.compile(r"[\w+=,.@-]*")
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/((?:[\x21-\x7e]*/)?)([\w+=,.@-]{1,64})")
# Claims that become jwt:<claim> condition values: scalars and arrays of scalars, bounded (they travel in
# every session token).
_MAX_CLAIMS = 64
_MAX_CLAIM_VALUES = 32
_MAX_CLAIM_CHARS = 256


class StsError(S3Error):
    """An STS error: ``code`` / ``status`` per instance (STS has its own codes, and few of them are S3's)."""

    code: ClassVar[str] = "InvalidParameterValue"
    status: ClassVar[int] = 400

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        # Instance attributes shadow the class defaults: one class renders every STS code.
        self.code = code            # pyright: ignore[reportAttributeAccessIssue]
        self.status = status        # pyright: ignore[reportAttributeAccessIssue]


def sts_error(code: str, message: str, status: int = 400) -> StsError:
    return StsError(code, message, status)


def _validation(value: str, member: str, constraint: str) -> StsError:
    """AWS's wording of a failed parameter constraint."""
    shown = value if len(value) <= 100 else value[:100] + "..."
    return StsError("ValidationError", f"1 validation error detected: Value '{shown}' at '{member}' failed to "
                                       f"satisfy constraint: Member must {constraint}")


# --- parameters -------------------------------------------------------------------------------------
def check_duration(raw: str | None, max_seconds: int) -> int:
    """DurationSeconds: 900 .. ``max_seconds`` (the ``sts_max_duration_seconds`` setting); default 3600
    (or ``max_seconds`` when that is smaller). Outside -> ValidationError, as AWS words it."""
    if raw is None or raw == "":
        return min(DEFAULT_DURATION_SECONDS, max_seconds)
    try:
        seconds = int(raw)
    except ValueError:
        raise StsError("ValidationError", f"Value '{raw[:40]}' for parameter DurationSeconds is invalid: "
                                          "it is not an integer.") from None
    if seconds < MIN_DURATION_SECONDS:
        raise _validation(str(seconds), "durationSeconds", f"have value greater than or equal to {MIN_DURATION_SECONDS}")
    if seconds > max_seconds:
        raise StsError("ValidationError", f"The requested DurationSeconds exceeds the MaxSessionDuration set for "
                                          f"this role ({max_seconds} seconds).")
    return seconds


def check_session_name(raw: str | None, *, default: str = "") -> str:
    """RoleSessionName: 2..64 characters of ``[\\w+=,.@-]`` (AWS's pattern). Absent -> ``default`` or, without
    one, MissingParameter."""
    if raw is None or raw == "":
        if default:
            return default[:64]
        raise StsError("MissingParameter", "The request must contain the parameter RoleSessionName.")
    if len(raw) < 2:
        raise _validation(raw, "roleSessionName", "have length greater than or equal to 2")
    if len(raw) > 64:
        raise _validation(raw, "roleSessionName", "have length less than or equal to 64")
    if not _SESSION_NAME.fullmatch(raw):
        raise _validation(raw, "roleSessionName", r"satisfy regular expression pattern: [\w+=,.@-]*")
    return raw


def role_name(raw: str | None, *, required: bool) -> str:
    """RoleArn ``arn:aws:iam::000000000000:role/[path/]<name>`` -> the role name. Any role of this account is
    accepted and only recorded (the session's rights come from its parent or its claims); another account's
    -> AccessDenied; not an ARN -> ValidationError. Absent: "" (or MissingParameter when ``required``)."""
    if raw is None or raw == "":
        if required:
            raise StsError("MissingParameter", "The request must contain the parameter RoleArn.")
        return ""
    if len(raw) < 20:
        raise _validation(raw, "roleArn", "have length greater than or equal to 20")
    if len(raw) > 2048:
        raise _validation(raw, "roleArn", "have length less than or equal to 2048")
    m = _ROLE_ARN.fullmatch(raw)
    if m is None:
        raise StsError("ValidationError", f"{raw} is invalid")
    if m.group(1) != ACCOUNT_ID:
        raise StsError("AccessDenied", f"Not authorized to perform sts:AssumeRole on resource: {raw}", 403)
    return m.group(3)


def session_policy(raw: str | None) -> str | None:
    """The Policy parameter: an identity policy (no Principal) of at most 2048 characters; its canonical
    JSON (what the session carries) must fit 2048 bytes too. Absent -> None."""
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_POLICY_CHARS:
        raise _validation(raw, "policy", f"have length less than or equal to {MAX_POLICY_CHARS}")
    try:
        canonical = Policy.parse(raw).to_json()
    except PolicyError as exc:
        raise StsError("MalformedPolicyDocument", f"The policy is not in the valid JSON format: {exc}") from None
    size = len(canonical.encode())
    if size > MAX_POLICY_CHARS:
        raise StsError("PackedPolicyTooLarge", f"Packed policy consumes {size * 100 // MAX_POLICY_CHARS}% of "
                                               "allotted space, please use smaller policy for scope down.")
    return canonical


def packed_policy_size(policy: str | None) -> int:
    """PackedPolicySize of the response: the percentage of the allowed size the session policy uses."""
    return 0 if policy is None else len(policy.encode()) * 100 // MAX_POLICY_CHARS


# --- claims and DNs -> policies ---------------------------------------------------------------------
def claim_values(claims: Mapping[str, Any], name: str) -> list[str]:
    """The string values of claim ``name``: a string (comma-separated values split), or an array of
    strings. A dotted name (``realm_access.roles``, Keycloak's realm roles) walks nested objects when no
    claim has the literal name. Absent, or of another type -> []."""
    value: Any = claims.get(name)
    if value is None and "." in name:
        value = claims
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None   # pyright: ignore[reportUnknownMemberType]
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]   # pyright: ignore[reportUnknownVariableType]
    return []


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True, slots=True)
class OidcMapping:
    user: str                          # the oidc_user_claim's value
    groups: tuple[str, ...]            # the groups / roles claim's values
    policy_names: tuple[str, ...]      # from the policy claim, then the groups' mapped policies


def oidc_mapping(claims: Mapping[str, Any], settings: EngineSettings) -> OidcMapping:
    """Who a verified token is and which policies it maps to; no user or no policy -> AccessDenied."""
    user = claims.get(settings.oidc_user_claim)
    if not isinstance(user, str) or not user:
        raise StsError("AccessDenied", f"The web identity token has no '{settings.oidc_user_claim}' claim "
                                       "(the oidc_user_claim setting).", 403)
    policies = claim_values(claims, settings.oidc_policy_claim) if settings.oidc_policy_claim else []
    groups = _unique(claim_values(claims, settings.oidc_groups_claim)) if settings.oidc_groups_claim else ()
    for group in groups:
        policies.extend(settings.oidc_group_policies.get(group, ()))
    names = _unique(policies)
    if not names:
        raise StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity: the token's "
                                       f"claims map to no policy ('{settings.oidc_policy_claim}' claim, or "
                                       f"'{settings.oidc_groups_claim}' through oidc_group_policies).", 403)
    return OidcMapping(user=user, groups=groups, policy_names=names)


def normalize_dn(dn: str) -> str:
    """A DN for comparison: attribute types and values lower-cased, spaces around ``,`` / ``=`` / ``+`` gone."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except (LDAPException, ValueError, IndexError):
        return dn.strip().lower()
    return "".join(f"{attr.lower()}={value.lower()}{sep}" for attr, value, sep in parts)


def ldap_policy_names(identity: LdapIdentity, policies: Mapping[str, list[str]]) -> tuple[str, ...]:
    """The policies ``policies`` (user or group DN -> names) maps the user's DN and group DNs to; none ->
    AccessDenied (an LDAP login alone grants nothing, as MinIO)."""
    by_dn = {normalize_dn(dn): names for dn, names in policies.items()}
    names: list[str] = []
    for dn in (identity.dn, *identity.groups):
        names.extend(by_dn.get(normalize_dn(dn), ()))
    result = _unique(names)
    if not result:
        raise StsError("AccessDenied", f"Not authorized to perform sts:AssumeRoleWithLDAPIdentity: no policy is "
                                       f"mapped to {identity.dn} or its groups (ldap_policies).", 403)
    return result


def condition_claims(prefix: str, claims: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``jwt:<claim>`` (or ``ldap:...``) condition values, lower-cased keys: scalar claims and arrays of
    scalars (booleans as ``true`` / ``false``), bounded in count and size; nested objects are left out."""
    out: dict[str, tuple[str, ...]] = {}
    for name, value in claims.items():
        items: list[Any] = value if isinstance(value, list) else [value]   # pyright: ignore[reportUnknownVariableType]
        values: list[str] = []
        for item in items[:_MAX_CLAIM_VALUES]:
            if isinstance(item, bool):
                values.append("true" if item else "false")
            elif isinstance(item, (str, int, float)):
                values.append(str(item)[:_MAX_CLAIM_CHARS])
        if values and len(name) <= 64:
            out[f"{prefix}:{name.lower()}"] = tuple(values)
        if len(out) >= _MAX_CLAIMS:
            break
    return tuple(out.items())


# --- principals -------------------------------------------------------------------------------------
def assume_role_principal(caller: Principal, *, role: str, session_name: str, policy: str | None) -> Principal:
    """The session of AssumeRole: signed by root or an IAM user (service accounts and STS sessions ->
    AccessDenied, unsigned -> MissingAuthenticationToken). It acts with its parent's identity policies,
    narrowed by ``policy``; ``${aws:username}`` stays the parent's name."""
    if caller.kind == "anonymous":
        raise StsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    if caller.kind not in ("root", "user"):
        raise StsError("AccessDenied", f"{caller.kind} credentials cannot call AssumeRole: only the root user "
                                       "and IAM users can.", 403)
    return Principal("sts", "", caller.user, groups=(), session_policy=policy, parent=caller.user,
                     role=role or caller.user, session_name=session_name)


def web_identity_principal(mapping: OidcMapping, claims: Mapping[str, Any], *, role: str, session_name: str,
                           policy: str | None) -> Principal:
    return Principal("sts", "", mapping.user, groups=mapping.groups, policy_names=mapping.policy_names,
                     session_policy=policy, role=role or "web-identity", session_name=session_name,
                     claims=condition_claims("jwt", claims))


def ldap_principal(identity: LdapIdentity, policy_names: tuple[str, ...], *, session_name: str,
                   policy: str | None) -> Principal:
    claims = {"user": identity.dn, "username": identity.username, "groups": list(identity.groups)}
    return Principal("sts", "", identity.username, groups=identity.groups, policy_names=policy_names,
                     session_policy=policy, role="ldap", session_name=session_name,
                     claims=condition_claims("ldap", claims))

