"""The KMS settings and the static backend: a given key, a key file, and the key created on the first
start in a real config store over tmp drives (two "workers" starting at once end up with one key).
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr, ValidationError

from storage_engine.cluster.config_store import ConfigStore
from storage_engine.config import EngineSettings, render_env
from storage_engine.crypto.kms import KmsError, KmsInvalidCiphertext, KmsKeyNotFound, open_kms
from storage_engine.drives.base import Drive
from storage_engine.drives.local import LocalDrive
from storage_engine.errors import InsufficientReadQuorum
from storage_engine.erasure.locks import KeyLocker
from storage_engine.erasure.set import ErasureSet

T = TypeVar("T")
KEY = os.urandom(32)
SECRET = f"my-key:{base64.b64encode(KEY).decode()}"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def settings(**values: Any) -> EngineSettings:
    return EngineSettings.model_validate(values)


async def drives_at(root: Path, n: int = 4) -> list[LocalDrive]:
    out = []
    for i in range(n):
        (root / f"d{i}").mkdir(parents=True, exist_ok=True)
        drive = LocalDrive(str(root / f"d{i}"))
        await drive.prepare()
        out.append(drive)
    return out


def store(root: Path, drives: Sequence[Drive | None]) -> ConfigStore:
    return ConfigStore(ErasureSet(0, 0, list(drives), 2, 2, KeyLocker(str(root / "locks"))), reload_seconds=3600)


async def close(drives: Sequence[Drive | None]) -> None:
    await asyncio.gather(*(d.close() for d in drives if d is not None))


# --- settings ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "field"), [
    ({"kms_secret_key": "my-key:" + base64.b64encode(b"short").decode()}, "kms_secret_key"),
    ({"kms_secret_key": "no-colon"}, "kms_secret_key"),
    ({"kms_secret_key": "my-key:not base64!"}, "kms_secret_key"),
    ({"kms_backend": "aws"}, "kms_backend"),
    ({"sse_cipher": "AES128-CBC"}, "sse_cipher"),
    ({"kms_vault_auth": "ldap"}, "kms_vault_auth"),
    ({"kms_vault_address": "vault:8200"}, "kms_vault_address"),
    ({"kms_retries": 0}, "kms_retries"),
    ({"kms_timeout_seconds": 0}, "kms_timeout_seconds"),
    ({"kms_default_key_id": "bad key"}, "kms_default_key_id"),
])
def test_invalid_setting_names_the_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        settings(**values)
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


@pytest.mark.parametrize(("values", "words"), [
    ({"kms_secret_key": SECRET, "kms_secret_key_file": "/k"}, ["kms_secret_key", "kms_secret_key_file"]),
    ({"kms_secret_key": SECRET, "kms_default_key_id": "other"}, ["kms_default_key_id", "my-key"]),
    ({"kms_backend": "vault", "kms_vault_token": "t"}, ["kms_default_key_id"]),
    ({"kms_backend": "vault", "kms_default_key_id": "k"}, ["kms_vault_token", "kms_vault_token_file"]),
    ({"kms_backend": "vault", "kms_default_key_id": "k", "kms_vault_token": "t", "kms_vault_token_file": "/t"},
     ["exactly one"]),
    ({"kms_backend": "vault", "kms_default_key_id": "k", "kms_vault_auth": "approle",
      "kms_vault_approle_role_id": "r"}, ["kms_vault_approle_secret_id"]),
    ({"kms_backend": "vault", "kms_default_key_id": "k", "kms_vault_auth": "kubernetes"},
     ["kms_vault_kubernetes_role"]),
    ({"kms_backend": "vault", "kms_default_key_id": "k", "kms_vault_token": "t", "kms_secret_key": SECRET},
     ["kms_secret_key", "vault"]),
])
def test_invalid_combination_names_the_fields(values: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        settings(**values)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_errors_never_echo_secrets() -> None:
    for values in ({"kms_secret_key": "my-key:" + base64.b64encode(b"sixteen-byte-key").decode()},
                   {"kms_backend": "vault", "kms_vault_token": "hvs.super-secret-token"},
                   {"kms_backend": "vault", "kms_default_key_id": "k", "kms_vault_auth": "approle",
                    "kms_vault_approle_secret_id": "super-secret-id"}):
        with pytest.raises(ValidationError) as info:
            settings(**values)
        secret = next(v for v in values.values() if "secret" in v or "sixteen" in v or "c2l4" in v)
        assert secret not in str(info.value)


def test_cli_reports_an_invalid_key_in_one_message_without_the_key(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from storage_engine.cli import main
    bad = "my-key:" + base64.b64encode(b"sixteen-byte-key").decode()
    monkeypatch.setenv("RUSTFS_KMS_SECRET_KEY", bad)
    assert main(["heal"]) == 2
    err = capsys.readouterr().err
    assert "kms_secret_key" in err and "32 bytes" in err and bad not in err and "Traceback" not in err


def test_vault_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"RUSTFS_KMS_BACKEND": "vault", "RUSTFS_KMS_DEFAULT_KEY_ID": "rustfs-a",
           "RUSTFS_KMS_VAULT_ADDRESS": "https://vault.vault.svc:8200/", "RUSTFS_KMS_VAULT_AUTH": "kubernetes",
           "RUSTFS_KMS_VAULT_KUBERNETES_ROLE": "rustfs-a", "RUSTFS_KMS_VAULT_TRANSIT_MOUNT": "/transit/"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = EngineSettings()
    assert (s.kms_backend, s.kms_default_key_id, s.kms_vault_kubernetes_role) == ("vault", "rustfs-a", "rustfs-a")
    assert s.kms_vault_address == "https://vault.vault.svc:8200" and s.kms_vault_transit_mount == "transit"
    assert s.kms_vault_kubernetes_jwt_file == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert (s.kms_timeout_seconds, s.kms_retries, s.sse_cipher) == (5.0, 3, "AES256-GCM")
    assert s.auto_encryption                    # kms_backend set explicitly


def test_auto_encryption_default_follows_an_explicit_backend() -> None:
    assert not settings().auto_encryption
    assert settings(kms_backend="static").auto_encryption
    assert not settings(kms_backend="static", kms_auto_encryption=False).auto_encryption
    assert settings(kms_auto_encryption=True).auto_encryption


def test_render_env_spells_booleans_as_the_component_does() -> None:
    env = render_env(kms_backend="vault", kms_default_key_id="rustfs-a", kms_vault_auth="kubernetes",
                     kms_vault_kubernetes_role="rustfs-a", kms_auto_encryption=True, sse_c_allow_insecure=False)
    assert env["RUSTFS_KMS_AUTO_ENCRYPTION"] == "true" and env["RUSTFS_SSE_C_ALLOW_INSECURE"] == "false"
    assert EngineSettings.model_validate({k.removeprefix("RUSTFS_").lower(): v for k, v in env.items()}).auto_encryption


# --- the static backend -----------------------------------------------------------------------------
def test_given_key_wraps_a_fresh_data_key_per_call(tmp_path: Path) -> None:
    async def main() -> None:
        kms = await open_kms(settings(kms_secret_key=SecretStr(SECRET)), store(tmp_path, [None] * 4))
        assert (kms.backend, kms.default_key_id) == ("static", "my-key")
        one, two = await kms.generate_data_key("my-key"), await kms.generate_data_key("my-key")
        assert len(one.plaintext) == 32 and one.plaintext != two.plaintext and one.wrapped != two.wrapped
        assert one.plaintext not in one.wrapped and KEY not in one.wrapped
        assert await kms.decrypt("my-key", one.wrapped) == one.plaintext
        assert await kms.rewrap("my-key", one.wrapped) == one.wrapped
        assert one.plaintext.hex() not in repr(one) and KEY.hex() not in repr(kms)
        # The same key given to another process opens it.
        other = await open_kms(settings(kms_secret_key=SecretStr(SECRET)), store(tmp_path, [None] * 4))
        assert await other.decrypt("my-key", one.wrapped) == one.plaintext
        await kms.close()
    run(main())


def test_unknown_key_and_damaged_wrap_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        kms = await open_kms(settings(kms_secret_key=SecretStr(SECRET)), store(tmp_path, [None] * 4))
        dk = await kms.generate_data_key("my-key")
        with pytest.raises(KmsKeyNotFound):
            await kms.generate_data_key("someone-else")
        with pytest.raises(KmsKeyNotFound):
            await kms.decrypt("someone-else", dk.wrapped)
        flipped = bytearray(dk.wrapped)
        flipped[20] ^= 1
        for bad in (bytes(flipped), dk.wrapped[:-1], b""):
            with pytest.raises(KmsInvalidCiphertext):
                await kms.decrypt("my-key", bad)
        # Another master key under the same id does not open it.
        stranger = await open_kms(settings(kms_secret_key=SecretStr(f"my-key:{base64.b64encode(os.urandom(32)).decode()}")),
                                  store(tmp_path, [None] * 4))
        with pytest.raises(KmsInvalidCiphertext):
            await stranger.decrypt("my-key", dk.wrapped)
    run(main())


def test_key_file(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "kms.key"
        path.write_text(SECRET + "\n")
        kms = await open_kms(settings(kms_secret_key_file=str(path)), store(tmp_path, [None] * 4))
        given = await open_kms(settings(kms_secret_key=SecretStr(SECRET)), store(tmp_path, [None] * 4))
        dk = await kms.generate_data_key("my-key")
        assert await given.decrypt("my-key", dk.wrapped) == dk.plaintext
        path.write_text("my-key:AAAA")
        with pytest.raises(KmsError, match="32 bytes") as info:
            await open_kms(settings(kms_secret_key_file=str(path)), store(tmp_path, [None] * 4))
        assert "AAAA" not in str(info.value)
        with pytest.raises(KmsError, match="cannot read"):
            await open_kms(settings(kms_secret_key_file=str(tmp_path / "missing")), store(tmp_path, [None] * 4))
        with pytest.raises(KmsKeyNotFound):
            path.write_text(SECRET)
            await open_kms(settings(kms_secret_key_file=str(path), kms_default_key_id="other"),
                           store(tmp_path, [None] * 4))
    run(main())


def test_created_key_is_one_for_workers_starting_at_once_and_survives_restart(tmp_path: Path) -> None:
    async def main() -> None:
        a_drives = await drives_at(tmp_path)
        b_drives = [LocalDrive(str(tmp_path / f"d{i}")) for i in range(4)]     # a second worker's
        a, b = await asyncio.gather(open_kms(settings(), store(tmp_path, a_drives)),
                                    open_kms(settings(), store(tmp_path, b_drives)))
        assert a.default_key_id == b.default_key_id == "rustfs-static-key"
        dk = await a.generate_data_key(a.default_key_id)
        assert await b.decrypt(b.default_key_id, dk.wrapped) == dk.plaintext
        await close([*a_drives, *b_drives])
        # Restart: the record, not a new key.
        drives = await drives_at(tmp_path)
        again = await open_kms(settings(kms_backend="static"), store(tmp_path, drives))
        assert await again.decrypt("rustfs-static-key", dk.wrapped) == dk.plaintext
        record = await store(tmp_path, drives).get("kms", "static-key")
        assert record is not None and record.startswith(b"rustfs-static-key:")
        await close(drives)
    run(main())


def test_created_key_takes_the_default_key_id(tmp_path: Path) -> None:
    async def main() -> None:
        drives = await drives_at(tmp_path)
        kms = await open_kms(settings(kms_default_key_id="tenant-a"), store(tmp_path, drives))
        assert kms.default_key_id == "tenant-a"
        with pytest.raises(KmsKeyNotFound, match="tenant-b"):   # the record keeps its id
            await open_kms(settings(kms_default_key_id="tenant-b"), store(tmp_path, drives))
        await close(drives)
    run(main())


def test_no_key_is_created_when_the_record_cannot_be_read(tmp_path: Path) -> None:
    async def main() -> None:
        drives = await drives_at(tmp_path)
        first = await open_kms(settings(), store(tmp_path, drives))
        dk = await first.generate_data_key(first.default_key_id)
        # Three of four drives gone: the record is unknowable, so the start fails rather than
        # inventing a key that would leave every object unreadable.
        with pytest.raises(InsufficientReadQuorum):
            await open_kms(settings(), store(tmp_path, [drives[0], None, None, None]))
        again = await open_kms(settings(), store(tmp_path, drives))
        assert await again.decrypt(again.default_key_id, dk.wrapped) == dk.plaintext
        await close(drives)
    run(main())
