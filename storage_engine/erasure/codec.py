"""Reed-Solomon coding of one block into ``k`` data and ``m`` parity fragments.

pyeclib's ``isa_l_rs_cauchy`` (ISA-L, bundled in the wheel) recovered every loss pattern tried, where
``isa_l_rs_vand`` failed some at larger parity counts. Its fragments carry an 80-byte header (index,
payload size, original length), so a fragment alone says what it is. ``m == 0`` (EC:0, single-drive
sets) cannot go through pyeclib; those blocks are just split into ``k`` pieces.

pyeclib holds the GIL and must be given ``bytes`` (a memoryview crashes the C library), so callers pass
bytes and call from the event loop thread.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
import struct

from pyeclib.ec_iface import ECDriver  # type: ignore[import-untyped]


class Codec:
    __slots__ = ("k", "m", "n", "_driver")

    def __init__(self, k: int, m: int) -> None:
        if k < 1 or m < 0:
            raise ValueError(f"invalid erasure code {k}+{m}")
        self.k, self.m, self.n = k, m, k + m
        self._driver = ECDriver(k=k, m=m, ec_type="isa_l_rs_cauchy") if m else None

    def encode(self, block: bytes) -> list[bytes]:
        """``n`` fragments of ``block`` (shard index order: data first, then parity)."""
        if self._driver is None:
            size = self.fragment_size(len(block))
            return [block[i * size:(i + 1) * size].ljust(size, b"\0") for i in range(self.k)]
        return self._driver.encode(block)

    def decode(self, fragments: Mapping[int, bytes | memoryview], length: int) -> bytes:
        """The block of ``length`` bytes from at least ``k`` fragments keyed by shard index."""
        if self._driver is None:
            return b"".join(fragments[i] for i in range(self.k))[:length]
        chosen = sorted(fragments)[: self.k]
        if chosen[-1] == self.k - 1:
            return _join_data_fragments([fragments[i] for i in chosen], length)
        data = self._driver.decode([bytes(fragments[i]) for i in chosen])
        if len(data) != length:
            raise ValueError(f"decoded {len(data)} bytes, expected {length}")
        return data

    def data_views(self, fragments: Mapping[int, bytes | memoryview], length: int) -> list[memoryview] | None:
        """The block as views into its data fragments (no copy), or None unless all ``k`` are at hand."""
        if any(i not in fragments for i in range(self.k)):
            return None
        views: list[memoryview] = []
        left = length
        for i in range(self.k):
            fragment = fragments[i]
            if self._driver is None:
                payload = memoryview(fragment)
            else:
                size = _PAYLOAD_SIZE.unpack_from(fragment, 4)[0]
                payload = memoryview(fragment)[_HEADER:_HEADER + size]
            payload = payload[:left]
            left -= len(payload)
            if payload:
                views.append(payload)
        if left:
            raise ValueError(f"data fragments hold {length - left} bytes, expected {length}")
        return views

    def reconstruct(self, fragments: Mapping[int, bytes | memoryview], missing: list[int]) -> dict[int, bytes]:
        """Rebuild the fragments at shard indexes ``missing`` from at least ``k`` others."""
        if self._driver is None:
            raise ValueError("nothing to reconstruct from without parity")
        chosen = sorted(fragments)[: self.k]
        rebuilt = self._driver.reconstruct([bytes(fragments[i]) for i in chosen], missing)
        return dict(zip(missing, rebuilt))

    def fragment_size(self, block_length: int) -> int:
        return _fragment_size(self.k, self.m, block_length)


# liberasurecode's fragment header: u32 index, u32 payload size, ... ; the payload follows at byte 80.
_HEADER = 80
_PAYLOAD_SIZE = struct.Struct("<I")


def _join_data_fragments(fragments: list[bytes | memoryview], length: int) -> bytes:
    """The block from its data fragments alone: the code is systematic, so the block is just their
    payloads end to end (one copy, and cheaper than a decode call)."""
    parts = []
    for fragment in fragments:
        size = _PAYLOAD_SIZE.unpack_from(fragment, 4)[0]
        parts.append(memoryview(fragment)[_HEADER:_HEADER + size])
    data = b"".join(parts)
    if len(data) < length:
        raise ValueError(f"data fragments hold {len(data)} bytes, expected {length}")
    return data[:length] if len(data) != length else data


@functools.lru_cache(maxsize=4096)
def _fragment_size(k: int, m: int, block_length: int) -> int:
    if m == 0:
        return -(-block_length // k)
    if block_length == 0:
        return 80
    driver = get_codec(k, m)._driver
    assert driver is not None
    return int(driver.get_segment_info(block_length, block_length)["fragment_size"])


@functools.lru_cache(maxsize=64)
def get_codec(k: int, m: int) -> Codec:
    return Codec(k, m)
