"""Command line: ``python -m storage_engine server [--address HOST:PORT] DRIVES...`` and ``heal``.

Flags override ``RUSTFS_*`` environment variables (see ``config.py``).
"""

from __future__ import annotations

import argparse
import secrets
import sys

from pydantic import SecretStr, ValidationError

from storage_engine.config import EngineSettings
from storage_engine.topology import parse_pools


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m storage_engine", description="S3-compatible storage engine")
    sub = parser.add_subparsers(dest="command", required=True)
    server = sub.add_parser("server", help="serve the S3 API over DRIVES")
    server.add_argument("--address", help="HOST:PORT to listen on (RUSTFS_ADDRESS, default :9000)")
    server.add_argument("drives", nargs="*", help="drives, with ellipsis expansion, e.g. /data{1...4} (RUSTFS_VOLUMES)")
    heal = sub.add_parser("heal", help="heal a bucket, or everything, on a running server and report")
    heal.add_argument("--endpoint", default=None, help="server URL (default http://127.0.0.1:<port of RUSTFS_ADDRESS>)")
    heal.add_argument("bucket", nargs="?", default=None, help="bucket to heal (default: all)")
    return parser


def _settings(args: argparse.Namespace) -> EngineSettings:
    overrides: dict[str, object] = {}
    if getattr(args, "address", None):
        overrides["address"] = args.address
    if getattr(args, "drives", None):
        overrides["volumes"] = " ".join(args.drives)
    return EngineSettings(**overrides)  # type: ignore[arg-type]


def _ensure_credentials(settings: EngineSettings) -> EngineSettings:
    """Generate root credentials when none are configured, and print them once."""
    if settings.access_key and settings.secret_key.get_secret_value():
        return settings
    access = settings.access_key or "rustfs-" + secrets.token_hex(6)
    secret = settings.secret_key.get_secret_value() or secrets.token_urlsafe(30)
    print(f"Root credentials (generated; set RUSTFS_ACCESS_KEY/RUSTFS_SECRET_KEY to choose them):\n"
          f"  access key: {access}\n  secret key: {secret}", flush=True)
    return settings.model_copy(update={"access_key": access, "secret_key": SecretStr(secret)})


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        print(f"invalid settings:\n{exc}", file=sys.stderr)
        return 2
    if args.command == "server":
        try:
            pools = parse_pools(settings.volumes.split())
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        from storage_engine.server import run_server

        return run_server(_ensure_credentials(settings), pools)
    if args.command == "heal":
        from storage_engine.admin_client import heal

        return heal(settings, endpoint=args.endpoint, bucket=args.bucket)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
