"""Benchmark: 4 KiB GET and PUT ops/s with observability on against off, in one run (issue 12's target: >= 0.9).

Two engines (4 drives, EC:2) driven as ``bench/run.py`` drives the engine (wrk replaying presigned URLs
over plain HTTP, concurrency 16):

- ``on``: the audit log POSTed to a webhook (a local sink on loopback that answers 200 to every batch,
  counting the records), and the request metrics (always on), scraped once at the end;
- ``off``: the same source with both switched off: no audit target (``RUSTFS_AUDIT_STDOUT=false``, no
  webhook) and no request metrics (``RUSTFS_METRICS_ENABLED=false``). With ``--baseline-rev REV`` the
  ``off`` engine runs the engine's source at git revision REV instead (e.g. the commit before issue 12's
  observability; that also counts whatever else changed since).

Both engines run side by side and the figures alternate (off, on, off, on, ...) for ``--rounds`` rounds,
so a machine busy with something else slows both alike; each figure keeps its best round, and the ratio of
the two sides' median rounds is printed too (less swayed by one lucky round on this noisy VM). Prints ops/s,
p99 and the server's CPU of both and the ratios on/off, then the records the sink got and the engine's
delivered / dropped counters.

Run: ``.venv/bin/python bench/observability.py`` (``--seconds N`` per figure, default 8).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import ACCESS_KEY, KIB, SECRET_KEY, Result, Targets, populate, run_wrk, write_requests  # noqa: E402
from servers import REPO, Engine, Server  # noqa: E402

METRICS_TOKEN = "bench-metrics-token"
SIZE = 4 * KIB
CONNECTIONS = 16


class Sink:
    """A loopback webhook that answers 200 to every POST and counts the NDJSON records it got."""

    def __init__(self) -> None:
        self.records = 0
        self.posts = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"          # keep-alive, as a real collector

            def do_POST(self) -> None:      # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink._lock:
                    sink.records += body.count(b"\n")
                    sink.posts += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base name)
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/audit"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def snapshot(rev: str, into: Path) -> Path:
    """The engine's source at ``rev`` (git archive), for PYTHONPATH."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "storage_engine"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def request_files(server: Server, work: Path) -> dict[str, tuple[Path, int]]:
    """The figures' wrk request files (and body sizes); the GETs' objects are written here."""
    targets = Targets(server)
    keys = [f"small/{i:05d}" for i in range(2000)]
    put_file = write_requests(work / f"{server.name}-PUT.txt", [f"PUT {targets.path('PUT', k)}" for k in keys])
    get_file = write_requests(work / f"{server.name}-GET.txt", [f"GET {targets.path('GET', k)}" for k in keys])
    populate(server, [targets.path("PUT", k) for k in keys], SIZE)
    return {"4KiB PUT c16": (put_file, SIZE), "4KiB GET c16": (get_file, 0)}


def audit_counters(server: Server) -> dict[str, float]:
    request = urllib.request.Request(f"{server.url}/rustfs/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for name in ("rustfs_audit_records_total", "rustfs_audit_records_dropped_total"):
        match = re.search(rf'^{name}{{target="webhook"}} (\S+)$', text, re.M)
        found[name] = float(match.group(1)) if match else float("nan")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="wrk duration of each figure and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; each figure keeps its best")
    parser.add_argument("--baseline-rev", default="",
                        help="git revision whose engine is the 'off' side (default: this source, audit and "
                             "metrics off)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="rustfs-bench-obs-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    sink = Sink()
    results: dict[str, dict[str, Result]] = {}
    rounds: dict[tuple[str, str], list[float]] = {}
    counters: dict[str, float] = {}
    sink_cpu: dict[str, list[float]] = {}
    try:
        off_env = {"RUSTFS_AUDIT_STDOUT": "false", "RUSTFS_METRICS_ENABLED": "false"}
        if args.baseline_rev:
            off_env["PYTHONPATH"] = str(snapshot(args.baseline_rev, base / "baseline-src"))
        on_env = {"RUSTFS_AUDIT_STDOUT": "false", "RUSTFS_AUDIT_WEBHOOK_URL": sink.url,
                  "RUSTFS_METRICS_TOKEN": METRICS_TOKEN}
        with Engine(base / "off", ACCESS_KEY, SECRET_KEY, env=off_env, name="off") as off, \
                Engine(base / "on", ACCESS_KEY, SECRET_KEY, env=on_env, name="on") as on:
            servers = {"off": off, "on": on}
            files = {name: request_files(server, base) for name, server in servers.items()}
            for round_ in range(1, args.rounds + 1):
                for figure in files["off"]:
                    for name, server in servers.items():
                        path, size = files[name][figure]
                        cpu, started = time.process_time(), time.monotonic()   # this process: the sink
                        result = run_wrk(server, path, size, CONNECTIONS, args.seconds)
                        sink_cpu.setdefault(name, []).append((time.process_time() - cpu) / (time.monotonic() - started))
                        print(f"round {round_} {figure} {name}: {result.ops_per_s:,.0f} op/s", flush=True)
                        rounds.setdefault((name, figure), []).append(result.ops_per_s)
                        best = results.setdefault(name, {}).get(figure)
                        if best is None or result.ops_per_s > best.ops_per_s:
                            results[name][figure] = result
            counters = audit_counters(on)
    except subprocess.CalledProcessError as exc:
        print(f"error: git archive {args.baseline_rev}: {exc.stderr.decode().strip()}", file=sys.stderr)
        return 1
    finally:
        sink.close()
        shutil.rmtree(base, ignore_errors=True)
    print()
    baseline = f"engine at {args.baseline_rev}" if args.baseline_rev else "audit and metrics off"
    print(f"{'figure':14} {'off':>12} {'on':>12} {'on/off':>7} {'median':>7}   p99 off / on      server CPU off / on   "
          f"(off: {baseline})")
    for figure, off in results["off"].items():
        on = results["on"][figure]
        errors = off.errors + on.errors
        medians = statistics.median(rounds[("on", figure)]) / statistics.median(rounds[("off", figure)])
        print(f"{figure:14} {off.ops_per_s:>8,.0f} op/s {on.ops_per_s:>8,.0f} op/s "
              f"{on.ops_per_s / off.ops_per_s:>7.2f} {medians:>7.2f}   {off.p99_ms:5.1f} / {on.p99_ms:5.1f} ms   "
              f"{off.server_cpu:.2f} / {on.server_cpu:.2f}" + (f"  ERRORS {errors}" if errors else ""))
    print(f"audit: {sink.records:,} records in {sink.posts:,} POSTs received; the engine counted "
          f"{counters.get('rustfs_audit_records_total', float('nan')):,.0f} delivered, "
          f"{counters.get('rustfs_audit_records_dropped_total', float('nan')):,.0f} dropped; the sink (this "
          f"process) used {statistics.mean(sink_cpu.get('on', [0.0])):.2f} cores while the 'on' side ran, "
          f"{statistics.mean(sink_cpu.get('off', [0.0])):.2f} while 'off' did")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
