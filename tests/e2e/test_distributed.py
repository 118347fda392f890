"""Issue 7 end to end: the tenant the component renders (4 servers x 2 drives) runs as one store.

The pods are made by ``cluster.py`` from the rendered StatefulSet, exactly as rendered: each in its own
network namespace listening on `:9000`, peers found by their headless-Service names, volumes bind-mounted
at `/data0`, `/data1`, `/tmp`. One cluster is shared by the tests below in file order (clients, races,
locks, node loss, restart and heal); the readiness test starts a fresh one on the same rendering.
Needs root (network namespaces); skipped otherwise.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import http.client
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import msgpack
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from storage_engine.drives import paths

from .cluster import Pod, PodCluster, RenderedTenant, netns_unavailable, render_tenant
from .helpers import MiB, assert_same, md5_hex, multipart_etag, payload

_UNAVAILABLE = netns_unavailable()
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=f"pods need network namespaces: {_UNAVAILABLE}")

SERVERS, DRIVES = 4, 2
BUCKET = "distributed"
PART = 5 * MiB
LEASE_SECONDS = 4.0  # the lease our vanished lock holder asked for


# --- fixtures --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> RenderedTenant:
    rendered = render_tenant(tmp_path_factory.mktemp("render"), SERVERS, DRIVES, tls=False)  # TLS: test_distributed_tls
    assert rendered.statefulset["spec"]["replicas"] == SERVERS
    assert len(rendered.statefulset["spec"]["volumeClaimTemplates"]) == DRIVES
    assert "command" not in rendered.container  # the image's entrypoint runs, with the rendered args
    return rendered


@pytest.fixture(scope="module")
def cluster(tenant: RenderedTenant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodCluster]:
    with PodCluster(tenant, tmp_path_factory.mktemp("pods")) as pods:
        pods.start()
        pods.wait_ready()
        yield pods


@pytest.fixture(autouse=True)
def _pod_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failing test's report shows every pod's log (captured output of this teardown)."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before and "cluster" in request.fixturenames:
        print(request.getfixturevalue("cluster").logs(60))


@pytest.fixture(scope="module")
def objects() -> dict[str, bytes]:
    """Every object the tests left in BUCKET, by key: the restart test checks them all."""
    return {}


@pytest.fixture(scope="module")
def bucket(cluster: PodCluster) -> str:
    client(cluster.pods[0]).create_bucket(Bucket=BUCKET)
    return BUCKET


def client(pod: Pod) -> Any:
    """boto3 with default checksums, path style, no retries: an error must show, not be retried away."""
    env = pod.cluster.tenant.env()
    return boto3.Session().client(
        "s3", endpoint_url=pod.url, region_name=env.get("RUSTFS_REGION", "us-east-1"),
        aws_access_key_id=env["RUSTFS_ACCESS_KEY"], aws_secret_access_key=env["RUSTFS_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"},
                      connect_timeout=5, read_timeout=60))


def aws(pod: Pod, home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The AWS CLI (v1, from the venv) against `pod`, multipart above 5 MB."""
    exe = shutil.which("aws", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe is None:
        pytest.fail("the AWS CLI is not installed (scripts/test installs awscli into the venv)")
    env = pod.cluster.tenant.env()
    home.mkdir(exist_ok=True)
    (home / "config").write_text(
        "[default]\nregion = us-east-1\noutput = json\n"
        "s3 =\n    multipart_threshold = 5MB\n    multipart_chunksize = 5MB\n    addressing_style = path\n")
    (home / "credentials").write_text(f"[default]\naws_access_key_id = {env['RUSTFS_ACCESS_KEY']}\n"
                                      f"aws_secret_access_key = {env['RUSTFS_SECRET_KEY']}\n")
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run_env.update({"AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
                    "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1",
                    "HOME": str(home)})
    proc = subprocess.run([exe, "--endpoint-url", pod.url, *args], env=run_env, capture_output=True, timeout=120)
    assert proc.returncode == 0, (f"aws {' '.join(args)} via {pod.name} failed ({proc.returncode}):\n"
                                  f"{proc.stdout.decode(errors='replace')[-3000:]}\n"
                                  f"{proc.stderr.decode(errors='replace')[-3000:]}")
    return proc


def keys_via(pod: Pod, bucket: str) -> list[str]:
    pages = client(pod).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def assert_all_readable(pods: list[Pod], bucket: str, objects: dict[str, bytes]) -> None:
    """Every object whole through every pod in `pods`, and every listing complete."""
    for pod in pods:
        s3 = client(pod)
        for key, data in objects.items():
            assert_same(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), data, f"{key} via {pod.name}")
        assert keys_via(pod, bucket) == sorted(objects), f"LIST via {pod.name}"


# --- real clients through different nodes ----------------------------------------------------------------
def test_bucket_created_on_one_node_is_visible_on_another_at_once(cluster: PodCluster, bucket: str) -> None:
    last = client(cluster.pods[3])
    last.head_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in last.list_buckets()["Buckets"]]


def test_boto3_put_get_list_through_different_nodes(cluster: PodCluster, bucket: str,
                                                    objects: dict[str, bytes]) -> None:
    p0, p1, p2, p3 = cluster.pods
    small, large = payload("boto3/small", 0, 70_000), payload("boto3/large", 0, 20 * MiB + 123)
    client(p1).put_object(Bucket=bucket, Key="boto3/small.bin", Body=small)
    client(p1).upload_fileobj(io.BytesIO(large), bucket, "boto3/large.bin",
                              Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART))
    objects.update({"boto3/small.bin": small, "boto3/large.bin": large})
    head = client(p2).head_object(Bucket=bucket, Key="boto3/large.bin")
    assert head["ETag"] == f'"{multipart_etag(large, PART)}"'   # it was a multipart upload
    assert_same(client(p2).get_object(Bucket=bucket, Key="boto3/small.bin")["Body"].read(), small, "small via 2")
    assert_same(client(p3).get_object(Bucket=bucket, Key="boto3/large.bin")["Body"].read(), large, "large via 3")
    ranged = client(p0).get_object(Bucket=bucket, Key="boto3/large.bin", Range=f"bytes={PART - 9}-{PART + 9}")
    assert_same(ranged["Body"].read(), large[PART - 9:PART + 10], "range across parts via 0")
    for pod in cluster.pods:
        assert {"boto3/small.bin", "boto3/large.bin"} <= set(keys_via(pod, bucket)), pod.name


def test_keys_aws_accepts_through_different_nodes(cluster: PodCluster, bucket: str, objects: dict[str, bytes]) -> None:
    """Keys that are no file names (drives/paths.py: empty, "." and ".." segments, a segment of 900 bytes) are
    written through one node and listed in order through another: the listing merges every node's drives."""
    keys = ["odd//empty", "odd/./dot", "odd/../dots", "odd/" + "l" * 900, "odd/" + "l" * 240 + "/short"]
    for i, key in enumerate(keys):
        data = payload(key, i, 1000 + i)
        client(cluster.pods[1]).put_object(Bucket=bucket, Key=key, Body=data)
        objects[key] = data
    listed = client(cluster.pods[2]).list_objects_v2(Bucket=bucket, Prefix="odd/", Delimiter="/", MaxKeys=2)
    pages = [listed]
    while listed["IsTruncated"]:
        listed = client(cluster.pods[3]).list_objects_v2(Bucket=bucket, Prefix="odd/", Delimiter="/", MaxKeys=2,
                                                         ContinuationToken=listed["NextContinuationToken"])
        pages.append(listed)
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == sorted(
        k for k in keys if "/" not in k[4:])
    assert [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])] == sorted(
        {k[:k.index("/", 4) + 1] for k in keys if "/" in k[4:]})
    for key in keys:
        assert_same(client(cluster.pods[0]).get_object(Bucket=bucket, Key=key)["Body"].read(), objects[key], key)


def test_aws_cli_put_get_list_through_different_nodes(cluster: PodCluster, bucket: str, objects: dict[str, bytes],
                                                      tmp_path: Path) -> None:
    p0, p1, p2, p3 = cluster.pods
    home = tmp_path / "aws"
    small, large = payload("cli/small", 0, 1000), payload("cli/large", 0, 20 * MiB + 5)
    (tmp_path / "small").write_bytes(small)
    (tmp_path / "large").write_bytes(large)
    aws(p2, home, "s3", "cp", str(tmp_path / "small"), f"s3://{bucket}/cli/small.txt")
    aws(p3, home, "s3", "cp", str(tmp_path / "large"), f"s3://{bucket}/cli/large.bin")
    objects.update({"cli/small.txt": small, "cli/large.bin": large})
    head = json.loads(aws(p0, home, "s3api", "head-object", "--bucket", bucket, "--key", "cli/large.bin").stdout)
    assert head["ETag"] == f'"{multipart_etag(large, PART)}"'
    aws(p1, home, "s3", "cp", f"s3://{bucket}/cli/large.bin", str(tmp_path / "back"))
    assert_same((tmp_path / "back").read_bytes(), large, "large via 1")
    aws(p0, home, "s3", "cp", f"s3://{bucket}/cli/small.txt", str(tmp_path / "small.back"))
    assert_same((tmp_path / "small.back").read_bytes(), small, "small via 0")
    listing = aws(p1, home, "s3", "ls", f"s3://{bucket}/cli/").stdout.decode()
    assert re.findall(r"\s(\S+)$", listing, re.M) == ["large.bin", "small.txt"], listing


# --- one key, several writers ---------------------------------------------------------------------------
def test_concurrent_writers_to_one_key_leave_one_whole_winner(cluster: PodCluster, bucket: str,
                                                              objects: dict[str, bytes]) -> None:
    key = "race/one-key.bin"
    for round_ in range(3):
        bodies = [payload(key, f"{round_}-{pod.index}", 3 * MiB + 1000 * pod.index) for pod in cluster.pods]
        start = threading.Barrier(len(cluster.pods))

        def write(pod: Pod, body: bytes) -> str:
            s3 = client(pod)
            start.wait(30)
            return str(s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"])

        with concurrent.futures.ThreadPoolExecutor(len(cluster.pods)) as pool:
            etags = list(pool.map(write, cluster.pods, bodies))
        assert etags == [f'"{md5_hex(b)}"' for b in bodies]
        seen = {pod.name: client(pod).get_object(Bucket=bucket, Key=key)["Body"].read() for pod in cluster.pods}
        [winner] = {md5_hex(body) for body in seen.values()}   # every node serves the same version
        assert winner in {md5_hex(b) for b in bodies}, f"round {round_}: a torn object (md5 {winner})"
        objects[key] = next(b for b in bodies if md5_hex(b) == winner)


# --- a lock holder that vanishes ------------------------------------------------------------------------
def rpc_call(pod: Pod, service: str, method: str, args: dict[str, Any], sign: bool = True) -> tuple[int, Any]:
    """One node-to-node call, signed as docs/distributed.md specifies (HMAC-SHA256 over method, path,
    query and time, keyed with the secret derived from the root credentials)."""
    env = pod.cluster.tenant.env()
    secret = env.get("RUSTFS_RPC_SECRET", "").encode() or hmac.new(
        env["RUSTFS_SECRET_KEY"].encode(), f"rustfs-internode-v1|{env['RUSTFS_ACCESS_KEY']}".encode(),
        hashlib.sha256).digest()
    path, now = f"/rustfs/rpc/v1/{service}/{method}", str(int(time.time()))
    headers = {"content-type": "application/msgpack"}
    if sign:
        mac = hmac.new(secret, f"POST\n{path}\n\n{now}".encode(), hashlib.sha256).hexdigest()
        headers.update({"x-rustfs-rpc-time": now, "authorization": f"rustfs-rpc {mac}"})
    connection = http.client.HTTPConnection(pod.address, pod.port, timeout=10)
    try:
        connection.request("POST", path, body=msgpack.packb(args), headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return response.status, (msgpack.unpackb(body) if response.status == 200 else body)


def test_a_vanished_lock_holder_blocks_the_key_only_for_its_lease(cluster: PodCluster, bucket: str,
                                                                  objects: dict[str, bytes]) -> None:
    key = "locks/held-by-a-ghost.txt"
    grant = {"resource": f"{bucket}/{key}", "owner": "ghost-node", "lease": LEASE_SECONDS}
    assert rpc_call(cluster.pods[0], "lock", "acquire", {**grant, "uid": "unsigned"}, sign=False)[0] == 401
    taken = time.monotonic()
    for pod in cluster.pods:   # on every table, so no quorum is left for anyone else; never released
        status, granted = rpc_call(pod, "lock", "acquire", {**grant, "uid": f"ghost-{uuid.uuid4().hex}"})
        assert (status, granted) == (200, True), f"lock/acquire on {pod.name}: {status} {granted!r}"
    body = b"written once the ghost's lease ran out"
    client(cluster.pods[1]).put_object(Bucket=bucket, Key=key, Body=body)
    waited = time.monotonic() - taken
    assert waited >= LEASE_SECONDS, f"PUT succeeded {waited:.2f}s after the lock was taken: the lock was ignored"
    objects[key] = body
    assert client(cluster.pods[2]).get_object(Bucket=bucket, Key=key)["Body"].read() == body


# --- node loss, restart, heal ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def victim(cluster: PodCluster) -> Pod:
    return random.choice(cluster.pods)


@pytest.fixture(scope="module")
def pending_upload() -> dict[str, Any]:
    """A multipart upload whose parts were written while a node was down; completed once it is back."""
    return {}


def test_reads_and_writes_go_on_without_one_node(cluster: PodCluster, bucket: str, objects: dict[str, bytes],
                                                 victim: Pod, pending_upload: dict[str, Any]) -> None:
    before = {f"before-loss/{i}.bin": payload("before-loss", i, 200_000 + i * 333_333) for i in range(6)}
    for i, (key, data) in enumerate(before.items()):
        client(cluster.pods[i % SERVERS]).put_object(Bucket=bucket, Key=key, Body=data)
    objects.update(before)
    victim.kill()
    survivors = [pod for pod in cluster.pods if pod is not victim]
    for n, pod in enumerate(survivors):
        for i in range(2):
            key, data = f"during-loss/{pod.name}-{i}.bin", payload("during-loss", f"{pod.name}-{i}", 150_000 * (n + i + 1))
            client(pod).put_object(Bucket=bucket, Key=key, Body=data)
            objects[key] = data
    large = payload("during-loss/large", 0, 11 * MiB)
    client(survivors[0]).upload_fileobj(io.BytesIO(large), bucket, "during-loss/large.bin",
                                        Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART))
    objects["during-loss/large.bin"] = large
    key, body = "during-loss/in-progress.bin", payload("during-loss/in-progress", 0, PART + 300_000)
    s3 = client(survivors[1])
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n,
                            Body=body[offset:offset + PART])["ETag"]
             for n, offset in enumerate(range(0, len(body), PART), 1)]
    pending_upload.update(key=key, body=body, upload_id=upload_id, etags=etags)
    assert_all_readable(survivors, bucket, objects)


def data_drives(cluster: PodCluster) -> list[Path]:
    """The 8 drive directories: each pod's mounts of its volume claim templates."""
    claims = {c["metadata"]["name"] for c in cluster.tenant.statefulset["spec"]["volumeClaimTemplates"]}
    mounts = [m["mountPath"] for m in cluster.tenant.container["volumeMounts"] if m["name"] in claims]
    return [pod.drive(path) for pod in cluster.pods for path in mounts]


def missing_on_drives(cluster: PodCluster, bucket: str, objects: dict[str, bytes]) -> list[str]:
    """`<drive>: <key>` for every object whose metadata (or, above the inline size, a shard) a drive lacks."""
    missing = []
    for drive in data_drives(cluster):
        for key, data in objects.items():
            meta = drive / bucket / paths.meta_path(key)
            shards = drive / bucket / paths.data_container(key)
            if not meta.is_file():
                missing.append(f"{drive}: {key} (no .xl.meta)")
            elif len(data) > 1 * MiB and not any(shards.rglob("part.*")):
                missing.append(f"{drive}: {key} (no shard)")
    return missing


def parts_missing_on_drives(cluster: PodCluster, upload: dict[str, Any]) -> list[str]:
    """`<drive>: part N` for every part of the upload in progress whose record or shard a drive lacks."""
    missing = []
    for drive in data_drives(cluster):
        found = list((drive / ".rustfs.sys" / "multipart").glob(f"*/{upload['upload_id']}"))
        for n in range(1, len(upload["etags"]) + 1):
            if not found or not (found[0] / f"part.{n}.meta").is_file() or not any(found[0].glob(f"part.{n}.*/part")):
                missing.append(f"{drive}: part {n}")
    return missing


def test_a_restarted_node_is_healed_whole(cluster: PodCluster, bucket: str, objects: dict[str, bytes],
                                          victim: Pod, pending_upload: dict[str, Any]) -> None:
    """No heal command: the nodes that wrote while it was down heal what it missed once it is back."""
    if victim.is_running():
        pytest.skip("needs the node killed by test_reads_and_writes_go_on_without_one_node")
    assert missing_on_drives(cluster, bucket, objects), "the killed node's drives should lack the new objects"
    assert parts_missing_on_drives(cluster, pending_upload), "the killed node's drives should lack the parts"
    victim.start()
    cluster.wait_ready([victim])
    deadline = time.monotonic() + 60
    while missing := missing_on_drives(cluster, bucket, objects) + parts_missing_on_drives(cluster, pending_upload):
        assert time.monotonic() < deadline, f"not healed after 60 s, {len(missing)} missing:\n" + "\n".join(missing[:40])
        time.sleep(0.5)
    key, body = pending_upload["key"], pending_upload["body"]
    client(victim).complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=pending_upload["upload_id"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(pending_upload["etags"], 1)]})
    objects[key] = body
    assert not missing_on_drives(cluster, bucket, objects)
    assert_all_readable(cluster.pods, bucket, objects)


# --- readiness while below quorum -----------------------------------------------------------------------
def test_a_node_below_quorum_is_not_ready_and_waits(tenant: RenderedTenant,
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    with PodCluster(tenant, tmp_path_factory.mktemp("fresh-pods")) as fresh:
        first, *others = random.sample(fresh.pods, len(fresh.pods))
        first.start()
        answers: list[int] = []
        deadline = time.monotonic() + 30
        while len([a for a in answers if a]) < 10:   # ten answers, a quarter second apart
            assert first.is_running(), f"{first.name} exited while waiting for its peers:\n{first.log_tail()}"
            assert time.monotonic() < deadline, f"{first.name} never answered:\n{first.log_tail()}"
            answers.append(first.ready_status())
            time.sleep(0.25)
        assert {a for a in answers if a} == {503}, f"readiness of a lone node: {answers}\n{first.log_tail()}"
        # Alive all the while: the rendered startup and liveness probes must not restart a waiting node.
        assert first.probe("startupProbe") == first.probe("livenessProbe") == 200
        fresh.start(others)
        fresh.wait_ready()
        s3 = client(first)
        s3.create_bucket(Bucket="fresh")
        client(others[0]).put_object(Bucket="fresh", Key="k", Body=b"quorum")
        assert s3.get_object(Bucket="fresh", Key="k")["Body"].read() == b"quorum"
