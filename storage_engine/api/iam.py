"""The IAM API over the AWS query protocol (Version 2010-05-08): what boto3's ``iam`` client calls.

``api/query.py`` routes a form ``POST /`` signed for the service ``iam`` here. Every action is authorized as
``iam:<Action>`` on the ARN of what it touches (``arn:aws:iam::000000000000:user/<name>``, ``group/<name>``,
``policy/<name>``; ``user/*`` ... for the List actions): the root user always, anyone else when an identity
policy allows it (and its session policy, if any) and none denies it. The built-in ``consoleAdmin`` allows
``iam:*``. Actions (AWS's names and shapes)::

    users           CreateUser GetUser ListUsers DeleteUser
    access keys     CreateAccessKey ListAccessKeys UpdateAccessKey DeleteAccessKey
    user policies   PutUserPolicy GetUserPolicy ListUserPolicies DeleteUserPolicy
                    AttachUserPolicy DetachUserPolicy ListAttachedUserPolicies
    policies        CreatePolicy GetPolicy GetPolicyVersion ListPolicies DeletePolicy
    groups          CreateGroup GetGroup ListGroups DeleteGroup AddUserToGroup RemoveUserFromGroup
                    ListGroupsForUser PutGroupPolicy GetGroupPolicy ListGroupPolicies DeleteGroupPolicy
                    AttachGroupPolicy DetachGroupPolicy ListAttachedGroupPolicies
    the engine's    SetUserStatus (UserName, Status=enabled|disabled), CreateServiceAccount (UserName,
                    Policy, Name, Description), ListServiceAccounts (UserName), DeleteServiceAccount
                    (AccessKeyId), RotateKeyring: used by ``python -m storage_engine admin``

Errors are ``<ErrorResponse>`` with the store's codes (NoSuchEntity 404, EntityAlreadyExists 409,
DeleteConflict 409, LimitExceeded 409, MalformedPolicyDocument 400, ...); policy documents are URL-encoded
in responses, as AWS does (botocore decodes them).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from storage_engine.api.context import ReqCtx, VerifiedRequest
from storage_engine.api.xml import XmlWriter, iso8601
from storage_engine.errors import S3Error
from storage_engine.http.types import Response
from storage_engine.iam.policy import Request, evaluate
from storage_engine.iam.principal import ACCOUNT_ID, Principal
from storage_engine.iam.store import AccessKey, Group, IamError, IamStore, ManagedPolicy, User

__all__ = ["IAM_NS", "VERSION", "handle"]

log = logging.getLogger(__name__)

VERSION = "2010-05-08"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"

Action = Callable[["Call"], Awaitable[None]]


class Call:
    """One IAM action being answered: its store, parameters, caller and the response being written."""

    __slots__ = ("store", "params", "caller", "action", "w", "has_result")

    def __init__(self, store: IamStore, params: dict[str, str], caller: Principal, action: str) -> None:
        self.store = store
        self.params = params
        self.caller = caller
        self.action = action
        self.w = XmlWriter(f"{action}Response", namespace=IAM_NS)
        self.has_result = False

    def need(self, name: str) -> str:
        value = self.params.get(name, "")
        if not value:
            raise IamError("ValidationError", f"1 validation error detected: Value at '{name[0].lower()}"
                                              f"{name[1:]}' failed to satisfy constraint: Member must not be null")
        return value

    def user_name(self) -> str:
        """``UserName``, or the caller's own user when omitted (as AWS)."""
        name = self.params.get("UserName", "")
        if name:
            return name
        if self.caller.kind in ("user", "service-account"):
            return self.caller.parent or self.caller.user
        raise IamError("ValidationError", "UserName is required for the root user.")

    def result(self) -> XmlWriter:
        self.w.open(f"{self.action}Result")
        self.has_result = True
        return self.w


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:{kind}/{name}"


# --- XML shapes -------------------------------------------------------------------------------------------
def _user(w: XmlWriter, tag: str, user: User) -> None:
    w.open(tag)
    w.elem("Path", "/")
    w.elem("UserName", user.name)
    w.elem("UserId", user.user_id)
    w.elem("Arn", user.arn)
    w.elem("CreateDate", iso8601(user.created))
    w.close(tag)


def _group(w: XmlWriter, tag: str, group: Group) -> None:
    w.open(tag)
    w.elem("Path", "/")
    w.elem("GroupName", group.name)
    w.elem("GroupId", group.group_id)
    w.elem("Arn", group.arn)
    w.elem("CreateDate", iso8601(group.created))
    w.close(tag)


def _policy(w: XmlWriter, tag: str, policy: ManagedPolicy, attachments: int) -> None:
    w.open(tag)
    w.elem("PolicyName", policy.name)
    w.elem("PolicyId", policy.policy_id)
    w.elem("Arn", policy.arn)
    w.elem("Path", "/")
    w.elem("DefaultVersionId", "v1")
    w.elem("AttachmentCount", attachments)
    w.elem("PermissionsBoundaryUsageCount", 0)
    w.elem("IsAttachable", "true")
    if policy.description:
        w.elem("Description", policy.description)
    w.elem("CreateDate", iso8601(policy.created))
    w.elem("UpdateDate", iso8601(policy.updated))
    w.close(tag)


def _key(w: XmlWriter, tag: str, key: AccessKey, *, secret: bool) -> None:
    w.open(tag)
    w.elem("UserName", key.user)
    w.elem("AccessKeyId", key.access_key)
    w.elem("Status", key.status)
    if secret:
        w.elem("SecretAccessKey", key.secret_key)
    w.elem("CreateDate", iso8601(key.created))
    if key.kind == "service-account":
        if key.name:
            w.elem("Name", key.name)
        if key.description:
            w.elem("Description", key.description)
    w.close(tag)


def _members(w: XmlWriter, tag: str, items: list[str]) -> None:
    w.open(tag)
    for item in items:
        w.elem("member", item)
    w.close(tag)


def _attached(w: XmlWriter, policies: list[ManagedPolicy]) -> None:
    w.open("AttachedPolicies")
    for policy in policies:
        w.open("member")
        w.elem("PolicyName", policy.name)
        w.elem("PolicyArn", policy.arn)
        w.close("member")
    w.close("AttachedPolicies")
    w.elem("IsTruncated", "false")


def _document(w: XmlWriter, name: str, document: str) -> None:
    w.elem(name, quote(document, safe=""))


# --- actions: users and keys ----------------------------------------------------------------------------------
async def _create_user(c: Call) -> None:
    _user(c.result(), "User", await c.store.create_user(c.need("UserName")))


async def _get_user(c: Call) -> None:
    _user(c.result(), "User", await c.store.get_user(c.user_name()))


async def _list_users(c: Call) -> None:
    w = c.result()
    w.open("Users")
    for user in await c.store.list_users():
        _user(w, "member", user)
    w.close("Users")
    w.elem("IsTruncated", "false")


async def _delete_user(c: Call) -> None:
    await c.store.delete_user(c.need("UserName"))


async def _set_user_status(c: Call) -> None:
    status = c.need("Status").lower()
    if status not in ("enabled", "disabled"):
        raise IamError("ValidationError", "Status must be enabled or disabled.")
    await c.store.set_user_enabled(c.need("UserName"), status == "enabled")


async def _create_access_key(c: Call) -> None:
    _key(c.result(), "AccessKey", await c.store.create_access_key(c.user_name()), secret=True)


async def _list_access_keys(c: Call) -> None:
    w = c.result()
    w.open("AccessKeyMetadata")
    for key in await c.store.list_access_keys(c.user_name()):
        _key(w, "member", key, secret=False)
    w.close("AccessKeyMetadata")
    w.elem("IsTruncated", "false")


async def _update_access_key(c: Call) -> None:
    await c.store.update_access_key(c.user_name(), c.need("AccessKeyId"), c.need("Status"))


async def _delete_access_key(c: Call) -> None:
    await c.store.delete_access_key(c.user_name(), c.need("AccessKeyId"))


async def _create_service_account(c: Call) -> None:
    key = await c.store.create_service_account(c.user_name(), c.params.get("Policy") or None,
                                               c.params.get("Name", ""), c.params.get("Description", ""))
    _key(c.result(), "AccessKey", key, secret=True)


async def _list_service_accounts(c: Call) -> None:
    w = c.result()
    w.open("ServiceAccounts")
    for key in await c.store.list_service_accounts(c.user_name()):
        _key(w, "member", key, secret=False)
    w.close("ServiceAccounts")


async def _delete_service_account(c: Call) -> None:
    await c.store.delete_service_account(c.need("AccessKeyId"))


async def _rotate_keyring(c: Call) -> None:
    c.result().elem("KeyId", await c.store.rotate_key())


# --- actions: managed policies ---------------------------------------------------------------------------
async def _create_policy(c: Call) -> None:
    policy = await c.store.create_policy(c.need("PolicyName"), c.need("PolicyDocument"),
                                         c.params.get("Description", ""))
    _policy(c.result(), "Policy", policy, 0)


async def _get_policy(c: Call) -> None:
    policy = await c.store.get_policy(c.need("PolicyArn"))
    _policy(c.result(), "Policy", policy, len(await c.store.policy_attachments(policy.name)))


async def _get_policy_version(c: Call) -> None:
    policy = await c.store.get_policy(c.need("PolicyArn"))
    if c.need("VersionId") != "v1":
        raise IamError("NoSuchEntity", f"Policy {policy.arn} version {c.params['VersionId']} does not exist.")
    w = c.result()
    w.open("PolicyVersion")
    _document(w, "Document", policy.document)
    w.elem("VersionId", "v1")
    w.elem("IsDefaultVersion", "true")
    w.elem("CreateDate", iso8601(policy.created))
    w.close("PolicyVersion")


async def _list_policies(c: Call) -> None:
    scope = c.params.get("Scope", "All")
    only_attached = c.params.get("OnlyAttached", "false").lower() == "true"
    users, groups = await c.store.list_users(), await c.store.list_groups()
    w = c.result()
    w.open("Policies")
    for policy in await c.store.list_policies():
        if (scope == "AWS" and not policy.builtin) or (scope == "Local" and policy.builtin):
            continue
        count = sum(policy.name in u.attached for u in users) + sum(policy.name in g.attached for g in groups)
        if only_attached and not count:
            continue
        _policy(w, "member", policy, count)
    w.close("Policies")
    w.elem("IsTruncated", "false")


async def _delete_policy(c: Call) -> None:
    await c.store.delete_policy(c.need("PolicyArn"))


# --- actions: groups ----------------------------------------------------------------------------------------
async def _create_group(c: Call) -> None:
    _group(c.result(), "Group", await c.store.create_group(c.need("GroupName")))


async def _get_group(c: Call) -> None:
    name = c.need("GroupName")
    group = await c.store.get_group(name)
    w = c.result()
    _group(w, "Group", group)
    w.open("Users")
    for user in await c.store.group_members(name):
        _user(w, "member", user)
    w.close("Users")
    w.elem("IsTruncated", "false")


async def _list_groups(c: Call) -> None:
    w = c.result()
    w.open("Groups")
    for group in await c.store.list_groups():
        _group(w, "member", group)
    w.close("Groups")
    w.elem("IsTruncated", "false")


async def _list_groups_for_user(c: Call) -> None:
    w = c.result()
    w.open("Groups")
    for group in await c.store.list_groups_for_user(c.need("UserName")):
        _group(w, "member", group)
    w.close("Groups")
    w.elem("IsTruncated", "false")


async def _delete_group(c: Call) -> None:
    await c.store.delete_group(c.need("GroupName"))


async def _add_user_to_group(c: Call) -> None:
    await c.store.add_user_to_group(c.need("GroupName"), c.need("UserName"))


async def _remove_user_from_group(c: Call) -> None:
    await c.store.remove_user_from_group(c.need("GroupName"), c.need("UserName"))


# --- actions: the inline and attached policies of users and groups (one piece of code for both) -----------
def _policy_actions(kind: str) -> dict[str, tuple[str, Action]]:
    """Put/Get/List/Delete<kind>Policy, Attach/Detach<kind>Policy, ListAttached<kind>Policies for ``kind``
    "User" or "Group": the store's ``put_user_policy`` / ``put_group_policy``... with ``UserName`` /
    ``GroupName``."""
    key, noun = f"{kind}Name", kind.lower()

    def store(c: Call, method: str) -> Callable[..., Awaitable[Any]]:
        return getattr(c.store, method.format(noun))

    async def put(c: Call) -> None:
        await store(c, "put_{}_policy")(c.need(key), c.need("PolicyName"), c.need("PolicyDocument"))

    async def get(c: Call) -> None:
        name, policy = c.need(key), c.need("PolicyName")
        document = await store(c, "get_{}_policy")(name, policy)
        w = c.result()
        w.elem(key, name)
        w.elem("PolicyName", policy)
        _document(w, "PolicyDocument", document)

    async def list_inline(c: Call) -> None:
        w = c.result()
        _members(w, "PolicyNames", await store(c, "list_{}_policies")(c.need(key)))
        w.elem("IsTruncated", "false")

    async def delete(c: Call) -> None:
        await store(c, "delete_{}_policy")(c.need(key), c.need("PolicyName"))

    async def attach(c: Call) -> None:
        await store(c, "attach_{}_policy")(c.need(key), c.need("PolicyArn"))

    async def detach(c: Call) -> None:
        await store(c, "detach_{}_policy")(c.need(key), c.need("PolicyArn"))

    async def list_attached(c: Call) -> None:
        _attached(c.result(), await store(c, "list_attached_{}_policies")(c.need(key)))

    return {f"Put{kind}Policy": (noun, put), f"Get{kind}Policy": (noun, get),
            f"List{kind}Policies": (noun, list_inline), f"Delete{kind}Policy": (noun, delete),
            f"Attach{kind}Policy": (noun, attach), f"Detach{kind}Policy": (noun, detach),
            f"ListAttached{kind}Policies": (noun, list_attached)}


# --- dispatch -------------------------------------------------------------------------------------------------
# Action -> (what its resource is named by, the handler). "user": UserName (default: the caller);
# "group": GroupName; "policy": PolicyArn / PolicyName; "user/*" ...: the List actions; "*": the keyring.
ACTIONS: dict[str, tuple[str, Action]] = {
    "CreateUser": ("user", _create_user), "GetUser": ("user", _get_user), "ListUsers": ("user/*", _list_users),
    "DeleteUser": ("user", _delete_user), "SetUserStatus": ("user", _set_user_status),
    "CreateAccessKey": ("user", _create_access_key), "ListAccessKeys": ("user", _list_access_keys),
    "UpdateAccessKey": ("user", _update_access_key), "DeleteAccessKey": ("user", _delete_access_key),
    "CreateServiceAccount": ("user", _create_service_account),
    "ListServiceAccounts": ("user", _list_service_accounts),
    "DeleteServiceAccount": ("user/*", _delete_service_account), "RotateKeyring": ("*", _rotate_keyring),
    **_policy_actions("User"),
    "CreatePolicy": ("policy", _create_policy), "GetPolicy": ("policy", _get_policy),
    "GetPolicyVersion": ("policy", _get_policy_version), "ListPolicies": ("policy/*", _list_policies),
    "DeletePolicy": ("policy", _delete_policy),
    "CreateGroup": ("group", _create_group), "GetGroup": ("group", _get_group),
    "ListGroups": ("group/*", _list_groups), "DeleteGroup": ("group", _delete_group),
    "AddUserToGroup": ("group", _add_user_to_group), "RemoveUserFromGroup": ("group", _remove_user_from_group),
    "ListGroupsForUser": ("user", _list_groups_for_user),
    **_policy_actions("Group"),
}


def _resource(kind: str, call: Call) -> str:
    if kind == "user":
        return _arn("user", call.user_name())
    if kind == "group":
        return _arn("group", call.params.get("GroupName", ""))
    if kind == "policy":
        arn = call.params.get("PolicyArn", "")
        return arn if arn else _arn("policy", call.params.get("PolicyName", ""))
    if kind == "*":
        return "*"
    return f"arn:aws:iam::{ACCOUNT_ID}:{kind}"


async def _authorize(call: Call, resource: str) -> None:
    """Root always; others when their identity policies allow ``iam:<Action>`` (and the session policy)."""
    caller = call.caller
    if caller.is_root:
        return
    action = f"iam:{call.action}"
    request = Request(action=action, resource=resource, principal=caller.arn,
                      variables={"aws:username": caller.parent or caller.user, "aws:userid": caller.access_key,
                                 "aws:principaltype": caller.kind})
    policies, session = await call.store.policies_for(caller)
    allowed = evaluate(policies, request) == "allow"
    if allowed and session is not None:
        allowed = session.evaluate(request) == "allow"
    if not allowed:
        raise IamError("AccessDenied", f"User: {caller.arn} is not authorized to perform: {action} on resource: "
                                       f"{resource}", 403)


async def handle(ctx: ReqCtx, req: VerifiedRequest, action: str, params: dict[str, str]) -> Response:
    """Answer one IAM action; every failure is an IAM ``ErrorResponse`` (never a traceback)."""
    try:
        if params.get("Version") != VERSION:
            raise IamError("InvalidAction", f"Could not find operation {action} for version "
                                            f"{params.get('Version') or 'NO_VERSION'}")
        entry = ACTIONS.get(action)
        if entry is None:
            raise IamError("InvalidAction", f"Could not find operation {action} for version {VERSION}")
        store = ctx.iam
        if store is None:
            raise IamError("ServiceFailure", "The IAM store is not available.", 503)
        caller = req.principal
        if caller.is_anonymous:
            raise IamError("AccessDenied", "The IAM API needs a signed request.", 403)
        kind, handler = entry
        call = Call(store, params, caller, action)
        await _authorize(call, _resource(kind, call))
        await handler(call)
    except IamError as exc:
        return _error(exc.code, exc.message, exc.status, ctx.request_id)
    except S3Error as exc:
        return _error(exc.code, exc.message, exc.status, ctx.request_id)
    w = call.w
    if call.has_result:
        w.close(f"{action}Result")
    w.open("ResponseMetadata")
    w.elem("RequestId", ctx.request_id)
    w.close("ResponseMetadata")
    return Response(status=200, headers=[("Content-Type", "text/xml")], body=w.finish())


def _error(code: str, message: str, status: int, request_id: str) -> Response:
    from storage_engine.api.query import error_response      # query imports this module
    return error_response(code, message, status, request_id, IAM_NS)
