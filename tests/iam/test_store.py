"""The IAM store over a real single-node layer (4 local drives in tmp dirs): users, keys, groups, policies,
service accounts, the credential lookup, sealed secrets and the keyring."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr

from storage_engine.config import EngineSettings
from storage_engine.errors import ExpiredToken, InvalidToken
from storage_engine.iam.policy import Request
from storage_engine.iam.principal import Principal
from storage_engine.iam.store import BUILTIN_POLICIES, IamError, IamStore
from storage_engine.objects.layer import ErasureObjectLayer, open_object_layer
from storage_engine.topology import Pool

T = TypeVar("T")
ROOT_KEY = "store-test-root"
READ_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::data/*"]}]})
DENY_PUT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": ["s3:PutObject"], "Resource": ["*"]}]})


def settings() -> EngineSettings:
    return EngineSettings(access_key=ROOT_KEY, secret_key=SecretStr("store-test-root-secret-0123456789"),
                          heal_interval_seconds=0)


async def _open(root: Path) -> ErasureObjectLayer:
    dirs = [root / f"d{i}" for i in range(4)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return await open_object_layer([Pool(tuple(str(d) for d in dirs), 4)], settings())


def with_store(tmp_path: Path, body: Callable[[IamStore], Coroutine[Any, Any, T]]) -> T:
    async def main() -> T:
        layer = await _open(tmp_path)
        try:
            return await body(layer.iam)
        finally:
            await layer.close()
    return asyncio.run(main())


def allows(policies: list[Any], action: str, resource: str) -> bool:
    from storage_engine.iam.policy import evaluate
    return evaluate(policies, Request(action=action, resource=resource)) == "allow"


def test_user_keys_authenticate_until_inactive_disabled_or_deleted(tmp_path: Path) -> None:
    async def body(store: IamStore) -> None:
        assert (await store.lookup(ROOT_KEY)) == store.root and store.root.is_root
        await store.create_user("alice")
        key = await store.create_access_key("alice")
        assert len(key.access_key) == 20 and key.access_key.isalnum() and key.access_key.isupper()
        assert len(key.secret_key) == 40 and key.secret_key not in repr(key)
        creds = await store.lookup(key.access_key)
        assert creds is not None and creds.secret_key == key.secret_key
        assert creds.principal.kind == "user" and creds.principal.user == "alice" and not creds.is_root
        assert creds.principal.arn == "arn:aws:iam::000000000000:user/alice"
        assert [k.access_key for k in await store.list_access_keys("alice")] == [key.access_key]
        await store.update_access_key("alice", key.access_key, "Inactive")
        assert await store.lookup(key.access_key) is None
        await store.update_access_key("alice", key.access_key, "Active")
        assert await store.lookup(key.access_key) is not None
        await store.set_user_enabled("alice", False)
        assert await store.lookup(key.access_key) is None
        await store.set_user_enabled("alice", True)
        with pytest.raises(IamError) as conflict:
            await store.delete_user("alice")
        assert (conflict.value.code, conflict.value.status) == ("DeleteConflict", 409)
        await store.delete_access_key("alice", key.access_key)
        assert await store.lookup(key.access_key) is None
        await store.delete_user("alice")
        with pytest.raises(IamError) as missing:
            await store.get_user("alice")
        assert (missing.value.code, missing.value.status) == ("NoSuchEntity", 404)
    with_store(tmp_path, body)


def test_secrets_are_sealed_on_the_drives_and_survive_a_restart(tmp_path: Path) -> None:
    async def create(store: IamStore) -> tuple[str, str]:
        await store.create_user("bob")
        key = await store.create_access_key("bob")
        return key.access_key, key.secret_key
    access, secret = with_store(tmp_path, create)
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert access.encode() in on_disk and secret.encode() not in on_disk

    async def reopen(store: IamStore) -> None:
        creds = await store.lookup(access)
        assert creds is not None and creds.secret_key == secret
        await store.rotate_key()                     # sealed again under the new key, still the same secret
        store._secrets.clear()
        creds = await store.lookup(access)
        assert creds is not None and creds.secret_key == secret
    with_store(tmp_path, reopen)


def test_policies_groups_and_policies_for(tmp_path: Path) -> None:
    async def body(store: IamStore) -> None:
        await store.create_user("carol")
        with pytest.raises(IamError) as bad:
            await store.put_user_policy("carol", "p", '{"Statement": "nope"}')
        assert (bad.value.code, bad.value.status) == ("MalformedPolicyDocument", 400)
        await store.put_user_policy("carol", "read", READ_ONLY)
        assert await store.get_user_policy("carol", "read") == READ_ONLY
        await store.create_policy("nowrite", DENY_PUT)
        with pytest.raises(IamError) as dup:
            await store.create_policy("nowrite", DENY_PUT)
        assert dup.value.code == "EntityAlreadyExists"
        await store.create_group("devs")
        await store.attach_group_policy("devs", "arn:aws:iam::000000000000:policy/readwrite")
        await store.add_user_to_group("devs", "carol")
        assert [g.name for g in await store.list_groups_for_user("carol")] == ["devs"]
        assert [u.name for u in await store.group_members("devs")] == ["carol"]
        key = await store.create_access_key("carol")
        creds = await store.lookup(key.access_key)
        assert creds is not None and creds.principal.groups == ("devs",)
        policies, session = await store.policies_for(creds.principal)
        assert session is None and allows(policies, "s3:PutObject", "arn:aws:s3:::any/k")
        await store.attach_user_policy("carol", "nowrite")
        policies, _ = await store.policies_for(creds.principal)
        assert not allows(policies, "s3:PutObject", "arn:aws:s3:::any/k")
        with pytest.raises(IamError) as attached:
            await store.delete_policy("nowrite")
        assert attached.value.code == "DeleteConflict"
        with pytest.raises(IamError) as members:
            await store.delete_group("devs")
        assert members.value.code == "DeleteConflict"
        await store.remove_user_from_group("devs", "carol")
        policies, _ = await store.policies_for((await store.lookup(key.access_key)).principal)  # type: ignore[union-attr]
        assert not allows(policies, "s3:ListBucket", "arn:aws:s3:::any")
        assert allows(policies, "s3:GetObject", "arn:aws:s3:::data/x")
        assert BUILTIN_POLICIES <= {p.name for p in await store.list_policies()}
        with pytest.raises(IamError) as root_user:
            await store.create_user("root")
        assert root_user.value.code == "InvalidInput"
    with_store(tmp_path, body)


def test_service_accounts_act_with_the_parent_policies_narrowed(tmp_path: Path) -> None:
    async def body(store: IamStore) -> None:
        await store.create_user("dave")
        await store.attach_user_policy("dave", "readwrite")
        account = await store.create_service_account("dave", READ_ONLY, name="reader")
        creds = await store.lookup(account.access_key)
        assert creds is not None and creds.principal.kind == "service-account"
        assert creds.principal.parent == "dave" and creds.principal.arn.endswith(":user/dave")
        policies, session = await store.policies_for(creds.principal)
        assert allows(policies, "s3:PutObject", "arn:aws:s3:::x/y") and session is not None
        assert session.evaluate(Request(action="s3:PutObject", resource="arn:aws:s3:::x/y")) == "none"
        assert [a.access_key for a in await store.list_service_accounts("dave")] == [account.access_key]
        assert await store.list_access_keys("dave") == []
        await store.set_user_enabled("dave", False)
        assert await store.lookup(account.access_key) is None
        await store.set_user_enabled("dave", True)
        await store.delete_service_account(account.access_key)
        assert await store.lookup(account.access_key) is None
    with_store(tmp_path, body)


def test_sessions_are_stateless_and_stop_with_their_parent(tmp_path: Path) -> None:
    async def body(store: IamStore) -> None:
        await store.create_user("erin")
        session = await store.issue_session(
            Principal("sts", "", "erin", parent="erin", role="r", session_name="s"), 900)
        assert session.access_key.startswith("ASIA") and len(session.secret_key) == 40
        creds = await store.lookup(session.access_key, session.session_token)
        assert creds is not None and creds.secret_key == session.secret_key
        assert creds.principal.kind == "sts" and creds.principal.parent == "erin"
        assert creds.principal.arn == "arn:aws:sts::000000000000:assumed-role/r/s"
        for token in (None, "", "garbage", session.session_token[:-4] + "AAAA"):
            with pytest.raises(InvalidToken):
                await store.lookup(session.access_key, token)
        other = await store.issue_session(Principal("sts", "", "erin", parent="erin"), 900)
        with pytest.raises(InvalidToken):
            await store.lookup(session.access_key, other.session_token)
        mapped = await store.issue_session(Principal("sts", "", "oidc-sub", policy_names=("readonly",)), 900)
        creds = await store.lookup(mapped.access_key, mapped.session_token)
        assert creds is not None
        policies, _ = await store.policies_for(creds.principal)
        assert allows(policies, "s3:GetObject", "arn:aws:s3:::b/k")
        assert not allows(policies, "s3:PutObject", "arn:aws:s3:::b/k")
        await store.set_user_enabled("erin", False)
        assert await store.lookup(session.access_key, session.session_token) is None
    with_store(tmp_path, body)


def test_expired_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def body(store: IamStore) -> None:
        session = await store.issue_session(Principal("sts", "", "frank", policy_names=("readonly",)), 900)
        import storage_engine.iam.tokens as tokens
        real = tokens.time.time
        monkeypatch.setattr(tokens.time, "time", lambda: real() + 901)
        with pytest.raises(ExpiredToken):
            await store.lookup(session.access_key, session.session_token)
    with_store(tmp_path, body)
