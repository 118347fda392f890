"""The cluster-wide config store: small records ``(kind, name) -> bytes``, erasure coded like objects.

A record is the object ``config/<kind>/<name>`` in the system volume of one erasure set (the first set of
the first pool), its data inline in its metadata, with parity ``n // 2`` as MinIO uses for config. It is
written through ``ErasureSet.commit`` under its key lock and read through the set's quorum read, so drive
loss, healing and "absent" follow the rules of objects. A read below quorum raises InsufficientReadQuorum,
never "absent". Bucket metadata is the first kind; later features add kinds, never stores.

Records are cached in memory. A cached copy is used until one of these says it may be stale:

- its metadata file on a local drive of the set changed: one ``stat`` per use (every commit replaces
  the file, so a changed inode or mtime means a new record). Worker processes of one node share their
  drives, so they see each other's writes at once;
- a peer wrote it and told us (``changed``, served as ``config/changed``);
- the generation record, rewritten with a fresh token on every write, moved since the last periodic
  reload (every ``reload_seconds``): the backstop for lost notifications and missed drives.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncContextManager

from storage_engine.config import BLOCK_SIZE
from storage_engine.drives import paths
from storage_engine.drives.base import Drive, DriveError, FileNotFound, FileStat, WalkEntry
from storage_engine.errors import InsufficientReadQuorum, InsufficientWriteQuorum
from storage_engine.erasure.codec import get_codec
from storage_engine.erasure.heal import ObjectHealResult, heal_object
from storage_engine.erasure.metadata import PartMeta, Version
from storage_engine.erasure.set import ErasureSet, MetaView, write_quorum
from storage_engine.erasure.writer import encode_inline

if TYPE_CHECKING:
    from storage_engine.cluster.rpc_server import RpcServer

log = logging.getLogger(__name__)

CONFIG_DIR = "config"
GENERATION_KEY = f"{CONFIG_DIR}/generation"
WALK_BATCH = 1000
_UNKNOWN = object()

Notify = Callable[[str, str], Awaitable[None]]


def record_key(kind: str, name: str) -> str:
    """The record's key in the system volume."""
    return f"{CONFIG_DIR}/{kind}/{name}"


@dataclass(frozen=True, slots=True)
class _Cached:
    data: bytes
    # (drive position, stat of the record's metadata file there) to revalidate with; None without a
    # local drive (notifications and the periodic reload invalidate instead).
    probe: tuple[int, FileStat] | None


class ConfigStore:
    def __init__(self, es: ErasureSet, *, reload_seconds: float, notify: Notify | None = None) -> None:
        self.es = es
        self._reload_seconds = reload_seconds
        self._notify = notify
        self._parity = es.n // 2
        self._k = es.n - self._parity
        # Also the set's own object write quorum: healing's "dangling metadata" rule must never take a
        # committed record for the remains of a failed write.
        self._write_quorum = max(write_quorum(self._k, self._parity), es.min_write_quorum)
        self._local = [pos for pos, d in enumerate(es.drives) if d is not None and d.is_local]
        self._cache: dict[str, _Cached] = {}
        # Bumped whenever cached copies are dropped, so a read that began before cannot cache its result.
        self._epoch = 0
        self._generation: object = _UNKNOWN    # bytes, None (no write yet) or _UNKNOWN
        self._task: asyncio.Task[None] | None = None
        self._healing: dict[str, asyncio.Task[None]] = {}

    # --- records ------------------------------------------------------------------------------------
    async def get(self, kind: str, name: str) -> bytes | None:
        key = record_key(kind, name)
        cached = self._cache.get(key)
        if cached is not None and await self._still_fresh(key, cached):
            return cached.data
        return await self._load(key)

    async def put(self, kind: str, name: str, data: bytes) -> None:
        await self._write(record_key(kind, name), data)
        await self._announce(kind, name)

    async def delete(self, kind: str, name: str) -> None:
        await self._write(record_key(kind, name), None)
        await self._announce(kind, name)

    async def names(self, kind: str) -> list[str]:
        """The names of every record of ``kind``, sorted (InsufficientReadQuorum when unknowable)."""
        prefix = record_key(kind, "")
        out = []
        for key in sorted(await self._keys(prefix)):
            name = key[len(prefix):]
            if await self.get(kind, name) is not None:
                out.append(name)
        return out

    async def changed(self, kind: str, name: str) -> None:
        """A peer wrote the record: forget our copy (the next ``get`` reads it again)."""
        self._forget(record_key(kind, name))

    def lock(self, kind: str, name: str) -> AsyncContextManager[None]:
        """Exclusive use of a record for a read-modify-write (``put``/``delete`` may be called inside).

        Not the record's commit lock, which ``put``/``delete`` take themselves (and healing takes)."""
        return self.es.lock(paths.SYS_VOLUME, f"{CONFIG_DIR}-update/{kind}/{name}")

    async def heal(self) -> list[ObjectHealResult]:
        """Heal every record like an object: rebuilt shards, stale copies, remains of failed writes."""
        return [await heal_object(self.es, paths.SYS_VOLUME, key)
                for key in sorted(await self._keys(f"{CONFIG_DIR}/"))]

    # --- the periodic reload ------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._reload_loop(), name="config-reload")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._healing.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(self._reload_seconds)
            try:
                generation: object = await self._read(GENERATION_KEY)
            except Exception:
                log.warning("config store: cannot read the generation record", exc_info=True)
                generation = _UNKNOWN
            if generation is _UNKNOWN or generation != self._generation:
                self._drop_all()              # something changed, or we cannot tell: trust nothing cached
            self._generation = generation

    # --- reading ------------------------------------------------------------------------------------
    async def _still_fresh(self, key: str, cached: _Cached) -> bool:
        if cached.probe is None:
            return True
        pos, stat = cached.probe
        return await self._stat(pos, key) == stat

    async def _load(self, key: str) -> bytes | None:
        epoch = self._epoch
        probe = await self._probe(key)        # before the read: a later change shows as a new stat
        view = await self._view(key)
        data = await self._data(key, view) if view is not None else None
        # With local drives, cache only what one of them can revalidate (its copy is the quorum's).
        revalidable = not self._local or (probe is not None and view is not None and view.agrees(probe[0]))
        if data is not None and revalidable and epoch == self._epoch:
            self._cache[key] = _Cached(data, probe)
        else:
            self._cache.pop(key, None)
        return data

    async def _read(self, key: str) -> bytes | None:
        view = await self._view(key)
        return await self._data(key, view) if view is not None else None

    async def _view(self, key: str) -> MetaView | None:
        raw = await self.es.read_raw(paths.SYS_VOLUME, paths.meta_path(key))
        view = self.es.resolve(raw)
        if view is None and sum(isinstance(r, FileNotFound) for r in raw) < self.es.n - self._write_quorum + 1:
            raise InsufficientReadQuorum()    # a committed record may sit on the drives we cannot reach
        if view is not None and any(isinstance(r, (bytes, FileNotFound)) and not view.agrees(pos)
                                    for pos, r in enumerate(raw)):
            self._heal_later(key)             # a drive that answered holds a stale copy, or none
        return view

    async def _data(self, key: str, view: MetaView) -> bytes:
        reader = await self.es.open_version(paths.SYS_VOLUME, key, view, view.versions[0],
                                            on_damage=lambda: self._heal_later(key))
        try:
            return b"".join([bytes(piece) async for piece in reader.stream()])
        finally:
            reader.close()

    async def _probe(self, key: str) -> tuple[int, FileStat] | None:
        """The stat of the record's metadata file on the first local drive that answers."""
        for pos in self._local:
            stat = await self._stat(pos, key)
            if stat is not None:
                return pos, stat
        return None

    async def _stat(self, pos: int, key: str) -> FileStat | None:
        drive = self.es.drives[pos]
        if drive is None:
            return None
        try:
            return await drive.stat_file(paths.SYS_VOLUME, paths.meta_path(key))
        except DriveError:
            return None

    async def _keys(self, prefix: str) -> set[str]:
        """Every record key under ``prefix`` on any drive; InsufficientReadQuorum when fewer than a read
        quorum of drives answer (a record might then be on none of those that did). Healing drives lack
        records, so they do not count."""
        drives = self.es.listable_drives()
        keys: set[str] = set()
        marker = ""
        while True:
            walks = [w for w in await asyncio.gather(*(_walk(d, prefix, marker) for d in drives)) if w is not None]
            if len(walks) < self._k:
                raise InsufficientReadQuorum()
            full = [w[-1][0] for w in walks if len(w) >= WALK_BATCH]
            horizon = min(full) if full else None
            keys.update(key for w in walks for key, _ in w if horizon is None or key <= horizon)
            if horizon is None:
                return keys
            marker = horizon

    # --- writing ------------------------------------------------------------------------------------
    async def _write(self, key: str, data: bytes | None) -> None:
        """Commit ``data`` (None: delete) as the record, then bump the generation."""
        await self._commit(key, data)
        self._forget(key)
        try:
            await self._commit(GENERATION_KEY, uuid.uuid4().bytes)
        except (InsufficientReadQuorum, InsufficientWriteQuorum) as exc:
            # The record itself is written; peers that miss the notification catch up at the next write.
            log.warning("config store: cannot bump the generation after writing %s: %s", key, exc)

    async def _commit(self, key: str, data: bytes | None) -> None:
        es = self.es
        async with es.lock(paths.SYS_VOLUME, key):
            view = await self._view(key)
            if data is None:
                if view is not None:
                    await es.commit(paths.SYS_VOLUME, key, view, [], quorum=self._write_quorum)
                return
            k, m = self._k, self._parity
            now = time.time()
            version = Version(version_id="null", data_id=uuid.uuid4().hex, mod_time=now, size=len(data),
                              inline=True, data_blocks=k, parity_blocks=m, block_size=BLOCK_SIZE,
                              distribution=es.distribution(key), parts=[PartMeta(1, len(data), len(data), "", now)])
            shards = encode_inline(get_codec(k, m), data, BLOCK_SIZE)
            await es.commit(paths.SYS_VOLUME, key, view, [version], new_version=version, inline_shards=shards,
                            quorum=self._write_quorum)

    async def _announce(self, kind: str, name: str) -> None:
        if self._notify is None:
            return
        try:
            await self._notify(kind, name)
        except Exception:                     # the write stands; peers catch up at their next reload
            log.warning("config store: cannot notify peers of %s/%s", kind, name, exc_info=True)

    # --- cache and background healing ---------------------------------------------------------------
    def _forget(self, key: str) -> None:
        self._epoch += 1
        self._cache.pop(key, None)

    def _drop_all(self) -> None:
        self._epoch += 1
        self._cache.clear()

    def _heal_later(self, key: str) -> None:
        """A drive holds a stale or damaged copy: heal the record in the background (once at a time)."""
        if key in self._healing:
            return

        async def heal() -> None:
            try:
                result = await heal_object(self.es, paths.SYS_VOLUME, key)
                for line in result.details:
                    log.info("config store heal: %s", line)
            except Exception:
                log.exception("config store: healing %s failed", key)
            finally:
                del self._healing[key]
        self._healing[key] = asyncio.create_task(heal(), name=f"config-heal:{key}")


async def _walk(drive: Drive, prefix: str, marker: str) -> list[WalkEntry] | None:
    try:
        return await drive.walk(paths.SYS_VOLUME, prefix, marker, WALK_BATCH, False)
    except DriveError:
        return None


def register_config_service(rpc: RpcServer, store: ConfigStore) -> None:
    """Serve ``config/changed`` to the peers: a peer wrote the record ``{"kind", "name"}``."""

    async def changed(args: dict[str, Any]) -> None:
        await store.changed(str(args["kind"]), str(args["name"]))

    rpc.register_call("config", "changed", changed)
