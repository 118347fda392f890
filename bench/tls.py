"""Benchmark: the engine over its own HTTPS against the same engine over plain HTTP, in one run.

Two engines (4 drives, EC:2), one serving plain HTTP and one serving HTTPS from ``RUSTFS_TLS_PATH``
with a certificate of a throwaway CA (EC P-256, made with ``cryptography``), are driven the same way
as ``bench/run.py`` drives the engine: wrk replaying presigned URLs (wrk speaks TLS itself, so the
client's cost is the same kind on both sides). Figures: 64 MiB PUT and GET, MB/s at concurrency 1 and
16, each printed for http and https with the ratio https/http (issue 9's target: >= 0.8).

Run: ``.venv/bin/python bench/tls.py`` (``--seconds N`` per figure, default 10).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import shutil
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from run import ACCESS_KEY, MIB, SECRET_KEY, Result, Targets, run_wrk, write_requests  # noqa: E402
from servers import Engine  # noqa: E402
from tls_helpers import TestCA, write_tls_dir  # noqa: E402  # pyright: ignore[reportMissingImports]

SIZE = 64 * MIB


class TlsEngine(Engine):
    """The engine with ``RUSTFS_TLS_PATH`` set: its URL is https and readiness is probed over TLS."""

    def __init__(self, root: Path, tls_dir: Path, context: ssl.SSLContext, workers: int | None) -> None:
        super().__init__(root, ACCESS_KEY, SECRET_KEY, workers=workers, env={"RUSTFS_TLS_PATH": str(tls_dir)},
                         name="https")
        self.context = context

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


def populate(server: Engine, paths: list[str], context: ssl.SSLContext | None) -> None:
    """PUT every path once, 64 MiB each, streamed (``run.populate`` over http or https)."""

    def body():
        chunk = b"y" * MIB
        for _ in range(SIZE // MIB):
            yield chunk

    def put(path: str) -> None:
        conn = (http.client.HTTPSConnection(server.host, server.port, timeout=120, context=context)
                if context is not None else http.client.HTTPConnection(server.host, server.port, timeout=120))
        conn.request("PUT", path, body=body(), headers={"Content-Length": str(SIZE)})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        if resp.status >= 300:
            raise RuntimeError(f"populate PUT {path.split('?')[0]} -> {resp.status}")

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(put, paths))


def python_put_mb_per_s(server: Engine, paths: list[str], context: ssl.SSLContext | None, conc: int,
                        seconds: float) -> float:
    """PUT throughput with Python's http.client (OpenSSL in C, one 1 MiB buffer re-sent): a cheaper TLS
    client than wrk, whose TLS writes of a 64 MiB body cost it most of a core."""
    chunk = memoryview(b"y" * MIB)

    def worker(index: int) -> int:
        sent, deadline, i = 0, time.monotonic() + seconds, index
        conn = (http.client.HTTPSConnection(server.host, server.port, timeout=120, context=context)
                if context is not None else http.client.HTTPConnection(server.host, server.port, timeout=120))
        while time.monotonic() < deadline:
            conn.putrequest("PUT", paths[i % len(paths)], skip_accept_encoding=True)
            conn.putheader("Content-Length", str(SIZE))
            conn.endheaders()
            for _ in range(SIZE // MIB):
                conn.send(chunk)
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"PUT -> {resp.status}")
            sent += SIZE
            i += conc
        conn.close()
        return sent

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(conc) as pool:
        total = sum(pool.map(worker, range(conc)))
    return total / (time.monotonic() - started) / 1e6


def bench(server: Engine, work: Path, context: ssl.SSLContext | None, seconds: float) -> dict[str, Result]:
    targets = Targets(server)
    keys = [f"64MiB/{i:02d}" for i in range(16)]
    put_file = write_requests(work / f"{server.name}-PUT.txt", [f"PUT {targets.path('PUT', k)}" for k in keys])
    get_file = write_requests(work / f"{server.name}-GET.txt", [f"GET {targets.path('GET', k)}" for k in keys])
    populate(server, [targets.path("PUT", k) for k in keys], context)
    results: dict[str, Result] = {}
    for conc in (1, 16):
        # 16 connections move 1 GiB per round: give them rounds enough to count.
        duration = seconds if conc == 1 else 3 * seconds
        results[f"64MiB PUT c{conc}"] = run_wrk(server, put_file, SIZE, conc, duration)
        results[f"64MiB GET c{conc}"] = run_wrk(server, get_file, 0, conc, duration)
    for conc in (1, 4):
        python_put[server.name, conc] = python_put_mb_per_s(
            server, [targets.path("PUT", k) for k in keys], context, conc, seconds)
    return results


python_put: dict[tuple[str, int], float] = {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration of each figure")
    workers = os.environ.get("RUSTFS_WORKERS")
    parser.add_argument("--workers", type=int, default=int(workers) if workers else None,
                        help="engine worker processes (RUSTFS_WORKERS; default: the engine's)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="rustfs-bench-tls-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    ca = TestCA("bench CA")
    write_tls_dir(base / "tls", ca.issue(["127.0.0.1", "localhost"]), ca)
    ca_file = ca.bundle(base / "ca.pem")
    os.environ["AWS_CA_BUNDLE"] = str(ca_file)          # Targets' boto3 client (bucket creation)
    context = ca.client_context()
    results: dict[str, dict[str, Result]] = {}
    try:
        plain = Engine(base / "plain", ACCESS_KEY, SECRET_KEY, workers=args.workers, name="http")
        tls = TlsEngine(base / "secure", base / "tls", context, args.workers)
        for server, ctx in ((plain, None), (tls, context)):
            with server:
                print(f"== {server.name} ({server.url})", flush=True)
                results[server.name] = bench(server, base, ctx, args.seconds)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print()
    print(f"{'figure':16} {'http':>12} {'https':>12} {'https/http':>11}   client CPU, server CPU (http / https)")
    for name, h in results["http"].items():
        s = results["https"][name]
        errors = h.errors + s.errors
        ratio = f"{s.mb_per_s / h.mb_per_s:>11.2f}" if h.mb_per_s else f"{'-':>11}"
        print(f"{name:16} {h.mb_per_s:>7,.0f} MB/s {s.mb_per_s:>7,.0f} MB/s {ratio}   "
              f"{h.client_cpu:.2f} / {s.client_cpu:.2f}, {h.server_cpu:.2f} / {s.server_cpu:.2f}"
              + (f"  ERRORS {errors}" if errors else ""))
    for conc in (1, 4):
        h, t = python_put[("http", conc)], python_put[("https", conc)]
        print(f"{f'64MiB PUT c{conc} py':16} {h:>7,.0f} MB/s {t:>7,.0f} MB/s {t / h:>11.2f}   (http.client)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
