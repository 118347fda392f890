"""Drive topology: ellipsis expansion and the split of a pool's drives into erasure sets.

``/data{1...4}`` expands to ``/data1 .. /data4``; ``http://n{1...2}:9000/d{1...2}`` to four drives, the
rightmost pattern varying fastest. Each argument (or space-separated expression) is one pool.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from storage_engine.config import EngineSettings, PoolTierSpec

_ELLIPSIS = re.compile(r"\{([0-9a-fA-F]+)\.\.\.([0-9a-fA-F]+)\}")

# Largest set MinIO and RustFS allow; sets are sized to divide the pool evenly.
MAX_SET_SIZE = 16


def expand(expression: str) -> list[str]:
    """Expand every ``{a...b}`` in ``expression``; zero padding of ``a`` is kept (``{01...16}``)."""
    parts = _ELLIPSIS.split(expression)
    literals = parts[0::3]
    ranges: list[list[str]] = []
    for start, end in zip(parts[1::3], parts[2::3]):
        hexa = any(c in "abcdefABCDEF" for c in start + end)
        base = 16 if hexa else 10
        lo, hi = int(start, base), int(end, base)
        if lo > hi:
            raise ValueError(f"bad ellipsis range {{{start}...{end}}} in {expression!r}")
        width = len(start) if start.startswith("0") and len(start) > 1 else 0
        fmt = f"{{:0{width}{'x' if hexa else 'd'}}}"
        ranges.append([fmt.format(i) for i in range(lo, hi + 1)])
    if not ranges:
        return [expression]
    out = []
    for combo in itertools.product(*ranges):
        s = literals[0]
        for value, literal in zip(combo, literals[1:]):
            s += value + literal
        out.append(s)
    return out


@dataclass(frozen=True)
class Pool:
    """One pool: its drives, split into erasure sets of equal size."""

    drives: tuple[str, ...]
    set_size: int

    @property
    def sets(self) -> list[tuple[str, ...]]:
        return [self.drives[i:i + self.set_size] for i in range(0, len(self.drives), self.set_size)]


def choose_set_size(drive_count: int) -> int:
    """The largest divisor of ``drive_count`` that is at most MAX_SET_SIZE (all drives when <= 16)."""
    for size in range(min(drive_count, MAX_SET_SIZE), 0, -1):
        if drive_count % size == 0:
            return size
    return 1


def parse_pools(arguments: list[str]) -> list[Pool]:
    """Turn CLI drive arguments (or RUSTFS_VOLUMES split on spaces) into pools.

    Arguments with ellipses are one pool each; plain paths given one by one form a single pool.
    """
    arguments = [a for a in arguments if a]
    if not arguments:
        raise ValueError("no drives given: pass DRIVES... or set RUSTFS_VOLUMES")
    if not any(_ELLIPSIS.search(a) for a in arguments):
        groups = [arguments]
    else:
        if not all(_ELLIPSIS.search(a) for a in arguments):
            raise ValueError("mixing ellipsis expressions and plain drive paths is not supported")
        groups = [expand(a) for a in arguments]
    pools = []
    for drives in groups:
        if len(set(drives)) != len(drives):
            raise ValueError(f"duplicate drives in {drives}")
        pools.append(Pool(tuple(drives), choose_set_size(len(drives))))
    _check_disjoint(pools, "a drive appears in two pools")
    return pools


def _check_disjoint(pools: list[Pool], message: str) -> None:
    seen: set[str] = set()
    for pool in pools:
        if seen & set(pool.drives):
            raise ValueError(message)
        seen |= set(pool.drives)


def warm_pool_count(settings: EngineSettings) -> int:
    return sum(1 for tier in settings.tiers if isinstance(tier, PoolTierSpec))


def all_pools(settings: EngineSettings) -> list[Pool]:
    """The hot pools of ``volumes``, then one pool per warm tier (``tiers`` of type ``pool``), in order.

    Every node opens them all alike (formats, health, remote drives); the object layer writes only the
    hot ones (``objects.layer.open_object_layer``)."""
    hot = parse_pools(settings.volumes.split())
    warm = [tier.drives for tier in settings.tiers if isinstance(tier, PoolTierSpec)]
    if not warm:
        return hot
    pools = hot[:]
    for expression in warm:
        found = parse_pools(expression.split())
        if len(found) != 1:
            raise ValueError(f"a warm tier is one pool: {expression!r} makes {len(found)}")
        pools += found
    _check_disjoint(pools, "a drive appears in two pools (or in a pool and a warm tier)")
    return pools
