"""S3 XML: rendering responses by fast string building, and parsing request bodies safely.

Rendering: :class:`XmlWriter` appends escaped fragments to a list and joins once, so a listing of
1000 keys costs a few thousand string appends and no tree. Timestamps in bodies are ISO 8601 with
milliseconds (``2024-05-01T12:00:00.000Z``); ``Last-Modified`` headers are RFC 1123; ETags are quoted.

Parsing: :func:`parse_xml` drives expat directly into a tiny tree. It refuses DOCTYPE declarations
(hence entity definitions: no billion laughs, no external entities), bounds size, depth and node
count, ignores namespaces (clients differ in sending S3's), and turns every failure into MalformedXML.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from xml.parsers import expat

from storage_engine.errors import MalformedXML, MaxMessageLengthExceeded, S3Error

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
CONTENT_TYPE = "application/xml"

# Characters that need escaping in element text. Control characters are not representable in
# XML 1.0 even as references, but AWS emits them as references too; clients wanting them intact use
# encoding-type=url.
_NEEDS_ESCAPE = re.compile(r"[&<>\"\x00-\x08\x0b\x0c\x0d\x0e-\x1f\x7f]")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"&#x{ord(char):x};"


def escape(text: str) -> str:
    """Escape ``text`` for element content (a no-op scan for the common clean key)."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _NEEDS_ESCAPE.sub(_escape_char, text)


def escape_all(texts: list[str]) -> list[str]:
    """``escape`` of each, with one scan of them all when none needs it (a listing's keys, a page at a
    time)."""
    if _NEEDS_ESCAPE.search("".join(texts)) is None:
        return texts
    return [escape(t) for t in texts]


_ISO_SECOND: list[tuple[int, str]] = [(-1, "")]    # the last second formatted (listings repeat it)


def iso8601(timestamp: float) -> str:
    """``2024-05-01T12:00:00.123Z``: the body timestamp format every S3 client parses."""
    millis = int(timestamp * 1000) % 1000
    second = math.floor(timestamp)     # the second gmtime formats, also before 1970
    last_second, text = _ISO_SECOND[0]
    if second != last_second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp))
        _ISO_SECOND[0] = (second, text)
    return text + _MILLIS[millis]


_MILLIS = [f".{m:03d}Z" for m in range(1000)]


_HTTP_DATES: dict[int, str] = {}


def http_date(timestamp: float) -> str:
    """RFC 1123 date for ``Last-Modified`` and friends: ``Wed, 01 May 2024 12:00:00 GMT``.

    Cached per second: formatdate costs ~10 us, and hot objects are read over and over.
    """
    second = int(timestamp)
    text = _HTTP_DATES.get(second)
    if text is None:
        if len(_HTTP_DATES) >= 4096:
            _HTTP_DATES.clear()
        text = _HTTP_DATES[second] = formatdate(second, usegmt=True)
    return text


def quote_etag(etag: str) -> str:
    return f'"{etag}"'


class XmlWriter:
    """Append-only XML document: ``w.elem("Key", key)``, ``w.open("Contents")`` ... ``w.close(...)``."""

    __slots__ = ("_parts", "_root")

    def __init__(self, root: str, namespace: str | None = S3_NS) -> None:
        self._root = root
        ns = f' xmlns="{namespace}"' if namespace else ""
        self._parts: list[str] = [XML_DECL, f"<{root}{ns}>"]

    def elem(self, name: str, value: str | int | bool | None) -> None:
        """``<name>value</name>``; None is skipped, booleans render as ``true``/``false``."""
        if value is None:
            return
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        else:
            text = escape(value)
        self._parts.append(f"<{name}>{text}</{name}>")

    def empty(self, name: str) -> None:
        self._parts.append(f"<{name}></{name}>")

    def open(self, name: str) -> None:
        self._parts.append(f"<{name}>")

    def close(self, name: str) -> None:
        self._parts.append(f"</{name}>")

    def raw(self, fragment: str) -> None:
        """Append an already-escaped fragment (hot loops build their own)."""
        self._parts.append(fragment)

    def finish(self) -> bytes:
        self._parts.append(f"</{self._root}>")
        return "".join(self._parts).encode("utf-8", "surrogatepass")


def error_body(error: S3Error, resource: str, request_id: str) -> bytes:
    """The S3 ``<Error>`` document for ``error``."""
    w = XmlWriter("Error", namespace=None)
    w.elem("Code", error.code)
    w.elem("Message", error.message)
    # A signature scoped to the wrong region: AWS names the right one, and s3cmd and botocore retry with it.
    region = error.headers.get("x-amz-bucket-region")
    if region is not None and error.code in ("AuthorizationHeaderMalformed", "AuthorizationQueryParametersError"):
        w.elem("Region", region)
    # A resource naming a key with control characters must not make the error unparsable.
    w.elem("Resource", _NOT_XML.sub(lambda m: f"%{ord(m.group()):02X}", resource or error.resource or ""))
    w.elem("RequestId", request_id)
    w.elem("HostId", request_id)
    return w.finish()


# --- parsing ----------------------------------------------------------------------------------------

MAX_DEPTH = 16
MAX_NODES = 200_000


@dataclass(slots=True)
class XmlNode:
    """An element: local name (namespace dropped), its text (not stripped) and child elements."""

    tag: str
    text: str = ""
    children: list[XmlNode] = field(default_factory=list)

    def find(self, tag: str) -> XmlNode | None:
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def findall(self, tag: str) -> list[XmlNode]:
        return [child for child in self.children if child.tag == tag]

    def findtext(self, tag: str, default: str | None = None) -> str | None:
        child = self.find(tag)
        return child.text if child is not None else default


class _Refused(Exception):
    pass


def parse_xml(data: bytes, root: str, max_size: int = 1 << 20) -> XmlNode:
    """Parse a request body whose root element must be ``root``. Raises MalformedXML on anything bad."""
    if len(data) > max_size:
        raise MaxMessageLengthExceeded()
    stack: list[XmlNode] = []
    texts: list[list[str]] = []
    result: list[XmlNode] = []
    nodes = 0

    def start(name: str, _attrs: object) -> None:
        nonlocal nodes
        nodes += 1
        if len(stack) >= MAX_DEPTH or nodes > MAX_NODES:
            raise _Refused("document too deep or too large")
        node = XmlNode(name.rpartition(" ")[2])   # "namespace local" -> local
        if stack:
            stack[-1].children.append(node)
        else:
            result.append(node)
        stack.append(node)
        texts.append([])

    def end(_name: str) -> None:
        node = stack.pop()
        node.text = "".join(texts.pop())

    def chars(data: str) -> None:
        if texts:
            texts[-1].append(data)

    def refuse(*_args: object) -> None:
        raise _Refused("DOCTYPE and entity declarations are not allowed")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except (expat.ExpatError, _Refused, ValueError) as exc:
        raise MalformedXML() from exc
    if not result or result[0].tag != root:
        raise MalformedXML()
    return result[0]
