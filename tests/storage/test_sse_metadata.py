"""Metadata of encryption: ``Version.sse`` (msgpack key "se") and the upload's envelope; old records read unchanged."""

from __future__ import annotations

from typing import Any, cast

import msgpack

from storage_engine.erasure.metadata import FORMAT, Version, decode_header, encode_header
from storage_engine.objects.multipart import UploadMeta

# A header exactly as the code before encryption packed it (one version, one part): no "se" key.
def _packb(value: Any) -> bytes:
    return cast(bytes, msgpack.packb(value, use_bin_type=True))


OLD_HEADER = _packb([1, [{
    "id": "null", "dd": "d" * 32, "mt": 1.5, "sz": 3, "et": "e" * 32, "md": {"content-type": "text/plain"},
    "tg": {}, "sc": "STANDARD", "in": True, "ec": [2, 2, 1 << 20], "di": [1, 2, 3, 4],
    "pt": [[1, 3, 3, "e" * 32, 1.5, {}]], "mp": False, "ck": {}, "ct": None}]])

# An upload record as the code before encryption packed it: 12 fields, no envelope.
OLD_UPLOAD = _packb(["b", "k", "u" * 32, 2.0, "STANDARD", 2, 2, [1, 2, 3, 4], {}, {}, None, None])


def test_old_version_unpacks_as_plaintext() -> None:
    [version] = decode_header(OLD_HEADER)
    assert version.sse is None
    assert (version.size, version.parts[0].stored_size, version.metadata) == (3, 3, {"content-type": "text/plain"})
    # Re-encoding a plaintext version writes no "se" key: the bytes stay the old format's.
    assert FORMAT == 1 and encode_header([version]) == OLD_HEADER


def test_envelope_round_trips_under_se() -> None:
    envelope = {"v": 1, "m": "KMS", "c": 1, "ps": 65536, "iv": b"\x01" * 32, "sk": b"\x02" * 60, "kb": "static",
                "kid": "k1", "wk": b"\x03" * 60, "ctx": {"a": "b"}}
    version = Version("null", "d" * 32, 1.0, size=5, sse=envelope)
    [doc] = msgpack.unpackb(encode_header([version]), raw=False)[1]
    assert doc["se"] == envelope
    assert decode_header(encode_header([version]))[0].sse == envelope


def test_damaged_envelope_is_not_plaintext() -> None:
    doc = Version("null", "d" * 32, 1.0, size=5).pack()
    doc["se"] = "garbage"
    [version] = decode_header(_packb([1, [doc]]))
    assert version.sse is not None      # refused by the reader (InternalError), never read as plaintext


def test_old_upload_record_unpacks_without_envelope() -> None:
    upload = UploadMeta.unpack(OLD_UPLOAD)
    assert upload.sse is None and upload.key == "k"
    assert upload.pack() == OLD_UPLOAD
    upload.sse = {"v": 1, "m": "C"}
    assert UploadMeta.unpack(upload.pack()).sse == {"v": 1, "m": "C"}
