"""Node-to-node TLS (issue 9, docs/tls.md): https peers are verified against ``<tls_path>/ca.crt``.

The client side runs in-process against small HTTPS peers (any TLS server will do: a refusal happens in
the handshake); a peer whose certificate does not verify, for its CA or its host name, is refused
(``DriveOffline``) with one log line, and a changed ``ca.crt`` (a Secret volume's ``..data`` swap) is
used for new connections without a restart. Then three engine processes serving HTTPS (the engine's own
TLS, ``RUSTFS_TLS_PATH``): nodes certified by one CA form a cluster; one certified by another is refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import boto3
import msgpack
import pytest
from aiohttp import web
from botocore.config import Config

from storage_engine.cluster.rpc_client import Peers
from storage_engine.drives.base import DriveOffline
from tests.tls_helpers import CA_FILE, Leaf, TestCA, tls_files, write_secret_volume

from .conftest import ACCESS_KEY, SECRET_KEY, make_settings
from tests.processes import stop_process

REPO = Path(__file__).resolve().parents[2]

RELOAD_SECONDS = 0.5
LOGGER = "storage_engine.cluster.rpc_client"


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA("cluster CA")


@pytest.fixture(scope="module")
def other_ca() -> TestCA:
    return TestCA("another cluster's CA")


@asynccontextmanager
async def https_peer(leaf: Leaf, tmp: Path) -> AsyncIterator[str]:
    """An HTTPS server on 127.0.0.1 with ``leaf`` answering every node-to-node call with ``"pong"``."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "cert.pem").write_bytes(leaf.cert_pem)
    (tmp / "key.pem").write_bytes(leaf.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=msgpack.packb("pong"), content_type="application/msgpack")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]   # type: ignore[attr-defined]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def tls_dir(path: Path, *cas: TestCA) -> Path:
    """A TLS directory laid out as the kubelet mounts a Secret, whose ca.crt bundles ``cas``."""
    return write_secret_volume(path, {CA_FILE: b"".join(ca.cert_pem for ca in cas)})


def refusals(caplog: pytest.LogCaptureFixture, url: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.getMessage().startswith(f"refusing peer {url}:")]


async def ping(peers: Peers, url: str) -> str:
    return str(await peers.get(url).call("health", "ping", {}, timeout=5))


def test_an_untrusted_peer_is_refused_with_one_log_line(ca: TestCA, other_ca: TestCA, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tls_path=str(tls_dir(tmp_path / "tls", ca)), tls_reload_seconds=RELOAD_SECONDS)

    async def main() -> None:
        peers = Peers(settings)
        async with https_peer(ca.issue(["127.0.0.1"]), tmp_path / "good") as good, \
                https_peer(other_ca.issue(["127.0.0.1"]), tmp_path / "stranger") as stranger:
            try:
                assert await ping(peers, good) == "pong"
                for _ in range(3):
                    with pytest.raises(DriveOffline, match="refused: its certificate does not verify"):
                        await ping(peers, stranger)
                assert await ping(peers, good) == "pong"     # one bad peer refuses no other
            finally:
                await peers.close_all()
        [line] = refusals(caplog, stranger)                  # logged once, not once per call
        # The chain ends in a CA we do not trust (OpenSSL names it by whether the peer sent that CA).
        assert ("self-signed certificate in certificate chain" in line
                or "unable to get local issuer certificate" in line), line
        assert not refusals(caplog, good)

    with caplog.at_level(logging.INFO, logger=LOGGER):
        asyncio.run(main())


def test_a_peer_whose_certificate_names_another_host_is_refused(ca: TestCA, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tls_path=str(tls_dir(tmp_path / "tls", ca)), tls_reload_seconds=RELOAD_SECONDS)

    async def main() -> None:
        peers = Peers(settings)
        # Signed by the trusted CA, for another node's names: it must not stand in for 127.0.0.1.
        leaf = ca.issue(["e2e-pool0-1.e2e-pool0-hl.e2e.svc.cluster.local", "10.0.0.9"])
        async with https_peer(leaf, tmp_path / "impostor") as impostor:
            try:
                with pytest.raises(DriveOffline, match="refused: its certificate does not verify"):
                    await ping(peers, impostor)
            finally:
                await peers.close_all()
        [line] = refusals(caplog, impostor)
        assert "mismatch" in line and "127.0.0.1" in line, line

    with caplog.at_level(logging.INFO, logger=LOGGER):
        asyncio.run(main())


def test_a_changed_ca_crt_is_used_for_new_connections_without_a_restart(
        ca: TestCA, other_ca: TestCA, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The trust bundle is rotated as a mounted Secret is: by swapping the ``..data`` symlink."""
    tls = tls_dir(tmp_path / "tls", ca)
    settings = make_settings(tls_path=str(tls), tls_reload_seconds=RELOAD_SECONDS)

    async def main() -> None:
        peers = Peers(settings)
        async with https_peer(ca.issue(["127.0.0.1"]), tmp_path / "old") as old, \
                https_peer(other_ca.issue(["127.0.0.1"]), tmp_path / "new") as new:
            try:
                assert await ping(peers, old) == "pong"
                with pytest.raises(DriveOffline, match="refused"):
                    await ping(peers, new)
                tls_dir(tls, ca, other_ca)            # both CAs trusted while the cluster moves over
                assert await ping(peers, new) == "pong", "the new CA was not picked up"
                assert await ping(peers, old) == "pong"
                tls_dir(tls, other_ca)                # the old CA retired
                deadline = time.monotonic() + 10 * RELOAD_SECONDS + 5
                while True:
                    try:
                        await ping(peers, old)
                    except DriveOffline as exc:
                        assert "refused: its certificate does not verify" in str(exc), exc
                        break
                    assert time.monotonic() < deadline, "a retired CA is still trusted"
                    await asyncio.sleep(0.1)
                assert await ping(peers, new) == "pong"
            finally:
                await peers.close_all()
        assert len(refusals(caplog, new)) == 1 and len(refusals(caplog, old)) == 1

    with caplog.at_level(logging.INFO, logger=LOGGER):
        asyncio.run(main())


# --- real engine processes ------------------------------------------------------------------------------
class TlsNode:
    """One engine process serving HTTPS from its own TLS directory, in the README's local form."""

    def __init__(self, root: Path, port: int, drives: list[str]) -> None:
        self.port, self.drives = port, drives
        self.tls = root / f"tls-{port}"
        self.log_path = root / f"node-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def certify(self, ca: TestCA) -> None:
        """This node's certificate from ``ca``, which is also the only CA it trusts for its peers."""
        write_secret_volume(self.tls, tls_files(ca.issue(["127.0.0.1", "localhost"]), ca))

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
        env.update(RUSTFS_ACCESS_KEY=ACCESS_KEY, RUSTFS_SECRET_KEY=SECRET_KEY, RUSTFS_TLS_PATH=str(self.tls),
                   RUSTFS_DRIVE_TIMEOUT_SECONDS="5", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "storage_engine", "server", "--address", f"127.0.0.1:{self.port}",
                 *self.drives], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def stop(self) -> None:
        stop_process(self.proc, 15)

    def ready(self) -> int:
        """The readiness answer over HTTPS (any certificate: this asks for state, not trust); 0 if none."""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        try:
            with urllib.request.urlopen(f"{self.url}/rustfs/health/ready", timeout=2, context=context) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def tls_nodes(tmp_path: Path) -> Iterator[list[TlsNode]]:
    import socket

    sockets = [socket.socket() for _ in range(3)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    drives = [f"https://127.0.0.1:{port}{tmp_path}/n{n}/d{d}" for n, port in enumerate(ports) for d in range(2)]
    nodes = [TlsNode(tmp_path, port, drives) for port in ports]
    yield nodes
    for node in nodes:
        node.stop()


def wait_until(condition: Callable[[], bool], what: str, nodes: list[TlsNode], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n.url}\n{n.log()[-3000:]}" for n in nodes)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        for node in nodes:
            assert node.proc is None or node.proc.poll() is None, f"{node.url} exited\n{node.log()[-3000:]}"
        time.sleep(0.2)


def test_nodes_of_one_ca_form_a_cluster_and_a_node_of_another_is_refused(
        ca: TestCA, other_ca: TestCA, tmp_path: Path, tls_nodes: list[TlsNode]) -> None:
    """Three nodes over HTTPS: with certificates of one CA they serve one namespace to a client that trusts
    only that CA; the third restarted with another CA's certificate is refused by the other two (logged), so
    its drives stay offline to them and it never gets ready, while they go on serving."""
    for node in tls_nodes:
        node.certify(ca)
        node.start()
    wait_until(lambda: all(n.ready() == 200 for n in tls_nodes), "all nodes ready over HTTPS", tls_nodes)
    bundle = str(ca.bundle(tmp_path / "client-ca.pem"))

    def client(node: TlsNode) -> Any:
        return boto3.client("s3", endpoint_url=node.url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1", verify=bundle,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    first, second, stranger = tls_nodes
    client(first).create_bucket(Bucket="tls")
    body = os.urandom(3 * 1024 * 1024 + 5)               # erasure-coded across all three nodes' drives
    client(second).put_object(Bucket="tls", Key="before", Body=body)
    assert client(stranger).get_object(Bucket="tls", Key="before")["Body"].read() == body

    stranger.stop()
    stranger.certify(other_ca)
    stranger.start()
    refusal = f"refusing peer {stranger.url}: its certificate does not verify"
    wait_until(lambda: refusal in first.log() and refusal in second.log(),
               "both nodes to refuse the stranger", tls_nodes)
    wait_until(lambda: "refusing peer https://127.0.0.1:" in stranger.log(), "the stranger to refuse them",
               tls_nodes)
    assert stranger.ready() == 503, stranger.log()[-3000:]     # it reaches none of its peers' drives
    assert first.ready() == 200 and second.ready() == 200      # 4 of 6 drives: still a quorum
    assert client(first).get_object(Bucket="tls", Key="before")["Body"].read() == body
    client(first).put_object(Bucket="tls", Key="during", Body=b"written without the stranger")
    assert client(second).get_object(Bucket="tls", Key="during")["Body"].read() == b"written without the stranger"
    # The stranger's drives stayed out of that write: nothing reached them.
    assert not any((tmp_path / "n2").rglob("during.xl.meta"))
    assert all(any((tmp_path / f"n{n}").rglob("during.xl.meta")) for n in (0, 1))
