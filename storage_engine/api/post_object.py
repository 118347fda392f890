"""POST Object: browser uploads with an HTML form (``multipart/form-data``) and a signed policy document.

    POST /bucket  --> MultipartForm.fields()      the fields before the ``file`` part (at most 20 KiB)
                  --> form_signature / PostPolicy  who signed it, and its conditions (auth/post_policy.py)
                  --> authorize s3:PutObject       that principal (anonymous for an unsigned form), the form's key
                  --> layer.put_object(FileBody)   the file part, streamed: never the whole file in memory
                  --> 204 / 200 / 201 (PostResponse XML) / 303 to success_action_redirect

The multipart parser pulls from the request body: it looks for the delimiter (``\\r\\n--boundary``) in a
small buffer, holding back as many bytes as the delimiter is long, so a delimiter split across two reads is
still found. Fields after the file are never read (AWS ignores them). The size limit of the policy
(``content-length-range``) is checked as the bytes arrive: an upload too large fails as soon as it is, one
too small at its end, and neither is committed.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from urllib.parse import SplitResult, quote, urlencode, urlsplit, urlunsplit

from storage_engine.api.acl import bucket_record, new_object_access
from storage_engine.api.context import ReqCtx, VerifiedRequest, version_headers
from storage_engine.api.meta import CONTENT_HEADERS, MAX_SINGLE_PUT, USER_META_PREFIX, put_options
from storage_engine.api.names import validate_key
from storage_engine.api.policy import authorize
from storage_engine.api.router import Endpoint
from storage_engine.api.sse import put_sse, sse_headers
from storage_engine.api.tagging import parse_tagging
from storage_engine.api.xml import CONTENT_TYPE, XML_DECL, escape, quote_etag
from storage_engine.auth.credentials import CredentialLookup
from storage_engine.auth.post_policy import PostPolicy, form_signature
from storage_engine.auth.verify import ANONYMOUS_CREDENTIALS, form_request, request_region
from storage_engine.errors import (
    EntityTooLarge, IncorrectNumberOfFilesInPostRequest, InvalidAccessKeyId, InvalidArgument,
    MalformedPOSTRequest, MaxPostPreDataLengthExceeded, PreconditionFailed,
)
from storage_engine.http.types import Headers, Response
from storage_engine.objects.types import PutBody

__all__ = ["FileBody", "MultipartForm", "handle_post_object"]

MAX_FIELDS_BYTES = 20 * 1024        # the form before the file's bytes (AWS: MaxPostPreDataLengthExceeded)
READ_SIZE = 256 * 1024
SUCCESS_STATUSES = {"200": 200, "201": 201, "204": 204}
# Form fields stored with the object as a PutObject's headers would be (``acl`` is ``x-amz-acl``).
_HEADER_FIELDS = frozenset({*CONTENT_HEADERS, "content-md5", "x-amz-storage-class", "x-amz-website-redirect-location"})
_HEADER_PREFIXES = (USER_META_PREFIX, "x-amz-server-side-encryption", "x-amz-grant-")
_PARAM = re.compile(r';\s*([A-Za-z*]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def form_boundary(content_type: str | None) -> bytes:
    """The multipart boundary of ``Content-Type: multipart/form-data; boundary=...``."""
    if content_type is None or content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise PreconditionFailed("Bucket POST must be of the enclosure-type multipart/form-data")
    for name, value in _PARAM.findall(content_type):
        if name.lower() == "boundary":
            boundary = value.strip().strip('"')
            if 0 < len(boundary) <= 200:
                return boundary.encode("latin-1", "replace")
    raise MalformedPOSTRequest()


class FilePart:
    """The ``file`` part's name and type (its bytes come from :meth:`MultipartForm.read_file`)."""

    __slots__ = ("filename", "content_type")

    def __init__(self, filename: str, content_type: str | None) -> None:
        self.filename = filename
        self.content_type = content_type


class MultipartForm:
    """A streaming ``multipart/form-data`` reader: the fields up to the file, then the file's bytes."""

    __slots__ = ("_body", "_delimiter", "_buf", "_eof", "_used", "_clean", "_file_done")

    def __init__(self, body: PutBody, boundary: bytes) -> None:
        self._body = body
        self._delimiter = b"\r\n--" + boundary
        self._buf = bytearray(b"\r\n")     # so the first boundary line is a delimiter like the others
        self._eof = False
        self._used = 0                     # bytes consumed before the file's data
        self._clean = 0                    # no delimiter starts before this offset of the buffer
        self._file_done = False

    async def _more(self) -> bool:
        if self._eof:
            return False
        chunk = await self._body.read(READ_SIZE)
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    async def _find(self, needle: bytes) -> int:
        """Where ``needle`` starts in the buffer (reading on), within what is left of the field budget."""
        start = 0
        while True:
            budget = MAX_FIELDS_BYTES - self._used
            index = self._buf.find(needle, start)
            if index >= 0:
                if index > budget:
                    raise MaxPostPreDataLengthExceeded()
                return index
            if len(self._buf) > budget + len(needle):
                raise MaxPostPreDataLengthExceeded()
            start = max(0, len(self._buf) - len(needle) + 1)
            if not await self._more():
                raise MalformedPOSTRequest()

    async def _fill(self, n: int) -> None:
        while len(self._buf) < n:
            if not await self._more():
                raise MalformedPOSTRequest()

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self._used += n
        return out

    async def fields(self) -> tuple[list[tuple[str, str]], FilePart]:
        """The (name, value) fields before the part named ``file``, and that part."""
        found: list[tuple[str, str]] = []
        self._take(await self._find(self._delimiter) + len(self._delimiter))    # the preamble, if any
        while True:
            await self._fill(2)
            if self._buf[:2] == b"--":                                            # the closing delimiter
                raise IncorrectNumberOfFilesInPostRequest()
            self._take(await self._find(b"\r\n") + 2)                           # rest of the boundary line
            await self._fill(2)
            raw_headers = b"" if self._buf[:2] == b"\r\n" else self._take(await self._find(b"\r\n\r\n"))
            self._take(2 if not raw_headers else 4)
            name, filename, content_type = _part_headers(raw_headers)
            if name.lower() == "file":
                return found, FilePart(filename or "", content_type)
            value = self._take(await self._find(self._delimiter))
            self._take(len(self._delimiter))
            try:
                found.append((name, value.decode("utf-8")))
            except UnicodeDecodeError:
                raise MalformedPOSTRequest() from None

    async def read_file(self, n: int) -> bytes:
        """Up to ``n`` bytes of the file (fewer only at its end); MalformedPOSTRequest if the body ends first."""
        out = bytearray()
        delimiter = self._delimiter
        while len(out) < n and not self._file_done:
            buf = self._buf
            index = buf.find(delimiter, self._clean)
            if index >= 0:
                take = min(index, n - len(out))
                out += buf[:take]
                del buf[:take]
                self._clean = 0
                self._file_done = take == index
                continue
            safe = len(buf) - len(delimiter) + 1
            if safe > 0:
                take = min(safe, n - len(out))
                out += buf[:take]
                del buf[:take]
                self._clean = safe - take
                continue
            if not await self._more():
                raise MalformedPOSTRequest()
        return bytes(out)


def _part_headers(raw: bytes) -> tuple[str, str | None, str | None]:
    """A part's field name, file name and Content-Type, from its headers."""
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        header, sep, value = line.partition(":")
        if not sep:
            raise MalformedPOSTRequest()
        header = header.strip().lower()
        if header == "content-type":
            content_type = value.strip()
        elif header == "content-disposition":
            if value.split(";", 1)[0].strip().lower() != "form-data":
                raise MalformedPOSTRequest()
            for param, param_value in _PARAM.findall(value):
                text = param_value.strip()
                if text.startswith('"'):
                    text = re.sub(r"\\(.)", r"\1", text[1:-1])
                if param.lower() == "name":
                    name = text
                elif param.lower() == "filename":
                    filename = text
    if not name:
        raise MalformedPOSTRequest()
    return name, filename, content_type


class FileBody:
    """The file part as a PutBody, its size checked against the policy's content-length-range."""

    __slots__ = ("_form", "_policy", "_size")

    def __init__(self, form: MultipartForm, policy: PostPolicy | None) -> None:
        self._form = form
        self._policy = policy
        self._size = 0

    async def read(self, n: int) -> bytes:
        data = await self._form.read_file(n)
        self._size += len(data)
        final = len(data) < n
        if self._size > MAX_SINGLE_PUT:
            raise EntityTooLarge()
        if self._policy is not None:
            self._policy.check_size(self._size, final=final)
        return data

    def checksums(self) -> dict[str, str]:
        return {}


def _object_headers(fields: dict[str, str]) -> Headers:
    """The form fields a PutObject would have sent as headers (Content-Type, x-amz-meta-*, acl, SSE, ...)."""
    headers = Headers()
    for name, value in fields.items():
        if name == "acl":
            headers.add("x-amz-acl", value)
        elif name in _HEADER_FIELDS or name.startswith(_HEADER_PREFIXES):
            headers.add(name, value)
    return headers


# --- the handler ------------------------------------------------------------------------------------------
async def handle_post_object(ctx: ReqCtx, req: VerifiedRequest, credentials: CredentialLookup) -> Response:
    form = MultipartForm(req.body, form_boundary(ctx.headers.get("content-type")))
    raw_fields, file = await form.fields()
    fields: dict[str, str] = {}
    for name, value in raw_fields:
        fields.setdefault(name.lower(), value)
    key = fields.get("key")
    if not key:
        raise InvalidArgument("Bucket POST must contain a field named 'key'.  If it is specified, please check "
                              "the order of the fields.")
    signature = form_signature(fields)
    policy: PostPolicy | None = None
    creds, region = ANONYMOUS_CREDENTIALS, ctx.settings.region       # an unsigned form: an anonymous PutObject
    if signature is not None:
        found = await credentials.lookup(signature.access_key, signature.session_token)
        if found is None:
            raise InvalidAccessKeyId()
        if signature.version == 4:
            region = request_region(signature.region, ctx.settings, presigned=True)
        signature.verify(found)
        policy = PostPolicy.parse(signature.policy)
        policy.check(fields, bucket=ctx.bucket, now=time.time())
        creds = found
    key = key.replace("${filename}", file.filename)
    validate_key(key)
    headers = _object_headers(fields)
    # The decision's condition keys (s3:x-amz-acl, s3:x-amz-server-side-encryption...) see the form's fields.
    verified = form_request(req, creds, region, headers.items())
    put_ctx = replace(ctx, endpoint=Endpoint.PutObject, key=key, identity=verified.principal, headers=headers)
    await authorize(put_ctx, verified)                 # s3:PutObject on the form's key, as that principal

    opts = put_options(headers, None)
    if "tagging" in fields:                          # a <Tagging> document, as PutObjectTagging's body
        opts.tags = parse_tagging(fields["tagging"].encode())
    opts.sse = put_sse(headers, ctx.secure, ctx.settings)
    opts.owner, opts.acl = await new_object_access(put_ctx, await bucket_record(ctx))
    info = await ctx.layer.put_object(ctx.bucket, key, FileBody(form, policy), opts)

    etag = quote_etag(info.etag)
    location = _location(ctx, key)
    out = [("ETag", etag), ("Location", location), *version_headers(info.version_id),
           *sse_headers(info.sse, with_context=True)]
    redirect = _redirect_url(fields.get("success_action_redirect") or fields.get("redirect") or "")
    if redirect is not None:
        query = urlencode({"bucket": ctx.bucket, "key": key, "etag": etag})
        out[1] = ("Location", urlunsplit(redirect._replace(query=f"{redirect.query}&{query}" if redirect.query
                                                             else query)))
        return Response(status=303, headers=out)
    status = SUCCESS_STATUSES.get(fields.get("success_action_status", ""), 204)
    if status != 201:
        return Response(status=status, headers=out)
    body = (f"{XML_DECL}<PostResponse><Location>{escape(location)}</Location><Bucket>{escape(ctx.bucket)}</Bucket>"
            f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>").encode()
    return Response(status=201, headers=[*out, ("Content-Type", CONTENT_TYPE)], body=body)


def _redirect_url(value: str) -> SplitResult | None:
    """``success_action_redirect``: an absolute http(s) URL, else None (AWS then answers with the status)."""
    try:
        url = urlsplit(value.strip())
    except ValueError:                     # e.g. a broken IPv6 host: ignored as any other unusable URL
        return None
    if url.scheme.lower() not in ("http", "https") or not url.netloc:
        return None
    return url


def _location(ctx: ReqCtx, key: str) -> str:
    host = ctx.headers.get("host") or "localhost"
    scheme = "https" if ctx.secure else "http"
    return f"{scheme}://{host}/{quote(ctx.bucket, safe='')}/{quote(key, safe='/')}"
