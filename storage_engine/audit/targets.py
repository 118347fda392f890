"""Where audit records go: stdout, a file, a webhook (NDJSON or Elasticsearch ``_bulk``).

Every target has a bounded queue of encoded records (JSON lines, built once for all the targets by
:meth:`~storage_engine.audit.AuditLog.flush`) and one writer task that takes up to
``batch_size`` of them (or what is there after ``flush_seconds``) and writes them in one go. ``put`` never waits: a full queue drops the entry and counts
it. Blocking writes (stdout, the file) run on the target's own thread, so a stuck pipe stalls only that
target, whose queue then fills and drops; the webhook retries a failed batch with exponential
backoff, then drops it (counted).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import select
import ssl
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import aiohttp

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


class Target:
    """A bounded queue and its writer task. Subclasses implement ``write(lines)`` (raise on failure)."""

    name = "target"

    def __init__(self, *, queue_size: int, batch_size: int, flush_seconds: float) -> None:
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self._queue: deque[bytes] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # Counters (read by the metrics collector at scrape time)
        self.records = 0          # records delivered
        self.dropped = 0          # records dropped: full queue, or a batch given up
        self.errors = 0           # failed writes / POSTs
        self.online = True        # the last write succeeded

    @property
    def queue_length(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"audit-{self.name}")

    def put(self, line: bytes) -> None:
        """Queue one encoded record (a JSON line), or drop and count it when the queue is full. Never waits."""
        queue = self._queue
        if len(queue) >= self.queue_size or self._task is None:
            self.dropped += 1
            return
        queue.append(line)
        if len(queue) >= self.batch_size and self._wake is not None:
            self._wake.set()

    def kick(self) -> None:
        """Write what is queued now, without waiting for a full batch or ``flush_seconds``."""
        if self._wake is not None:
            self._wake.set()

    async def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (for up to ``timeout`` seconds), then stop."""
        task = self._task
        if task is None:
            return
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.dropped += len(self._queue)
            self._queue.clear()
        self._task = None
        await self.aclose()

    async def aclose(self) -> None:
        """Release the target's resources (after the writer stopped)."""

    def encode(self, lines: list[bytes]) -> bytes:
        """One write's bytes: the records' JSON lines as they are (NDJSON)."""
        return b"".join(lines)

    async def write(self, data: bytes, count: int) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        queue = self._queue
        while True:
            if len(queue) < self.batch_size and not self._closing:
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), self.flush_seconds)
                except asyncio.TimeoutError:
                    pass
            if not queue:
                if self._closing:
                    return
                continue
            batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
            data = self.encode(batch)
            if await self._deliver(data, len(batch)):
                self.records += len(batch)
            else:
                self.dropped += len(batch)

    async def _deliver(self, data: bytes, count: int) -> bool:
        try:
            await self.write(data, count)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors += 1
            if self.online:
                log.warning("audit %s: write failed, dropping %d record(s): %r", self.name, count, exc)
            self.online = False
            return False
        self.online = True
        return True


class _ThreadWriter(Target):
    """Blocking writes on a thread of the target's own."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"audit-{self.name}")

    async def write(self, data: bytes, count: int) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.write_blocking, data)

    def write_blocking(self, data: bytes) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class StdoutTarget(_ThreadWriter):
    """JSON lines on stdout (the container log)."""

    name = "stdout"

    def write_blocking(self, data: bytes) -> None:
        sys.stdout.flush()          # keep order with anything print()ed before
        fd = sys.stdout.fileno()
        # Several workers share the pipe: a write of at most PIPE_BUF bytes is atomic, so whole lines
        # go in writes of up to PIPE_BUF and never interleave with another worker's.
        start, end, size = 0, 0, len(data)
        while end < size:
            nl = data.find(b"\n", end) + 1 or size
            if nl - start > select.PIPE_BUF and end > start:
                _write_all(fd, data[start:end])
                start = end
            end = nl
        if end > start:
            _write_all(fd, data[start:end])


class FileTarget(_ThreadWriter):
    """JSON lines appended to a file; reopened on :meth:`reopen` (SIGHUP) or when the path was moved."""

    name = "file"

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self._fd: int | None = None
        self._reopen = False

    def reopen(self) -> None:
        self._reopen = True

    def write_blocking(self, data: bytes) -> None:
        fd = self._fd
        if fd is not None and (self._reopen or self._moved(fd)):
            os.close(fd)
            fd = self._fd = None
        self._reopen = False
        if fd is None:
            fd = self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        _write_all(fd, data)

    def _moved(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        own = os.fstat(fd)
        return (st.st_ino, st.st_dev) != (own.st_ino, own.st_dev)

    async def aclose(self) -> None:
        await super().aclose()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class WebhookTarget(Target):
    """Batches POSTed to an HTTP endpoint: NDJSON, or Elasticsearch / OpenSearch ``_bulk``."""

    name = "webhook"

    def __init__(self, url: str, *, fmt: Literal["json", "elasticsearch"] = "json",
                 index: str = "rustfs-audit", token: str = "", username: str = "", password: str = "",
                 ca_file: str = "", timeout: float = 5.0, retry_max: int = 3, backoff: float = 0.5,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.format = fmt
        self._action = (json.dumps({"index": {"_index": index}}, separators=(",", ":")) + "\n").encode()
        headers = {"Content-Type": "application/x-ndjson"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif username:
            basic = base64.b64encode(f"{username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        self._headers = headers
        self._ca_file = ca_file
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.retry_max = retry_max
        self.backoff = backoff
        self._session: aiohttp.ClientSession | None = None

    def encode(self, lines: list[bytes]) -> bytes:
        if self.format != "elasticsearch":
            return super().encode(lines)
        action = self._action
        return b"".join([action + line for line in lines])

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            context = ssl.create_default_context(cafile=self._ca_file) if self._ca_file else None
            connector = aiohttp.TCPConnector(ssl=context) if context is not None else aiohttp.TCPConnector()
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  headers=self._headers)
        return self._session

    async def _post(self, data: bytes) -> None:
        async with self._client().post(self.url, data=data) as response:
            body = await response.read()
            if response.status >= 300:
                raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
            if self.format == "elasticsearch" and b'"errors":true' in body.replace(b" ", b""):
                raise RuntimeError(f"_bulk reported item errors: {body[:200]!r}")

    async def write(self, data: bytes, count: int) -> None:
        delay = self.backoff
        for attempt in range(self.retry_max + 1):
            try:
                await self._post(data)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == self.retry_max or self._closing:
                    raise
                self.errors += 1
                self.online = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
