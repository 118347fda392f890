"""Bounded memory: the server's RSS (with any worker processes) while many big bodies stream in.

Both gigabyte tests are marked ``heavy`` (about 2 minutes and 1 minute here); ``-m "not heavy"``
leaves the small one. The client is cheap on purpose (raw sockets, presigned PUT URLs, one reused buffer per stream), so it
neither competes much for the two CPUs nor hides server-side buffering. Bodies are not hashed client
side; each stream's ETag is checked against the MD5 computed while generating it only for the 5 GiB
case. The 1 GiB objects are checked by size and by spot ranges against the generator.

Disk: EC 2+2 stores every byte twice, so the 16 x 1 GiB test needs about 34 GiB free under the test's temporary
directory, and two suites run at once on one disk need twice that. A full disk answers 507 XMinioStorageFull
(logged as a full drive); it once answered a bare 503 InsufficientWriteQuorum with nothing logged.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from .helpers import MiB, assert_same

GiB = 1 << 30
RSS_LIMIT = 300 * MiB
CHUNK = MiB


def chunk_of(stream: int, index: int, base: bytes) -> bytes:
    """Chunk ``index`` of stream ``stream``: a shared random MiB, stamped with (stream, index)."""
    stamp = (stream.to_bytes(4, "little") + index.to_bytes(8, "little")) * 4
    return stamp + base[len(stamp):]


class RssSampler(threading.Thread):
    """Samples the server's RSS every ``interval``, and whenever an upload reports progress
    (``sample``), so the uploads are measured while in flight however fast they finish."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self.in_flight_samples = 0
        self.stop_event = threading.Event()
        self._lock = threading.Lock()

    def rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def sample(self, in_flight: bool = False) -> None:
        rss = self.rss()
        with self._lock:
            self.peak = max(self.peak, rss)
            self.samples += 1
            self.in_flight_samples += in_flight

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.sample()
            except psutil.NoSuchProcess:
                return
            self.stop_event.wait(self.interval)

    def stop(self) -> int:
        self.stop_event.set()
        self.join(10)
        return self.peak


# An upload in flight asks for an RSS sample after every this many chunks.
SAMPLE_EVERY = 8


def stream_put(url: str, stream: int, size: int, base: bytes, results: dict[int, Any],
               md5: bool = False, on_progress: Any = None) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=600)
    digest = hashlib.md5() if md5 else None
    try:
        conn.putrequest("PUT", f"{parts.path}?{parts.query}", skip_accept_encoding=True)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        sent = 0
        index = 0
        while sent < size:
            chunk = chunk_of(stream, index, base)[:size - sent]
            conn.send(chunk)
            if digest:
                digest.update(chunk)
            sent += len(chunk)
            index += 1
            if on_progress is not None and index % SAMPLE_EVERY == 0 and sent < size:
                on_progress()
        resp = conn.getresponse()
        results[stream] = (resp.status, resp.getheader("ETag"), resp.read()[:500],
                           digest.hexdigest() if digest else None)
    except Exception as exc:   # reported by the test, with the stream number
        results[stream] = (None, None, repr(exc).encode(), None)
    finally:
        conn.close()


def expected_range(stream: int, base: bytes, start: int, length: int) -> bytes:
    out = bytearray()
    index = start // CHUNK
    offset = start % CHUNK
    while len(out) < length:
        out += chunk_of(stream, index, base)[offset:]
        offset = 0
        index += 1
    return bytes(out[:length])


def run_puts(server: Any, bucket: str, streams: int, size: int, md5: bool = False) -> tuple[int, float, dict[int, Any]]:
    client = server.client(signature_version="s3v4")     # botocore presigns with SigV2 by default
    base = os.urandom(CHUNK)
    urls = {i: client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": f"big{i}"},
                                             ExpiresIn=3600) for i in range(streams)}
    sampler = RssSampler(server.pid)
    sampler.start()
    results: dict[int, Any] = {}
    def progress() -> None:
        sampler.sample(in_flight=True)

    threads = [threading.Thread(target=stream_put, args=(urls[i], i, size, base, results, md5, progress),
                                daemon=True) for i in range(streams)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(1500)
    elapsed = time.monotonic() - start
    peak = sampler.stop()
    assert not any(t.is_alive() for t in threads), "uploads did not finish in 25 minutes"
    failed = {i: r for i, r in results.items() if r[0] != 200}
    assert not failed, f"failed uploads: {failed}\n{server.log_tail()}"
    # Every stream was sampled mid-upload (not only before or after): the peak covers the uploads.
    assert sampler.in_flight_samples >= streams * ((size - 1) // (CHUNK * SAMPLE_EVERY))
    # Spot-check content: sizes, and ranges at the start, a block boundary and the end.
    for i in range(streams):
        head = client.head_object(Bucket=bucket, Key=f"big{i}")
        assert head["ContentLength"] == size
        for start_at, length in ((0, 100), (size // 2 - 50, 100), (size - 100, 100)):
            got = client.get_object(Bucket=bucket, Key=f"big{i}",
                                    Range=f"bytes={start_at}-{start_at + length - 1}")["Body"].read()
            assert_same(got, expected_range(i, base, start_at, length), f"big{i} @ {start_at}")
        if md5:
            assert results[i][1] == f'"{results[i][3]}"'
    return peak, elapsed, results


def cleanup(server: Any, bucket: str, streams: int) -> None:
    client = server.client()
    for i in range(streams):
        client.delete_object(Bucket=bucket, Key=f"big{i}")


@pytest.mark.heavy
@pytest.mark.timeout(1800)
def test_rss_bounded_during_16_concurrent_1gib_puts(make_engine: Any) -> None:
    server = make_engine(name="memory")
    server.client().create_bucket(Bucket="mem")
    baseline = RssSampler(server.pid).rss()
    peak, elapsed, _ = run_puts(server, "mem", streams=16, size=GiB)
    print(f"16 x 1 GiB PUT: {16 / elapsed * 1024:.0f} MiB/s; RSS baseline {baseline / MiB:.0f} MiB, "
          f"peak {peak / MiB:.0f} MiB")
    cleanup(server, "mem", 16)
    assert peak < RSS_LIMIT, f"peak RSS {peak / MiB:.0f} MiB >= {RSS_LIMIT / MiB:.0f} MiB"


@pytest.mark.heavy
@pytest.mark.timeout(1800)
def test_rss_bounded_during_5gib_put(make_engine: Any) -> None:
    server = make_engine(name="huge")
    server.client().create_bucket(Bucket="huge")
    peak, elapsed, _ = run_puts(server, "huge", streams=1, size=5 * GiB, md5=True)
    print(f"5 GiB PUT: {5 * 1024 / elapsed:.0f} MiB/s; peak RSS {peak / MiB:.0f} MiB")
    cleanup(server, "huge", 1)
    assert peak < RSS_LIMIT, f"peak RSS {peak / MiB:.0f} MiB >= {RSS_LIMIT / MiB:.0f} MiB"


def test_rss_bounded_small(make_engine: Any) -> None:
    """A light version for every run: 4 concurrent 64 MiB PUTs stay well under the limit."""
    server = make_engine(name="memory-small")
    server.client().create_bucket(Bucket="mem")
    peak, _, _ = run_puts(server, "mem", streams=4, size=64 * MiB, md5=True)
    assert peak < RSS_LIMIT, f"peak RSS {peak / MiB:.0f} MiB >= {RSS_LIMIT / MiB:.0f} MiB"
