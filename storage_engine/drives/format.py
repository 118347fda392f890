"""Drive identity: the format file that ties a drive to one slot of one erasure set.

``.rustfs.sys/format.json`` holds the deployment id, the drive's own uuid and the uuids of every drive of
its pool, set by set. At start each drive is checked against its position on the command line:

- no drive of the pool formatted: a fresh pool, formatted only by the node allowed to
  (``may_format_fresh``) and only when every drive answered "unformatted"; else ``FormatPending``;
- formatted drives exist: at least half of the pool must be formatted and agree on one layout
  (MinIO's rule), else ``FormatQuorumLost`` and nothing is formatted: a lone survivor never turns
  blank drives into "replacements" of an empty store;
- a formatted drive in its own slot -> used;
- a formatted drive from another deployment or another slot -> refused (left out, logged);
- an unformatted, unused drive in a slot of a formatted pool -> a replacement: it takes the slot's uuid,
  is marked healing (``HEALING_FILE``) and reported so the caller can heal it;
- an unformatted drive holding data -> refused (never overwrite what we do not know);
- a drive that does not answer -> left out; its slot's identity is returned all the same, so it can
  come in later (``drives.health.CheckedDrive``).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from storage_engine.drives import layout, paths
from storage_engine.drives.base import Drive, DriveError, DriveOffline
from storage_engine.drives.local import LocalDrive

log = logging.getLogger(__name__)

# Present on a drive formatted into its slot whose data is not healed back yet (SYS_VOLUME).
HEALING_FILE = "healing.json"


class FormatQuorumLost(Exception):
    """Fewer than half of a pool's drives are formatted and agree: wait for drives to return."""


class FormatPending(Exception):
    """A fresh pool that this node may not format (yet): wait for its formats to appear."""


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
            "version": layout.VERSION, "format": "erasure", "deployment_id": self.deployment_id,
            "pool": self.pool, "set": self.set_index, "drive": self.drive_index, "this": self.drive_id,
            "sets": [list(s) for s in self.sets],
        }, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> DriveFormat:
        doc = json.loads(data)
        if doc.get("version") not in layout.VERSIONS or doc.get("format") != "erasure":
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
                fd = os.open(os.path.join(root, paths.SYS_VOLUME, layout.LOCK_FILE),
                             os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                continue                   # an unusable drive is dealt with below
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fds.append(fd)

    def __exit__(self, *exc: object) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()


async def heal_format(drive: Drive, expected: DriveFormat, *, ours: bool = False) -> bool:
    """Rewrite a running drive's missing format (it was wiped or replaced under us); True if written.
    The drive must be unused, unless ``ours``: it carried this slot's format while we ran, so what it
    holds now we wrote (heals that raced the wipe). A drive carrying some other identity is left alone
    (and logged): it is not ours to overwrite."""
    current = await _read(drive)
    if isinstance(current, DriveFormat):
        if current != expected:
            log.error("drive %s now carries another identity; not healing it", drive.endpoint)
        return False
    if isinstance(current, Exception) or not (ours or await _unused(drive)):
        return False
    await _format_for_healing(drive, expected)
    log.warning("drive %s: format restored for set %d slot %d", drive.endpoint, expected.set_index,
                expected.drive_index)
    return True


async def _read(drive: Drive) -> DriveFormat | None | Exception:
    try:
        data = await drive.read_format()
        return None if data is None else DriveFormat.from_json(data)
    except (DriveError, ValueError, KeyError, TypeError) as exc:
        return exc


async def _format_for_healing(drive: Drive, fmt: DriveFormat) -> None:
    # The marker first: a crash in between leaves an unformatted drive, never a formatted one that
    # looks whole but lacks its data.
    await drive.prepare()
    await drive.write_file(paths.SYS_VOLUME, HEALING_FILE, json.dumps({"since": time.time()}).encode())
    await drive.write_format(fmt.to_json())


async def load_pool(drives: Sequence[Drive], pool: int, set_size: int, deployment_id: str | None, *,
                    may_format_fresh: bool = True) -> PoolFormat:
    """Check or create the format of one pool's drives (see the module docstring).

    ``may_format_fresh``: this node owns the first endpoint (single node: always). Raises
    ``FormatPending`` or ``FormatQuorumLost`` when the caller should wait and retry, ValueError for
    drives that can never be used as given (another pool's, another layout)."""
    lock = _FormatLock(drives)
    await asyncio.to_thread(lock.__enter__)
    try:
        return await _load_pool_locked(drives, pool, set_size, deployment_id, may_format_fresh)
    finally:
        lock.__exit__()


async def _load_pool_locked(drives: Sequence[Drive], pool: int, set_size: int,
                            deployment_id: str | None, may_format_fresh: bool) -> PoolFormat:
    formats = await asyncio.gather(*(_read(d) for d in drives))
    n_sets = len(drives) // set_size
    found = [f for f in formats if isinstance(f, DriveFormat) and f.pool == pool]
    if not found:
        if any(isinstance(f, DriveFormat) for f in formats):
            raise ValueError(f"pool {pool}: drives are formatted for another pool; refusing to start")
        silent = sum(isinstance(f, Exception) for f in formats)
        if not may_format_fresh or silent:
            raise FormatPending(f"pool {pool}: no drive is formatted yet; {silent} of {len(drives)} "
                                f"did not answer" + ("" if may_format_fresh else "; waiting for the first node"))
        return await _format_fresh(drives, pool, set_size, deployment_id or str(uuid.uuid4()))
    # The reference layout is what most formatted drives agree on; it needs at least half the pool.
    (ref_deployment, ref_sets), agreeing = Counter((f.deployment_id, f.sets) for f in found).most_common(1)[0]
    if 2 * agreeing < len(drives):
        raise FormatQuorumLost(f"pool {pool}: only {agreeing} of {len(drives)} drives are formatted and agree; "
                               "waiting for more drives (nothing is formatted meanwhile)")
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
        if isinstance(fmt, DriveOffline):
            log.warning("drive %s does not answer; it comes in when it does", drive.endpoint)
            out.append(None)
        elif isinstance(fmt, Exception):
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
                await _format_for_healing(drive, new)
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
