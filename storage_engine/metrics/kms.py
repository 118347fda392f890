"""KMS metrics: ``rustfs_kms_requests_total{op}``, ``rustfs_kms_errors_total{op}``, ``rustfs_kms_online``.

``crypto.kms.open_kms`` wraps whatever backend it opens in :class:`MeteredKms`: every call is counted
by operation (``generate_data_key``, ``decrypt``, ``rewrap``), every failure too, and the last call
sets ``rustfs_kms_online``: 1 when the KMS answered (even a refusal: it is reachable), 0 when it was
unreachable (``KmsUnavailable``) or could not be opened at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storage_engine.metrics import counter, gauge

if TYPE_CHECKING:
    from storage_engine.crypto.kms import DataKey, Kms

OPS = ("generate_data_key", "decrypt", "rewrap")


class KmsMetrics:
    def __init__(self) -> None:
        self.requests = counter("rustfs_kms_requests", "KMS calls, by operation.", ("op",))
        self.errors = counter("rustfs_kms_errors", "KMS calls that failed, by operation.", ("op",))
        # The node's KMS is online only when every live worker's last call reached it.
        self.online = gauge("rustfs_kms_online", "1 when the KMS answered the last call (or the opening), "
                                                 "0 when it was unreachable.", multiprocess_mode="livemin")
        self.reset()

    def reset(self) -> None:
        """Every operation's series exists from the start, at 0 (a rate over them works at once)."""
        for op in OPS:
            self.requests.labels(op)
            self.errors.labels(op)

    def called(self, op: str, error: BaseException | None) -> None:
        from storage_engine.crypto.kms import KmsUnavailable

        self.requests.labels(op).inc()
        if error is not None:
            self.errors.labels(op).inc()
        self.online.set(0 if isinstance(error, KmsUnavailable) else 1)

    def opened(self, ok: bool) -> None:
        self.online.set(1 if ok else 0)


def _kms_metrics() -> KmsMetrics:
    from storage_engine.metrics import metrics
    return metrics.kms


class MeteredKms:
    """A ``Kms`` that counts its backend's calls (everything else is the backend's own)."""

    def __init__(self, inner: Kms) -> None:
        self._inner = inner
        self.backend = inner.backend
        self.default_key_id = inner.default_key_id

    def __repr__(self) -> str:
        return repr(self._inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def generate_data_key(self, key_id: str) -> DataKey:
        try:
            result = await self._inner.generate_data_key(key_id)
        except Exception as exc:
            _kms_metrics().called("generate_data_key", exc)
            raise
        _kms_metrics().called("generate_data_key", None)
        return result

    async def decrypt(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            result = await self._inner.decrypt(key_id, wrapped)
        except Exception as exc:
            _kms_metrics().called("decrypt", exc)
            raise
        _kms_metrics().called("decrypt", None)
        return result

    async def rewrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            result = await self._inner.rewrap(key_id, wrapped)
        except Exception as exc:
            _kms_metrics().called("rewrap", exc)
            raise
        _kms_metrics().called("rewrap", None)
        return result

    async def close(self) -> None:
        await self._inner.close()
