"""Drive health: every drive the object layer uses is wrapped in a :class:`CheckedDrive`.

States (docs/distributed.md, "Drive health"):

- ``online``: used for everything.
- ``offline``: an operation failed (an unexpected ``DriveError``) or got no answer within the drive
  timeout. Calls fail at once with ``DriveOffline``; a probe (read the format, compare it with the
  slot's identity) runs after 1 s, backing off to 5 s, and brings the drive back.
- ``unformatted``: the drive answers but its format is missing or is not this slot's identity (wiped,
  or replaced under us). Calls fail at once; the healer restores the format (``restore_format``).
- ``healing``: freshly formatted into its slot, still missing data: it takes reads and writes, but
  listings skip it and a key it lacks does not count as absent, until a full heal pass is over
  (``finish_healing``). The state is kept on the drive (a marker file), so it survives a restart.

A full drive (``DriveFull``: no space or quota left) stays online: its writes fail, logged at most once
a minute, while reads and deletes go on.

An online drive's format is re-read every few seconds, and soon after an operation reports a missing
file or volume, so a drive wiped at runtime is noticed before much is written to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

from storage_engine.drives import paths
from storage_engine.drives.base import (DiskInfo, Drive, DriveError, DriveFull, DriveOffline, FileNotFound,
                                        FileStat, ShardReader, ShardWriter, VolumeNotEmpty, VolumeNotFound,
                                        WalkEntry)
from storage_engine.drives.format import HEALING_FILE, DriveFormat, heal_format

log = logging.getLogger(__name__)

T = TypeVar("T")
DriveState = Literal["online", "offline", "unformatted", "healing"]

PROBE_FIRST_SECONDS = 1.0       # an offline drive is probed after this long, doubling each failure...
PROBE_MAX_SECONDS = 5.0         # ...up to this
FORMAT_CHECK_SECONDS = 5.0      # an online drive's format is re-read this often
SUSPECT_CHECK_SECONDS = 1.0     # at most one extra check this often when files or volumes go missing
FULL_LOG_SECONDS = 60.0         # a full drive is logged at most this often

_USABLE: frozenset[str] = frozenset(("online", "healing"))


class NotYetHealed(DriveError):
    """A healing drive lacks a file: not evidence that the file is absent."""


class CheckedDrive:
    """A ``Drive`` that tracks the health of ``inner`` (see the module docstring)."""

    def __init__(self, inner: Drive, expected: DriveFormat | None, *, timeout: float) -> None:
        self.inner = inner
        self.expected = expected              # this slot's identity; None: any format will do
        self.endpoint = inner.endpoint
        self.is_local = inner.is_local
        self._timeout = timeout
        self._state: DriveState = "offline"   # until the first probe
        self._probed = False
        self._seen_formatted = False          # held this slot's format while we ran: what it holds is ours
        self._prepared = False
        self._monitor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._check_now = False
        self._last_suspect = 0.0
        self._last_full_log = -FULL_LOG_SECONDS
        # Deadlines of calls in flight, enforced by one timer per drive rather than an
        # ``asyncio.timeout`` per call: the timer costs a handful of calls per operation, not ~15.
        # A task awaits one call on a drive at a time, so the task is the key.
        self._pending: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._deadline_timer: asyncio.TimerHandle | None = None
        self.on_return: Callable[[CheckedDrive], None] | None = None  # came back usable: heal what it missed

    def __repr__(self) -> str:
        return f"CheckedDrive({self.endpoint!r}, {self._state})"

    # --- state --------------------------------------------------------------------------------------
    @property
    def state(self) -> DriveState:
        return self._state

    @property
    def online(self) -> bool:
        """Usable for reads and writes (online or healing)."""
        return self._state in _USABLE

    @property
    def listable(self) -> bool:
        """Holds every committed key it should: online and not healing."""
        return self._state == "online"

    def start(self) -> None:
        """Start the background probe (call once, on the running loop)."""
        if self._monitor is None:
            self._monitor = asyncio.create_task(self._watch(), name=f"drive-health {self.endpoint}")

    async def probe(self) -> DriveState:
        """Check the drive now: reachable, carrying this slot's format, healing or not."""
        try:
            async with asyncio.timeout(self._timeout):
                state, why = await self._examine()
        except (DriveError, TimeoutError) as exc:
            state, why = "offline", f"probe failed: {exc!r}"
        self._set(state, why)
        return self._state

    async def _examine(self) -> tuple[DriveState, str]:
        data = await self.inner.read_format()
        if data is None:
            return "unformatted", "no format"
        try:
            found = DriveFormat.from_json(data)
        except (ValueError, KeyError, TypeError):
            return "unformatted", "unreadable format"
        if self.expected is not None and found != self.expected:
            return "unformatted", "carries another drive's identity"
        self._seen_formatted = True
        if not self._prepared:                # first time in: our temporary area, dead processes' cleaned
            await self.inner.prepare()
            self._prepared = True
        if await self._has_healing_marker():
            return "healing", "formatted, data not healed yet"
        return "online", "format checked"

    async def restore_format(self) -> bool:
        """Write this slot's format on a drive found without one; it then heals. True if written."""
        if self._state != "unformatted" or self.expected is None:
            return False
        async with asyncio.timeout(self._timeout):
            written = await heal_format(self.inner, self.expected, ours=self._seen_formatted)
        if written:
            self._seen_formatted = self._prepared = True
            self._set("healing", "format restored")
        return written

    async def finish_healing(self) -> None:
        """A full heal pass over this drive is complete: list it again."""
        if self._state != "healing":
            return
        await self._call(self.inner.delete, paths.SYS_VOLUME, HEALING_FILE)
        self._set("online", "healing complete")

    def _set(self, state: DriveState, why: str) -> None:
        if not self._probed:                  # the first finding is news only when it is bad
            self._probed = True
            self._state = state
            log.log(logging.DEBUG if state == "online" else logging.WARNING, "drive %s: %s (%s)",
                    self.endpoint, state, why)
            self._wake.set()
            return
        if state == self._state:
            return
        level = logging.INFO if state in _USABLE else logging.WARNING
        log.log(level, "drive %s: %s -> %s (%s)", self.endpoint, self._state, state, why)
        returned = state in _USABLE and self._state not in _USABLE
        self._state = state
        self._wake.set()                      # re-plan the next probe
        if returned and self.on_return is not None:
            self.on_return(self)

    def _fail(self, why: str) -> None:
        if self._state in _USABLE:
            self._set("offline", why)

    def _full(self, exc: DriveFull) -> None:
        now = time.monotonic()
        if now - self._last_full_log >= FULL_LOG_SECONDS:
            self._last_full_log = now
            log.warning("drive %s: full, writes fail (%s)", self.endpoint, exc)

    def _suspect(self) -> None:
        """A file or volume was missing: cheap to confirm the format is still there, soon."""
        now = time.monotonic()
        if now - self._last_suspect >= SUSPECT_CHECK_SECONDS:
            self._last_suspect = now
            self._check_now = True
            self._wake.set()

    async def _has_healing_marker(self) -> bool:
        try:
            await self.inner.stat_file(paths.SYS_VOLUME, HEALING_FILE)
        except FileNotFound:
            return False
        return True

    async def _watch(self) -> None:
        delay = PROBE_FIRST_SECONDS
        while True:
            self._wake.clear()
            interval = FORMAT_CHECK_SECONDS if self.online else delay
            try:
                async with asyncio.timeout(interval):  # not wait_for: on 3.11 it can swallow a cancel
                    await self._wake.wait()
                if not self._check_now:
                    continue                  # the state changed: sleep again, for the new interval
            except TimeoutError:
                pass
            self._check_now = False
            was_usable = self.online
            await self.probe()
            delay = PROBE_FIRST_SECONDS if self.online or was_usable else min(delay * 2, PROBE_MAX_SECONDS)

    # --- guarded calls ------------------------------------------------------------------------------
    def _refuse(self) -> DriveOffline:
        return DriveOffline(f"{self.endpoint} is {self._state}")

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: object, **kwargs: object) -> T:
        if self._state not in _USABLE:
            raise self._refuse()
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        self._pending[task] = time.monotonic() + self._timeout
        if self._deadline_timer is None:
            self._deadline_timer = asyncio.get_running_loop().call_later(self._timeout, self._expire_overdue)
        try:
            return await fn(*args, **kwargs)
        except (FileNotFound, VolumeNotFound):
            self._suspect()
            raise
        except VolumeNotEmpty:
            raise
        except DriveFull as exc:
            self._full(exc)                   # still online: reads and deletes work, space may come back
            raise
        except DriveError as exc:
            self._fail(repr(exc))
            raise
        except asyncio.CancelledError:
            if task not in self._expired or task.uncancel() > 0:
                raise                         # cancelled by someone else too: theirs to handle
            self._fail(f"no answer within {self._timeout:g} s")
            raise DriveOffline(f"{self.endpoint}: no answer within {self._timeout:g} s") from None
        finally:
            del self._pending[task]
            if self._expired:
                self._expired.discard(task)

    def _expire_overdue(self) -> None:
        """Cancel the calls past their deadline; run again at the next deadline, while any are pending."""
        self._deadline_timer = None
        now = time.monotonic()
        waiting = []
        for task, deadline in self._pending.items():
            if task in self._expired:
                continue
            if deadline <= now:
                self._expired.add(task)
                task.cancel(f"{self.endpoint}: drive call past its deadline")
            else:
                waiting.append(deadline)
        if waiting:
            self._deadline_timer = asyncio.get_running_loop().call_later(min(waiting) - now, self._expire_overdue)

    def _not_yet_healed(self, exc: FileNotFound) -> DriveError:
        self._suspect()
        return NotYetHealed(str(exc)) if self._state == "healing" else exc

    # --- identity and lifecycle ---------------------------------------------------------------------
    async def read_format(self) -> bytes | None:
        return await self._call(self.inner.read_format)

    async def write_format(self, data: bytes) -> None:
        await self._call(self.inner.write_format, data)

    async def is_unused(self) -> bool:
        return await self._call(self.inner.is_unused)

    async def prepare(self) -> None:
        await self._call(self.inner.prepare)

    def new_tmp_path(self) -> str:
        return self.inner.new_tmp_path()

    async def close(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
            self._monitor = None
        await self.inner.close()

    async def disk_info(self) -> DiskInfo:
        return await self._call(self.inner.disk_info)

    # --- volumes ------------------------------------------------------------------------------------
    async def make_volume(self, volume: str) -> None:
        await self._call(self.inner.make_volume, volume)

    async def delete_volume(self, volume: str) -> None:
        await self._call(self.inner.delete_volume, volume)

    async def volume_exists(self, volume: str) -> bool:
        return await self._call(self.inner.volume_exists, volume)

    # --- small files --------------------------------------------------------------------------------
    async def read_file(self, volume: str, path: str) -> bytes:
        return await self._call(self.inner.read_file, volume, path)

    async def read_meta(self, volume: str, path: str) -> bytes:
        try:
            return await self._call(self.inner.read_meta, volume, path)
        except FileNotFound as exc:
            raise self._not_yet_healed(exc) from None

    def read_meta_nowait(self, volume: str, path: str) -> bytes | None:
        # The per-request hot path: a direct call, no timeout (it never blocks), no await.
        if self._state not in _USABLE:
            raise self._refuse()
        try:
            return self.inner.read_meta_nowait(volume, path)
        except FileNotFound as exc:
            self._suspect()                   # (inline: a new key's PUT takes this path on every drive)
            if self._state == "healing":
                raise NotYetHealed(str(exc)) from None
            raise
        except VolumeNotFound:
            self._suspect()
            raise
        except DriveError as exc:
            self._fail(repr(exc))
            raise

    async def stat_file(self, volume: str, path: str) -> FileStat:
        return await self._call(self.inner.stat_file, volume, path)

    async def write_file(self, volume: str, path: str, data: bytes) -> None:
        await self._call(self.inner.write_file, volume, path, data)

    async def delete(self, volume: str, path: str, *, recursive: bool = False) -> None:
        await self._call(self.inner.delete, volume, path, recursive=recursive)

    async def list_dir(self, volume: str, path: str) -> list[str]:
        return await self._call(self.inner.list_dir, volume, path)

    # --- commits ------------------------------------------------------------------------------------
    async def commit(self, volume: str, meta_path: str, meta: bytes, *,
                     tmp_dir: str | None = None, data_path: str | None = None) -> None:
        await self._call(self.inner.commit, volume, meta_path, meta, tmp_dir=tmp_dir, data_path=data_path)

    async def link_files(self, links: list[tuple[str, str, str, str]]) -> None:
        await self._call(self.inner.link_files, links)

    async def rename(self, src_volume: str, src_path: str, dst_volume: str, dst_path: str) -> None:
        await self._call(self.inner.rename, src_volume, src_path, dst_volume, dst_path)

    # --- shard data ---------------------------------------------------------------------------------
    async def create_shard(self, volume: str, path: str, size_hint: int) -> ShardWriter:
        return _CheckedWriter(self, await self._call(self.inner.create_shard, volume, path, size_hint))

    async def open_shard(self, volume: str, path: str) -> ShardReader:
        return _CheckedReader(self, await self._call(self.inner.open_shard, volume, path))

    # --- listing ------------------------------------------------------------------------------------
    async def walk(self, volume: str, prefix: str, marker: str, limit: int,
                   delimited: bool) -> list[WalkEntry]:
        """As ``Drive.walk``; VolumeNotFound when the volume itself is missing (an empty walk of a
        wiped drive must not pass for an empty bucket)."""
        found = await self._call(self.inner.walk, volume, prefix, marker, limit, delimited)
        if not found and not await self._call(self.inner.volume_exists, volume):
            self._suspect()
            raise VolumeNotFound(volume)
        return found

    def walk_nowait(self, volume: str, prefix: str, marker: str, limit: int,
                    delimited: bool) -> list[WalkEntry] | None:
        """As ``walk`` from cached listings, or None (also for no entries: ``walk`` tells an empty bucket
        from a wiped drive)."""
        if self._state not in _USABLE:
            raise self._refuse()
        try:
            return self.inner.walk_nowait(volume, prefix, marker, limit, delimited) or None
        except DriveError as exc:
            self._fail(repr(exc))
            raise


async def check_drives(drives: Sequence[Drive], formats: Sequence[DriveFormat | None], *,
                       timeout: float) -> list[CheckedDrive]:
    """Wrap drives for the object layer, each with its slot's identity: probed now, then watched."""
    checked = [CheckedDrive(d, f, timeout=timeout) for d, f in zip(drives, formats, strict=True)]
    await asyncio.gather(*(c.probe() for c in checked))
    for c in checked:
        c.start()
    return checked


class _CheckedWriter:
    __slots__ = ("_drive", "_inner")

    def __init__(self, drive: CheckedDrive, inner: ShardWriter) -> None:
        self._drive = drive
        self._inner = inner

    async def write(self, data: bytes) -> None:
        await self._drive._call(self._inner.write, data)

    async def close(self) -> None:
        await self._drive._call(self._inner.close)

    async def abort(self) -> None:
        # Also on an offline drive: free what we can, but never wait on it for ever.
        try:
            async with asyncio.timeout(self._drive._timeout):
                await self._inner.abort()
        except TimeoutError:
            raise DriveOffline(f"{self._drive.endpoint}: abort got no answer") from None


class _CheckedReader:
    __slots__ = ("_drive", "_inner")

    def __init__(self, drive: CheckedDrive, inner: ShardReader) -> None:
        self._drive = drive
        self._inner = inner

    async def read_at(self, offset: int, length: int) -> bytes | bytearray:
        return await self._drive._call(self._inner.read_at, offset, length)

    def close(self) -> None:
        self._inner.close()
