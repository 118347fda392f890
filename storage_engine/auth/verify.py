"""Authenticate a request: AWS SigV4 in the Authorization header or in a presigned URL
(and legacy SigV2, which boto3 still uses for presigned URLs by default; see sigv2.py).

    verified = await verify_request(request, credentials, settings)
    verified.access_key, verified.body (PutBody: decodes aws-chunked, verifies payload and checksums)

Only :func:`verify_request` constructs a :class:`VerifiedRequest`, so a handler that takes one never
sees an unauthenticated request. The payload itself is verified while it is read (see payload.py).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from storage_engine.checksums import ChecksumSet, algorithm_of_header
from storage_engine.config import EngineSettings
from storage_engine.errors import (
    AccessDenied, AuthorizationHeaderMalformed, AuthorizationQueryParametersError, InvalidAccessKeyId,
    InvalidArgument, InvalidRequest, NotImplementedError_, RequestTimeTooSkewed, S3Error,
    SignatureDoesNotMatch,
)
from storage_engine.iam.principal import ANONYMOUS, Principal
from storage_engine.http.types import Headers, Request

from .chunked import AwsChunkedSource, ChunkSignatures, PlainSource
from .credentials import CredentialLookup, Credentials
from .payload import Source, VerifiedBody
from .sigv4 import (
    ALGORITHM, AMZ_DATE_FORMAT, EMPTY_SHA256, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD, canonical_header_value, canonical_query, canonical_request,
    canonical_uri, is_hex_signature, scope, sign, signatures_equal, signing_key, string_to_sign,
)
from .sigv2 import is_v2_header, is_v2_query, verify_v2_header, verify_v2_query
from .signed_params import SignedParams, parse_authorization_header, parse_presigned_query

MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
SERVICES = frozenset({"s3", "sts", "iam"})
_STREAMING_MODES = frozenset({STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})
_TRAILER_MODES = frozenset({STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})

_CONSTRUCT = object()   # only this module holds it: VerifiedRequest cannot be forged elsewhere
# Who an unsigned request is (docs/iam.md "Anonymous requests"): no access key, never root.
ANONYMOUS_CREDENTIALS = Credentials("", "", ANONYMOUS)


class VerifiedRequest:
    """A request whose signature checked out, with its body as a verifying ``PutBody``."""

    __slots__ = ("request", "access_key", "credentials", "body", "presigned", "payload_mode", "region", "service")

    def __init__(self, token: object, request: Request, credentials: Credentials, body: VerifiedBody,
                 presigned: bool, payload_mode: str, region: str, service: str = "s3") -> None:
        if token is not _CONSTRUCT:
            raise TypeError("a VerifiedRequest comes only from auth.verify_request()")
        self.request = request
        self.credentials = credentials
        self.access_key = credentials.access_key
        self.body = body
        self.presigned = presigned
        self.payload_mode = payload_mode   # hex sha256, UNSIGNED-PAYLOAD or a STREAMING-* value
        # The region the server answers this request with (see request_region()).
        self.region = region
        # The SigV4 credential scope's service: "s3", "iam" or "sts" ("s3" for SigV2).
        self.service = service

    @property
    def is_root(self) -> bool:
        return self.credentials.is_root

    @property
    def principal(self) -> Principal:
        return self.credentials.principal

    @property
    def is_anonymous(self) -> bool:
        return not self.access_key

    def __repr__(self) -> str:
        return f"VerifiedRequest({self.request.method} {self.request.raw_path}, access_key={self.access_key!r})"


async def verify_request(request: Request, credentials: CredentialLookup, settings: EngineSettings,
                         *, now: float | None = None) -> VerifiedRequest:
    """Verify the request's SigV4 signature; raise the S3 error a client should see if it fails."""
    now = time.time() if now is None else now
    headers = request.headers
    authorization = headers.get("authorization")
    presigned = "X-Amz-Algorithm" in request.query or "X-Amz-Signature" in request.query
    if authorization is not None and presigned:
        raise InvalidArgument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                              "Signature query string parameter or the Authorization header should be specified.")
    if authorization is not None and is_v2_header(authorization):
        creds = await verify_v2_header(request, credentials, settings, now)
        return VerifiedRequest(_CONSTRUCT, request, creds, _body(request, UNSIGNED_PAYLOAD, None), False,
                               UNSIGNED_PAYLOAD, settings.region)
    if authorization is None and not presigned and is_v2_query(request.query):
        creds = await verify_v2_query(request, credentials, settings, now)
        return VerifiedRequest(_CONSTRUCT, request, creds, _body(request, UNSIGNED_PAYLOAD, None), True,
                               UNSIGNED_PAYLOAD, settings.region)
    if authorization is not None:
        params = parse_authorization_header(authorization)
        _check_header_date(request, params, now, settings)
        payload_hash = headers.get("x-amz-content-sha256")
        if payload_hash is None:
            if request.body.length and params.service != "s3":
                payload_hash = await _buffer_query_body(request)    # IAM / STS sign the body's hash
            elif request.body.length:
                raise InvalidRequest("Missing required header for this request: x-amz-content-sha256.")
            else:
                payload_hash = EMPTY_SHA256
    elif presigned:
        params = parse_presigned_query(request.query)
        _check_presigned_time(params, now, settings)
        payload_hash = request.query.get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD)
    else:   # anonymous: no signature at all; authorize() decides (bucket policies and ACLs may allow it)
        return VerifiedRequest(_CONSTRUCT, request, ANONYMOUS_CREDENTIALS, _anonymous_body(request), False,
                               UNSIGNED_PAYLOAD, settings.region)
    error_type: type[S3Error] = AuthorizationQueryParametersError if presigned else AuthorizationHeaderMalformed
    region = request_region(params.region, settings, presigned=presigned)
    if params.service not in SERVICES:
        raise error_type(f"The authorization is malformed; the service '{params.service}' is not supported.")
    if "host" not in params.signed_headers:
        raise error_type("The host header must be signed.")
    mode = _payload_mode(payload_hash)
    creds = await credentials.lookup(params.access_key, session_token(request))
    if creds is None:
        raise InvalidAccessKeyId()
    key = signing_key(creds.secret_key, params.date, params.region, params.service)
    credential_scope = scope(params.date, params.region, params.service)
    for candidate in _canonical_requests(request, params, payload_hash):
        expected = sign(key, string_to_sign(params.amz_date, credential_scope, candidate))
        if signatures_equal(expected, params.signature):
            break
    else:
        raise SignatureDoesNotMatch()
    signatures = ChunkSignatures(key, params.amz_date, credential_scope, params.signature) \
        if mode in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER) else None
    body = _body(request, mode, signatures)
    return VerifiedRequest(_CONSTRUCT, request, creds, body, presigned, mode, region, params.service)


def session_token(request: Request) -> str | None:
    """The STS session token: the ``x-amz-security-token`` header, or ``X-Amz-Security-Token`` presigned."""
    token = request.headers.get("x-amz-security-token")
    if token is None:
        token = request.query.get("X-Amz-Security-Token")
    return token


def form_request(verified: VerifiedRequest, credentials: Credentials, region: str,
                 fields: Iterable[tuple[str, str]] = ()) -> VerifiedRequest:
    """A browser upload (POST Object) as the signer of its form: ``api/post_object.py`` calls this only once
    the form's signature over its policy checked out with ``credentials`` (``auth/post_policy.py``), or with
    ``ANONYMOUS_CREDENTIALS`` for an unsigned form. ``fields``: the form fields that stand for request headers
    (``x-amz-acl``, ``x-amz-server-side-encryption``...), which the decision's condition keys then see."""
    request = verified.request
    if fields:
        request = replace(request, headers=Headers([*request.headers.items(), *fields]))
    return VerifiedRequest(_CONSTRUCT, request, credentials, verified.body, False, verified.payload_mode, region)


# --- region --------------------------------------------------------------------------------------
DEFAULT_REGION = "us-east-1"
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def request_region(scope_region: str, settings: EngineSettings, *, presigned: bool = False) -> str:
    """The region a SigV4 request signed for ``scope_region`` is answered with, or the client's error.

    With ``settings.region`` set explicitly only that region is accepted (AWS's answer to a wrong region,
    with ``x-amz-bucket-region`` naming the right one, which botocore follows). Without, any region is: the
    signature is verified with the client's region, and the server answers with it (S3's legacy ``US``, the
    default of s3cmd, is ``us-east-1``).
    """
    if settings.region_is_explicit:
        if scope_region == settings.region:
            return scope_region
        wrong = f"the region '{scope_region}' is wrong; expecting '{settings.region}'"
        headers = {"x-amz-bucket-region": settings.region}
        if presigned:
            raise AuthorizationQueryParametersError(f"Error parsing the X-Amz-Credential parameter; {wrong}.",
                                                    headers=headers)
        raise AuthorizationHeaderMalformed(f"The authorization header is malformed; {wrong}.", headers=headers)
    if _REGION.fullmatch(scope_region) is None:
        error_type = AuthorizationQueryParametersError if presigned else AuthorizationHeaderMalformed
        raise error_type(f"The authorization is malformed; the region '{scope_region[:64]}' is not a valid "
                         "region name.")
    return DEFAULT_REGION if scope_region.upper() == "US" else scope_region


# --- time ----------------------------------------------------------------------------------------
_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_last_amz_date: tuple[str, float] = ("", 0.0)     # most requests of one second share the timestamp


def _parse_amz_date(value: str) -> float | None:
    global _last_amz_date
    if value == _last_amz_date[0]:
        return _last_amz_date[1]
    match = _AMZ_DATE.fullmatch(value)
    if match is None:
        return None
    try:   # datetime validates the ranges (month 13, Feb 30); strptime would cost 10x more
        when = datetime(*map(int, match.groups()), tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None
    _last_amz_date = (value, when)
    return when


def _check_header_date(request: Request, params: SignedParams, now: float, settings: EngineSettings) -> None:
    amz_date = request.headers.get("x-amz-date")
    if amz_date is not None:
        when = _parse_amz_date(amz_date.strip())
    else:
        date = request.headers.get("date")
        when = None
        if date is not None:
            try:
                when = parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError, IndexError):
                when = None
        if when is not None:
            amz_date = time.strftime(AMZ_DATE_FORMAT, time.gmtime(when))
    if when is None or amz_date is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header.")
    amz_date = amz_date.strip()
    if amz_date[:8] != params.date:
        raise AuthorizationHeaderMalformed(
            f"The authorization header is malformed; the credential date '{params.date}' does not match "
            f"the request date '{amz_date[:8]}'.")
    if abs(now - when) > settings.max_clock_skew_seconds:
        raise RequestTimeTooSkewed()
    params.amz_date = amz_date


def _check_presigned_time(params: SignedParams, now: float, settings: EngineSettings) -> None:
    when = _parse_amz_date(params.amz_date)
    if when is None:
        raise AuthorizationQueryParametersError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
    if params.amz_date[:8] != params.date:
        raise AuthorizationQueryParametersError("The credential date does not match X-Amz-Date.")
    expires = params.expires
    if expires is None:
        raise AuthorizationQueryParametersError("X-Amz-Expires is required.")
    if not 1 <= expires <= MAX_PRESIGN_EXPIRES:
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be between 1 and 604800 seconds (seven days).")
    if when - now > settings.max_clock_skew_seconds:
        raise AccessDenied("Request is not valid yet.")
    if now > when + expires:
        raise AccessDenied("Request has expired.")


# --- signature -----------------------------------------------------------------------------------
def _canonical_requests(request: Request, params: SignedParams, payload_hash: str) -> Iterator[bytes]:
    """The canonical request, then the few variants that ambiguous client encodings produce.

    Variants are only tried when they could differ: a literal ``+`` in the query (plus or space?),
    header values outside ASCII (hashed as UTF-8 by botocore, as raw bytes by others).
    """
    uri = canonical_uri(request.raw_path)
    headers = request.headers
    canonical_headers = [(name, canonical_header_value(headers.getall(name))) for name in params.signed_headers]
    signed = ";".join(params.signed_headers)
    exclude = "X-Amz-Signature" if params.presigned else None
    queries = [canonical_query(request.query_string, exclude=exclude)]
    if "+" in request.query_string:
        queries.append(canonical_query(request.query_string, exclude=exclude, plus_is_space=True))
    non_ascii = any(not value.isascii() for _, value in canonical_headers)
    for query in queries:
        text = canonical_request(request.method, uri, query, canonical_headers, signed, payload_hash)
        yield text.encode("utf-8")
        if non_ascii:
            yield text.encode("latin-1", "replace")


# --- payload -------------------------------------------------------------------------------------
MAX_QUERY_BODY = 128 * 1024      # IAM / STS form bodies (api/query.py reads at most as much)


class _BufferedBody:
    """A small body already read (to hash it), handed out again."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def length(self) -> int | None:
        return len(self._data)

    async def read(self, n: int) -> bytes:
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk


async def _buffer_query_body(request: Request) -> str:
    """The SHA-256 of a query-protocol body (IAM / STS clients send no x-amz-content-sha256, they sign the
    body's hash); the body is read (at most MAX_QUERY_BODY bytes) and put back for the handler."""
    pieces: list[bytes] = []
    total = 0
    while True:
        piece = await request.body.read(64 * 1024)
        if not piece:
            break
        total += len(piece)
        if total > MAX_QUERY_BODY:
            raise InvalidRequest(f"The request body is larger than {MAX_QUERY_BODY} bytes.")
        pieces.append(piece)
    data = b"".join(pieces)
    request.body = _BufferedBody(data)
    return hashlib.sha256(data).hexdigest()


def _payload_mode(payload_hash: str) -> str:
    if payload_hash == UNSIGNED_PAYLOAD or payload_hash in _STREAMING_MODES:
        return payload_hash
    lowered = payload_hash.lower()
    if is_hex_signature(lowered):
        return lowered
    if payload_hash.startswith("STREAMING-"):
        raise NotImplementedError_(f"The payload signing mode {payload_hash} is not implemented.")
    raise InvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value, "
                          "or a valid sha256 value.")


def _anonymous_body(request: Request) -> VerifiedBody:
    """An unsigned request's body: a hex x-amz-content-sha256 is still checked; chunk signatures cannot be."""
    declared = request.headers.get("x-amz-content-sha256")
    mode = _payload_mode(UNSIGNED_PAYLOAD if declared is None else declared)
    if mode in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER):
        raise AccessDenied("A signed payload needs a signed request.")
    return _body(request, mode, None)


def _body(request: Request, mode: str, signatures: ChunkSignatures | None) -> VerifiedBody:
    headers = request.headers
    streaming = mode in _STREAMING_MODES
    expected: dict[str, str | None] = {}
    # CompleteMultipartUpload's checksum headers describe the whole object, not the XML body.
    describes_body = not (request.method == "POST" and "uploadId" in request.query)
    if describes_body:
        for name, value in headers.items():
            algorithm = algorithm_of_header(name)
            if algorithm is not None:
                expected[algorithm] = value
    trailer_algorithms: set[str] = set()
    declared = headers.get("x-amz-trailer")
    if declared:
        if mode not in _TRAILER_MODES:
            raise InvalidRequest("x-amz-trailer needs a STREAMING-*-TRAILER x-amz-content-sha256.")
        for name in declared.split(","):
            algorithm = algorithm_of_header(name.strip().lower())
            if algorithm is None:
                raise InvalidRequest(f"Unsupported trailer {name.strip()!r}.")
            trailer_algorithms.add(algorithm)
            expected.setdefault(algorithm, None)
    sdk_algorithm = headers.get("x-amz-sdk-checksum-algorithm")
    if sdk_algorithm and describes_body:
        algorithm = sdk_algorithm.strip().upper()
        if algorithm_of_header("x-amz-checksum-" + algorithm.lower()) is None:
            raise InvalidRequest("Value for x-amz-sdk-checksum-algorithm header is invalid.")
        expected.setdefault(algorithm, None)
    if len(expected) > 1:
        raise InvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    checksums = ChecksumSet(expected)
    source: Source
    if streaming:
        decoded = headers.get("x-amz-decoded-content-length")
        decoded_length: int | None = None
        if decoded is not None:
            decoded = decoded.strip()
            if not (decoded.isascii() and decoded.isdigit()):
                raise InvalidArgument("x-amz-decoded-content-length must be a non-negative integer.")
            decoded_length = int(decoded)
        source = AwsChunkedSource(request.body, signatures, trailers=mode in _TRAILER_MODES)
    else:
        decoded_length = request.body.length
        source = PlainSource(request.body)
    expected_sha256 = mode if not streaming and mode != UNSIGNED_PAYLOAD else None
    return VerifiedBody(source, decoded_length=decoded_length, expected_sha256=expected_sha256,
                        checksums=checksums, trailer_algorithms=frozenset(trailer_algorithms))
