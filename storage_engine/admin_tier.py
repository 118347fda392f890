"""``python -m storage_engine tier ...``: the tiers of a running server (``POST/GET/PUT/DELETE
/rustfs/admin/v3/tier``, root credentials from the settings)::

    tier ls                                    every tier: name, kind, where, declared or added
    tier add NAME --url URL --bucket B [--prefix P] [--region R] [--storage-class C] [--addressing path|virtual]
             --access-key K --secret-key-file FILE ('-': standard input; never on the command line)
    tier verify NAME                           put, read back and delete a probe key
    tier rm NAME                               an added tier that no version lives on

Exit status: 0; 1 when the server refuses (its message) or the tier does not answer; 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from storage_engine.admin_client import post
from storage_engine.config import EngineSettings

PATH = "/rustfs/admin/v3/tier"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:  # pyright: ignore[reportPrivateUsage]
    tier = sub.add_parser("tier", help="list, add, verify and remove the tiers of a running server")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoint", default=None,
                        help="server URL (default http://127.0.0.1:<port of RUSTFS_ADDRESS>)")
    ops = tier.add_subparsers(dest="op", required=True)
    ops.add_parser("ls", help="list the tiers", parents=[common])
    add = ops.add_parser("add", help="add a cold tier: a bucket (and prefix) on an S3-compatible service",
                         parents=[common])
    add.add_argument("name", help="the storage class lifecycle rules name, e.g. COLD")
    add.add_argument("--endpoint-url", "--url", dest="url", required=True, help="http(s)://host[:port] of the service")
    add.add_argument("--bucket", required=True)
    add.add_argument("--prefix", default="")
    add.add_argument("--region", default="us-east-1")
    add.add_argument("--storage-class", default="STANDARD", help="x-amz-storage-class of the objects put there")
    add.add_argument("--addressing", choices=("path", "virtual"), default="path",
                     help="path-style, or virtual-hosted-style (the bucket in the host name: OSS, COS)")
    add.add_argument("--access-key", required=True)
    add.add_argument("--secret-key-file", required=True, help="file holding the secret key ('-': standard input)")
    ops.add_parser("verify", help="probe a tier: put, read back and delete a small key",
                   parents=[common]).add_argument("name")
    ops.add_parser("rm", help="remove an added tier no object version lives on", parents=[common]).add_argument("name")


def run(settings: EngineSettings, args: argparse.Namespace) -> int:
    if args.op == "ls":
        answer = _call(settings, args.endpoint, "GET", PATH)
        if isinstance(answer, int):
            return answer
        for tier in answer.get("tiers", []):
            where = f"{tier.get('endpoint', '')}/{tier.get('bucket', '')}/{tier.get('prefix', '')}" \
                if tier.get("kind") == "s3" else "pool"
            origin = "declared" if tier.get("declared") else "added"
            print(f"{tier['name']}\t{tier['kind']}\t{origin}\t{where}")
        return 0
    if args.op == "add":
        try:
            secret = (sys.stdin.read() if args.secret_key_file == "-" else
                      open(args.secret_key_file, encoding="utf-8").read()).strip()
        except OSError as exc:
            print(f"error: cannot read the secret key: {exc}", file=sys.stderr)
            return 2
        doc = {"name": args.name, "endpoint": args.url, "bucket": args.bucket, "prefix": args.prefix,
               "region": args.region, "storage_class": args.storage_class, "addressing": args.addressing,
               "access_key": args.access_key,
               "secret_key": secret}
        answer = _call(settings, args.endpoint, "PUT", PATH, json.dumps(doc).encode())
        if isinstance(answer, int):
            return answer
        print(f"tier {args.name} added")
        return 0
    name = quote(args.name, safe="")
    if args.op == "rm":
        answer = _call(settings, args.endpoint, "DELETE", f"{PATH}/{name}")
        if isinstance(answer, int):
            return answer
        print(f"tier {args.name} removed")
        return 0
    answer = _call(settings, args.endpoint, "POST", f"{PATH}/{name}/verify")
    if isinstance(answer, int):
        return answer
    if not answer.get("online"):
        print(f"tier {args.name}: offline: {answer.get('error', '')}", file=sys.stderr)
        return 1
    print(f"tier {args.name}: online")
    return 0


def _call(settings: EngineSettings, endpoint: str | None, method: str, path: str,
          body: bytes = b"") -> dict[str, Any] | int:
    answer = post(settings, endpoint, path, body, {"content-type": "application/json"} if body else None,
                  method=method)
    if isinstance(answer, int):
        return answer
    status, data = answer
    if status == 204:
        return {}
    if status != 200:
        message = data.decode("utf-8", "replace")
        start, end = message.find("<Message>"), message.find("</Message>")
        print(f"error: {message[start + 9:end] if start >= 0 < end else message[:300]}", file=sys.stderr)
        return 1
    try:
        return dict(json.loads(data))
    except (ValueError, TypeError):
        print(f"error: unexpected response: {data[:200]!r}", file=sys.stderr)
        return 1
