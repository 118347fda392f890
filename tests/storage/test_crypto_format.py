"""The on-disk encryption format (storage_engine/crypto/FORMAT.md): package streams, object keys, envelope.

Pure functions, no servers. The fixed vectors at the end freeze the format: changing any of them makes
every stored encrypted object unreadable, so they change only with a new format byte / envelope version.
"""

from __future__ import annotations

import hashlib
import os
import random
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from storage_engine.crypto import keys, packages
from storage_engine.crypto.envelope import Envelope, EnvelopeError
from storage_engine.crypto.keys import KeyUnsealError
from storage_engine.crypto.packages import (
    OVERHEAD, PACKAGE_SIZE, STORED_PACKAGE, Cipher, PackageError, open_packages, package_count,
    plain_to_packages, seal, stored_size)

P = PACKAGE_SIZE
KEY = bytes(range(32))
CIPHERS = list(Cipher)


def _stream(plain: bytes, cipher: Cipher = Cipher.AES_256_GCM, key: bytes = KEY,
            nonce: bytes | None = None) -> tuple[bytes, bytes]:
    nonce = nonce or packages.new_stream_nonce()
    return nonce, seal(key, cipher, nonce, 0, plain, True)


def _open(stored: bytes | bytearray, total: int | None = None, key: bytes = KEY) -> bytes:
    if total is None:
        total = package_count(packages.plain_size_of(len(stored)))
    return open_packages(key, 0, stored, total)


def _pkgs(stored: bytes) -> list[bytes]:
    return [stored[i:i + STORED_PACKAGE] for i in range(0, len(stored), STORED_PACKAGE)]


# --- round trips and sizes -------------------------------------------------------------------------

@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda c: c.name)
@pytest.mark.parametrize("size", [0, 1, P - 1, P, P + 1, 3 * P, 3 * P + 12345])
def test_round_trip(cipher: Cipher, size: int) -> None:
    plain = os.urandom(size)
    _, stored = _stream(plain, cipher)
    assert len(stored) == stored_size(size) == size + OVERHEAD * package_count(size)
    assert packages.plain_size_of(len(stored)) == size
    assert _open(stored) == plain
    if size >= 16:
        assert plain[:16] not in stored                       # ciphertext, not the plaintext


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda c: c.name)
def test_round_trip_random_sizes_in_chunked_calls(cipher: Cipher) -> None:
    """A writer seals whole packages per call and the final call seals the rest: the same bytes as one call."""
    rng = random.Random(10)
    for _ in range(8):
        size = rng.randrange(0, 5 * P)
        plain = os.urandom(size)
        nonce = packages.new_stream_nonce()
        whole = seal(KEY, cipher, nonce, 0, plain, True)
        cut = rng.randrange(0, size // P + 1) * P if size else 0
        parts = seal(KEY, cipher, nonce, 0, plain[:cut], False) + seal(KEY, cipher, nonce, cut // P, plain[cut:], True)
        assert parts == whole
        assert _open(whole) == plain


def test_stored_size_formula() -> None:
    for n in [0, 1, P - 1, P, P + 1, 2 * P, 7 * P + 3]:
        full, rest = divmod(n, P)
        assert stored_size(n) == full * (P + 32) + (rest + 32 if rest else 0)
    for bad in [1, 32, STORED_PACKAGE + 5]:
        with pytest.raises(PackageError):
            packages.plain_size_of(bad)


def test_seal_refuses_a_short_package_unless_final() -> None:
    with pytest.raises(ValueError, match="final"):
        seal(KEY, Cipher.AES_256_GCM, packages.new_stream_nonce(), 0, b"x" * (P + 1), False)


def test_seal_into_and_open_into_write_the_callers_buffer() -> None:
    plain = os.urandom(2 * P + 7)
    nonce = packages.new_stream_nonce()
    out = bytearray(stored_size(len(plain)) + 10)
    n = packages.seal_into(KEY, Cipher.AES_256_GCM, nonce, 0, plain, True, out)
    assert bytes(out[:n]) == seal(KEY, Cipher.AES_256_GCM, nonce, 0, plain, True)
    back = bytearray(len(plain))
    assert packages.open_into(KEY, 0, memoryview(out)[:n], 3, back) == len(plain)
    assert back == plain


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda c: c.name)
def test_the_path_without_encrypt_into_gives_the_same_bytes(cipher: Cipher, monkeypatch: pytest.MonkeyPatch) -> None:
    """cryptography releases before encrypt_into/decrypt_into take the copying path: same format."""
    plain = os.urandom(2 * P + 9)
    nonce, stored = _stream(plain, cipher)
    monkeypatch.setattr(packages, "_INTO", False)
    assert seal(KEY, cipher, nonce, 0, plain, True) == stored
    assert _open(stored) == plain
    bad = bytearray(stored)
    bad[-1] ^= 1
    with pytest.raises(PackageError):
        _open(bad)


def test_cipher_by_name() -> None:
    assert packages.cipher_by_name("AES256-GCM") is Cipher.AES_256_GCM
    assert packages.cipher_by_name("CHACHA20-POLY1305") is Cipher.CHACHA20_POLY1305
    with pytest.raises(ValueError, match="AES256-GCM"):
        packages.cipher_by_name("AES128-CBC")


def test_stream_nonces_never_repeat() -> None:
    nonces = {packages.new_stream_nonce() for _ in range(10_000)}
    assert len(nonces) == 10_000 and all(len(n) == 12 for n in nonces)


# --- ranges ------------------------------------------------------------------------------------------

SIZE = 3 * P + 100
EDGES = sorted({0, 1, P - 1, P, P + 1, 2 * P - 1, 2 * P, 2 * P + 1, 3 * P - 1, 3 * P, 3 * P + 1, SIZE - 1})


@pytest.mark.parametrize("cipher", CIPHERS, ids=lambda c: c.name)
def test_every_range_on_and_across_package_edges(cipher: Cipher) -> None:
    plain = os.urandom(SIZE)
    nonce, stored = _stream(plain, cipher)
    total = package_count(SIZE)
    checked = 0
    for offset in EDGES:
        for end in EDGES + [SIZE]:
            if end <= offset:
                continue
            length = end - offset
            first, last = plain_to_packages(offset, length)
            assert first == offset // P and last == (end - 1) // P
            so, sl = packages.stored_span(SIZE, offset, length)
            assert so == first * STORED_PACKAGE
            got = open_packages(KEY, first, stored[so:so + sl], total, nonce=nonce, cipher=cipher)
            skip = offset - first * P
            assert got[skip:skip + length] == plain[offset:end], (offset, length)
            assert len(got) == min((last + 1) * P, SIZE) - first * P
            checked += 1
    assert checked > 70


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(min_value=1, max_value=4 * P + 3), cipher=st.sampled_from(CIPHERS))
def test_any_range_of_a_stream_sealed_in_any_batches(data: st.DataObject, size: int, cipher: Cipher) -> None:
    """A writer seals whole packages in batches of any size; any range read decrypts exactly, and any flipped
    byte of the stored span it reads fails."""
    plain = random.Random(size).randbytes(size)
    nonce = packages.new_stream_nonce()
    stored, done = b"", 0
    while done < size:
        step = data.draw(st.integers(min_value=1, max_value=3)) * P
        final = done + step >= size
        chunk = plain[done:] if final else plain[done:done + step]
        stored += seal(KEY, cipher, nonce, done // P, chunk, final)
        done += len(chunk)
    assert stored == seal(KEY, cipher, nonce, 0, plain, True)
    offset = data.draw(st.integers(min_value=0, max_value=size - 1))
    length = data.draw(st.integers(min_value=1, max_value=size - offset))
    first, _ = plain_to_packages(offset, length)
    so, sl = packages.stored_span(size, offset, length)
    span = stored[so:so + sl]
    got = open_packages(KEY, first, span, package_count(size))
    assert got[offset - first * P:offset - first * P + length] == plain[offset:offset + length]
    bad = bytearray(span)
    bad[data.draw(st.integers(min_value=0, max_value=sl - 1))] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(PackageError):
        open_packages(KEY, first, bad, package_count(size))


def test_empty_range_is_zero_packages() -> None:
    assert plain_to_packages(P, 0) == (1, 0)
    assert packages.stored_span(P, P, 0) == (STORED_PACKAGE, 0)
    with pytest.raises(ValueError):
        packages.stored_span(10, 5, 6)


# --- tampering ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tamper_stream() -> tuple[bytes, bytes, bytes]:
    """(plain, nonce, stored): three full packages and a short final one."""
    plain = os.urandom(SIZE)
    nonce, stored = _stream(plain)
    return plain, nonce, stored


def test_flip_any_byte_of_a_stream_fails() -> None:
    # One full package and a 1-byte final one: flip every byte of both headers and tags and of the final
    # package, and every 41st byte of the full package's payload (each flip costs a 64 KiB decryption).
    _, stored = _stream(os.urandom(P + 1))
    flipped = bytearray(stored)
    positions = [*range(16), *range(16, STORED_PACKAGE - 16, 41), *range(STORED_PACKAGE - 16, len(stored))]
    for i in positions:
        flipped[i] ^= 0x01
        with pytest.raises(PackageError):
            _open(flipped, 2)
        flipped[i] ^= 0x01
    assert _open(flipped, 2)


@pytest.mark.parametrize("where", ["header", "payload", "tag"])
def test_flip_a_byte_of_a_middle_package_in_a_range_read(tamper_stream: tuple[bytes, bytes, bytes],
                                                          where: str) -> None:
    _, nonce, stored = tamper_stream
    pos = STORED_PACKAGE + {"header": 3, "payload": 16 + 999, "tag": STORED_PACKAGE - 1}[where]
    bad = bytearray(stored)
    bad[pos] ^= 0x40
    with pytest.raises(PackageError):
        open_packages(KEY, 1, bad[STORED_PACKAGE:2 * STORED_PACKAGE], 4, nonce=nonce)


def test_swap_two_packages_fails(tamper_stream: tuple[bytes, bytes, bytes]) -> None:
    _, _, stored = tamper_stream
    p = _pkgs(stored)
    with pytest.raises(PackageError, match="authentication"):
        _open(b"".join([p[1], p[0], p[2], p[3]]), 4)


def test_same_nonce_package_at_another_index_fails(tamper_stream: tuple[bytes, bytes, bytes]) -> None:
    _, nonce, stored = tamper_stream
    p = _pkgs(stored)
    with pytest.raises(PackageError, match="authentication"):
        _open(b"".join([p[0], p[2], p[2], p[3]]), 4)
    with pytest.raises(PackageError, match="authentication"):       # a range read of package 2 as 1
        open_packages(KEY, 1, p[2], 4, nonce=nonce)


def test_truncation_fails(tamper_stream: tuple[bytes, bytes, bytes]) -> None:
    _, _, stored = tamper_stream
    p = _pkgs(stored)
    with pytest.raises(PackageError, match="authentication"):       # the metadata shortened too
        _open(b"".join(p[:3]), 3)
    # With the metadata intact, packages 0..2 of 4 are a valid range read: what is missing is the last
    # package, and reading it (every read of the object's end) finds nothing to authenticate.
    with pytest.raises(PackageError):
        open_packages(KEY, 3, p[3][:-1], 4)
    with pytest.raises(PackageError):                                # cut inside a package
        _open(stored[:-10], 4)


def test_appended_package_fails(tamper_stream: tuple[bytes, bytes, bytes]) -> None:
    _, nonce, stored = tamper_stream
    p = _pkgs(stored)
    with pytest.raises(PackageError):
        _open(stored + p[0], 5)
    # Even a package sealed as the final one at index 4 (with the key): package 3 was final, now it is not.
    extra = seal(KEY, Cipher.AES_256_GCM, nonce, 4, b"more", True)
    with pytest.raises(PackageError):
        _open(stored + extra, 5)                 # package 3 is short and no longer the last
    full = seal(KEY, Cipher.AES_256_GCM, nonce, 0, bytes(3 * P), True)
    with pytest.raises(PackageError, match="package 2 of 4 fails authentication"):
        _open(full + extra, 4)


def test_package_spliced_from_another_stream_with_the_same_key_fails(tamper_stream: tuple[bytes, bytes, bytes]) -> None:
    plain, nonce, stored = tamper_stream
    other_nonce, other = _stream(plain)                              # same key and plaintext, new nonce
    p, q = _pkgs(stored), _pkgs(other)
    with pytest.raises(PackageError, match="nonce"):
        _open(b"".join([p[0], q[1], p[2], p[3]]), 4)
    with pytest.raises(PackageError, match="nonce"):
        open_packages(KEY, 1, q[1], 4, nonce=nonce)
    # The header rewritten to carry this stream's nonce: the AEAD nonce differs, so authentication fails.
    forged = q[1][:4] + nonce + q[1][16:]
    with pytest.raises(PackageError, match="authentication"):
        _open(b"".join([p[0], forged, p[2], p[3]]), 4)
    assert other_nonce != nonce


def test_changed_cipher_or_format_byte_fails(tamper_stream: tuple[bytes, bytes, bytes]) -> None:
    _, nonce, stored = tamper_stream
    for byte, value, message in [(1, 1, "authentication"), (1, 7, "unknown cipher"), (0, 2, "format")]:
        bad = bytearray(stored)
        bad[byte] = value
        with pytest.raises(PackageError, match=message):
            _open(bad, 4)
    with pytest.raises(PackageError, match="cipher"):
        open_packages(KEY, 0, stored, 4, cipher=Cipher.CHACHA20_POLY1305)


def test_cleared_final_flag_fails(tamper_stream: tuple[bytes, bytes, bytes]) -> None:
    """The final package sealed without the final flag (what a stream cut at a package edge looks like)."""
    plain, nonce, _ = tamper_stream
    full_plain = plain[:3 * P]
    stream = seal(KEY, Cipher.AES_256_GCM, nonce, 0, full_plain, False)   # no package carries the flag
    with pytest.raises(PackageError, match="package 2 of 3 fails authentication"):
        _open(stream, 3)
    with pytest.raises(PackageError, match="authentication"):
        open_packages(KEY, 2, stream[2 * STORED_PACKAGE:], 3)
    assert _open(seal(KEY, Cipher.AES_256_GCM, nonce, 0, full_plain, True), 3) == full_plain


def test_wrong_key_fails(tamper_stream: tuple[bytes, bytes, bytes]) -> None:
    _, _, stored = tamper_stream
    with pytest.raises(PackageError):
        _open(stored, 4, key=os.urandom(32))


def test_length_field_lies_fail() -> None:
    _, stored = _stream(os.urandom(100))
    bad = bytearray(stored)
    bad[2] = 50                                                      # length 51 instead of 100
    with pytest.raises(PackageError, match="length"):
        _open(bad, 1)


# --- object keys -------------------------------------------------------------------------------------

SEAL_ARGS: dict[str, Any] = {"mode": "KMS", "bucket": "photos", "key": "2026/cat.jpg", "context": {"project": "x"}}


def test_object_key_seal_round_trip() -> None:
    ext, oek = os.urandom(32), keys.new_object_key()
    iv, sealed = keys.seal_object_key(ext, oek, **SEAL_ARGS)
    assert len(iv) == 32 and len(sealed) == keys.SEALED_SIZE and oek not in sealed
    assert keys.unseal_object_key(ext, iv, sealed, **SEAL_ARGS) == oek
    iv2, sealed2 = keys.seal_object_key(ext, oek, **SEAL_ARGS)
    assert iv2 != iv and sealed2 != sealed                           # fresh iv and nonce every seal


@pytest.mark.parametrize("change", [
    {"bucket": "photos2"}, {"key": "2026/dog.jpg"}, {"mode": "S3"}, {"mode": "C"},
    {"context": {}}, {"context": {"project": "y"}}, {"context": {"project": "x", "more": ""}},
])
def test_object_key_unseal_with_another_binding_fails(change: dict[str, Any]) -> None:
    ext, oek = os.urandom(32), keys.new_object_key()
    iv, sealed = keys.seal_object_key(ext, oek, **SEAL_ARGS)
    with pytest.raises(KeyUnsealError):
        keys.unseal_object_key(ext, iv, sealed, **{**SEAL_ARGS, **change})


def test_object_key_unseal_with_a_wrong_key_or_damage_fails() -> None:
    ext, oek = os.urandom(32), keys.new_object_key()
    iv, sealed = keys.seal_object_key(ext, oek, **SEAL_ARGS)
    with pytest.raises(KeyUnsealError):
        keys.unseal_object_key(os.urandom(32), iv, sealed, **SEAL_ARGS)
    with pytest.raises(KeyUnsealError):
        keys.unseal_object_key(ext[:16], iv, sealed, **SEAL_ARGS)
    with pytest.raises(KeyUnsealError):
        keys.unseal_object_key(ext, os.urandom(32), sealed, **SEAL_ARGS)
    for i in range(len(sealed)):
        bad = bytearray(sealed)
        bad[i] ^= 1
        with pytest.raises(KeyUnsealError):
            keys.unseal_object_key(ext, iv, bytes(bad), **SEAL_ARGS)
    with pytest.raises(KeyUnsealError):
        keys.unseal_object_key(ext, iv, sealed[:-1], **SEAL_ARGS)


def test_context_order_does_not_matter() -> None:
    ext, oek = os.urandom(32), keys.new_object_key()
    iv, sealed = keys.seal_object_key(ext, oek, **{**SEAL_ARGS, "context": {"a": "1", "b": "2"}})
    assert keys.unseal_object_key(ext, iv, sealed, **{**SEAL_ARGS, "context": {"b": "2", "a": "1"}}) == oek


def test_part_keys_differ_per_part_and_from_the_object_key() -> None:
    oek = keys.new_object_key()
    parts = [keys.part_key(oek, n) for n in range(1, 10_001)]
    assert len(set(parts)) == 10_000 and oek not in parts
    assert keys.part_key(oek, 7) == parts[6]
    assert keys.part_key(keys.new_object_key(), 1) != parts[0]
    with pytest.raises(ValueError):
        keys.part_key(oek, 0)


def test_etag_mac_and_customer_key_md5() -> None:
    oek = keys.new_object_key()
    md5 = hashlib.md5(b"hello").digest()
    mac = keys.etag_mac(oek, md5)
    assert len(mac) == 32 and int(mac, 16) >= 0 and mac != md5.hex()
    assert keys.etag_mac(keys.new_object_key(), md5) != mac
    assert keys.etag_mac(oek, hashlib.md5(b"hellp").digest()) != mac
    # S3's x-amz-server-side-encryption-customer-key-MD5 of 32 zero bytes
    assert keys.customer_key_md5(bytes(32)) == "cLyPS3KoaSFGi/joRB3OUQ=="  # head -c 32 /dev/zero | openssl md5 -binary | base64


# --- envelope ----------------------------------------------------------------------------------------

def _envelopes() -> list[Envelope]:
    iv, sk = os.urandom(32), os.urandom(keys.SEALED_SIZE)
    return [
        Envelope(mode="S3", cipher=Cipher.AES_256_GCM, iv=iv, sealed_key=sk, kms_backend="static",
                 kms_key_id="my-key", wrapped_key=b"\x01wrapped"),
        Envelope(mode="KMS", cipher=Cipher.CHACHA20_POLY1305, iv=iv, sealed_key=sk, kms_backend="vault",
                 kms_key_id="rustfs-t1", wrapped_key=b"vault:v3:abc", context={"project": "x"}),
        Envelope(mode="C", cipher=Cipher.AES_256_GCM, iv=iv, sealed_key=sk),
    ]


@pytest.mark.parametrize("env", _envelopes(), ids=lambda e: e.mode)
def test_envelope_round_trips_through_msgpack(env: Envelope) -> None:
    doc = msgpack.unpackb(msgpack.packb({"se": env.pack()}, use_bin_type=True), raw=False)["se"]
    assert Envelope.unpack(doc) == env
    assert doc["v"] == 1 and doc["ps"] == 65536 and doc["c"] == int(env.cipher)
    assert ("kb" in doc) == (env.mode != "C")


@pytest.mark.parametrize("damage", [
    {"v": 2}, {"v": None}, {"m": "X"}, {"c": 2}, {"c": True}, {"c": "0"}, {"ps": 4096}, {"iv": b"short"},
    {"iv": "text"}, {"sk": b"x" * 59}, {"kb": "kes"}, {"kid": ""}, {"kid": 5}, {"wk": b""}, {"wk": "str"},
    {"ctx": {"a": 1}}, {"ctx": []}, {"extra": 1},
])
def test_damaged_envelope_is_refused(damage: dict[str, Any]) -> None:
    doc = _envelopes()[1].pack()
    doc.update(damage)
    with pytest.raises(EnvelopeError):
        Envelope.unpack(doc)


@pytest.mark.parametrize("field", ["v", "m", "c", "ps", "iv", "sk", "ctx", "kb", "kid", "wk"])
def test_envelope_missing_a_field_is_refused(field: str) -> None:
    doc = _envelopes()[1].pack()
    del doc[field]
    with pytest.raises(EnvelopeError):
        Envelope.unpack(doc)


def test_envelope_inconsistent_modes_are_refused() -> None:
    kms, c = _envelopes()[1].pack(), _envelopes()[2].pack()
    with pytest.raises(EnvelopeError):
        Envelope.unpack({**c, "kb": "static", "kid": "k", "wk": b"w"})    # SSE-C never has a KMS key
    with pytest.raises(EnvelopeError):
        Envelope.unpack({**kms, "m": "S3"})                               # only SSE-KMS has a context
    for bad in [None, [], b"", "envelope"]:
        with pytest.raises(EnvelopeError):
            Envelope.unpack(bad)


# --- fixed vectors: they freeze the format ---------------------------------------------------------

NONCE = bytes(range(0xA0, 0xAC))


@pytest.mark.parametrize("cipher, aead, expected", [
    (Cipher.AES_256_GCM, AESGCM, "01000500a0a1a2a3a4a5a6a7a8a9aaab20909589aa1df5ad81f041ed3aab5221b651f4fd3728"),
    (Cipher.CHACHA20_POLY1305, ChaCha20Poly1305,
     "01010500a0a1a2a3a4a5a6a7a8a9aaab2a14c764a0b9ae7b86a88f92ab3dc1558b2fb2ed10d8"),
])
def test_fixed_vector_one_package(cipher: Cipher, aead: Any, expected: str) -> None:
    # Layout, by hand: 01 (format) | 00/01 (cipher) | 0500 (u16le 6 - 1) | a0..ab (stream nonce)
    # | 6 bytes ciphertext of b"rustfs" | 16 bytes tag. The only package is final: AEAD nonce = stream
    # nonce with byte 0 XOR 0x80 (0x20 a1 .. ab), bytes 8..11 XOR u32le(0) (unchanged); AAD = header[0:4].
    stored = seal(KEY, cipher, NONCE, 0, b"rustfs", True)
    assert stored.hex() == expected
    header = bytes([1, int(cipher), 5, 0]) + NONCE
    assert stored[:16] == header
    assert stored[16:] == aead(KEY).encrypt(bytes([0x20]) + NONCE[1:], b"rustfs", header[:4])
    assert open_packages(KEY, 0, bytes.fromhex(expected), 1) == b"rustfs"


@pytest.mark.parametrize("cipher, digest", [
    (Cipher.AES_256_GCM, "6ae919c6107279da0b15d2b0e3928c88f61d2ce87c032c4eaca4daa5a82182a8"),
    (Cipher.CHACHA20_POLY1305, "889a94a1c982d8d1eec527c7f3e60e98ec46d1d3705075c9e03ef08777a01935"),
])
def test_fixed_vector_two_packages(cipher: Cipher, digest: str) -> None:
    plain = bytes(i % 251 for i in range(P + 3))
    stored = seal(KEY, cipher, NONCE, 0, plain, True)
    assert len(stored) == 65568 + 35 and hashlib.sha256(stored).hexdigest() == digest
    # Package 1 (final, 3 bytes): header 01 cc 0200 a0..ab; AEAD nonce = byte 0 ^ 0x80, byte 8 ^ 0x01.
    second = stored[STORED_PACKAGE:]
    assert second[:16] == bytes([1, int(cipher), 2, 0]) + NONCE
    aead = (AESGCM if cipher is Cipher.AES_256_GCM else ChaCha20Poly1305)(KEY)
    iv = bytearray(NONCE)
    iv[0] ^= 0x80
    iv[8] ^= 0x01
    assert aead.decrypt(bytes(iv), second[16:], second[:4]) == plain[P:]
    first_iv = bytes(NONCE)                                          # package 0, not final: the nonce itself
    assert aead.decrypt(first_iv, stored[16:STORED_PACKAGE], stored[:4]) == plain[:P]


def test_fixed_vectors_of_the_key_hierarchy() -> None:
    assert keys.part_key(KEY, 1).hex() == "2efe823e225d0f2d4ea66c13be683d76be5d411fe14ae8c64a6a144297c2c640"
    assert keys.part_key(KEY, 2).hex() == "1ebbbb2032660615439cba4ff858ac65865193e47a7d1b74ba7afb6065a93139"
    assert keys.etag_mac(KEY, hashlib.md5(b"rustfs").digest()) == "271938b2e018be7fee1dbac6e3d7b54b"
    ext = bytes(range(100, 132))
    args: dict[str, Any] = {"mode": "KMS", "bucket": "photos", "key": "2026/cat.jpg",
                            "context": {"project": "x", "a": "\u00fc"}}
    assert keys.seal_aad(**args) == (
        b'{"bucket":"photos","context":{"a":"\xc3\xbc","project":"x"},"key":"2026/cat.jpg","mode":"KMS"}')
    iv = bytes.fromhex("0a2bcd4cfec6e1f8c8713df15eb8a2094adb609b9fff02678c5da43c821838fb")
    sealed = bytes.fromhex("90d8aec1583ee66c3463c4bcd343d85b85cd75042ef657d360ba91075276a474bb62171d0b69c992"
                           "2a38b6e5ca6ea3848490d8887d61757d1fdc2c53")
    assert keys.unseal_object_key(ext, iv, sealed, **args) == KEY
