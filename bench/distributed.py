"""Benchmark: a 4-node x 2-drive cluster on loopback against the single-node engine (4 drives, EC:2).

One run measures, back to back: the single-node engine of a baseline revision (default: the commit
before distributed mode, taken with ``git archive`` and run from a snapshot), the single-node engine of
this tree, and the cluster of this tree (every node given the same endpoint list, clients on node 1).
Figures: PUT and GET of 4 KiB (c16) and 64 MiB (c16), LIST of 10,000 keys. Ratios printed: this tree's
single node against the baseline (issue 7 allows at most a 10% drop) and the cluster against the
single node.

    .venv/bin/python bench/distributed.py [--quick] [--baseline-rev REV]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import ACCESS_KEY, KIB, MIB, SECRET_KEY, Result, Targets, populate, run_wrk, write_requests  # noqa: E402
from servers import REPO, Cluster, Engine, Server  # noqa: E402

BASELINE_REV = "0b48b69"


def snapshot(rev: str, into: Path) -> Path:
    """The engine package of ``rev``, extracted to run with PYTHONPATH (the installed deps are shared)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "storage_engine"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def measure(server: Server, work: Path, quick: bool) -> dict[str, Result | float]:
    targets = Targets(server)
    dur = 4.0 if quick else 8.0
    big_dur = 8.0 if quick else 15.0
    out: dict[str, Result | float] = {}

    def requests(method: str, keys: list[str], tag: str) -> Path:
        return write_requests(work / f"{server.name}-{tag}-{method}.txt",
                              [f"{method} {targets.path(method, k)}" for k in keys])

    small = [f"small/{i:05d}" for i in range(2000)]
    out["4KiB PUT c16"] = run_wrk(server, requests("PUT", small, "4k"), 4 * KIB, 16, dur)
    populate(server, [targets.path("PUT", k) for k in small], 4 * KIB)
    out["4KiB GET c16"] = run_wrk(server, requests("GET", small, "4k"), 0, 16, dur)
    big = [f"64MiB/{i:02d}" for i in range(16)]
    put_file, get_file = requests("PUT", big, "64m"), requests("GET", big, "64m")
    populate(server, [targets.path("PUT", k) for k in big], 64 * MIB, workers=4)
    out["64MiB PUT c16"] = run_wrk(server, put_file, 64 * MIB, 16, big_dur)
    out["64MiB GET c16"] = run_wrk(server, get_file, 0, 16, big_dur)
    populate(server, [targets.path("PUT", f"list/{i:05d}") for i in range(10_000)], 16)
    out["LIST 10k keys (s)"] = min(targets.list_seconds("list") for _ in range(3))
    return out


def keep_best(best: dict[str, Result | float], new: dict[str, Result | float]) -> None:
    """Fold one run into the best so far: highest throughput, shortest LIST."""
    for name, value in new.items():
        old = best.get(name)
        if old is None:
            best[name] = value
        elif isinstance(value, float) and isinstance(old, float):
            best[name] = min(old, value)
        elif (figure(value, name) or 0) > (figure(old, name) or 0):
            best[name] = value


def figure(value: Result | float | None, name: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, Result):
        return value
    return value.ops_per_s if name.startswith("4KiB") else value.mb_per_s


def report(results: dict[str, dict[str, Result | float]]) -> None:
    base, single, cluster = (results.get(k, {}) for k in ("baseline", "engine", "cluster"))
    print()
    print(f"{'figure':20} {'baseline':>12} {'single':>12} {'cluster':>12} {'single/base':>12} {'cluster/single':>15}")
    for name in single or base or cluster:
        b, s, c = (figure(r.get(name), name) for r in (base, single, cluster))
        unit = "s" if name.startswith("LIST") else ("op/s" if name.startswith("4KiB") else "MB/s")

        def show(v: float | None) -> str:
            return "-" if v is None else (f"{v:.3f} {unit}" if unit == "s" else f"{v:,.0f} {unit}")

        def ratio(a: float | None, b_: float | None) -> str:
            if a is None or b_ is None or not b_:
                return "-"
            return f"{(b_ / a if unit == 's' else a / b_):.2f}"     # >1 is better, for times too
        errors = sum(r.errors for r in (base.get(name), single.get(name), cluster.get(name))
                     if isinstance(r, Result))
        print(f"{name:20} {show(b):>12} {show(s):>12} {show(c):>12} {ratio(s, b):>12} {ratio(c, s):>15}"
              + (f"  ERRORS {errors}" if errors else ""))
    print("(ratios > 1 are better; for LIST the ratio is time of the reference / time measured)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help=f"baseline revision (default {BASELINE_REV})")
    parser.add_argument("--skip-baseline", action="store_true", help="do not measure the baseline revision")
    parser.add_argument("--repeat", type=int, default=1,
                        help="alternate baseline and single node this many times and keep the best of each "
                             "(this machine's figures vary by 30%% from run to run)")
    parser.add_argument("--skip-cluster", action="store_true", help="do not measure the cluster")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="rustfs-bench-dist-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    results: dict[str, dict[str, Result | float]] = {}
    try:
        snap = None if args.skip_baseline else snapshot(args.baseline_rev, base / "snapshot")
        sides: list[Server] = []
        for round_ in range(args.repeat):
            if snap is not None:
                sides.append(Engine(base / f"baseline{round_}", ACCESS_KEY, SECRET_KEY, workers=1,
                                    env={"PYTHONPATH": str(snap)}, name="baseline"))
            sides.append(Engine(base / f"engine{round_}", ACCESS_KEY, SECRET_KEY, workers=1))
        if not args.skip_cluster:
            sides.append(Cluster(base / "cluster", ACCESS_KEY, SECRET_KEY, nodes=4, drives=2))
        for server in sides:
            with server:
                print(f"== {server.name}", flush=True)
                keep_best(results.setdefault(server.name, {}), measure(server, base, args.quick))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
