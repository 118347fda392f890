"""Node-to-node TLS (issue 9, docs/tls.md): https peers are verified against ``<tls_path>/ca.crt``.

The client side runs in-process against small HTTPS peers (any TLS server will do: a refusal happens in
the handshake); a peer whose certificate does not verify, for its CA or its host name, is refused
(``DriveOffline``) with one log line, and a changed ``ca.crt`` (a Secret volume's ``..data`` swap) is
used for new connections without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgpack
import pytest
from aiohttp import web

from storage_engine.cluster.rpc_client import Peers
from storage_engine.drives.base import DriveOffline
from tests.tls_helpers import CA_FILE, Leaf, TestCA, write_secret_volume

from .conftest import make_settings

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
