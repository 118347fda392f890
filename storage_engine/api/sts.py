"""The STS API over the AWS query protocol (Version 2011-06-15): what boto3's ``sts`` client calls.

``api/query.py`` routes a form ``POST /`` here (SigV4 service ``sts``, or unsigned) with its ``Action`` and
parameters; ``handle`` answers the action's ``<XResponse>`` or an STS ``<ErrorResponse>``:

    AssumeRole                    signed by root or an IAM user: a session with the caller's policies,
                                  narrowed by the Policy parameter
    AssumeRoleWithWebIdentity     unsigned: an OpenID Connect token (iam/oidc.py) mapped to policies
    AssumeRoleWithLDAPIdentity    unsigned (MinIO's API): LDAPUsername / LDAPPassword (iam/ldap.py)
    GetCallerIdentity             who signed the request

The checks and mappings are ``iam/sts.py``'s; the credentials are the store's stateless session tokens
(``IamStore.issue_session``). Token failures keep AWS's codes: InvalidIdentityToken (a bad / forged /
foreign token), ExpiredTokenException, IDPCommunicationError (the provider unreachable); LDAP: a wrong
password or no mapped policy -> AccessDenied, the directory unreachable -> 503 ServiceUnavailable.
"""

from __future__ import annotations

import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

import aiohttp

from storage_engine.api.context import ReqCtx, VerifiedRequest
from storage_engine.api.xml import XmlWriter, iso8601
from storage_engine.config import EngineSettings
from storage_engine.errors import S3Error
from storage_engine.http.types import Response
from storage_engine.iam import sts
from storage_engine.iam.ldap import LdapAuthError, LdapConfig, LdapDirectory, LdapUnavailable
from storage_engine.iam.oidc import OidcProvider, OidcTokenError, OidcTokenExpired, OidcUnavailable
from storage_engine.iam.principal import ACCOUNT_ID, Principal
from storage_engine.iam.store import IamStore
from storage_engine.iam.sts import StsError
from storage_engine.iam.tokens import SessionCredentials

__all__ = ["STS_NS", "VERSION", "handle"]

log = logging.getLogger(__name__)

VERSION = "2011-06-15"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
CONTENT_TYPE = "text/xml"
MAX_WEB_IDENTITY_TOKEN = 20000          # AWS: WebIdentityToken is at most 20000 characters
LDAP_TIMEOUT_SECONDS = 10.0

Action = Callable[[ReqCtx, VerifiedRequest, dict[str, str]], Awaitable[Response]]


async def handle(ctx: ReqCtx, req: VerifiedRequest, action: str, params: dict[str, str]) -> Response:
    """Answer one STS action; every failure is an STS ``ErrorResponse`` (never a traceback)."""
    try:
        version = params.get("Version")
        if version != VERSION:
            raise StsError("InvalidAction", f"Could not find operation {action} for version {version or 'NO_VERSION'}")
        handler = ACTIONS.get(action)
        if handler is None:
            raise StsError("InvalidAction", f"Could not find operation {action} for version {VERSION}")
        return await handler(ctx, req, params)
    except S3Error as exc:
        return error_response(exc.code, exc.message, exc.status, ctx.request_id)


def error_response(code: str, message: str, status: int, request_id: str) -> Response:
    """The query protocol's error document (``api/query.py``), in STS's namespace."""
    from storage_engine.api.query import error_response as query_error      # query imports this module
    return query_error(code, message, status, request_id, STS_NS)


# --- actions ----------------------------------------------------------------------------------------
async def _assume_role(ctx: ReqCtx, req: VerifiedRequest, params: dict[str, str]) -> Response:
    role = sts.role_name(params.get("RoleArn"), required=True)
    session_name = sts.check_session_name(params.get("RoleSessionName"))
    duration = sts.check_duration(params.get("DurationSeconds"), ctx.settings.sts_max_duration_seconds)
    policy = sts.session_policy(params.get("Policy"))
    principal = sts.assume_role_principal(req.principal, role=role, session_name=session_name, policy=policy)
    creds, principal = await _issue(ctx, principal, duration)
    w = _result("AssumeRole", creds, principal, policy)
    return _finish(ctx, w)


async def _assume_role_with_web_identity(ctx: ReqCtx, req: VerifiedRequest, params: dict[str, str]) -> Response:
    del req         # signed or not, the token alone says who the caller is
    token = params.get("WebIdentityToken", "")
    if not token:
        raise StsError("MissingParameter", "The request must contain the parameter WebIdentityToken.")
    if len(token) > MAX_WEB_IDENTITY_TOKEN:
        raise StsError("ValidationError", "1 validation error detected: Value at 'webIdentityToken' failed to "
                                          f"satisfy constraint: Member must have length less than or equal to "
                                          f"{MAX_WEB_IDENTITY_TOKEN}")
    settings = ctx.settings
    role = sts.role_name(params.get("RoleArn"), required=False)
    duration = sts.check_duration(params.get("DurationSeconds"), settings.sts_max_duration_seconds)
    policy = sts.session_policy(params.get("Policy"))
    if not settings.oidc_issuer:
        raise StsError("InvalidIdentityToken", "No OpenIDConnect provider is configured (oidc_issuer).")
    try:
        claims = await _oidc_provider(settings).verify(token)
    except OidcTokenExpired as exc:
        raise StsError("ExpiredTokenException", f"Token expired: {exc.reason}") from None
    except OidcUnavailable as exc:
        log.warning("web identity: the OpenID provider could not be asked: %s", exc.reason)
        raise StsError("IDPCommunicationError", "The request could not be fulfilled because the identity "
                                                "provider (IDP) that was asked to verify the incoming identity "
                                                "token could not be reached.") from None
    except OidcTokenError as exc:
        raise StsError("InvalidIdentityToken", f"The web identity token is invalid: {exc.reason}") from None
    mapping = sts.oidc_mapping(claims, settings)
    session_name = sts.check_session_name(params.get("RoleSessionName"), default=_safe_name(mapping.user))
    principal = sts.web_identity_principal(mapping, claims, role=role, session_name=session_name, policy=policy)
    creds, principal = await _issue(ctx, principal, duration)
    w = _result("AssumeRoleWithWebIdentity", creds, principal, policy, close=False)
    w.elem("SubjectFromWebIdentityToken", str(claims.get("sub", mapping.user)))
    audience = claims.get("aud")
    w.elem("Audience", audience if isinstance(audience, str) else settings.oidc_client_id)
    w.elem("Provider", str(claims.get("iss", settings.oidc_issuer)))
    w.close("AssumeRoleWithWebIdentityResult")
    return _finish(ctx, w)


async def _assume_role_with_ldap_identity(ctx: ReqCtx, req: VerifiedRequest, params: dict[str, str]) -> Response:
    del req
    username, password = params.get("LDAPUsername", ""), params.get("LDAPPassword", "")
    if not username or not password:
        raise StsError("MissingParameter", "The request must contain the parameters LDAPUsername and LDAPPassword.")
    settings = ctx.settings
    duration = sts.check_duration(params.get("DurationSeconds"), settings.sts_max_duration_seconds)
    policy = sts.session_policy(params.get("Policy"))
    directory = _ldap_directory(settings)
    if directory is None:
        raise StsError("NotImplemented", "AssumeRoleWithLDAPIdentity: no LDAP server is configured "
                                         "(ldap_server_url).", 501)
    try:
        identity = await directory.authenticate(username, password)
    except LdapAuthError:
        raise StsError("AccessDenied", "Invalid LDAP username or password.", 403) from None
    except LdapUnavailable as exc:
        log.warning("LDAP login: the directory could not be asked: %s", exc)
        raise StsError("ServiceUnavailable", "The LDAP directory is unavailable; please try again.", 503) from None
    names = sts.ldap_policy_names(identity, settings.ldap_policies)
    session_name = sts.check_session_name(params.get("RoleSessionName"), default=_safe_name(identity.username))
    principal = sts.ldap_principal(identity, names, session_name=session_name, policy=policy)
    creds, principal = await _issue(ctx, principal, duration)
    w = _result("AssumeRoleWithLDAPIdentity", creds, principal, policy)
    return _finish(ctx, w)


async def _get_caller_identity(ctx: ReqCtx, req: VerifiedRequest, params: dict[str, str]) -> Response:
    del params
    principal = req.principal
    if principal.is_anonymous:
        raise StsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    w = XmlWriter("GetCallerIdentityResponse", namespace=STS_NS)
    w.open("GetCallerIdentityResult")
    w.elem("Arn", principal.arn)
    w.elem("UserId", _user_id(principal))
    w.elem("Account", ACCOUNT_ID)
    w.close("GetCallerIdentityResult")
    return _finish(ctx, w)


ACTIONS: dict[str, Action] = {
    "AssumeRole": _assume_role,
    "AssumeRoleWithWebIdentity": _assume_role_with_web_identity,
    "AssumeRoleWithLDAPIdentity": _assume_role_with_ldap_identity,
    "GetCallerIdentity": _get_caller_identity,
}


# --- rendering --------------------------------------------------------------------------------------
def _user_id(principal: Principal) -> str:
    """AWS's UserId: the access key for root and users, ``<role id>:<session name>`` for sessions."""
    if principal.kind == "sts":
        return f"{principal.access_key}:{principal.session_name}"
    return principal.access_key


def _result(action: str, creds: SessionCredentials, principal: Principal, policy: str | None, *, close: bool = True) -> XmlWriter:
    w = XmlWriter(f"{action}Response", namespace=STS_NS)
    w.open(f"{action}Result")
    w.open("Credentials")
    w.elem("AccessKeyId", creds.access_key)
    w.elem("SecretAccessKey", creds.secret_key)
    w.elem("SessionToken", creds.session_token)
    w.elem("Expiration", iso8601(creds.expiration))
    w.close("Credentials")
    w.open("AssumedRoleUser")
    w.elem("AssumedRoleId", f"{creds.access_key}:{principal.session_name}")
    w.elem("Arn", principal.arn)
    w.close("AssumedRoleUser")
    w.elem("PackedPolicySize", sts.packed_policy_size(policy))
    if close:
        w.close(f"{action}Result")
    return w


def _finish(ctx: ReqCtx, w: XmlWriter) -> Response:
    w.open("ResponseMetadata")
    w.elem("RequestId", ctx.request_id)
    w.close("ResponseMetadata")
    return Response(status=200, headers=[("Content-Type", CONTENT_TYPE)], body=w.finish())


def _safe_name(user: str) -> str:
    """A default RoleSessionName from a user name: AWS's characters only, 2..64 of them."""
    name = "".join(c if c.isalnum() or c in "_+=,.@-" else "-" for c in user)[:64]
    return name if len(name) >= 2 else f"session-{uuid.uuid4().hex[:8]}"


# --- dependencies (one small function each) -------------------------------------------------------------
async def _issue(ctx: ReqCtx, principal: Principal, duration: int) -> tuple[SessionCredentials, Principal]:
    """Session credentials from the IAM store (``SessionCredentials(access_key, secret_key, session_token,
    expiration)``) and the principal they stand for, with the issued access key."""
    creds = await _iam_store(ctx).issue_session(principal, duration)
    return creds, replace(principal, access_key=creds.access_key)


def _iam_store(ctx: ReqCtx) -> IamStore:
    store = ctx.iam
    if store is None:
        raise StsError("ServiceUnavailable", "The IAM store is not available.", 503)
    return store


_OIDC: dict[tuple[str, str, str], OidcProvider] = {}
_SESSIONS: list[aiohttp.ClientSession] = []         # sessions made here (a CA file): providers do not close them
_LDAP: dict[int, tuple[EngineSettings, LdapDirectory]] = {}


def _oidc_provider(settings: EngineSettings) -> OidcProvider:
    """One provider (its JWKS cache) per configuration, for the life of the process."""
    key = (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_ca_file)
    provider = _OIDC.get(key)
    if provider is None:
        session = None
        if settings.oidc_ca_file:
            context = ssl.create_default_context(cafile=settings.oidc_ca_file)
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
            _SESSIONS.append(session)
        provider = _OIDC[key] = OidcProvider(settings.oidc_issuer, settings.oidc_client_id, session=session)
    return provider


async def close_providers() -> None:
    """Close the OpenID providers' HTTP sessions (the server's shutdown calls this)."""
    providers = list(_OIDC.values())
    _OIDC.clear()
    for provider in providers:
        await provider.close()
    for session in _SESSIONS:
        await session.close()
    _SESSIONS.clear()


def _ldap_directory(settings: EngineSettings) -> LdapDirectory | None:
    if not settings.ldap_server_url:
        return None
    cached = _LDAP.get(id(settings))
    if cached is not None and cached[0] is settings:
        return cached[1]
    directory = LdapDirectory(LdapConfig(
        server_url=settings.ldap_server_url, start_tls=settings.ldap_start_tls,
        ca_file=settings.ldap_ca_file or None, lookup_bind_dn=settings.ldap_lookup_bind_dn,
        lookup_bind_password=settings.ldap_lookup_bind_password,
        user_search_base=settings.ldap_user_search_base, user_search_filter=settings.ldap_user_search_filter,
        group_search_base=settings.ldap_group_search_base, group_search_filter=settings.ldap_group_search_filter, timeout=LDAP_TIMEOUT_SECONDS))
    _LDAP[id(settings)] = (settings, directory)
    return directory

