"""AEAD package streams: the encrypted form of one part's bytes (FORMAT.md, "Package stream"). Pure, no I/O.

A stream cuts plaintext into packages of ``PACKAGE_SIZE`` bytes (the last may be shorter; an empty
stream is zero packages). A stored package is ``header(16) || ciphertext || tag(16)``::

    byte 0      0x01 (format)
    byte 1      cipher id (Cipher)
    bytes 2-3   payload length - 1, u16 little-endian
    bytes 4-15  the stream nonce: 12 random bytes, the same in every package of the stream

The AEAD nonce of package ``i`` is the stream nonce with bytes 8..11 XOR ``u32le(i)`` and, on the
stream's final package only, byte 0 XOR 0x80. The AAD is ``header[0:4]``. So a package read at another
index, from another stream, after the final one, or with a changed cipher or length fails authentication.

``seal`` and ``open_packages`` are pure and thread-safe. Each call builds its output in one preallocated buffer;
``seal_into`` / ``open_into`` write into the caller's buffer instead.
"""

from __future__ import annotations

import enum
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

__all__ = [
    "FORMAT", "HEADER", "MAX_PACKAGES", "NONCE", "OVERHEAD", "PACKAGE_SIZE", "STORED_PACKAGE", "TAG",
    "Cipher", "PackageError", "cipher_by_name", "new_stream_nonce", "open_into", "open_packages",
    "package_count", "plain_size_of", "plain_to_packages", "seal", "seal_into", "stored_size", "stored_span",
]

FORMAT = 0x01                    # header byte 0
PACKAGE_SIZE = 65536             # plaintext bytes per package (the last of a stream may be shorter)
HEADER = 16
TAG = 16
OVERHEAD = HEADER + TAG          # 32 stored bytes per package on top of its plaintext
STORED_PACKAGE = PACKAGE_SIZE + OVERHEAD
NONCE = 12
MAX_PACKAGES = 1 << 32           # the index is a u32: 256 TiB per stream
KEY_SIZE = 32

_FINAL = 0x80                    # XORed into the AEAD nonce's byte 0 on the final package
_HEADER = struct.Struct("<BBH12s")
_INTO = hasattr(AESGCM, "encrypt_into") and hasattr(ChaCha20Poly1305, "decrypt_into")


class Cipher(enum.IntEnum):
    """The AEAD of a stream; the value is the header's byte 1 and the envelope's ``"c"``."""

    AES_256_GCM = 0
    CHACHA20_POLY1305 = 1


_NAMES = {"AES256-GCM": Cipher.AES_256_GCM, "CHACHA20-POLY1305": Cipher.CHACHA20_POLY1305}
_AEADS: dict[int, type[AESGCM] | type[ChaCha20Poly1305]] = {
    Cipher.AES_256_GCM: AESGCM, Cipher.CHACHA20_POLY1305: ChaCha20Poly1305}


class PackageError(Exception):
    """Stored packages are malformed or fail authentication (tampering, truncation, a wrong key)."""


def cipher_by_name(name: str) -> Cipher:
    """``"AES256-GCM"`` or ``"CHACHA20-POLY1305"`` (the ``sse_cipher`` setting's spelling) -> Cipher."""
    try:
        return _NAMES[name.upper()]
    except KeyError:
        raise ValueError(f"unknown cipher {name!r}: expected one of {', '.join(_NAMES)}") from None


def package_count(plain_size: int) -> int:
    """Packages in a stream of ``plain_size`` plaintext bytes (0 for an empty stream)."""
    if plain_size < 0:
        raise ValueError(f"negative size {plain_size}")
    return -(-plain_size // PACKAGE_SIZE)


def stored_size(plain_size: int) -> int:
    """Stored bytes of a stream of ``plain_size`` plaintext bytes: ``plain_size + 32 * packages``."""
    return plain_size + OVERHEAD * package_count(plain_size)


def plain_size_of(stored: int) -> int:
    """The inverse of ``stored_size``; raises PackageError for a size no stream can have (truncation)."""
    full, rest = divmod(stored, STORED_PACKAGE)
    if stored < 0 or 0 < rest <= OVERHEAD:
        raise PackageError(f"{stored} bytes is not the size of a package stream")
    return full * PACKAGE_SIZE + (rest - OVERHEAD if rest else 0)


def plain_to_packages(offset: int, length: int) -> tuple[int, int]:
    """Plaintext ``[offset, offset + length)`` -> (first, last) package covering it, both inclusive.

    ``length == 0`` gives ``(p, p - 1)``: zero packages. Clamping to the object's size is the caller's.
    """
    if offset < 0 or length < 0:
        raise ValueError(f"invalid range: offset {offset}, length {length}")
    first = offset // PACKAGE_SIZE
    if length == 0:
        return first, first - 1
    return first, (offset + length - 1) // PACKAGE_SIZE


def stored_span(plain_size: int, offset: int, length: int) -> tuple[int, int]:
    """Within one stream of ``plain_size`` bytes: plaintext ``[offset, offset + length)`` -> (stored
    offset, stored length) of the whole packages that cover it. The range must lie inside the stream."""
    if offset < 0 or length < 0 or offset + length > plain_size:
        raise ValueError(f"range {offset}+{length} outside a stream of {plain_size} bytes")
    first, last = plain_to_packages(offset, length)
    if last < first:
        return first * STORED_PACKAGE, 0
    end = min((last + 1) * PACKAGE_SIZE, plain_size)
    return first * STORED_PACKAGE, end - first * PACKAGE_SIZE + OVERHEAD * (last - first + 1)


def new_stream_nonce() -> bytes:
    """12 random bytes: a fresh nonce for every stream (never derived from anything)."""
    return os.urandom(NONCE)


def _aead(key: bytes, cipher: int) -> AESGCM | ChaCha20Poly1305:
    if len(key) != KEY_SIZE:
        raise ValueError(f"a package key is {KEY_SIZE} bytes, not {len(key)}")
    return _AEADS[cipher](key)


def seal(key: bytes, cipher: Cipher, nonce: bytes, first_index: int, plain: bytes | bytearray | memoryview,
         final: bool) -> bytes:
    """Encrypt packages ``first_index..`` of one stream.

    ``len(plain)`` is a multiple of ``PACKAGE_SIZE`` unless ``final``; with ``final`` the last package
    produced carries the final flag (an empty ``plain`` with ``final`` gives ``b""``: the stream's final
    package must then have been sealed by an earlier call, or the stream is empty).
    """
    out = bytearray(len(plain) + OVERHEAD * package_count(len(plain)))
    seal_into(key, cipher, nonce, first_index, plain, final, out)
    return bytes(out)


def seal_into(key: bytes, cipher: Cipher, nonce: bytes, first_index: int, plain: bytes | bytearray | memoryview,
              final: bool, out: bytearray | memoryview) -> int:
    """``seal`` into the caller's buffer (at least ``stored_size(len(plain))`` bytes); returns the bytes written."""
    size = len(plain)
    count = package_count(size)
    if len(nonce) != NONCE:
        raise ValueError(f"a stream nonce is {NONCE} bytes, not {len(nonce)}")
    if not final and size % PACKAGE_SIZE:
        raise ValueError(f"{size} bytes: only the final call of a stream may seal a short package")
    if first_index < 0 or first_index + count > MAX_PACKAGES:
        raise ValueError(f"package index {first_index}+{count} outside 0..2^32")
    need = size + OVERHEAD * count
    if len(out) < need:
        raise ValueError(f"output buffer of {len(out)} bytes, {need} needed")
    aead = _aead(key, cipher)
    src = memoryview(plain).cast("B")
    dst = memoryview(out).cast("B")
    base = int.from_bytes(nonce, "little")
    pack_header = _HEADER.pack_into
    pos = 0
    for n, start in enumerate(range(0, size, PACKAGE_SIZE)):
        index = first_index + n
        length = min(PACKAGE_SIZE, size - start)
        iv = base ^ (index << 64)
        if final and n == count - 1:
            iv ^= _FINAL
        pack_header(dst, pos, FORMAT, cipher, length - 1, nonce)
        out_span = dst[pos + HEADER:pos + HEADER + length + TAG]
        if _INTO:
            aead.encrypt_into(iv.to_bytes(NONCE, "little"), src[start:start + length], dst[pos:pos + 4], out_span)
        else:  # an older cryptography without encrypt_into
            out_span[:] = aead.encrypt(iv.to_bytes(NONCE, "little"), src[start:start + length], dst[pos:pos + 4])
        pos += length + OVERHEAD
    return pos


def _plan(stored_len: int, first_index: int, total_packages: int) -> tuple[int, int]:
    """(packages, plaintext bytes) of ``stored_len`` bytes of whole packages from ``first_index`` on."""
    if first_index < 0 or total_packages > MAX_PACKAGES:
        raise ValueError(f"package index {first_index} of {total_packages}")
    full, rest = divmod(stored_len, STORED_PACKAGE)
    count = full + (1 if rest else 0)
    if 0 < rest <= OVERHEAD:
        raise PackageError(f"{stored_len} stored bytes are not whole packages")
    if first_index + count > total_packages:
        raise PackageError(f"packages {first_index}..{first_index + count - 1} past the stream's "
                           f"{total_packages} packages")
    if rest and first_index + count != total_packages:
        raise PackageError(f"short package {first_index + count - 1} is not the stream's last "
                           f"({total_packages - 1})")
    return count, full * PACKAGE_SIZE + (rest - OVERHEAD if rest else 0)


def open_packages(key: bytes, first_index: int, stored: bytes | bytearray | memoryview, total_packages: int,
                  *, nonce: bytes | None = None, cipher: Cipher | None = None) -> bytes:
    """Whole stored packages ``first_index..`` of a stream of ``total_packages`` packages -> plaintext.

    Checks the format byte, a known cipher (``cipher`` if given, else one cipher across the call), the
    lengths (only the stream's last package may be short), one nonce across the call (``nonce`` if the
    caller knows the stream's), and the final flag exactly on package ``total_packages - 1``.
    Raises PackageError (never returns unauthenticated bytes).
    """
    _, size = _plan(len(stored), first_index, total_packages)
    out = bytearray(size)
    open_into(key, first_index, stored, total_packages, out, nonce=nonce, cipher=cipher)
    return bytes(out)


def open_into(key: bytes, first_index: int, stored: bytes | bytearray | memoryview, total_packages: int,
              out: bytearray | memoryview, *, nonce: bytes | None = None, cipher: Cipher | None = None) -> int:
    """``open_packages`` into the caller's buffer; returns the plaintext bytes written. On PackageError
    the buffer holds garbage: never use it."""
    src = memoryview(stored).cast("B")
    count, size = _plan(len(src), first_index, total_packages)
    if len(out) < size:
        raise ValueError(f"output buffer of {len(out)} bytes, {size} needed")
    if count == 0:
        return 0
    fmt, cid, _, stream_nonce = _HEADER.unpack_from(src, 0)
    if fmt != FORMAT:
        raise PackageError(f"package {first_index}: unknown format {fmt:#04x}")
    if cid not in _AEADS:
        raise PackageError(f"package {first_index}: unknown cipher {cid}")
    if cipher is not None and cid != cipher:
        raise PackageError(f"package {first_index}: cipher {cid}, the object's is {int(cipher)}")
    if nonce is not None and nonce != stream_nonce:
        raise PackageError(f"package {first_index}: not of this stream (nonce)")
    aead = _aead(key, cid)
    dst = memoryview(out).cast("B")
    base = int.from_bytes(stream_nonce, "little")
    last = total_packages - 1
    unpack_header = _HEADER.unpack_from
    pos = opos = 0
    for index in range(first_index, first_index + count):
        f, c, n, iv_bytes = unpack_header(src, pos)
        length = n + 1
        if f != FORMAT or c != cid or iv_bytes != stream_nonce:
            what = "format" if f != FORMAT else "cipher" if c != cid else "nonce"
            raise PackageError(f"package {index}: {what} differs from the stream's")
        if length != min(PACKAGE_SIZE, size - opos):
            raise PackageError(f"package {index}: length {length} does not match the stored size")
        iv = base ^ (index << 64)
        if index == last:
            iv ^= _FINAL
        try:
            if _INTO:
                aead.decrypt_into(iv.to_bytes(NONCE, "little"), src[pos + HEADER:pos + HEADER + length + TAG],
                                  src[pos:pos + 4], dst[opos:opos + length])
            else:  # an older cryptography without decrypt_into
                dst[opos:opos + length] = aead.decrypt(iv.to_bytes(NONCE, "little"),
                                                       src[pos + HEADER:pos + HEADER + length + TAG], src[pos:pos + 4])
        except InvalidTag:
            raise PackageError(f"package {index} of {total_packages} fails authentication") from None
        pos += length + OVERHEAD
        opos += length
    return opos
