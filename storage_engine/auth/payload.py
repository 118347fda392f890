"""The verified request body handed to handlers: ``objects.types.PutBody``.

    raw HTTP body --> source (plain | aws-chunked, chunk signatures) --> VerifiedBody.read(n)
                                                                          |-- sha256 (signed payload)
                                                                          |-- x-amz-checksum-* hashers
                                                                          '-- decoded-length check

Everything is checked by the read that reaches the end of the body: a failed body raises there
(XAmzContentSHA256Mismatch, BadDigest, SignatureDoesNotMatch, IncompleteBody), so storage never
commits it. The sha256 of the payload is computed only when the client signed it.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from storage_engine.checksums import ChecksumSet, algorithm_of_header
from storage_engine.errors import IncompleteBody, InvalidRequest, S3Error, XAmzContentSHA256Mismatch

Bytes = bytes | memoryview


class Source(Protocol):
    done: bool
    trailers: list[tuple[str, str]]

    async def read_some(self, n: int) -> Bytes: ...


class VerifiedBody:
    """Implements ``PutBody``: exact-size reads of the decoded payload, verified at the end."""

    __slots__ = ("_source", "_length", "_received", "_sha256", "_expected_sha256", "_checksums",
                 "_trailer_algorithms", "_error", "_finished", "_verified")

    def __init__(self, source: Source, *, decoded_length: int | None, expected_sha256: str | None,
                 checksums: ChecksumSet, trailer_algorithms: frozenset[str] = frozenset()) -> None:
        self._source = source
        self._length = decoded_length
        self._received = 0
        self._expected_sha256 = expected_sha256
        self._sha256 = hashlib.sha256() if expected_sha256 is not None else None
        self._checksums = checksums
        self._trailer_algorithms = trailer_algorithms     # values that must arrive in trailers
        self._error: S3Error | None = None
        self._finished = False
        self._verified: dict[str, str] = {}

    @property
    def length(self) -> int | None:
        """The decoded length when the client declared it (Content-Length or x-amz-decoded-content-length)."""
        return self._length

    @property
    def received(self) -> int:
        return self._received

    def checksums(self) -> dict[str, str]:
        return dict(self._verified)

    async def read(self, n: int) -> bytes:
        if self._error is not None:
            raise self._error
        if n <= 0 or self._finished:
            return b""
        source = self._source
        pieces: list[Bytes] = []
        got = 0
        try:
            while got < n and not source.done:
                piece = await source.read_some(n - got)
                if not piece:
                    break
                pieces.append(piece)
                got += len(piece)
                self._account(piece)
            if source.done:
                self._finish()
        except S3Error as exc:
            self._error = exc
            raise
        if len(pieces) == 1:
            piece = pieces[0]
            return piece if isinstance(piece, bytes) else bytes(piece)
        return b"".join(pieces)

    def _account(self, piece: Bytes) -> None:
        self._received += len(piece)
        if self._length is not None and self._received > self._length:
            raise InvalidRequest("The request body is longer than its declared decoded length.")
        if self._sha256 is not None:
            self._sha256.update(piece)
        if self._checksums:
            self._checksums.update(piece)

    def _finish(self) -> None:
        self._finished = True
        if self._length is not None and self._received != self._length:
            raise IncompleteBody()
        if self._sha256 is not None and self._sha256.hexdigest() != self._expected_sha256:
            raise XAmzContentSHA256Mismatch()
        arrived: set[str] = set()
        for name, value in self._source.trailers:
            algorithm = algorithm_of_header(name)
            if algorithm is not None:
                self._checksums.set_expected(algorithm, value)
                arrived.add(algorithm)
        missing = self._trailer_algorithms - arrived
        if missing:
            raise InvalidRequest(f"The declared trailer x-amz-checksum-{min(missing).lower()} was not sent.")
        self._verified = self._checksums.verify()
