"""Streaming checksum hashers against published check values, and ChecksumSet verification."""

from __future__ import annotations

import base64
import hashlib

import pytest

from storage_engine.checksums import ALGORITHMS, ChecksumSet, checksum_of, new_hasher, validate_b64
from storage_engine.errors import BadDigest, InvalidDigest, InvalidRequest

CHECK = b"123456789"
EXPECTED = {
    "CRC32": (0xCBF43926).to_bytes(4, "big"),
    "CRC32C": (0xE3069283).to_bytes(4, "big"),
    "CRC64NVME": (0xAE8B14860A799888).to_bytes(8, "big"),
    "SHA1": hashlib.sha1(CHECK).digest(),
    "SHA256": hashlib.sha256(CHECK).digest(),
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_check_values_and_streaming(algorithm: str) -> None:
    assert checksum_of(algorithm, CHECK) == base64.b64encode(EXPECTED[algorithm]).decode()
    hasher = new_hasher(algorithm.lower())
    for i in range(len(CHECK)):                      # byte by byte, and through memoryviews
        hasher.update(memoryview(CHECK)[i:i + 1])
    assert hasher.digest() == EXPECTED[algorithm]


def test_checksum_set_verifies_reports_and_rejects() -> None:
    good = checksum_of("CRC32", CHECK)
    checks = ChecksumSet({"CRC32": good})
    checks.update(CHECK)
    assert checks.verify() == {"CRC32": good}
    checks = ChecksumSet({"crc32c": None})           # named only: computed and reported
    checks.update(CHECK)
    assert checks.verify() == {"CRC32C": checksum_of("CRC32C", CHECK)}
    checks = ChecksumSet({"SHA256": None})
    checks.set_expected("SHA256", checksum_of("SHA256", b"other"))
    checks.update(CHECK)
    with pytest.raises(BadDigest):
        checks.verify()
    with pytest.raises(InvalidRequest):
        checks.set_expected("SHA1", checksum_of("SHA1", CHECK))   # not announced
    with pytest.raises(InvalidRequest):
        ChecksumSet({"MD5": None})


@pytest.mark.parametrize("value", ["", "!!!!", "AAAAAA"])
def test_malformed_values_are_invalid_digest(value: str) -> None:
    with pytest.raises(InvalidDigest):
        validate_b64("CRC32", value)


@pytest.mark.parametrize("value", ["AAAA", "AAAAAAAAAAA="])
def test_values_of_another_size_are_bad_digest(value: str) -> None:
    """Well-formed base64 of the wrong size cannot match the body: BadDigest, as AWS answers."""
    with pytest.raises(BadDigest):
        validate_b64("CRC32", value)
