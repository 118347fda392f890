"""The tiers an engine knows (docs/tiering.md "Tiers").

Two sources: tiers declared in the settings (``RUSTFS_TIERS``: warm pools and cold buckets, present on every
start) and cold tiers added through the admin API, kept in the config store (kind ``tier``, so every node
and every restart sees them) with their secret key sealed by the IAM keyring. Declared tiers cannot be
removed through the API; an added one only while no object lives on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from storage_engine import errors
from storage_engine.cluster.config_store import ConfigStore
from storage_engine.config import RESERVED_STORAGE_CLASSES, PoolTierSpec, S3TierSpec
from storage_engine.erasure.set import ErasureSet
from storage_engine.lifecycle.tiers import Tier, TierError

log = logging.getLogger(__name__)

KIND = "tier"


class Sealer(Protocol):
    async def seal(self, label: str, secret: str) -> dict[str, str]: ...
    async def unseal(self, label: str, sealed: dict[str, str]) -> str: ...


@dataclass(frozen=True, slots=True)
class _Added:
    raw: bytes
    tier: Tier


def remote_tier(spec: S3TierSpec, access_key: str = "", secret_key: str = "") -> Tier:
    from storage_engine.lifecycle.remote import RemoteTier    # aiohttp client, loaded when a cold tier exists

    return RemoteTier(spec, access_key=access_key, secret_key=secret_key)


def declared_tiers(specs: Sequence[PoolTierSpec | S3TierSpec], warm: Sequence[list[ErasureSet]]) -> list[Tier]:
    """The settings' tiers; ``warm``: the erasure sets of each pool tier, in the order of the specs."""
    from storage_engine.lifecycle.warm import PoolTier

    pools = iter(warm)
    return [PoolTier(spec.name, next(pools)) if isinstance(spec, PoolTierSpec) else remote_tier(spec)
            for spec in specs]


class TierRegistry:
    def __init__(self, config: ConfigStore, sealer: Sealer, declared: list[Tier]) -> None:
        self._config = config
        self._sealer = sealer
        self._declared = {t.name: t for t in declared}
        self._added: dict[str, _Added] = {}
        self._probes: set[asyncio.Task[None]] = set()

    def declared(self, name: str) -> bool:
        return name in self._declared

    def check_declared(self) -> None:
        """Probe the settings' tiers in the background and log each one's state: a tier that cannot take a
        put, get and delete (wrong keys, a storage class the service refuses) is reported at start, not at
        the first transition. Never fatal: the tier may come up later."""
        async def probe(tier: Tier) -> None:
            try:
                await tier.probe()
            except TierError as exc:
                log.error("tier %s does not work: %s", tier.name, exc)
                return
            log.info("tier %s: ok", tier.name)
        for tier in self._declared.values():
            task = asyncio.create_task(probe(tier), name=f"probe-{tier.name}")
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)

    async def names(self) -> set[str]:
        return set(self._declared) | set(await self._config.names(KIND))

    async def get(self, name: str) -> Tier | None:
        """The tier called ``name``; None when there is none (any more)."""
        found = self._declared.get(name)
        if found is not None:
            return found
        raw = await self._config.get(KIND, name)
        cached = self._added.get(name)
        if raw is None:
            if cached is not None:
                del self._added[name]
                await cached.tier.close()
            return None
        if cached is not None and cached.raw == raw:
            return cached.tier
        record = json.loads(raw)
        tier = remote_tier(S3TierSpec.model_validate(record["spec"]), record["access_key"],
                           await self._sealer.unseal(_label(name), record["secret"]))
        self._added[name] = _Added(raw, tier)
        if cached is not None:
            await cached.tier.close()
        return tier

    async def add(self, doc: dict[str, Any]) -> None:
        """Add a cold tier from the admin API's document (an ``S3TierSpec`` with ``access_key`` and
        ``secret_key`` instead of files). Probed first: a tier that cannot take a put, get and delete is
        refused, with the tier's answer. A prefix that already holds objects is fine (a recreated volume
        must be able to find its tier again)."""
        doc = dict(doc)
        access_key, secret_key = str(doc.pop("access_key", "")), str(doc.pop("secret_key", ""))
        if not access_key or not secret_key:
            raise errors.InvalidArgument("A tier needs access_key and secret_key.")
        try:
            spec = S3TierSpec.model_validate({**doc, "type": "s3"})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise errors.InvalidArgument(f"tier {where}: {first['msg']}") from None
        if spec.has_credential_source:
            raise errors.InvalidArgument("A tier added through the API carries its keys (access_key, secret_key).")
        if spec.name in RESERVED_STORAGE_CLASSES or spec.name in await self.names():
            raise errors.InvalidArgument(f"A tier named {spec.name} exists already.")
        tier = remote_tier(spec, access_key, secret_key)
        try:
            await tier.probe()
        except TierError as exc:
            raise errors.InvalidArgument(f"Tier {spec.name} does not work: {exc}") from None
        finally:
            await tier.close()
        record = {"spec": spec.model_dump(mode="json"),
                  "access_key": access_key, "secret": await self._sealer.seal(_label(spec.name), secret_key)}
        async with self._config.lock(KIND, spec.name):
            if await self._config.get(KIND, spec.name) is not None:
                raise errors.InvalidArgument(f"A tier named {spec.name} exists already.")
            await self._config.put(KIND, spec.name, json.dumps(record).encode())
        log.info("tier %s added: %s %s/%s", spec.name, spec.endpoint, spec.bucket, spec.prefix)

    async def remove(self, name: str, objects: int) -> None:
        """Remove an added tier that holds no object (``objects``: how many versions live on it)."""
        if name in self._declared:
            raise errors.InvalidArgument(f"Tier {name} is declared in the settings (RUSTFS_TIERS); remove it there.")
        if await self._config.get(KIND, name) is None:
            raise errors.InvalidArgument(f"There is no tier named {name}.")
        if objects:
            raise errors.InvalidArgument(f"Tier {name} still holds {objects} object version(s); it cannot be "
                                         "removed until they expire or are deleted.")
        await self._config.delete(KIND, name)
        cached = self._added.pop(name, None)
        if cached is not None:
            await cached.tier.close()

    async def describe(self) -> list[dict[str, Any]]:
        """Every tier, without secrets: name, kind, where, and whether it was declared or added."""
        out = []
        for name in sorted(await self.names()):
            tier = await self.get(name)
            if tier is None:
                continue
            spec = getattr(tier, "spec", None)
            where = {k: v for k, v in spec.model_dump(mode="json").items()
                     if k in ("endpoint", "bucket", "prefix", "region", "storage_class")} if spec else {}
            out.append({"name": name, "kind": tier.kind, "declared": name in self._declared, **where})
        return out

    async def close(self) -> None:
        for task in self._probes:
            task.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)
        for tier in [*self._declared.values(), *(a.tier for a in self._added.values())]:
            await tier.close()


def _label(name: str) -> str:
    return f"tier-secret:{name}"
