"""A drive of another node, reached through the node-to-node API (``drive`` service).

It implements ``drives.base.Drive`` completely, so the erasure and object layers treat it like a local
directory. Each method is one call to the peer, addressed by the drive's path there; shards stream
(``create_shard`` as a chunked body, ``open_shard`` as a handle read with ``read_at``).

Temporary files go to the *peer's own* temporary area of the drive (``tmp/<peer process>/``): that
area is owned (flock) by the live peer process, so nobody removes it while the peer runs, and the peer
removes it after a restart, like any dead process's area. Its name comes back from ``read_format``,
``write_format`` and ``prepare`` (the calls that bring a drive online), so a re-probed drive of a
restarted peer writes to the new area; before any of them succeeded, ``new_tmp_path()`` raises
DriveOffline.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import suppress
from typing import Any

from storage_engine.drives.base import DiskInfo, DriveError, DriveOffline, FileStat, WalkEntry

from .rpc_client import PeerClient, Upload

# Close calls still in flight (ShardReader.close is synchronous); kept so they are not collected.
_closing: set[asyncio.Task[Any]] = set()


class RemoteShardWriter:
    """Streams one shard to the peer; ``close`` returns once the peer has made it durable."""

    __slots__ = ("_client", "_upload", "_upload_id")

    def __init__(self, client: PeerClient, upload: Upload, upload_id: str) -> None:
        self._client = client
        self._upload = upload
        self._upload_id = upload_id

    async def write(self, data: bytes) -> None:
        await self._upload.write(data)

    async def close(self) -> None:
        await self._upload.finish()

    async def abort(self) -> None:
        await self._upload.cancel()
        # The peer removes the file when it sees the body break off; this waits for that to be done.
        with suppress(DriveError):
            await self._client.call("drive", "abort_shard", {"upload": self._upload_id})


class RemoteShardReader:
    """An open shard on the peer: the peer holds the file open until ``close`` (or 5 idle minutes)."""

    __slots__ = ("_client", "_handle")

    def __init__(self, client: PeerClient, handle: str) -> None:
        self._client = client
        self._handle = handle

    async def read_at(self, offset: int, length: int) -> bytes:
        query = {"handle": self._handle, "offset": str(offset), "length": str(length)}
        return await self._client.fetch("drive", "read_at", query)

    def close(self) -> None:
        handle, self._handle = self._handle, ""
        if not handle:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._release(handle))
        except RuntimeError:
            return                             # no loop any more: the handle expires on the peer
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _release(self, handle: str) -> None:
        with suppress(DriveError):             # unreachable peer: the handle expires there
            await self._client.call("drive", "close_shard", {"handle": handle})


class RemoteDrive:
    """``Drive`` at ``path`` on the peer behind ``client``; ``endpoint`` is the URL as configured."""

    is_local = False

    def __init__(self, client: PeerClient, path: str, endpoint: str) -> None:
        self.client = client
        self.path = path
        self.endpoint = endpoint
        self._tmp_area = ""

    def __repr__(self) -> str:
        return f"RemoteDrive({self.endpoint!r})"

    async def _call(self, method: str, **args: Any) -> Any:
        args["drive"] = self.path
        return await self.client.call("drive", method, args)

    # --- identity and lifecycle ---------------------------------------------------------------------
    async def read_format(self) -> bytes | None:
        data, self._tmp_area = await self._call("read_format")
        return data

    async def write_format(self, data: bytes) -> None:
        self._tmp_area = await self._call("write_format", data=data)

    async def is_unused(self) -> bool:
        return await self._call("is_unused")

    async def prepare(self) -> None:
        self._tmp_area = await self._call("prepare")

    def new_tmp_path(self) -> str:
        if not self._tmp_area:
            raise DriveOffline(f"{self.endpoint}: not reached yet")
        return f"{self._tmp_area}/{uuid.uuid4().hex}"

    async def close(self) -> None:
        """Nothing of its own to release: the connections belong to the shared ``PeerClient``."""

    async def disk_info(self) -> DiskInfo:
        total, free = await self._call("disk_info")
        return DiskInfo(total, free)

    # --- volumes ------------------------------------------------------------------------------------
    async def make_volume(self, volume: str) -> None:
        await self._call("make_volume", volume=volume)

    async def delete_volume(self, volume: str) -> None:
        await self._call("delete_volume", volume=volume)

    async def volume_exists(self, volume: str) -> bool:
        return await self._call("volume_exists", volume=volume)

    # --- small files --------------------------------------------------------------------------------
    async def read_file(self, volume: str, path: str) -> bytes:
        return await self._call("read_file", volume=volume, path=path)

    async def read_meta(self, volume: str, path: str) -> bytes:
        return await self._call("read_meta", volume=volume, path=path)

    def read_meta_nowait(self, volume: str, path: str) -> bytes | None:
        return None                            # never at hand: it is on another machine

    def walk_nowait(self, volume: str, prefix: str, marker: str, limit: int,
                    delimited: bool) -> list[WalkEntry] | None:
        return None

    async def stat_file(self, volume: str, path: str) -> FileStat:
        size, mtime_ns, inode = await self._call("stat_file", volume=volume, path=path)
        return FileStat(size, mtime_ns, inode)

    async def write_file(self, volume: str, path: str, data: bytes) -> None:
        await self._call("write_file", volume=volume, path=path, data=data)

    async def delete(self, volume: str, path: str, *, recursive: bool = False) -> None:
        await self._call("delete", volume=volume, path=path, recursive=recursive)

    async def list_dir(self, volume: str, path: str) -> list[str]:
        return await self._call("list_dir", volume=volume, path=path)

    # --- commits ------------------------------------------------------------------------------------
    async def commit(self, volume: str, meta_path: str, meta: bytes, *,
                     tmp_dir: str | None = None, data_path: str | None = None) -> None:
        await self._call("commit", volume=volume, meta_path=meta_path, meta=meta, tmp_dir=tmp_dir,
                         data_path=data_path)

    async def link_files(self, links: list[tuple[str, str, str, str]]) -> None:
        await self._call("link_files", links=links)

    async def rename(self, src_volume: str, src_path: str, dst_volume: str, dst_path: str) -> None:
        await self._call("rename", src_volume=src_volume, src_path=src_path, dst_volume=dst_volume,
                         dst_path=dst_path)

    # --- shard data ---------------------------------------------------------------------------------
    async def create_shard(self, volume: str, path: str, size_hint: int) -> RemoteShardWriter:
        upload_id = uuid.uuid4().hex
        query = {"drive": self.path, "volume": volume, "path": path, "size_hint": str(size_hint),
                 "upload": upload_id}
        return RemoteShardWriter(self.client, self.client.upload("drive", "create_shard", query), upload_id)

    async def open_shard(self, volume: str, path: str) -> RemoteShardReader:
        return RemoteShardReader(self.client, await self._call("open_shard", volume=volume, path=path))

    # --- listing ------------------------------------------------------------------------------------
    async def walk(self, volume: str, prefix: str, marker: str, limit: int, delimited: bool) -> list[WalkEntry]:
        entries = await self._call("walk", volume=volume, prefix=prefix, marker=marker, limit=limit,
                                   delimited=delimited)
        return [(key, header) for key, header in entries]
