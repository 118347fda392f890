"""The node-to-node API's server side: authentication, dispatch, and the ``drive`` service.

Mounted by the node on the S3 port for every path under ``RPC_PREFIX``:

    POST /rustfs/rpc/v1/<service>/<method>[?query]     signed (cluster/auth.py), else 401 and nothing else

Plain calls (``register_call``) take a msgpack map and answer 200 with a msgpack result, or 500 with
``{"error": <DriveError class name>, "message": str}``. The ``drive`` service exposes every ``Drive``
method of the drives this node serves (``serve_drives``), addressed by ``drive=<path on this node>``,
plus three streaming calls that bypass msgpack so a shard is never held whole:

    create_shard?drive&volume&path&size_hint&upload   chunked body -> shard file; 200 once it is closed
                                                (durable, or by the commit that publishes it: ShardWriter)
    abort_shard {upload}                        the shard of that upload is gone when this answers
    open_shard {drive, volume, path}            -> handle id (keeps the file open, even if deleted)
    read_at?handle&offset&length                -> raw bytes
    close_shard {handle}                        releases it; handles idle for 5 minutes expire
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import msgpack

from storage_engine.config import EngineSettings
from storage_engine.drives.base import Drive, DriveError, DriveOffline, ShardReader
from storage_engine.errors import S3Error
from storage_engine.http.types import RawBody, Request, Response

from .auth import internode_secret, verify

RPC_PREFIX = "/rustfs/rpc/v1/"
MSGPACK = "application/msgpack"
HANDLE_IDLE_SECONDS = 300.0
_ABORTED_REMEMBERED = 4096        # aborted upload ids whose request may still arrive late
MAX_CALL_BODY = 64 << 20          # msgpack arguments (metadata, small files); shards are streamed
_SHARD_PIECE = 1 << 20

Handler = Callable[[Request], Awaitable[Response]]
Call = Callable[[dict[str, Any]], Awaitable[Any]]

log = logging.getLogger("storage_engine.cluster.rpc")


def pack(value: Any) -> bytes:
    return cast(bytes, msgpack.packb(value, use_bin_type=True))


def result_response(value: Any) -> Response:
    return Response(200, [("content-type", MSGPACK)], pack(value))


def error_response(exc: DriveError, status: int = 500) -> Response:
    body = {"error": type(exc).__name__, "message": str(exc)}
    return Response(status, [("content-type", MSGPACK)], pack(body))


async def _read_all(body: RawBody) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await body.read(1 << 20):
        size += len(chunk)
        if size > MAX_CALL_BODY:
            raise DriveError("call arguments too large")
        chunks.append(chunk)
    return b"".join(chunks)


class RpcServer:
    """The ``App`` for paths under ``RPC_PREFIX``."""

    def __init__(self, settings: EngineSettings) -> None:
        self._secret = internode_secret(settings)
        self._routes: dict[str, Handler] = {}
        self._drives: Mapping[str, Drive] = {}
        self._handles = _ShardHandles()
        self._uploads: dict[str, _Upload] = {}
        self._aborted: OrderedDict[str, None] = OrderedDict()
        self._prepare_lock = asyncio.Lock()
        self._register_drive_service()

    # --- registration ------------------------------------------------------------------------------
    def register(self, service: str, method: str, handler: Handler) -> None:
        """A raw handler: it reads the request itself (streaming calls)."""
        self._routes[f"{service}/{method}"] = handler

    def register_call(self, service: str, method: str, fn: Call) -> None:
        """A msgpack call: ``fn(args) -> result``; DriveError subclasses become 500 errors."""
        async def handle(request: Request) -> Response:
            args = msgpack.unpackb(await _read_all(request.body), raw=False)
            if not isinstance(args, dict):
                raise DriveError("call arguments must be a msgpack map")
            return result_response(await fn(args))
        self.register(service, method, handle)

    def serve_drives(self, drives: Mapping[str, Drive]) -> None:
        """The drives of this node by their path (``/data0``); replaces the previous map."""
        self._drives = dict(drives)

    # --- serving -----------------------------------------------------------------------------------
    async def __call__(self, request: Request) -> Response:
        if not verify(self._secret, request.method, request.raw_path, request.query_string, request.headers):
            return Response(401, [("content-type", "text/plain")], b"unauthorized\n")
        handler = self._routes.get(request.raw_path[len(RPC_PREFIX):]) \
            if request.raw_path.startswith(RPC_PREFIX) else None
        if handler is None:
            return error_response(DriveError(f"no such call: {request.raw_path}"), 404)
        if request.method != "POST":
            return error_response(DriveError("calls are POST"), 405)
        try:
            return await handler(request)
        except DriveError as exc:
            return error_response(exc)
        except S3Error as exc:                 # the request body broke off: the caller is gone
            return error_response(DriveError(exc.message))
        except Exception as exc:
            log.exception("node-to-node call %s failed", request.raw_path)
            return error_response(DriveError(f"{type(exc).__name__}: {exc}"))

    async def close(self) -> None:
        self._handles.close_all()

    # --- the drive service -------------------------------------------------------------------------
    def _drive(self, path: object) -> Drive:
        drive = self._drives.get(path) if isinstance(path, str) else None
        if drive is None:
            raise DriveOffline(f"drive {path!r} is not served by this node")
        return drive

    def _register_drive_service(self) -> None:
        def call(name: str, fn: Call) -> None:
            self.register_call("drive", name, fn)

        # read_format, write_format and prepare also return our tmp area of the drive, where the
        # caller's temporary files go: whichever of them a caller starts with, it learns the area.
        def tmp_area(drive: Drive) -> str:
            return drive.new_tmp_path().rpartition("/")[0]

        async def read_format(a: dict[str, Any]) -> list[Any]:
            drive = self._drive(a["drive"])
            return [await drive.read_format(), tmp_area(drive)]

        async def write_format(a: dict[str, Any]) -> str:
            drive = self._drive(a["drive"])
            await drive.write_format(a["data"])
            return tmp_area(drive)

        async def prepare(a: dict[str, Any]) -> str:
            drive = self._drive(a["drive"])
            async with self._prepare_lock:     # prepare takes the drive's owner lock once, not racing itself
                await drive.prepare()
            return tmp_area(drive)

        async def disk_info(a: dict[str, Any]) -> list[int]:
            info = await self._drive(a["drive"]).disk_info()
            return [info.total, info.free]

        async def stat_file(a: dict[str, Any]) -> list[int]:
            st = await self._drive(a["drive"]).stat_file(a["volume"], a["path"])
            return [st.size, st.mtime_ns, st.inode]

        async def walk(a: dict[str, Any]) -> list[list[Any]]:
            entries = await self._drive(a["drive"]).walk(a["volume"], a["prefix"], a["marker"], a["limit"],
                                                         a["delimited"])
            return [[key, header] for key, header in entries]

        async def commit(a: dict[str, Any]) -> None:
            await self._drive(a["drive"]).commit(a["volume"], a["meta_path"], a["meta"],
                                                 tmp_dir=a["tmp_dir"], data_path=a["data_path"])

        async def link_files(a: dict[str, Any]) -> None:
            await self._drive(a["drive"]).link_files([(sv, sp, dv, dp) for sv, sp, dv, dp in a["links"]])

        async def open_shard(a: dict[str, Any]) -> str:
            return self._handles.add(await self._drive(a["drive"]).open_shard(a["volume"], a["path"]))

        async def close_shard(a: dict[str, Any]) -> None:
            self._handles.close(a["handle"])

        async def abort_shard(a: dict[str, Any]) -> None:
            upload = self._uploads.get(a["upload"])
            if upload is None:                 # finished, or not arrived yet: refuse it if it does
                self._aborted[a["upload"]] = None
                while len(self._aborted) > _ABORTED_REMEMBERED:
                    self._aborted.popitem(last=False)
                return
            await upload.done.wait()           # the broken body makes its handler remove the file
            if upload.durable:                 # it completed just before the abort: remove it now
                await upload.drive.delete(upload.volume, upload.path)

        d = self._drive
        call("read_format", read_format)
        call("write_format", write_format)
        call("is_unused", lambda a: d(a["drive"]).is_unused())
        call("prepare", prepare)
        call("disk_info", disk_info)
        call("make_volume", lambda a: d(a["drive"]).make_volume(a["volume"]))
        call("delete_volume", lambda a: d(a["drive"]).delete_volume(a["volume"]))
        call("volume_exists", lambda a: d(a["drive"]).volume_exists(a["volume"]))
        call("read_file", lambda a: d(a["drive"]).read_file(a["volume"], a["path"]))
        call("read_meta", lambda a: d(a["drive"]).read_meta(a["volume"], a["path"]))
        call("stat_file", stat_file)
        call("write_file", lambda a: d(a["drive"]).write_file(a["volume"], a["path"], a["data"]))
        call("delete", lambda a: d(a["drive"]).delete(a["volume"], a["path"], recursive=a["recursive"]))
        call("list_dir", lambda a: d(a["drive"]).list_dir(a["volume"], a["path"]))
        call("commit", commit)
        call("link_files", link_files)
        call("rename", lambda a: d(a["drive"]).rename(a["src_volume"], a["src_path"], a["dst_volume"], a["dst_path"]))
        call("walk", walk)
        call("open_shard", open_shard)
        call("close_shard", close_shard)
        call("abort_shard", abort_shard)
        self.register("drive", "create_shard", self._create_shard)
        self.register("drive", "read_at", self._read_at)

    async def _create_shard(self, request: Request) -> Response:
        q = request.query
        upload_id = q["upload"]
        if upload_id in self._aborted or upload_id in self._uploads:
            raise DriveError("upload aborted or already running")
        upload = _Upload(self._drive(q.get("drive")), q["volume"], q["path"])
        self._uploads[upload_id] = upload
        try:
            writer = await upload.drive.create_shard(upload.volume, upload.path, int(q.get("size_hint", "0")))
            try:
                while piece := await request.body.read(_SHARD_PIECE):
                    await writer.write(piece)
            except BaseException:
                await writer.abort()           # the sender went away or failed: no partial shard stays
                raise
            await writer.close()               # durable before we answer
            upload.durable = True
        finally:
            del self._uploads[upload_id]
            upload.done.set()
        return result_response(None)

    async def _read_at(self, request: Request) -> Response:
        q = request.query
        data = await self._handles.read_at(q.get("handle", ""), int(q["offset"]), int(q["length"]))
        return Response(200, [("content-type", "application/octet-stream")], bytes(data))


class _Upload:
    """A ``create_shard`` in progress, so an abort can wait for its cleanup."""

    __slots__ = ("drive", "volume", "path", "durable", "done")

    def __init__(self, drive: Drive, volume: str, path: str) -> None:
        self.drive = drive
        self.volume = volume
        self.path = path
        self.durable = False
        self.done = asyncio.Event()


class _Handle:
    __slots__ = ("reader", "last_used", "reads", "closed")

    def __init__(self, reader: ShardReader) -> None:
        self.reader = reader
        self.last_used = time.monotonic()
        self.reads = 0                         # in flight: the fd must stay open (and not be reused)
        self.closed = False

    def close(self) -> None:
        self.closed = True
        if not self.reads:
            self.reader.close()


class _ShardHandles:
    """Open shard readers by handle id, least recently used first; idle ones expire."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, _Handle] = OrderedDict()

    def add(self, reader: ShardReader) -> str:
        self._expire()
        handle = uuid.uuid4().hex
        self._open[handle] = _Handle(reader)
        return handle

    async def read_at(self, handle: str, offset: int, length: int) -> bytes | bytearray:
        self._expire()
        entry = self._open.get(handle)
        if entry is None:
            raise DriveError("unknown or expired shard handle")
        entry.last_used = time.monotonic()
        self._open.move_to_end(handle)
        entry.reads += 1
        try:
            return await entry.reader.read_at(offset, length)
        finally:
            entry.reads -= 1
            if entry.closed and not entry.reads:
                entry.reader.close()

    def close(self, handle: str) -> None:
        entry = self._open.pop(handle, None)
        if entry is not None:
            entry.close()

    def close_all(self) -> None:
        while self._open:
            self._open.popitem()[1].close()

    def _expire(self) -> None:
        deadline = time.monotonic() - HANDLE_IDLE_SECONDS
        while self._open:
            handle, entry = next(iter(self._open.items()))
            if entry.last_used > deadline:
                return
            del self._open[handle]
            entry.close()
