"""KMS test fixtures over the session's real OpenBao (``openbao`` in tests/conftest.py).

    bao             the session OpenBao, started and unsealed again after a test that stopped or sealed it
    vault_settings  EngineSettings of a Vault KMS on ``bao``: ``vault_settings("key", token=...)``
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from openbao_server import OpenBao
from storage_engine.config import EngineSettings


@pytest.fixture
def bao(openbao: OpenBao) -> Iterator[OpenBao]:
    yield openbao
    if not openbao.running:
        openbao.start()
    elif openbao._health().get("sealed"):
        openbao.unseal()


@pytest.fixture
def vault_settings(bao: OpenBao) -> Callable[..., EngineSettings]:
    def make(key: str, **values: Any) -> EngineSettings:
        base: dict[str, Any] = {"kms_backend": "vault", "kms_vault_address": bao.address, "kms_default_key_id": key,
                                "kms_timeout_seconds": 2, "kms_retries": 3}
        return EngineSettings.model_validate({**base, **values})
    return make
