"""The node-to-node API and RemoteDrive, over real HTTP to a real peer serving real LocalDrives.

The Drive behaviour checks run twice: against a LocalDrive and against a RemoteDrive of the peer; both
must behave the same. Then what only the remote path has: authentication, shard handles on the peer,
streaming failures, and an unreachable or silent peer.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from storage_engine.auth.signer import sign_request
from storage_engine.cluster import auth
from storage_engine.cluster.remote_drive import RemoteDrive
from storage_engine.cluster.rpc_client import PeerClient, Peers
from storage_engine.cluster.rpc_server import RPC_PREFIX, pack
from storage_engine.config import EngineSettings
from storage_engine.drives.base import Drive, DriveError, DriveOffline, FileNotFound, VolumeNotEmpty, VolumeNotFound
from storage_engine.drives.local import LocalDrive
from storage_engine.drives.metafile import pack as pack_meta
from storage_engine.drives.paths import SYS_VOLUME

from .conftest import ACCESS_KEY, SECRET_KEY, Peer, make_settings, running_peer

MiB = 1 << 20


@pytest.fixture(scope="module")
def local_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local")


@asynccontextmanager
async def remote_drive(peer: Peer, settings: EngineSettings) -> AsyncIterator[RemoteDrive]:
    client = PeerClient(peer.url, settings)
    try:
        yield RemoteDrive(client, peer.drive_path, f"{peer.url}{peer.drive_path}")
    finally:
        await client.close()


@pytest.fixture(params=["local", "remote"])
def with_drive(request: pytest.FixtureRequest, peer: Peer, settings: EngineSettings,
               local_root: Path) -> Callable[[Callable[[Drive], Awaitable[None]]], None]:
    """``with_drive(check)`` runs ``await check(drive)`` on a prepared drive of the parametrized kind."""
    def run(check: Callable[[Drive], Awaitable[None]]) -> None:
        async def main() -> None:
            if request.param == "local":
                drive = LocalDrive(str(local_root))
                await drive.prepare()
                try:
                    await check(drive)
                finally:
                    await drive.close()
            else:
                async with remote_drive(peer, settings) as remote:
                    await remote.prepare()
                    await check(remote)
        asyncio.run(main())
    return run


def new_volume() -> str:
    return f"vol-{uuid.uuid4().hex[:12]}"


async def write_shard(drive: Drive, volume: str, path: str, data: bytes, piece: int) -> None:
    writer = await drive.create_shard(volume, path, len(data))
    for offset in range(0, len(data), piece):
        await writer.write(data[offset:offset + piece])
    await writer.close()


# --- the Drive behaviour, local and remote alike ---------------------------------------------------
def test_volumes(with_drive: Callable[..., None]) -> None:
    async def check(drive: Drive) -> None:
        volume = new_volume()
        assert not await drive.volume_exists(volume)
        await drive.make_volume(volume)
        await drive.make_volume(volume)               # idempotent
        assert await drive.volume_exists(volume)
        await drive.write_file(volume, "k.xl.meta", b"m")
        with pytest.raises(VolumeNotEmpty):
            await drive.delete_volume(volume)
        await drive.delete(volume, "k.xl.meta")
        await drive.delete_volume(volume)
        assert not await drive.volume_exists(volume)
        with pytest.raises(VolumeNotFound):
            await drive.delete_volume(volume)
    with_drive(check)


def test_small_files(with_drive: Callable[..., None]) -> None:
    async def check(drive: Drive) -> None:
        volume = new_volume()
        await drive.make_volume(volume)
        await drive.write_file(volume, "a/b/c.xl.meta", b"hello")
        await drive.write_file(volume, "a/b/c.xl.meta", b"hello, again")      # atomic replace
        assert await drive.read_file(volume, "a/b/c.xl.meta") == b"hello, again"
        assert await drive.read_meta(volume, "a/b/c.xl.meta") == b"hello, again"
        stat = await drive.stat_file(volume, "a/b/c.xl.meta")
        assert stat.size == 12 and stat.mtime_ns > 0 and stat.inode > 0
        assert await drive.list_dir(volume, "a/b") == ["c.xl.meta"]
        await drive.write_file(volume, "empty", b"")
        assert await drive.read_file(volume, "empty") == b""
        await drive.delete(volume, "a/b/c.xl.meta")
        await drive.delete(volume, "a/b/c.xl.meta")          # missing is fine
        assert await drive.list_dir(volume, "") == ["empty"]  # empty parents pruned
        for missing in (drive.read_file(volume, "a/b/c.xl.meta"), drive.read_meta(volume, "nope"),
                        drive.stat_file(volume, "nope"), drive.list_dir(volume, "a"),
                        drive.read_file("no-such-volume", "x")):
            with pytest.raises(FileNotFound):
                await missing
        with pytest.raises(DriveError):
            await drive.read_file(volume, "../escape")
    with_drive(check)


def test_delete_recursive_and_format(with_drive: Callable[..., None]) -> None:
    async def check(drive: Drive) -> None:
        volume = new_volume()
        await drive.make_volume(volume)
        for name in ("t/x", "t/y/z"):
            await drive.write_file(volume, name, b"1")
        await drive.delete(volume, "t", recursive=True)
        with pytest.raises(FileNotFound):
            await drive.list_dir(volume, "t")
        format_before = await drive.read_format()
        await drive.write_format(b'{"format": "test"}')
        assert await drive.read_format() == b'{"format": "test"}'
        assert not await drive.is_unused()
        if format_before is None:
            await drive.delete(SYS_VOLUME, "format.json")
        info = await drive.disk_info()
        assert info.total >= info.free > 0
    with_drive(check)


def test_commit_from_tmp_dir(with_drive: Callable[..., None]) -> None:
    async def check(drive: Drive) -> None:
        volume = new_volume()
        await drive.make_volume(volume)
        tmp = drive.new_tmp_path()
        assert tmp.startswith("tmp/") and tmp != drive.new_tmp_path()
        shard = os.urandom(300_000)
        await write_shard(drive, SYS_VOLUME, f"{tmp}/part.1", shard, 100_000)
        await drive.commit(volume, "key.xl.meta", b"meta-1", tmp_dir=tmp, data_path="key.xl.data/d1")
        assert await drive.read_meta(volume, "key.xl.meta") == b"meta-1"
        reader = await drive.open_shard(volume, "key.xl.data/d1/part.1")
        assert await reader.read_at(0, len(shard) + 10) == shard
        reader.close()
        await drive.commit(volume, "key.xl.meta", b"meta-2")         # metadata only
        assert await drive.read_file(volume, "key.xl.meta") == b"meta-2"
        with pytest.raises(VolumeNotFound):
            await drive.commit("no-such-volume", "k.xl.meta", b"m")
    with_drive(check)


def test_link_files_and_rename(with_drive: Callable[..., None]) -> None:
    async def check(drive: Drive) -> None:
        volume = new_volume()
        await drive.make_volume(volume)
        await drive.write_file(volume, "src/one", b"1")
        await drive.write_file(volume, "src/two", b"2")
        await drive.link_files([(volume, "src/one", volume, "dst/a/one"), (volume, "src/two", volume, "dst/two")])
        assert await drive.read_file(volume, "dst/a/one") == b"1"
        assert (await drive.stat_file(volume, "dst/two")).inode == (await drive.stat_file(volume, "src/two")).inode
        await drive.rename(volume, "src", volume, "moved")
        assert sorted(await drive.list_dir(volume, "moved")) == ["one", "two"]
        with pytest.raises(FileNotFound):
            await drive.rename(volume, "src", volume, "again")
    with_drive(check)


def test_walk(with_drive: Callable[..., None]) -> None:
    async def check(drive: Drive) -> None:
        volume = new_volume()
        await drive.make_volume(volume)
        for key in ("a", "b/c", "b/d", "e"):
            head, _, leaf = key.rpartition("/")
            path = f"{head}/{leaf}.xl.meta" if head else f"{leaf}.xl.meta"
            await drive.write_file(volume, path, pack_meta(f"header-{key}".encode(), b"inline"))
        delimited = await drive.walk(volume, "", "", 100, True)
        assert delimited == [("a", b"header-a"), ("b/", None), ("e", b"header-e")]
        flat = await drive.walk(volume, "", "a", 2, False)
        assert flat == [("b/c", b"header-b/c"), ("b/d", b"header-b/d")]
        assert [key for key, _ in await drive.walk(volume, "b/", "", 100, True)] == ["b/c", "b/d"]
    with_drive(check)


def test_multi_mib_shard_read_at_even_after_delete(with_drive: Callable[..., None]) -> None:
    async def check(drive: Drive) -> None:
        volume = new_volume()
        await drive.make_volume(volume)
        data = os.urandom(5 * MiB + 12345)
        await write_shard(drive, volume, "obj.xl.data/d/part.1", data, 768 * 1024)
        assert (await drive.stat_file(volume, "obj.xl.data/d/part.1")).size == len(data)
        reader = await drive.open_shard(volume, "obj.xl.data/d/part.1")
        try:
            assert await reader.read_at(0, MiB) == data[:MiB]
            assert await reader.read_at(3 * MiB + 7, 1000) == data[3 * MiB + 7:3 * MiB + 1007]
            assert await reader.read_at(5 * MiB, MiB) == data[5 * MiB:]             # short at the end
            await drive.delete(volume, "obj.xl.data/d/part.1")
            with pytest.raises(FileNotFound):
                await drive.stat_file(volume, "obj.xl.data/d/part.1")
            assert await reader.read_at(MiB, 2 * MiB) == data[MiB:3 * MiB]           # the handle keeps it
        finally:
            reader.close()
        with pytest.raises(FileNotFound):
            await drive.open_shard(volume, "obj.xl.data/d/part.1")
    with_drive(check)


def test_shard_abort_removes_the_partial_file(with_drive: Callable[..., None]) -> None:
    async def check(drive: Drive) -> None:
        volume = new_volume()
        await drive.make_volume(volume)
        writer = await drive.create_shard(volume, "k.xl.data/d/part.1", 0)
        for _ in range(3):
            await writer.write(os.urandom(MiB))
        await writer.abort()
        with pytest.raises(FileNotFound):
            await drive.stat_file(volume, "k.xl.data/d/part.1")
        await write_shard(drive, volume, "k.xl.data/d/part.1", b"", MiB)       # empty shard: fine
        assert (await drive.stat_file(volume, "k.xl.data/d/part.1")).size == 0
    with_drive(check)


# --- remote only -----------------------------------------------------------------------------------
def test_remote_drive_basics(peer: Peer, settings: EngineSettings) -> None:
    async def main() -> None:
        async with remote_drive(peer, settings) as drive:
            assert drive.is_local is False
            with pytest.raises(DriveOffline):
                drive.new_tmp_path()                          # the peer's tmp area is not known yet
            await drive.read_format()                         # the first call a health probe makes
            tmp = drive.new_tmp_path()
            assert tmp.startswith("tmp/")
            await drive.prepare()
            assert drive.new_tmp_path().rpartition("/")[0] == tmp.rpartition("/")[0]
            volume = new_volume()
            await drive.make_volume(volume)
            await drive.write_file(volume, "m.xl.meta", b"meta")
            assert drive.read_meta_nowait(volume, "m.xl.meta") is None
        assert (peer.root / volume / "m.xl.meta").read_bytes() == b"meta"       # really on the peer
    asyncio.run(main())


def test_unknown_drive_is_offline(peer: Peer, settings: EngineSettings) -> None:
    async def main() -> None:
        client = PeerClient(peer.url, settings)
        try:
            with pytest.raises(DriveOffline):
                await RemoteDrive(client, "/not/served", "x").read_format()
            with pytest.raises(DriveError, match="no such call"):
                await client.call("nosuch", "call", {})
        finally:
            await client.close()
    asyncio.run(main())


def test_shard_to_a_missing_volume_fails_without_hanging(peer: Peer, settings: EngineSettings) -> None:
    async def main() -> None:
        async with remote_drive(peer, settings) as drive:
            writer = await drive.create_shard("bad/volume", "x", 0)
            with pytest.raises(DriveError, match="invalid volume"):
                for _ in range(16):                    # far more than the upload buffers
                    await writer.write(bytes(MiB))
                await writer.close()
            await writer.abort()
            await drive.prepare()                      # the client still works
    asyncio.run(main())


def test_closed_shard_handle_is_released(peer: Peer, settings: EngineSettings) -> None:
    async def main() -> None:
        async with remote_drive(peer, settings) as drive:
            volume = new_volume()
            await drive.make_volume(volume)
            await drive.write_file(volume, "f", b"data")
            reader = await drive.open_shard(volume, "f")
            assert await reader.read_at(0, 4) == b"data"
            handle_holder = type(reader)(drive.client, reader._handle)   # the same handle, kept open
            reader.close()
            for _ in range(200):                       # the release is sent in the background
                try:
                    await handle_holder.read_at(0, 4)
                except DriveError as exc:
                    assert "handle" in str(exc)
                    return
                await asyncio.sleep(0.01)
            pytest.fail("the handle was never released")
    asyncio.run(main())


def test_peers_share_one_client_per_peer(peer: Peer, settings: EngineSettings) -> None:
    async def main() -> None:
        peers = Peers(settings)
        client = peers.get(peer.url)
        assert peers.get(peer.url + "/") is client
        assert (await RemoteDrive(client, peer.drive_path, "x").disk_info()).total > 0
        await peers.close_all()
        assert peers.get(peer.url) is not client
        await peers.close_all()
    asyncio.run(main())


# --- authentication --------------------------------------------------------------------------------
def _post(peer: Peer, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", peer.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_unauthenticated_calls_get_401_and_touch_nothing(peer: Peer, settings: EngineSettings) -> None:
    path = f"{RPC_PREFIX}drive/make_volume"
    secret = auth.internode_secret(settings)
    attempts: dict[str, dict[str, str]] = {
        "no signature": {},
        "wrong secret": auth.sign(b"not-the-secret", "POST", path, ""),
        "stale time": auth.sign(secret, "POST", path, "", now=time.time() - 3600),
        "signed for another call": auth.sign(secret, "POST", f"{RPC_PREFIX}drive/read_file", ""),
        "S3 SigV4 credentials": sign_request("POST", f"{peer.url}{path}", {}, "UNSIGNED-PAYLOAD", ACCESS_KEY,
                                             SECRET_KEY, "us-east-1"),
        "garbage": {"authorization": "rustfs-rpc \xff\xfe", auth.TIME_HEADER: "\xb2"},
    }
    for what, headers in attempts.items():
        volume = new_volume()
        body = pack({"drive": peer.drive_path, "volume": volume})
        assert _post(peer, path, body, headers) == 401, what
        assert not (peer.root / volume).exists(), what
    volume = new_volume()
    body = pack({"drive": peer.drive_path, "volume": volume})
    assert _post(peer, path, body, auth.sign(secret, "POST", path, "")) == 200
    assert (peer.root / volume).is_dir()


def test_a_peer_with_another_secret_is_refused(peer: Peer) -> None:
    async def main() -> None:
        other = make_settings(rpc_secret="a-different-internode-secret")
        async with remote_drive(peer, other) as drive:
            with pytest.raises(DriveError, match="refused our signature"):
                await drive.disk_info()
    asyncio.run(main())


def test_internode_secret() -> None:
    derived = auth.internode_secret(make_settings())
    assert derived == auth.internode_secret(make_settings()) and len(derived) == 32
    assert derived != auth.internode_secret(make_settings(access_key="someone-else"))
    assert auth.internode_secret(make_settings(rpc_secret="explicit")) == b"explicit"
    with pytest.raises(ValueError):
        auth.internode_secret(make_settings(access_key="", secret_key=SecretStr("")))


# --- unreachable peers -----------------------------------------------------------------------------
def test_stopped_peer_is_offline(tmp_path: Path, settings: EngineSettings) -> None:
    async def disk_info(peer: Peer) -> None:
        async with remote_drive(peer, settings) as drive:
            await drive.disk_info()

    with running_peer(tmp_path, settings) as stopped:
        asyncio.run(disk_info(stopped))                # reachable while it runs
    with pytest.raises(DriveOffline):
        asyncio.run(disk_info(stopped))


def test_silent_peer_times_out_as_offline() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)                                 # accepts connections, never answers
    try:
        async def main() -> None:
            client = PeerClient(f"http://127.0.0.1:{listener.getsockname()[1]}",
                                make_settings(drive_timeout_seconds=0.3))
            try:
                drive = RemoteDrive(client, "/d", "x")
                with pytest.raises(DriveOffline):
                    await drive.read_format()
                with pytest.raises(DriveOffline):
                    await drive.read_format()
                writer = await drive.create_shard("v", "p", 0)
                with pytest.raises(DriveOffline):          # the socket buffers fill, then the upload stalls
                    for _ in range(256):
                        await writer.write(bytes(MiB))
                await writer.abort()
            finally:
                await client.close()
        asyncio.run(main())
    finally:
        listener.close()
