"""Drive identity: the format file that ties a drive to one slot of one erasure set.

``.rustfs.sys/format.json`` holds the deployment id, the drive's own uuid and the uuids of every drive of
its pool, set by set. At start each drive is checked against its position on the command line:

- all drives of the pool unformatted -> a fresh pool: every drive is formatted;
- a formatted drive in its own slot -> used;
- a formatted drive from another deployment or another slot -> refused (left offline, logged);
- an unformatted, unused drive in a slot of a formatted pool -> a replacement: it takes the slot's uuid
  and is reported so the caller can heal it;
- an unformatted drive holding data -> refused (never overwrite what we do not know).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from storage_engine.drives import paths
from storage_engine.drives.base import Drive, DriveError
from storage_engine.drives.local import LocalDrive

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class DriveFormat:
    deployment_id: str
    pool: int
    set_index: int
    drive_index: int
    drive_id: str
    sets: tuple[tuple[str, ...], ...]

    def to_json(self) -> bytes:
        return json.dumps({
            "version": FORMAT_VERSION, "format": "erasure", "deployment_id": self.deployment_id,
            "pool": self.pool, "set": self.set_index, "drive": self.drive_index, "this": self.drive_id,
            "sets": [list(s) for s in self.sets],
        }, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> DriveFormat:
        doc = json.loads(data)
        if doc.get("version") != FORMAT_VERSION or doc.get("format") != "erasure":
            raise ValueError("unknown format version")
        return cls(str(doc["deployment_id"]), int(doc["pool"]), int(doc["set"]), int(doc["drive"]),
                   str(doc["this"]), tuple(tuple(str(u) for u in s) for s in doc["sets"]))


@dataclass(slots=True)
class PoolFormat:
    deployment_id: str
    drives: list[Drive | None]        # by position; None = refused or offline
    replaced: list[int]               # positions formatted as replacements (to heal)
    formats: list[DriveFormat]        # by position: the identity each slot must have

    def expected(self, position: int) -> DriveFormat:
        return self.formats[position]


class _FormatLock:
    """Serializes formatting between processes started together (several workers on one drive set)."""

    def __init__(self, drives: Sequence[Drive]) -> None:
        self._roots = sorted({d.root for d in drives if isinstance(d, LocalDrive)})
        self._fds: list[int] = []

    def __enter__(self) -> None:
        for root in self._roots:
            try:
                os.makedirs(os.path.join(root, paths.SYS_VOLUME), 0o755, exist_ok=True)
                fd = os.open(os.path.join(root, paths.SYS_VOLUME, "format.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                continue                   # an unusable drive is dealt with below
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fds.append(fd)

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()


async def heal_format(drive: Drive, expected: DriveFormat) -> bool:
    """Rewrite a running drive's missing format (it was wiped or replaced under us); True if written.
    A drive carrying some other identity is left alone (and logged): it is not ours to overwrite."""
    current = await _read(drive)
    if isinstance(current, DriveFormat):
        if current != expected:
            log.error("drive %s now carries another identity; not healing it", drive.endpoint)
        return False
    if isinstance(current, Exception) or not await _unused(drive):
        return False
    await drive.write_format(expected.to_json())
    await drive.prepare()
    log.warning("drive %s: format restored for set %d slot %d", drive.endpoint, expected.set_index,
                expected.drive_index)
    return True


async def _read(drive: Drive) -> DriveFormat | None | Exception:
    try:
        data = await drive.read_format()
        return None if data is None else DriveFormat.from_json(data)
    except (DriveError, ValueError, KeyError, TypeError) as exc:
        return exc


async def load_pool(drives: Sequence[Drive], pool: int, set_size: int, deployment_id: str | None) -> PoolFormat:
    """Check or create the format of one pool's drives (see the module docstring)."""
    lock = _FormatLock(drives)
    await asyncio.to_thread(lock.__enter__)
    try:
        return await _load_pool_locked(drives, pool, set_size, deployment_id)
    finally:
        lock.__exit__()


async def _load_pool_locked(drives: Sequence[Drive], pool: int, set_size: int,
                            deployment_id: str | None) -> PoolFormat:
    formats = await asyncio.gather(*(_read(d) for d in drives))
    n_sets = len(drives) // set_size
    found = [f for f in formats if isinstance(f, DriveFormat) and f.pool == pool]
    if not found:
        if any(isinstance(f, DriveFormat) for f in formats):
            raise ValueError(f"pool {pool}: drives are formatted for another pool; refusing to start")
        return await _format_fresh(drives, pool, set_size, deployment_id or str(uuid.uuid4()))
    # The reference layout is what most formatted drives agree on.
    ref_key, _ = Counter((f.deployment_id, f.sets) for f in found).most_common(1)[0]
    ref_deployment, ref_sets = ref_key
    if deployment_id and ref_deployment != deployment_id:
        raise ValueError(f"pool {pool} belongs to deployment {ref_deployment}, not {deployment_id}")
    if len(ref_sets) != n_sets or any(len(s) != set_size for s in ref_sets):
        raise ValueError(f"pool {pool}: drives were formatted as {len(ref_sets)} sets of {len(ref_sets[0])}, "
                         f"but the command line gives {n_sets} sets of {set_size}")
    out: list[Drive | None] = []
    replaced: list[int] = []
    for position, (drive, fmt) in enumerate(zip(drives, formats)):
        s, i = divmod(position, set_size)
        expected = ref_sets[s][i]
        if isinstance(fmt, Exception):
            log.error("drive %s: unreadable format (%s); leaving it offline", drive.endpoint, fmt)
            out.append(None)
        elif isinstance(fmt, DriveFormat):
            if (fmt.deployment_id, fmt.pool, fmt.set_index, fmt.drive_index, fmt.drive_id) != (
                    ref_deployment, pool, s, i, expected):
                log.error("drive %s belongs to another deployment or slot; refusing it", drive.endpoint)
                out.append(None)
            else:
                out.append(drive)
        elif await _unused(drive):
            new = DriveFormat(ref_deployment, pool, s, i, expected, ref_sets)
            try:
                await drive.write_format(new.to_json())
            except DriveError as exc:
                log.error("drive %s: cannot format replacement (%s)", drive.endpoint, exc)
                out.append(None)
                continue
            log.warning("drive %s: formatted as a replacement for set %d slot %d", drive.endpoint, s, i)
            out.append(drive)
            replaced.append(position)
        else:
            log.error("drive %s is not formatted but holds data; refusing it", drive.endpoint)
            out.append(None)
    expected = [DriveFormat(ref_deployment, pool, p // set_size, p % set_size,
                            ref_sets[p // set_size][p % set_size], ref_sets) for p in range(len(drives))]
    return PoolFormat(ref_deployment, out, replaced, expected)


async def _unused(drive: Drive) -> bool:
    try:
        return await drive.is_unused()
    except DriveError:
        return False


async def _format_fresh(drives: Sequence[Drive], pool: int, set_size: int, deployment_id: str) -> PoolFormat:
    sets = tuple(tuple(str(uuid.uuid4()) for _ in range(set_size)) for _ in range(len(drives) // set_size))
    expected = [DriveFormat(deployment_id, pool, p // set_size, p % set_size, sets[p // set_size][p % set_size], sets)
                for p in range(len(drives))]
    out: list[Drive | None] = []
    for drive, fmt in zip(drives, expected):
        try:
            await drive.write_format(fmt.to_json())
            out.append(drive)
        except DriveError as exc:
            log.error("drive %s: cannot format (%s)", drive.endpoint, exc)
            out.append(None)
    return PoolFormat(deployment_id, out, [], expected)
