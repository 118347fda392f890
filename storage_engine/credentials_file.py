"""Root credentials the engine generated, kept with the drives so that a restart keeps them.

::

    <drive>/.rustfs.sys/root-credentials.json    {"access_key": ..., "secret_key": ...}, mode 0600

Only generated credentials are stored (local drives, no ``RUSTFS_ACCESS_KEY``/``RUSTFS_SECRET_KEY``);
credentials from the environment never touch the disk. Every local drive gets a copy, written
atomically, and a read takes the first drive, in command-line order, that has a readable one.
The file does not make a drive count as "holding data" (``LocalDrive.is_unused``), so storing it
before the first format is safe.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Sequence

from storage_engine.auth.credentials import Credentials
from storage_engine.drives import paths
from storage_engine.drives.atomic import fsync_dir, write_all

FILE_NAME = "root-credentials.json"


def path_on(drive: str) -> str:
    return os.path.join(drive, paths.SYS_VOLUME, FILE_NAME)


def generate() -> Credentials:
    return Credentials("rustfs-" + secrets.token_hex(6), secrets.token_urlsafe(30), is_root=True)


def load(drives: Sequence[str]) -> Credentials | None:
    """The credentials stored on the first drive with a readable copy; None when no drive has one."""
    for drive in drives:
        try:
            with open(path_on(drive), "rb") as f:
                doc = json.loads(f.read(64 * 1024))
            access, secret = doc["access_key"], doc["secret_key"]
        except (OSError, ValueError, KeyError, TypeError):
            continue                       # missing, unreadable or damaged: try the next drive
        if isinstance(access, str) and isinstance(secret, str) and access and secret:
            return Credentials(access, secret, is_root=True)
    return None


def missing(drives: Sequence[str]) -> list[str]:
    """Drives without a copy (new or replaced since the credentials were generated)."""
    return [d for d in drives if not os.path.lexists(path_on(d))]


def store(drives: Sequence[str], credentials: Credentials) -> dict[str, OSError]:
    """Write ``credentials`` on every drive; returns the drives that failed, with their error."""
    data = json.dumps({"access_key": credentials.access_key, "secret_key": credentials.secret_key}).encode()
    failures: dict[str, OSError] = {}
    for drive in drives:
        try:
            _write_private(path_on(drive), data)
        except OSError as exc:
            failures[drive] = exc
    return failures


def _write_private(target: str, data: bytes) -> None:
    """Replace ``target`` with ``data`` atomically and durably; readable by the owner only."""
    directory = os.path.dirname(target)
    os.makedirs(directory, 0o755, exist_ok=True)
    tmp = os.path.join(directory, f".{FILE_NAME}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, target)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)
