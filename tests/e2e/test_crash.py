"""Crash safety: SIGKILL the server in the middle of concurrent PUTs, restart, and check every object.

Each writer thread owns its keys and writes them one at a time, so for every key the state after a
crash must be exactly one of: the last acknowledged write, or the write that was in flight when the
server died (absent if neither). Every byte is derived from (key, write id), so any other content
(an older version, a mix of two writes, a truncation) is caught. Acknowledged writes of earlier
rounds must survive later crashes too.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .helpers import KiB, MiB, md5_hex, multipart_etag, payload

ROUNDS = 8
WRITERS = 6
SEED = random.randrange(1 << 30)


def content(key: str, write_id: int) -> bytes:
    """The body of write ``write_id`` of ``key``: its size is derived from the id too."""
    rng = random.Random(f"{key}/{write_id}")
    kind = rng.random()
    if kind < 0.45:
        size = rng.randrange(0, 100 * KiB)                 # inline
    elif kind < 0.9:
        size = rng.randrange(200 * KiB, 3 * MiB)           # erasure-coded, 1-3 blocks
    else:
        size = rng.randrange(5 * MiB, 5 * MiB + 300 * KiB)  # multipart (two parts)
    return payload(key, write_id, size)


@dataclass
class KeyState:
    acked: int | None = None                  # write id of the last acknowledged PUT (None: absent)
    history: list[int] = field(default_factory=list)   # every PUT known to be stored (versioned buckets)
    in_flight: dict[int, str] = field(default_factory=dict)   # unacknowledged "put"/"delete" since


class Ledger:
    def __init__(self) -> None:
        self.keys: dict[str, KeyState] = {}
        self.lock = threading.Lock()
        self.next_id = 1

    def begin(self, key: str, op: str) -> int:
        with self.lock:
            wid = self.next_id
            self.next_id += 1
            self.keys.setdefault(key, KeyState()).in_flight[wid] = op
            return wid

    def ack(self, key: str, wid: int) -> None:
        with self.lock:
            st = self.keys[key]
            st.acked = None if st.in_flight[wid] == "delete" else wid
            if st.acked is not None:
                st.history.append(wid)
            st.in_flight.clear()

    def candidates(self, key: str) -> list[int | None]:
        """Acceptable states after a crash, the acknowledged one first (None: no object)."""
        st = self.keys[key]
        options: list[int | None] = [st.acked]
        for wid, op in sorted(st.in_flight.items()):
            options.append(None if op == "delete" else wid)
        return options


def put(client: Any, bucket: str, key: str, body: bytes) -> None:
    if len(body) < 5 * MiB:
        client.put_object(Bucket=bucket, Key=key, Body=body)
        return
    uid = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for n, start in enumerate(range(0, len(body), 5 * MiB), 1):
        etag = client.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n,
                                  Body=body[start:start + 5 * MiB])["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})


def etag_of(key: str, wid: int) -> str:
    body = content(key, wid)
    return f'"{multipart_etag(body, 5 * MiB)}"' if len(body) >= 5 * MiB else f'"{md5_hex(body)}"'


def writer(client: Any, bucket: str, ledger: Ledger, w: int, rnd: int, stop: threading.Event,
           errors: list[str], deletes: bool) -> None:
    rng = random.Random(f"{SEED}/{rnd}/{w}")
    for i in range(200):
        if stop.is_set():
            return
        # Half the writes overwrite one of this writer's five long-lived keys, half create new keys.
        key = f"w{w}/hot{rng.randrange(5)}" if rng.random() < 0.5 else f"w{w}/r{rnd}-{i}"
        delete = deletes and key in ledger.keys and ledger.keys[key].acked is not None and rng.random() < 0.08
        wid = ledger.begin(key, "delete" if delete else "put")
        try:
            if delete:
                client.delete_object(Bucket=bucket, Key=key)
            else:
                put(client, bucket, key, content(key, wid))
            ledger.ack(key, wid)
        except (BotoCoreError, ClientError, OSError) as exc:
            if not stop.is_set():
                errors.append(f"{key}: {exc!r}")
            return


def verify(client: Any, bucket: str, ledger: Ledger) -> None:
    listed: dict[str, int] = {}
    token = None
    for _ in range(100):
        kw = {"ContinuationToken": token} if token else {}
        page = client.list_objects_v2(Bucket=bucket, **kw)
        listed.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    unknown = set(listed) - set(ledger.keys)
    assert not unknown, f"listed keys never written: {sorted(unknown)[:5]}"
    problems = []
    settled: dict[str, int | None] = {}
    for key in sorted(ledger.keys):
        options = ledger.candidates(key)
        try:
            got = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchKey":
                raise
            got = None
        if got is None:
            settled[key] = None
            if None not in options:
                problems.append(f"{key}: acknowledged write {options[0]} is missing")
            if key in listed:
                problems.append(f"{key}: listed but not readable")
            continue
        matches = [wid for wid in options if wid is not None and got == content(key, wid)]
        if not matches:
            problems.append(f"{key}: {len(got)} bytes (md5 {md5_hex(got)}) match none of the writes "
                            f"{options} (acknowledged first)")
        elif key not in listed:
            problems.append(f"{key}: readable but not listed")
        elif listed[key] != len(got):
            problems.append(f"{key}: listed with size {listed[key]}, read {len(got)} bytes")
        settled[key] = matches[0] if matches else ledger.keys[key].acked
    # Settle the ledger on what survived: later rounds expect exactly this.
    for key, st in ledger.keys.items():
        st.acked = settled.get(key)
        st.in_flight.clear()
    assert not problems, "\n".join(problems[:20])


def verify_versions(client: Any, bucket: str, ledger: Ledger) -> None:
    """Versioned bucket: every acknowledged PUT is a version with its exact bytes, every version is a
    PUT that was acknowledged or in flight, and the latest is the last acknowledged one or later."""
    versions: dict[str, list[dict[str, Any]]] = {}
    kw: dict[str, str] = {}
    for _ in range(200):
        page = client.list_object_versions(Bucket=bucket, **kw)
        assert not page.get("DeleteMarkers"), page["DeleteMarkers"][:3]
        for v in page.get("Versions", []):
            versions.setdefault(v["Key"], []).append(v)
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    problems = []
    for key, st in sorted(ledger.keys.items()):
        listed = versions.get(key, [])
        by_etag: dict[str, list[dict[str, Any]]] = {}
        for v in listed:
            by_etag.setdefault(v["ETag"], []).append(v)
        allowed = {etag_of(key, wid): wid for wid in [*st.history, *st.in_flight]}
        for wid in st.history:
            if etag_of(key, wid) not in by_etag:
                problems.append(f"{key}: acknowledged write {wid} has no version")
        for v in listed:
            if v["ETag"] not in allowed:
                problems.append(f"{key}: version {v['VersionId']} ({v['Size']} bytes) is no write of ours")
            elif v["Size"] != len(content(key, allowed[v["ETag"]])):
                problems.append(f"{key}: version {v['VersionId']} lists {v['Size']} bytes")
        latest = [v for v in listed if v["IsLatest"]]
        if listed and len(latest) != 1:
            problems.append(f"{key}: {len(latest)} latest versions")
        elif listed and st.history:
            newest_ok = {etag_of(key, w) for w in [st.history[-1], *st.in_flight]}
            if latest[0]["ETag"] not in newest_ok:
                problems.append(f"{key}: latest version is an older write than the last acknowledged one")
        if listed:
            got = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            if latest and latest[0]["ETag"] in allowed and got != content(key, allowed[latest[0]["ETag"]]):
                problems.append(f"{key}: latest version's bytes are not those of its write")
            oldest = listed[-1]
            if oldest["ETag"] in allowed:
                old = client.get_object(Bucket=bucket, Key=key, VersionId=oldest["VersionId"])["Body"].read()
                if old != content(key, allowed[oldest["ETag"]]):
                    problems.append(f"{key}: version {oldest['VersionId']} bytes differ from its write")
        # Settle: surviving in-flight writes join the history, in order.
        for wid in sorted(st.in_flight):
            if etag_of(key, wid) in by_etag and wid not in st.history:
                st.history.append(wid)
        st.acked = st.history[-1] if st.history else None
        st.in_flight.clear()
    assert not problems, "\n".join(problems[:20])


@pytest.mark.timeout(900)
# The second as drives that are file systems of their own run: commits in batches (drives/committer.py).
@pytest.mark.parametrize("workers,versioned,group_commit", [(1, False, "off"), (2, True, "on")],
                         ids=["1-worker", "2-workers-versioned-group-commit"])
def test_kill9_during_concurrent_puts(make_engine: Any, workers: int, versioned: bool, group_commit: str) -> None:
    server = make_engine(name="crash", env={"RUSTFS_WORKERS": str(workers), "RUSTFS_GROUP_COMMIT": group_commit})
    client = server.client(retries={"max_attempts": 1, "mode": "standard"},
                           max_pool_connections=WRITERS + 2, connect_timeout=3, read_timeout=30)
    bucket = "crash"
    client.create_bucket(Bucket=bucket)
    if versioned:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ledger = Ledger()
    rng = random.Random(SEED)
    rounds = ROUNDS if not versioned else ROUNDS - 2
    for rnd in range(rounds):
        stop = threading.Event()
        errors: list[str] = []
        threads = [threading.Thread(target=writer, args=(client, bucket, ledger, w, rnd, stop, errors,
                                                         not versioned), daemon=True) for w in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.5))
        stop.set()
        server.kill9()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a writer hung after the server was killed"
        assert not errors, f"round {rnd} (seed {SEED}): writes failed before the kill: {errors[:3]}"
        server.start()
        fresh = server.client(retries={"max_attempts": 3, "mode": "standard"})
        (verify_versions if versioned else verify)(fresh, bucket, ledger)
    acked = sum(1 for st in ledger.keys.values() if st.acked is not None)
    assert acked >= rounds, f"too few acknowledged writes ({acked}) for the test to mean anything"


def test_graceful_restart_keeps_data(engine: Any, s3: Any, bucket: str) -> None:
    """The shared server restarts (SIGTERM) on the same drives and port, with its data intact."""
    data = payload("restart", 0, 2 * MiB + 1)
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    s3.put_object(Bucket=bucket, Key="inline", Body=b"small")
    code = engine.stop()
    assert code == 0, f"SIGTERM should exit cleanly, got {code}\n{engine.log_tail()}"
    engine.start()
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="inline")["Body"].read() == b"small"


def test_kill9_keeps_acknowledged_parts(make_engine: Any) -> None:
    """Parts acknowledged before a crash are still there after it: the upload completes bit-exact."""
    server = make_engine(name="crash-mp")
    client = server.client(retries={"max_attempts": 1, "mode": "standard"})
    client.create_bucket(Bucket="mpcrash")
    body = payload("mp-crash", 0, 10 * MiB + 99)
    uid = client.create_multipart_upload(Bucket="mpcrash", Key="k")["UploadId"]
    e1 = client.upload_part(Bucket="mpcrash", Key="k", UploadId=uid, PartNumber=1, Body=body[:5 * MiB])["ETag"]
    e2 = client.upload_part(Bucket="mpcrash", Key="k", UploadId=uid, PartNumber=2, Body=body[5 * MiB:10 * MiB])["ETag"]
    stop = threading.Event()

    def flood() -> None:          # part 3 re-uploaded again and again while the server dies
        for _ in range(50):
            if stop.is_set():
                return
            try:
                client.upload_part(Bucket="mpcrash", Key="k", UploadId=uid, PartNumber=3, Body=body[10 * MiB:])
            except (BotoCoreError, ClientError, OSError):
                return

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    time.sleep(0.3)
    stop.set()
    server.kill9()
    t.join(30)
    server.start()
    client = server.client()
    parts = client.list_parts(Bucket="mpcrash", Key="k", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts][:2] == [(1, e1), (2, e2)]
    e3 = client.upload_part(Bucket="mpcrash", Key="k", UploadId=uid, PartNumber=3, Body=body[10 * MiB:])["ETag"]
    client.complete_multipart_upload(Bucket="mpcrash", Key="k", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e3}]})
    got = client.get_object(Bucket="mpcrash", Key="k")["Body"].read()
    assert got == body, f"{len(got)} bytes, md5 {md5_hex(got)}"
