"""``python -m storage_engine admin ...``: users, groups, policies, service accounts and the IAM keyring of a
running server, through its IAM API (the query protocol, SigV4 service ``iam``) with the root credentials of
the settings (``RUSTFS_ACCESS_KEY``/``RUSTFS_SECRET_KEY``)::

    admin user add NAME [--policy P]... [--group G]...   a user and an access key (the secret is printed once)
    admin user list | remove NAME | enable NAME | disable NAME
    admin group add GROUP [USER...] | remove GROUP [USER...] | list | info GROUP
    admin policy create NAME FILE | list | remove NAME | attach|detach POLICY (--user U | --group G)
    admin svcacct add USER [--policy FILE] [--name N] [--description D] | list USER | remove ACCESS_KEY
    admin iam rotate-key                                 a new keyring key; stored secrets sealed again under it

Exit status: 0; 1 when the server refuses (its error code and message on one line) or cannot be reached;
2 for usage errors (no credentials, a bad endpoint, an unreadable policy file).
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import urlencode

from storage_engine.admin_client import post
from storage_engine.config import EngineSettings

__all__ = ["add_parser", "run"]

VERSION = "2010-05-08"
FORM = {"content-type": "application/x-www-form-urlencoded"}


class _Failed(Exception):
    """Stop with ``status`` (the message is already printed)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:  # pyright: ignore[reportPrivateUsage]
    admin = sub.add_parser("admin", help="manage users, groups, policies and service accounts of a running server")
    admin.add_argument("--endpoint", default=None, help="server URL (default http://127.0.0.1:<port of RUSTFS_ADDRESS>)")
    kinds = admin.add_subparsers(dest="kind", required=True)

    user = kinds.add_parser("user", help="IAM users").add_subparsers(dest="op", required=True)
    add = user.add_parser("add", help="create a user and an access key (the secret key is printed once)")
    add.add_argument("name")
    add.add_argument("--policy", action="append", default=[], help="attach this managed policy (repeatable)")
    add.add_argument("--group", action="append", default=[], help="add the user to this group (repeatable)")
    user.add_parser("list", help="list users")
    for op, text in (("remove", "delete a user with its keys, policies and memberships"),
                     ("enable", "let a user's keys authenticate again"), ("disable", "refuse a user's keys")):
        user.add_parser(op, help=text).add_argument("name")

    group = kinds.add_parser("group", help="IAM groups").add_subparsers(dest="op", required=True)
    gadd = group.add_parser("add", help="create a group (if new) and add users to it")
    gadd.add_argument("group")
    gadd.add_argument("users", nargs="*")
    gremove = group.add_parser("remove", help="remove users from a group, or (without users) delete it")
    gremove.add_argument("group")
    gremove.add_argument("users", nargs="*")
    group.add_parser("list", help="list groups")
    group.add_parser("info", help="a group's members and policies").add_argument("group")

    policy = kinds.add_parser("policy", help="managed policies").add_subparsers(dest="op", required=True)
    create = policy.add_parser("create", help="create a managed policy from a JSON file ('-': standard input)")
    create.add_argument("name")
    create.add_argument("file")
    policy.add_parser("list", help="list managed policies (built-in ones included)")
    policy.add_parser("remove", help="delete a managed policy").add_argument("name")
    for op in ("attach", "detach"):
        target = policy.add_parser(op, help=f"{op} a managed policy to a user or a group")
        target.add_argument("policy")
        who = target.add_mutually_exclusive_group(required=True)
        who.add_argument("--user")
        who.add_argument("--group")

    svc = kinds.add_parser("svcacct", help="service accounts").add_subparsers(dest="op", required=True)
    sadd = svc.add_parser("add", help="an extra access key of USER, optionally restricted by a policy file")
    sadd.add_argument("user")
    sadd.add_argument("--policy", default=None, help="JSON policy file restricting the account")
    sadd.add_argument("--name", default="")
    sadd.add_argument("--description", default="")
    svc.add_parser("list", help="a user's service accounts").add_argument("user")
    svc.add_parser("remove", help="delete a service account").add_argument("access_key")

    iam = kinds.add_parser("iam", help="the IAM keyring").add_subparsers(dest="op", required=True)
    iam.add_parser("rotate-key", help="a new keyring key for secrets and session tokens (older keys kept to read)")


def run(settings: EngineSettings, args: argparse.Namespace) -> int:
    command = _COMMANDS.get((args.kind, args.op))
    if command is None:
        print(f"error: unknown command admin {args.kind} {args.op}", file=sys.stderr)
        return 2
    try:
        command(_Client(settings, args.endpoint), args)
    except _Failed as exc:
        return exc.status
    return 0


class _Client:
    def __init__(self, settings: EngineSettings, endpoint: str | None) -> None:
        self.settings = settings
        self.endpoint = endpoint

    def call(self, action: str, *, ignore: tuple[str, ...] = (), **params: str) -> ET.Element | None:
        """The action's result element (namespaces stripped); None for an error code in ``ignore``."""
        body = urlencode({"Action": action, "Version": VERSION, **params}).encode()
        answer = post(self.settings, self.endpoint, "/", body, FORM, service="iam")
        if isinstance(answer, int):
            raise _Failed(answer)
        status, data = answer
        try:
            root = _strip(ET.fromstring(data))
        except ET.ParseError:
            print(f"error: {action}: unexpected answer (HTTP {status}): {data[:200]!r}", file=sys.stderr)
            raise _Failed(1) from None
        if status != 200:
            code = root.findtext("Error/Code") or f"HTTP {status}"
            if code in ignore:
                return None
            print(f"error: {code}: {root.findtext('Error/Message') or ''}", file=sys.stderr)
            raise _Failed(1)
        return root.find(f"{action}Result")


def _strip(element: ET.Element) -> ET.Element:
    for node in element.iter():
        node.tag = node.tag.rsplit("}", 1)[-1]
    return element


def _read(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        raise _Failed(2) from None


def _print_key(result: ET.Element | None) -> None:
    key = result.find("AccessKey") if result is not None else None
    if key is None:
        print("error: the server returned no access key", file=sys.stderr)
        raise _Failed(1)
    print(f"access key: {key.findtext('AccessKeyId')}\nsecret key: {key.findtext('SecretAccessKey')}")
    print("(the secret key is shown only now)", file=sys.stderr)


def _policy_arn(name: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:iam::000000000000:policy/{name}"


# --- users --------------------------------------------------------------------------------------------
def _user_add(c: _Client, a: argparse.Namespace) -> None:
    c.call("CreateUser", UserName=a.name)
    for policy in a.policy:
        c.call("AttachUserPolicy", UserName=a.name, PolicyArn=_policy_arn(policy))
    for group in a.group:
        c.call("AddUserToGroup", GroupName=group, UserName=a.name)
    print(f"Added user {a.name}.")
    _print_key(c.call("CreateAccessKey", UserName=a.name))


def _user_list(c: _Client, a: argparse.Namespace) -> None:
    result = c.call("ListUsers")
    for user in result.iterfind("Users/member") if result is not None else ():
        print(f"{user.findtext('UserName')}\t{user.findtext('UserId')}\t{user.findtext('CreateDate')}")


def _user_remove(c: _Client, a: argparse.Namespace) -> None:
    name = a.name
    keys = c.call("ListAccessKeys", UserName=name)
    for key in keys.iterfind("AccessKeyMetadata/member") if keys is not None else ():
        c.call("DeleteAccessKey", UserName=name, AccessKeyId=key.findtext("AccessKeyId") or "")
    accounts = c.call("ListServiceAccounts", UserName=name)
    for key in accounts.iterfind("ServiceAccounts/member") if accounts is not None else ():
        c.call("DeleteServiceAccount", AccessKeyId=key.findtext("AccessKeyId") or "")
    inline = c.call("ListUserPolicies", UserName=name)
    for policy in inline.iterfind("PolicyNames/member") if inline is not None else ():
        c.call("DeleteUserPolicy", UserName=name, PolicyName=policy.text or "")
    attached = c.call("ListAttachedUserPolicies", UserName=name)
    for policy in attached.iterfind("AttachedPolicies/member") if attached is not None else ():
        c.call("DetachUserPolicy", UserName=name, PolicyArn=policy.findtext("PolicyArn") or "")
    groups = c.call("ListGroupsForUser", UserName=name)
    for group in groups.iterfind("Groups/member") if groups is not None else ():
        c.call("RemoveUserFromGroup", GroupName=group.findtext("GroupName") or "", UserName=name)
    c.call("DeleteUser", UserName=name)
    print(f"Removed user {name}.")


def _user_status(enabled: bool) -> Callable[[_Client, argparse.Namespace], None]:
    def command(c: _Client, a: argparse.Namespace) -> None:
        c.call("SetUserStatus", UserName=a.name, Status="enabled" if enabled else "disabled")
        print(f"{'Enabled' if enabled else 'Disabled'} user {a.name}.")
    return command


# --- groups -------------------------------------------------------------------------------------------
def _group_add(c: _Client, a: argparse.Namespace) -> None:
    c.call("CreateGroup", GroupName=a.group, ignore=("EntityAlreadyExists",))
    for user in a.users:
        c.call("AddUserToGroup", GroupName=a.group, UserName=user)
    print(f"Group {a.group}: added {', '.join(a.users) or 'no users'}.")


def _group_remove(c: _Client, a: argparse.Namespace) -> None:
    if a.users:
        for user in a.users:
            c.call("RemoveUserFromGroup", GroupName=a.group, UserName=user)
        print(f"Group {a.group}: removed {', '.join(a.users)}.")
        return
    c.call("DeleteGroup", GroupName=a.group)
    print(f"Removed group {a.group}.")


def _group_list(c: _Client, a: argparse.Namespace) -> None:
    result = c.call("ListGroups")
    for group in result.iterfind("Groups/member") if result is not None else ():
        print(group.findtext("GroupName"))


def _group_info(c: _Client, a: argparse.Namespace) -> None:
    result = c.call("GetGroup", GroupName=a.group)
    members = [u.findtext("UserName") or "" for u in result.iterfind("Users/member")] if result is not None else []
    attached = c.call("ListAttachedGroupPolicies", GroupName=a.group)
    policies = [p.findtext("PolicyName") or "" for p in attached.iterfind("AttachedPolicies/member")] \
        if attached is not None else []
    inline = c.call("ListGroupPolicies", GroupName=a.group)
    names = [p.text or "" for p in inline.iterfind("PolicyNames/member")] if inline is not None else []
    print(f"group: {a.group}\nmembers: {' '.join(members)}\npolicies: {' '.join(policies)}\n"
          f"inline policies: {' '.join(names)}")


# --- policies -----------------------------------------------------------------------------------------
def _policy_create(c: _Client, a: argparse.Namespace) -> None:
    c.call("CreatePolicy", PolicyName=a.name, PolicyDocument=_read(a.file))
    print(f"Created policy {a.name}.")


def _policy_list(c: _Client, a: argparse.Namespace) -> None:
    result = c.call("ListPolicies")
    for policy in result.iterfind("Policies/member") if result is not None else ():
        print(f"{policy.findtext('PolicyName')}\tattached {policy.findtext('AttachmentCount')}")


def _policy_remove(c: _Client, a: argparse.Namespace) -> None:
    c.call("DeletePolicy", PolicyArn=_policy_arn(a.name))
    print(f"Removed policy {a.name}.")


def _policy_attach(attach: bool) -> Callable[[_Client, argparse.Namespace], None]:
    def command(c: _Client, a: argparse.Namespace) -> None:
        verb = "Attach" if attach else "Detach"
        if a.user:
            c.call(f"{verb}UserPolicy", UserName=a.user, PolicyArn=_policy_arn(a.policy))
        else:
            c.call(f"{verb}GroupPolicy", GroupName=a.group, PolicyArn=_policy_arn(a.policy))
        print(f"{verb}ed policy {a.policy} {'to' if attach else 'from'} {'user ' + a.user if a.user else 'group ' + a.group}.")
    return command


# --- service accounts and the keyring -----------------------------------------------------------------
def _svcacct_add(c: _Client, a: argparse.Namespace) -> None:
    params = {"UserName": a.user, "Name": a.name, "Description": a.description}
    if a.policy:
        params["Policy"] = _read(a.policy)
    print(f"Added a service account of {a.user}.")
    _print_key(c.call("CreateServiceAccount", **params))


def _svcacct_list(c: _Client, a: argparse.Namespace) -> None:
    result = c.call("ListServiceAccounts", UserName=a.user)
    for key in result.iterfind("ServiceAccounts/member") if result is not None else ():
        print(f"{key.findtext('AccessKeyId')}\t{key.findtext('Status')}\t{key.findtext('Name') or ''}")


def _svcacct_remove(c: _Client, a: argparse.Namespace) -> None:
    c.call("DeleteServiceAccount", AccessKeyId=a.access_key)
    print(f"Removed service account {a.access_key}.")


def _rotate_key(c: _Client, a: argparse.Namespace) -> None:
    result = c.call("RotateKeyring")
    print(f"New IAM keyring key: {result.findtext('KeyId') if result is not None else '?'}")


_COMMANDS: dict[tuple[str, str], Callable[[_Client, argparse.Namespace], None]] = {
    ("user", "add"): _user_add, ("user", "list"): _user_list, ("user", "remove"): _user_remove,
    ("user", "enable"): _user_status(True), ("user", "disable"): _user_status(False),
    ("group", "add"): _group_add, ("group", "remove"): _group_remove, ("group", "list"): _group_list,
    ("group", "info"): _group_info,
    ("policy", "create"): _policy_create, ("policy", "list"): _policy_list, ("policy", "remove"): _policy_remove,
    ("policy", "attach"): _policy_attach(True), ("policy", "detach"): _policy_attach(False),
    ("svcacct", "add"): _svcacct_add, ("svcacct", "list"): _svcacct_list, ("svcacct", "remove"): _svcacct_remove,
    ("iam", "rotate-key"): _rotate_key,
}
