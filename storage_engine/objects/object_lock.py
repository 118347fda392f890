"""S3 Object Lock (WORM): the rules, over a bucket's lock configuration and a version's lock fields.

A bucket with object lock keeps a ``LockConfig`` in its record (``BucketMeta.object_lock``): lock enabled,
and maybe a default retention (mode and days or years) that every new version gets unless its write names
a retention of its own. A version keeps its retention (``Version.lock_mode``, ``Version.lock_until``) and
legal hold (``Version.legal_hold``) in its metadata (docs/object-lock.md).

A version is *protected* while its legal hold is ON or its retain-until date is in the future. A protected
version is never removed: not by a DELETE with its version id, not by DeleteObjects, not by an overwrite
in place, not by lifecycle; GOVERNANCE retention alone yields to a caller that asks to bypass it and is
allowed ``s3:BypassGovernanceRetention``; COMPLIANCE yields to nobody, root included. The checks run under
the key's lock on the metadata as it is then, so every node of a cluster decides the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from storage_engine import errors
from storage_engine.erasure.metadata import Version

LockMode = Literal["GOVERNANCE", "COMPLIANCE"]
MODES: tuple[LockMode, ...] = ("GOVERNANCE", "COMPLIANCE")
DAY = 86400.0
YEAR_DAYS = 365

NO_LOCK_CONFIG = "Bucket is missing Object Lock Configuration"
PROTECTED = "Access Denied because object protected by object lock."


@dataclass(frozen=True, slots=True)
class LockConfig:
    """A bucket's object lock configuration: enabled (it exists), with an optional default retention."""

    mode: LockMode | None = None          # default retention mode; None: no default retention
    days: int = 0                         # exactly one of days / years when mode is set
    years: int = 0

    def pack(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"e": True}
        if self.mode is not None:
            doc["m"] = self.mode
            if self.days:
                doc["d"] = self.days
            if self.years:
                doc["y"] = self.years
        return doc

    @classmethod
    def unpack(cls, doc: Any) -> LockConfig:
        if not isinstance(doc, dict):
            raise errors.InternalError("damaged object lock configuration")
        mode = doc.get("m")
        return cls(mode if mode in MODES else None, int(doc.get("d", 0)), int(doc.get("y", 0)))

    def default_until(self, now: float) -> float:
        """The retain-until date of a version written at ``now`` under the default retention (0: none)."""
        if self.mode is None:
            return 0.0
        return now + (self.days + self.years * YEAR_DAYS) * DAY


@dataclass(frozen=True, slots=True)
class LockRequest:
    """What a write asks for (the ``x-amz-object-lock-*`` headers), checked at the edge."""

    mode: LockMode | None = None
    until: float = 0.0
    legal_hold: bool | None = None


def new_version_lock(config: LockConfig | None, request: LockRequest | None,
                     now: float) -> tuple[str, float, bool | None]:
    """(mode, retain-until, legal hold) of a new version: the request's, else the bucket's default retention.
    InvalidRequest when the request asks for a lock the bucket does not have."""
    if config is None:
        if request is not None:
            raise errors.InvalidRequest(NO_LOCK_CONFIG)
        return "", 0.0, None
    if request is not None and request.mode is not None:
        return request.mode, request.until, request.legal_hold
    hold = request.legal_hold if request is not None else None
    if config.mode is not None:
        return config.mode, config.default_until(now), hold
    return "", 0.0, hold


def is_protected(version: Version, now: float | None = None) -> bool:
    """Whether the version may not be removed by anyone (a bypass aside: ``check_removable``)."""
    if version.delete_marker:
        return False
    if version.legal_hold:
        return True
    return bool(version.lock_mode) and version.lock_until > (time.time() if now is None else now)


def check_removable(removed: Iterable[Version], *, bypass_governance: bool = False,
                    now: float | None = None) -> None:
    """AccessDenied when any of ``removed`` is protected (GOVERNANCE alone yields to a bypass)."""
    now = time.time() if now is None else now
    for version in removed:
        if not is_protected(version, now):
            continue
        if version.legal_hold or version.lock_mode == "COMPLIANCE" or not bypass_governance:
            raise errors.AccessDenied(PROTECTED)


def change_retention(version: Version, mode: LockMode | None, until: float, *, bypass_governance: bool,
                     now: float | None = None) -> Version:
    """PutObjectRetention on one version: a COMPLIANCE retention can only be extended (same mode); a
    GOVERNANCE one can be extended or made COMPLIANCE, and shortened, removed or relaxed only with a bypass.
    An expired retention can be replaced by anything."""
    now = time.time() if now is None else now
    if version.lock_mode and version.lock_until > now:
        shorter = mode is None or until < version.lock_until
        if version.lock_mode == "COMPLIANCE":
            if shorter or mode != "COMPLIANCE":
                raise errors.AccessDenied(PROTECTED)
        elif shorter and not bypass_governance:
            raise errors.AccessDenied(PROTECTED)
    return replace(version, lock_mode=mode or "", lock_until=until if mode is not None else 0.0)
