"""Command line: ``python -m storage_engine server [--address HOST:PORT] DRIVES...``, ``heal``,
``kms-rewrap``, ``ilm-run``, ``credentials``, ``admin`` (users, groups, policies, service accounts:
admin_iam.py) and ``tier`` (tiers: admin_tier.py).

Flags override ``RUSTFS_*`` environment variables (see ``config.py``).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from pydantic import SecretStr, ValidationError

from storage_engine import admin_iam, admin_tier, credentials_file
from storage_engine.config import EngineSettings
from storage_engine.topology import Pool, all_pools


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m storage_engine", description="S3-compatible storage engine")
    sub = parser.add_subparsers(dest="command", required=True)
    server = sub.add_parser("server", help="serve the S3 API over DRIVES")
    server.add_argument("--address", help="HOST:PORT to listen on (RUSTFS_ADDRESS, default :9000)")
    server.add_argument("--region", help="the only region signatures may be scoped to (RUSTFS_REGION; default: "
                                         "any, reported as us-east-1)")
    server.add_argument("--tier", action="append", default=[], metavar="NAME=DRIVES",
                        help="a warm tier on its own drives, e.g. warm=/hdd{1...4} (its name, upper-cased, is the "
                             "storage class lifecycle rules transition to); adds to RUSTFS_TIERS")
    server.add_argument("drives", nargs="*", help="drives, with ellipsis expansion, e.g. /data{1...4} (RUSTFS_VOLUMES)")
    heal = sub.add_parser("heal", help="heal a bucket, or everything, on a running server and report")
    heal.add_argument("--endpoint", default=None, help="server URL (default http://127.0.0.1:<port of RUSTFS_ADDRESS>)")
    heal.add_argument("bucket", nargs="?", default=None, help="bucket to heal (default: all)")
    rewrap = sub.add_parser("kms-rewrap", help="re-wrap the data keys of a bucket, or all, under the KMS keys' "
                                               "newest versions (after a key rotation) on a running server")
    rewrap.add_argument("--endpoint", default=None,
                        help="server URL (default http://127.0.0.1:<port of RUSTFS_ADDRESS>)")
    rewrap.add_argument("bucket", nargs="?", default=None, help="bucket to re-wrap (default: all)")
    ilm = sub.add_parser("ilm-run", help="apply the lifecycle rules of a bucket, or all, now on a running server "
                                         "(the scanner applies them on every pass anyway)")
    ilm.add_argument("--endpoint", default=None, help="server URL (default http://127.0.0.1:<port of RUSTFS_ADDRESS>)")
    ilm.add_argument("bucket", nargs="?", default=None, help="bucket whose rules to apply (default: all)")
    creds = sub.add_parser("credentials", help="print the root credentials the engine generated and keeps on DRIVES")
    creds.add_argument("--export", action="store_true",
                       help="print them as a shell command setting AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    creds.add_argument("drives", nargs="*", help="the server's drives, as given to it (RUSTFS_VOLUMES)")
    admin_iam.add_parser(sub)
    admin_tier.add_parser(sub)
    return parser


def _settings(args: argparse.Namespace) -> EngineSettings:
    overrides: dict[str, object] = {}
    if getattr(args, "address", None):
        overrides["address"] = args.address
    if getattr(args, "region", None):
        overrides["region"] = args.region
    if getattr(args, "drives", None):
        overrides["volumes"] = " ".join(args.drives)
    settings = EngineSettings(**overrides)  # type: ignore[arg-type]
    flags = getattr(args, "tier", None) or []
    if flags:
        tiers = [*settings.tiers, *(_warm_tier(flag) for flag in flags)]
        settings = EngineSettings(**overrides, tiers=[t.model_dump() for t in tiers])  # type: ignore[arg-type]
    return settings


def _warm_tier(flag: str) -> dict[str, str]:
    name, sep, drives = flag.partition("=")
    return {"type": "pool", "name": name.strip().upper() if sep else "", "drives": drives.strip()}


class _Refused(Exception):
    """The command cannot go on: ``str(exc)`` is the message, ``status`` the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _is_remote(drive: str) -> bool:
    return drive.startswith(("http://", "https://"))


def _read_again_command(settings: EngineSettings) -> str:
    drives = " ".join(shlex.quote(d) for d in settings.volumes.split())
    return f"{shlex.quote(sys.executable)} -m storage_engine credentials {drives}"


def _ensure_credentials(settings: EngineSettings, pools: list[Pool]) -> EngineSettings:
    """Root credentials: the environment's; else (local drives only) those kept on the drives; else
    new ones, stored on the drives and printed this once."""
    access, secret = settings.access_key, settings.secret_key.get_secret_value()
    if access and secret:
        return settings                    # never written to disk
    if access or secret:
        raise _Refused("set both RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY, or neither", 2)
    drives = [d for pool in pools for d in pool.drives]
    if any(_is_remote(d) for d in drives):
        # Each node would invent its own: give every node the same ones (the component's Secret).
        raise _Refused("remote drives need the root credentials from the environment: set "
                       "RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY, the same on every node", 2)
    stored = credentials_file.load(drives)
    if stored is not None:
        failures = credentials_file.store(credentials_file.missing(drives), stored)
        print(f"Root credentials: access key {stored.access_key}, kept with the drives; print them with:\n"
              f"  {_read_again_command(settings)}", flush=True)
    else:
        stored = credentials_file.generate()
        failures = credentials_file.store(drives, stored)
        if len(failures) == len(drives):
            raise _Refused(f"cannot store the generated root credentials on any drive: {failures[drives[0]]}", 1)
        print(f"Root credentials (generated; set RUSTFS_ACCESS_KEY/RUSTFS_SECRET_KEY to choose them):\n"
              f"  access key: {stored.access_key}\n  secret key: {stored.secret_key}\n"
              f"They are kept with the drives ({credentials_file.FILE_NAME}); print them again with:\n"
              f"  {_read_again_command(settings)}", flush=True)
    for drive, exc in failures.items():
        print(f"warning: cannot store the root credentials on {drive}: {exc}", file=sys.stderr)
    return settings.model_copy(update={"access_key": stored.access_key, "secret_key": SecretStr(stored.secret_key)})


def _print_credentials(settings: EngineSettings, pools: list[Pool], export: bool) -> int:
    drives = [d for pool in pools for d in pool.drives]
    stored = credentials_file.load(drives)
    if stored is None:
        print("error: no stored root credentials on these drives (the engine stores only credentials it "
              "generated; set ones come from RUSTFS_ACCESS_KEY/RUSTFS_SECRET_KEY)", file=sys.stderr)
        return 1
    if settings.access_key or settings.secret_key.get_secret_value():
        print("note: RUSTFS_ACCESS_KEY/RUSTFS_SECRET_KEY are set; a server started with them uses those instead",
              file=sys.stderr)
    if export:
        print(f"export AWS_ACCESS_KEY_ID={shlex.quote(stored.access_key)} "
              f"AWS_SECRET_ACCESS_KEY={shlex.quote(stored.secret_key)}")
    else:
        print(f"access key: {stored.access_key}\nsecret key: {stored.secret_key}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        print(f"invalid settings:\n{exc}", file=sys.stderr)
        return 2
    if args.command in ("server", "credentials"):
        try:
            pools = all_pools(settings)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.command == "credentials":
            return _print_credentials(settings, pools, args.export)
        try:
            settings = _ensure_credentials(settings, pools)
        except _Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.status
        if settings.lifecycle_defaults:  # checked before serving, as the IAM bootstrap below
            from storage_engine.lifecycle.defaults import check_defaults

            try:
                check_defaults(settings.lifecycle_defaults)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        if settings.iam_bootstrap_file:  # checked before serving: a bad document or missing secret stops here
            from storage_engine.iam.bootstrap import BootstrapError, load_bootstrap

            try:
                load_bootstrap(settings.iam_bootstrap_file)
            except BootstrapError as exc:
                print(f"error: IAM bootstrap: {exc}", file=sys.stderr)
                return 2
        from storage_engine.server import run_server

        return run_server(settings, pools)
    if args.command == "heal":
        from storage_engine.admin_client import heal

        return heal(settings, endpoint=args.endpoint, bucket=args.bucket)
    if args.command == "kms-rewrap":
        from storage_engine.admin_client import kms_rewrap

        return kms_rewrap(settings, endpoint=args.endpoint, bucket=args.bucket)
    if args.command == "ilm-run":
        from storage_engine.admin_client import ilm_run

        return ilm_run(settings, endpoint=args.endpoint, bucket=args.bucket)
    if args.command == "admin":
        return admin_iam.run(settings, args)
    if args.command == "tier":
        return admin_tier.run(settings, args)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
