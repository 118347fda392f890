"""Bucket usage as the usage scanner (``objects/scanner.py``) last computed it: the config store record
``usage/buckets``, JSON, one per cluster, so every node reports the same figures.

    {"completed": 1767225600.0, "duration": 0.42,
     "buckets": {"photos": {"objects": 12, "versions": 14, "bytes": 73400320}}}

``objects``: keys whose latest version is not a delete marker; ``versions``: every version that is not a
delete marker (current and noncurrent); ``bytes``: the sizes of those versions (what clients stored, before
erasure coding).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

USAGE_KIND = "usage"
USAGE_NAME = "buckets"


@dataclass(slots=True)
class BucketUsage:
    objects: int = 0
    versions: int = 0
    bytes: int = 0


@dataclass(slots=True)
class UsageReport:
    completed: float = 0.0             # end of the scan, seconds since the epoch
    duration: float = 0.0              # seconds the scan took, pauses included
    buckets: dict[str, BucketUsage] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps({
            "completed": self.completed, "duration": self.duration,
            "buckets": {name: {"objects": u.objects, "versions": u.versions, "bytes": u.bytes}
                        for name, u in sorted(self.buckets.items())},
        }, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> UsageReport | None:
        """The record, or None when it is not one (written by a newer engine, or damaged)."""
        try:
            doc: Any = json.loads(data)
            return cls(float(doc["completed"]), float(doc["duration"]),
                       {str(name): BucketUsage(int(u["objects"]), int(u["versions"]), int(u["bytes"]))
                        for name, u in doc["buckets"].items()})
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
