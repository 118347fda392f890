"""Benchmark: encrypted against plain PUT and GET of 64 MiB objects, in one run (issue 10's target: >= 0.8).

Three engines (4 drives, EC:2) are driven the same way as ``bench/run.py`` drives the engine (wrk
replaying presigned URLs over plain HTTP): one storing plaintext, one encrypting every object (SSE-S3 by
``RUSTFS_KMS_AUTO_ENCRYPTION``, the static KMS key it creates on first start) with AES-256-GCM, one with
ChaCha20-Poly1305. Each figure prints MB/s for the three and the ratios encrypted/plain, with the client's
and the server's CPU. Before measuring, a HEAD checks that the encrypted engines really encrypt.

Run: ``.venv/bin/python bench/encryption.py`` (``--seconds N`` per figure, default 10).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import ACCESS_KEY, MIB, SECRET_KEY, Result, Targets, populate, run_wrk, write_requests  # noqa: E402
from servers import Engine  # noqa: E402

SIZE = 64 * MIB
ENGINES = {
    "plain": {"RUSTFS_KMS_AUTO_ENCRYPTION": "false"},
    "aes": {"RUSTFS_KMS_AUTO_ENCRYPTION": "true", "RUSTFS_SSE_CIPHER": "AES256-GCM"},
    "chacha": {"RUSTFS_KMS_AUTO_ENCRYPTION": "true", "RUSTFS_SSE_CIPHER": "CHACHA20-POLY1305"},
}


def check_encryption(targets: Targets, key: str, expected: str | None) -> None:
    """HEAD ``key``: the encryption the engine reports must be the one this engine is measured for."""
    assert targets.s3 is not None
    found = targets.s3.head_object(Bucket="bench", Key=key).get("ServerSideEncryption")
    if found != expected:
        raise RuntimeError(f"{targets.server.name}: object stored with encryption {found!r}, expected {expected!r}")


def bench(server: Engine, work: Path, seconds: float, encrypted: bool) -> dict[str, Result]:
    targets = Targets(server)
    keys = [f"64MiB/{i:02d}" for i in range(8)]
    put_file = write_requests(work / f"{server.name}-PUT.txt", [f"PUT {targets.path('PUT', k)}" for k in keys])
    get_file = write_requests(work / f"{server.name}-GET.txt", [f"GET {targets.path('GET', k)}" for k in keys])
    populate(server, [targets.path("PUT", k) for k in keys], SIZE, workers=4)
    check_encryption(targets, keys[0], "AES256" if encrypted else None)
    results: dict[str, Result] = {}
    for conc in (1, 4):
        duration = seconds if conc == 1 else 2 * seconds
        results[f"64MiB PUT c{conc}"] = run_wrk(server, put_file, SIZE, conc, duration)
        results[f"64MiB GET c{conc}"] = run_wrk(server, get_file, 0, conc, duration)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration of each c1 figure")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="rustfs-bench-sse-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    results: dict[str, dict[str, Result]] = {}
    try:
        for name, env in ENGINES.items():
            with Engine(base / name, ACCESS_KEY, SECRET_KEY, env=env, name=name) as server:
                print(f"== {name} ({server.url})", flush=True)
                results[name] = bench(server, base, args.seconds, encrypted=name != "plain")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print()
    print(f"{'figure':14} {'plain':>10} {'AES-GCM':>10} {'ChaCha20':>10} {'aes/plain':>10} {'chacha/plain':>13}"
          "   server CPU (plain / aes / chacha)")
    for figure, plain in results["plain"].items():
        aes, chacha = results["aes"][figure], results["chacha"][figure]
        errors = plain.errors + aes.errors + chacha.errors
        print(f"{figure:14} {plain.mb_per_s:>5,.0f} MB/s {aes.mb_per_s:>5,.0f} MB/s {chacha.mb_per_s:>5,.0f} MB/s "
              f"{aes.mb_per_s / plain.mb_per_s:>10.2f} {chacha.mb_per_s / plain.mb_per_s:>13.2f}   "
              f"{plain.server_cpu:.2f} / {aes.server_cpu:.2f} / {chacha.server_cpu:.2f}"
              + (f"  ERRORS {errors}" if errors else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
