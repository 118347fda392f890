"""The listing index (drives/listing_index.py): a cold listing of a big directory takes its headers from one
file, and never an old header, whatever happened between a record and its rename."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import os
import random
import threading
import time
from pathlib import Path

import msgpack
import pytest

from storage_engine.drives import atomic, listing_index, metafile, walk
from storage_engine.drives.atomic import AtomicFiles
from storage_engine.drives.listing_index import ListingIndex
from storage_engine.drives.local import LocalDrive

KEYS = 400                                 # enough for an index (its directory is past CREATE_DIR_SIZE)


class Drive:
    """A drive's bucket directory written as the engine writes meta files, listed as a fresh process would."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.bucket = os.path.join(self.root, "bkt")
        os.makedirs(self.bucket)
        self.index = ListingIndex(self.root)
        self.files = AtomicFiles(self.root, os.path.join(self.root, ".rustfs.sys", "tmp", "p"))
        self.files.index = self.index

    def put(self, key: str, header: bytes) -> None:
        self.files.write(os.path.join(self.bucket, key + ".xl.meta"), metafile.pack(header, b"inline"))

    def index_file(self) -> str:
        return self.index._path(os.path.join(self.bucket, "dir"))

    def listed(self) -> dict[str, bytes | None]:
        """A cold listing: no cached listing or parsed index of this process is used (rebuilds it asked
        for are done before it returns)."""
        listing_index.wait_for_rebuilds()
        walk._CACHE.clear()
        listing_index._parsed.clear()
        entries = walk.walk_volume(self.bucket, "dir/", "", 100_000, False, self.index)
        listing_index.wait_for_rebuilds()
        return dict(entries)

    def on_disk(self) -> dict[str, bytes]:
        """What each meta file holds now."""
        out = {}
        directory = os.path.join(self.bucket, "dir")
        for name in os.listdir(directory):
            with open(os.path.join(directory, name), "rb") as f:
                out["dir/" + name[:-len(".xl.meta")]] = metafile.unpack(f.read())[0]
        return out


@pytest.fixture
def drive(tmp_path: Path) -> Drive:
    return Drive(tmp_path)


def _fill(drive: Drive, version: int = 0) -> dict[str, bytes]:
    written = {}
    for i in range(KEYS):
        key = f"dir/{i:05d}"
        written[key] = f"{key} v{version} ".encode() * 8
        drive.put(key, written[key])
    return written


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The meta files a listing reads (instead of taking their headers from the index)."""
    reads: list[str] = []
    real = walk._read_header

    def counting(path: str) -> bytes | None:
        reads.append(path)
        return real(path)
    monkeypatch.setattr(walk, "_read_header", counting)
    return reads


def test_a_big_directory_lists_from_its_index_without_reading_its_files(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        local = LocalDrive(str(tmp_path / "d1"))
        await local.prepare()                      # finds that this drive can keep an index
        await local.make_volume("bkt")
        written = {}
        for i in range(KEYS):
            written[f"dir/{i:05d}"] = f"header {i}".encode() * 20
            await local.write_file("bkt", f"dir/{i:05d}.xl.meta", metafile.pack(written[f"dir/{i:05d}"], b""))
        listing_index.wait_for_rebuilds()            # the one the writes asked for
        walk._CACHE.clear()
        listing_index._parsed.clear()
        reads = _reads(monkeypatch)
        entries = await local.walk("bkt", "dir/", "", 10_000, False)
        assert dict(entries) == written
        assert reads == []
        await local.close()
    asyncio.run(scenario())


def test_small_directories_have_no_index(drive: Drive) -> None:
    for i in range(10):
        drive.put(f"dir/{i}", b"h")
    assert not os.path.exists(drive.index_file())
    assert len(drive.listed()) == 10


def test_overwrites_through_recycled_inodes_never_list_an_old_header(drive: Drive) -> None:
    # Meta files are replaced by swapping in a recycled inode (drives/atomic.py), so a name comes back to
    # an inode it had before, with new content: only the newest record of a name may be trusted.
    current = _fill(drive)
    hot = ["dir/00001", "dir/00123", "dir/00250", "dir/00399"]
    inodes: dict[str, list[int]] = {key: [] for key in hot}
    rng = random.Random(7)
    for version in range(1, 101):
        for key in hot:
            current[key] = f"{key} v{version} ".encode() * rng.randint(1, 12)
            drive.put(key, current[key])
            inodes[key].append(os.stat(os.path.join(drive.bucket, key + ".xl.meta")).st_ino)
        if version % 10 == 0:
            assert drive.listed() == current
    assert drive.listed() == current == drive.on_disk()
    # The recycling really did bring names back to inodes they had held (else this test proves nothing).
    assert all(len(set(seen)) < len(seen) for seen in inodes.values())


def test_a_record_whose_rename_never_happened_is_not_trusted(drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    current = _fill(drive)
    for key in ("dir/00003", "dir/00200"):   # recycled inodes: the failed write's inode may be one a name had
        def fail(a: str, b: str) -> bool:
            raise OSError("crash between the record and the rename")
        monkeypatch.setattr(atomic, "exchange", fail)
        with pytest.raises(OSError):
            drive.put(key, b"never published")
        monkeypatch.undo()
    assert drive.listed() == current


def test_an_index_of_an_earlier_boot_is_rebuilt_not_trusted(drive: Drive) -> None:
    current = _fill(drive)
    path = drive.index_file()
    with open(path, "rb") as f:
        data = bytearray(f.read())
    # Records that claim today's inodes with wrong headers, as a lost tail could leave them after a power
    # loss, in an index from another boot.
    for key in current:
        ino = os.stat(os.path.join(drive.bucket, key + ".xl.meta")).st_ino
        name = os.path.basename(key).encode() + b".xl.meta"
        data += listing_index._RECORD.pack(listing_index._RECORD.size + len(name) + 5, len(name), ino) + name + b"stale"
    data[len(listing_index._MAGIC)] ^= 0xFF            # the boot id
    with open(path, "wb") as f:
        f.write(data)
    assert drive.listed() == current
    with open(path, "rb") as f:
        assert b"stale" not in f.read()              # rebuilt from the files


def test_a_partly_written_last_record_is_left_for_later(drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    current = _fill(drive)
    with open(drive.index_file(), "ab") as f:
        f.write(listing_index._RECORD.pack(500, 9, 1)[:10])    # a writer's append, half copied
    reads = _reads(monkeypatch)
    assert drive.listed() == current
    assert reads == []


class FlippingKey:
    """A key whose meta alternates between two inodes (spares reused at once), so that two more writes
    bring it back to the inode it has now, with new content."""

    def __init__(self, drive: Drive, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
        monkeypatch.setattr(atomic, "_MIN_SPARES", 0)
        self.key = key
        self.full = os.path.join(drive.bucket, key + ".xl.meta")
        self.files = AtomicFiles(drive.root, os.path.join(drive.root, ".rustfs.sys", "tmp", "w"))
        self.files.index = drive.index
        self.write_versions(1, 2)
        self.inode = os.stat(self.full).st_ino

    def write_versions(self, *versions: int) -> None:
        for version in versions:
            self.files.write(self.full, metafile.pack(f"v{version}".encode(), b""))


def test_writes_during_a_compaction_land_in_the_new_index(drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two writes while a rebuild holds the lock: had their records gone to the file it replaces, the new
    # index would name the key's inode with the header the rebuild read.
    current = _fill(drive)
    flipping = FlippingKey(drive, monkeypatch, "dir/00007")
    done = threading.Event()

    def two_writes() -> None:
        flipping.write_versions(3, 4)
        done.set()

    real_rebuild = drive.index._rebuild
    writer = threading.Thread(target=two_writes)

    def rebuild_then_write(directory: str, records: dict[str, tuple[int, bytes]],
                           read: dict[str, tuple[int, bytes]]) -> dict[str, tuple[int, bytes]]:
        built = real_rebuild(directory, records, read)
        writer.start()
        done.wait(1.0)                 # they finish unless the rebuild holds them off, as it should
        return built
    monkeypatch.setattr(drive.index, "_rebuild", rebuild_then_write)
    drive.index.rebuild(os.path.join(drive.bucket, "dir"))
    writer.join()
    assert os.stat(flipping.full).st_ino == flipping.inode   # back on the inode the rebuild recorded
    current[flipping.key] = b"v4"
    assert drive.listed() == current


def test_a_rebuild_prefers_records_written_while_it_read_the_files(drive: Drive,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The rebuild reads the files without the lock; the record of a write meanwhile must win over what
    # it read, though the inode is the same.
    current = _fill(drive)
    flipping = FlippingKey(drive, monkeypatch, "dir/00042")
    index = drive.index_file()
    with listing_index._Lock(index, fcntl.LOCK_EX):
        drive.index._publish(index, {})            # no records: the rebuild reads every file
    real_read = drive.index._read_unrecorded

    def read_then_write(directory: str, index: str) -> dict[str, tuple[int, bytes]]:
        read = real_read(directory, index)
        assert read[os.path.basename(flipping.full)] == (flipping.inode, b"v2")
        flipping.write_versions(3, 4)
        return read
    monkeypatch.setattr(drive.index, "_read_unrecorded", read_then_write)
    drive.index.rebuild(os.path.join(drive.bucket, "dir"))
    assert os.stat(flipping.full).st_ino == flipping.inode
    current[flipping.key] = b"v4"
    assert drive.listed() == current


def test_records_of_deleted_keys_are_dropped_by_a_rebuild(drive: Drive) -> None:
    current = _fill(drive)
    for i in range(2000):                  # keys that come and go (a delete unlinks the meta file)
        drive.put(f"dir/gone{i}", b"short-lived")
        os.unlink(os.path.join(drive.bucket, f"dir/gone{i}.xl.meta"))
    grown = os.path.getsize(drive.index_file())
    assert drive.listed() == current       # and the listing asked for a rebuild, done before it returned
    assert os.path.getsize(drive.index_file()) < grown / 2
    assert drive.listed() == current


def test_an_index_past_its_size_cap_is_dropped_then_rebuilt(drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing_index, "_MAX_SIZE", 64 << 10)
    current = _fill(drive)
    for version in range(1, 6):
        for key in current:
            current[key] = f"{key} v{version}".encode() * 4
            drive.put(key, current[key])
    assert os.path.getsize(drive.index_file()) < 64 << 10
    assert drive.listed() == current
    reads = _reads(monkeypatch)
    assert drive.listed() == current
    assert reads == []                               # the listing rebuilt it whole


def _snapshot_records(path: str) -> int:
    """How many records the index's snapshot holds."""
    with open(path, "rb") as f:
        data = f.read()
    length, _ = listing_index._SNAPSHOT.unpack_from(data, listing_index._HEAD_LEN)
    start = listing_index._HEAD_LEN + listing_index._SNAPSHOT.size
    return len(msgpack.unpackb(data[start:start + length])) if length else 0


def test_a_growing_index_is_rebuilt_into_its_snapshot(drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    # Records appended one by one are parsed one by one; each time the index doubles it is rebuilt into a
    # snapshot, parsed whole (and the rebuild reads no file it has a record of).
    monkeypatch.setattr(listing_index, "_SNAPSHOT_MIN", 16 << 10)
    file_reads = []
    real_read = listing_index._read_with_inode

    def counting(path: str) -> tuple[int, bytes] | None:
        file_reads.append(path)
        return real_read(path)
    monkeypatch.setattr(listing_index, "_read_with_inode", counting)
    current = _fill(drive)
    listing_index.wait_for_rebuilds()
    first_keys = len(file_reads)           # those written before the index existed, read by its first fill
    assert first_keys < KEYS // 2
    for i in range(KEYS, 3 * KEYS):        # the index grows from ~1/3 to all of the keys: it doubles
        key = f"dir/{i:05d}"
        current[key] = f"{key} v0 ".encode() * 8
        drive.put(key, current[key])
    listing_index.wait_for_rebuilds()
    # Rebuilds took the records, not the files (but for the odd write between a rebuild's scan and its
    # reading of the index, which makes the record look newer than the file: it reads that file).
    assert len(file_reads) - first_keys < 20
    assert _snapshot_records(drive.index_file()) > 1.5 * KEYS
    assert drive.listed() == current


def test_a_damaged_snapshot_is_not_trusted(drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    current = _fill(drive)
    directory = os.path.join(drive.bucket, "dir")
    drive.index.rebuild(directory)
    path = drive.index_file()
    assert _snapshot_records(path) == KEYS
    with open(path, "r+b") as f:           # a header byte of some record, inside the snapshot
        f.seek(listing_index._HEAD_LEN + listing_index._SNAPSHOT.size + 2000)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))
    reads = _reads(monkeypatch)
    assert drive.listed() == current       # read from the files, and the index rebuilt
    assert len(reads) == KEYS
    reads.clear()
    assert drive.listed() == current
    assert reads == []


def test_the_index_of_a_directory_goes_with_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        local = LocalDrive(str(tmp_path / "d1"))
        await local.prepare()
        await local.make_volume("bkt")
        for i in range(KEYS):
            await local.write_file("bkt", f"a/dir/{i:05d}.xl.meta", metafile.pack(b"h" * 100, b""))
        listing_index.wait_for_rebuilds()
        assert local._index is not None
        index = local._index._path(os.path.join(local.root, "bkt", "a", "dir"))
        assert os.path.exists(index)
        for i in range(KEYS):
            await local.delete("bkt", f"a/dir/{i:05d}.xl.meta")
        assert not os.path.exists(os.path.join(local.root, "bkt", "a"))
        assert not os.path.exists(index)
        await local.close()
    asyncio.run(scenario())


def test_indexes_of_earlier_boots_are_removed_at_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        root = tmp_path / "d1"
        local = LocalDrive(str(root))
        await local.prepare()
        await local.make_volume("bkt")
        for i in range(KEYS):
            await local.write_file("bkt", f"dir/{i:05d}.xl.meta", metafile.pack(b"h" * 100, b""))
        listing_index.wait_for_rebuilds()
        await local.close()
        assert local._index is not None
        ours = local._index._path(os.path.join(local.root, "bkt", "dir"))
        with open(ours, "rb") as f:
            data = bytearray(f.read())
        data[len(listing_index._MAGIC)] ^= 0xFF      # the boot id
        others = [os.path.join(local._index.dir, "0123456789abcdef"), ours + ".d1e2"]  # an index, a replacement
        for path in others:
            with open(path, "wb") as f:
                f.write(data)
        local = LocalDrive(str(root))
        await local.prepare()
        listing_index.wait_for_rebuilds()
        assert os.path.exists(ours)                  # this boot's
        assert not any(os.path.exists(p) for p in others)
        await local.close()
    asyncio.run(scenario())


@pytest.mark.parametrize("key", ["dir/00010", "dir/00010-new"])
def test_a_rebuild_waits_for_the_rename_of_a_record(drive: Drive, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    # A write appends its record, then renames. A rebuild that replaced the index between the two would
    # drop the record (its file not there yet): the writer holds the index's lock until its rename.
    current = _fill(drive)
    listing_index.wait_for_rebuilds()
    directory = os.path.join(drive.bucket, "dir")
    full = os.path.join(drive.bucket, key + ".xl.meta")
    staged = os.path.join(drive.root, "staged")
    data = metafile.pack(b"pending write", b"")
    with open(staged, "wb") as f:
        f.write(data)
    recorded = threading.Event()

    def write() -> None:
        fd = os.open(staged, os.O_RDONLY)
        try:
            held = drive.index.record(directory, [(os.path.basename(full), fd, data)])
        finally:
            os.close(fd)
        recorded.set()
        threading.Event().wait(1.0)        # a slow writer: the rebuild must wait for its rename
        os.rename(staged, full)
        assert held is not None
        held.release()
    writer = threading.Thread(target=write)
    real_read = drive.index._read_unrecorded

    def read_then_record(directory: str, index: str) -> dict[str, tuple[int, bytes]]:
        read = real_read(directory, index)
        writer.start()
        recorded.wait(10)
        return read
    monkeypatch.setattr(drive.index, "_read_unrecorded", read_then_record)
    drive.index.rebuild(directory)
    writer.join()
    current[key] = b"pending write"
    reads = _reads(monkeypatch)
    assert drive.listed() == current
    assert reads == []


def test_a_walk_skips_a_file_that_vanished_and_still_fills_its_page(drive: Drive,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk makes a page's entries a slice at a time (drives/walk.py ``_Listing.files``): a meta file that
    vanished between the scan and its read is left out, and the page is filled from the keys after it."""
    written = _fill(drive)
    real = walk._read_header

    def vanishing(path: str) -> bytes | None:
        return None if path.endswith("/00003.xl.meta") else real(path)
    monkeypatch.setattr(walk, "_read_header", vanishing)
    walk._CACHE.clear()
    entries = walk.walk_volume(drive.bucket, "dir/", "", 10, False, None)       # no index: every file read
    assert [key for key, _ in entries] == [f"dir/{i:05d}" for i in (0, 1, 2, 4, 5, 6, 7, 8, 9, 10)]
    assert all(header == written[key] for key, header in entries)
    later = walk.walk_volume(drive.bucket, "dir/", "dir/00001", 4, False, None)  # the cached listing's page
    assert [key for key, _ in later] == ["dir/00002", "dir/00004", "dir/00005", "dir/00006"]


def test_a_walk_enters_directories_between_runs_of_files(drive: Drive) -> None:
    """Keys and prefixes side by side in a big directory: a walk takes the runs of files between the
    directories whole, and enters each directory (or lists it as a prefix) in key order."""
    written = _fill(drive)
    for sub in ("dir/00100x/", "dir/00250/"):
        drive.put(sub + "inner", b"inner of " + sub.encode())
        written[sub + "inner"] = b"inner of " + sub.encode()
    walk._CACHE.clear()
    entries = walk.walk_volume(drive.bucket, "dir/", "", 100_000, False, drive.index)
    assert [key for key, _ in entries] == sorted(written)
    assert dict(entries) == written
    delimited = walk.walk_volume(drive.bucket, "dir/", "dir/00099", 4, True, drive.index)
    assert delimited == [("dir/00100", written["dir/00100"]), ("dir/00100x/", None),
                         ("dir/00101", written["dir/00101"]), ("dir/00102", written["dir/00102"])]
    assert walk.walk_volume(drive.bucket, "dir/", "dir/00099", 1, True, drive.index) == [
        ("dir/00100", written["dir/00100"])]                                 # full before the directory
    inside = walk.walk_volume(drive.bucket, "dir/", "dir/00250/", 2, False, drive.index)
    assert [key for key, _ in inside] == ["dir/00250/inner", "dir/00251"]


def test_drives_holding_the_same_number_of_other_names_each_list_their_own(tmp_path: Path) -> None:
    """Walks of a set's drives share the sorting of the names they have in common (drives/walk.py
    ``_sorted_metas``): a drive whose directory holds as many names, but not the same ones, is sorted
    on its own."""
    one, other = Drive(tmp_path / "one"), Drive(tmp_path / "other")
    for drive, odd in ((one, "dir/zz-only-on-one"), (other, "dir/aa-only-on-other")):
        for i in range(KEYS):
            drive.put(f"dir/{i:05d}", b"h")
        drive.put(odd, b"h")
    walk._CACHE.clear()
    for drive, odd in ((one, "dir/zz-only-on-one"), (other, "dir/aa-only-on-other"), (one, "dir/zz-only-on-one")):
        keys = [key for key, _ in walk.walk_volume(drive.bucket, "dir/", "", 100_000, False, None)]
        assert keys == sorted([f"dir/{i:05d}" for i in range(KEYS)] + [odd])
        walk._CACHE.clear()


def test_the_process_that_rebuilt_an_index_does_not_parse_it_again(drive: Drive,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild keeps the records it wrote as this process's parsed index: its next walk reads only the
    appends since, not the snapshot."""
    written = _fill(drive)
    listing_index.wait_for_rebuilds()          # the rebuild the writes asked for (the index's first fill)
    loads: list[int] = []
    real = listing_index._load_snapshot
    monkeypatch.setattr(listing_index, "_load_snapshot", lambda fd, head: loads.append(fd) or real(fd, head))
    reads = _reads(monkeypatch)
    walk._CACHE.clear()
    entries = walk.walk_volume(drive.bucket, "dir/", "", 100_000, False, drive.index)
    assert dict(entries) == written
    assert loads == [] and reads == []


def test_overwrites_rebuild_an_index_once_per_snapshot_of_appends(drive: Drive,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An index is rebuilt when the records appended since its snapshot outgrow the snapshot. Keys that are
    only overwritten bring each rebuild back to the same size, so a rule of fixed sizes (each power of
    two) rebuilt it every few appends when that size sat just below one."""
    monkeypatch.setattr(listing_index, "_SNAPSHOT_MIN", 16 << 10)
    current = _fill(drive)
    listing_index.wait_for_rebuilds()
    directory = os.path.join(drive.bucket, "dir")
    drive.index.rebuild(directory)
    snapshot = os.path.getsize(drive.index_file())       # about 50 KiB: the 400 keys' records
    rebuilds: list[str] = []
    real = drive.index.rebuild
    monkeypatch.setattr(drive.index, "rebuild", lambda d: rebuilds.append(d) or real(d))
    appended = 0
    for version in range(1, 4):
        for i in range(KEYS):
            key = f"dir/{i:05d}"
            current[key] = f"{key} v{version} ".encode() * 8
            drive.put(key, current[key])
            appended += len(current[key]) + len(key)
        listing_index.wait_for_rebuilds()
    assert 1 <= len(rebuilds) <= appended // snapshot + 1
    assert drive.listed() == current


def test_a_writer_keeps_its_process_parse_of_an_index_near_its_end(drive: Drive,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Another worker process rebuilt the index (this one has no parse of its snapshot), then this one
    appended: its background thread parsed the snapshot and keeps up with the appends, so a listing parses
    no snapshot and at most the last ``_WARM_BYTES`` of records."""
    monkeypatch.setattr(listing_index, "_WARM_BYTES", 2 << 10)
    written = _fill(drive)
    listing_index.wait_for_rebuilds()
    drive.index.rebuild(os.path.join(drive.bucket, "dir"))
    listing_index._parsed.clear()              # as if the rebuild was another process's
    listing_index._warmed.clear()
    for i in range(100):                       # about 20 KiB of records
        key = f"dir/{i:05d}"
        written[key] = f"{key} v1 ".encode() * 8
        drive.put(key, written[key])
    listing_index.wait_for_rebuilds()
    loads: list[int] = []
    parsed: list[int] = []
    real_load, real_parse = listing_index._load_snapshot, listing_index._parse
    monkeypatch.setattr(listing_index, "_load_snapshot", lambda fd, head: loads.append(fd) or real_load(fd, head))
    monkeypatch.setattr(listing_index, "_parse", lambda data, records: parsed.append(len(data)) or real_parse(data, records))
    reads = _reads(monkeypatch)
    walk._CACHE.clear()
    entries = walk.walk_volume(drive.bucket, "dir/", "", 100_000, False, drive.index)
    assert dict(entries) == written
    assert loads == [] and reads == []
    assert sum(parsed) < 2 << 10


def test_a_walk_that_may_not_wait_never_reads_a_file_or_scans_a_directory(drive: Drive) -> None:
    """``walk_volume(nowait=True)`` (the event loop's walk) serves what a cached listing holds, and raises
    WouldBlock where it would have to scan the directory or read a header from its file."""
    written = _fill(drive)
    keys = sorted(written)
    past = time.time_ns() - 1_000_000_000 + 123_456_789     # changed a while ago: its listing is cached
    os.utime(os.path.join(drive.bucket, "dir"), ns=(past, past))
    walk._CACHE.clear()
    with pytest.raises(walk.WouldBlock):       # nothing cached: the directory would be scanned
        walk.walk_volume(drive.bucket, "dir/", "", 100, False, None, nowait=True)
    first = walk.walk_volume(drive.bucket, "dir/", "", 100, False, None)   # no index: headers from files
    assert [key for key, _ in first] == keys[:100]
    assert walk.walk_volume(drive.bucket, "dir/", "", 100, False, None, nowait=True) == first
    with pytest.raises(walk.WouldBlock):       # the next page's headers would be read from their files
        walk.walk_volume(drive.bucket, "dir/", keys[99], 100, False, None, nowait=True)
    second = walk.walk_volume(drive.bucket, "dir/", keys[99], 100, False, None)
    assert walk.walk_volume(drive.bucket, "dir/", keys[99], 100, False, None, nowait=True) == second
    assert dict(first + second) == {k: written[k] for k in keys[:200]}


def test_a_cached_listing_leaves_the_collector_nothing_to_revisit(drive: Drive) -> None:
    """The walk entries a cached listing keeps stop being tracked by the garbage collector after its first
    look at them, so its later passes (a full one walks every tracked object) do not visit them again."""
    written = _fill(drive)
    past = time.time_ns() - 1_000_000_000 + 123_456_789     # changed a while ago: its listing is cached
    os.utime(os.path.join(drive.bucket, "dir"), ns=(past, past))
    walk._CACHE.clear()
    entries = walk.walk_volume(drive.bucket, "dir/", "", 100_000, False, drive.index)
    assert dict(entries) == written
    gc.collect()
    again = walk.walk_volume(drive.bucket, "dir/", "", 100_000, False, drive.index, nowait=True)
    assert again == entries                    # served from the cached listing
    assert not any(gc.is_tracked(entry) for entry in again)


def test_commits_published_together_share_one_append(drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of commits into one directory (the committer's, ``AtomicFiles.publish_all``) records all of
    them in one append, before any of their renames; a listing then takes every header from the index."""
    written = _fill(drive)
    listing_index.wait_for_rebuilds()
    index = drive.index_file()
    appends: list[int] = []
    renamed: list[str] = []
    real_write, real_exchange = os.write, atomic.exchange

    def write(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}") == index:
            appends.append(len(renamed))       # how many renames came before this append
        return real_write(fd, data)

    def exchange(a: str, b: str) -> bool:
        renamed.append(b)
        return real_exchange(a, b)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(atomic, "exchange", exchange)
    batch = []
    for i in range(0, 50, 10):
        key = f"dir/{i:05d}"
        written[key] = f"{key} v1 ".encode() * 8
        batch.append(drive.files.stage(os.path.join(drive.bucket, key + ".xl.meta"),
                                       metafile.pack(written[key], b"inline")))
    outcomes = drive.files.publish_all(batch)
    assert all(isinstance(o, set) for o in outcomes)
    assert appends == [0] and len(renamed) == 5
    monkeypatch.undo()
    reads = _reads(monkeypatch)
    assert drive.listed() == written
    assert reads == []


def test_a_batch_whose_records_fail_renames_none_of_its_files(drive: Drive, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the index cannot take a batch's records, none of the batch is renamed into place: each fails
    with the error, and the old contents stay."""
    written = _fill(drive)
    listing_index.wait_for_rebuilds()

    def failing(directory: str, files: list[tuple[str, int, bytes]]) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(drive.index, "record", failing)
    batch = [drive.files.stage(os.path.join(drive.bucket, f"dir/{i:05d}.xl.meta"), metafile.pack(b"new", b""))
             for i in range(3)]
    outcomes = drive.files.publish_all(batch)
    assert all(isinstance(o, OSError) for o in outcomes)
    assert drive.on_disk() == written
