from __future__ import annotations

import calendar

import pytest

from storage_engine.api.xml import XmlWriter, error_body, escape, http_date, iso8601, parse_xml
from storage_engine.errors import MalformedXML, MaxMessageLengthExceeded, NoSuchKey


def test_escape() -> None:
    assert escape("plain/key.txt") == "plain/key.txt"
    assert escape('a&b<c>"d') == "a&amp;b&lt;c&gt;&quot;d"
    assert escape("a\x01b\rc\td\ne") == "a&#x1;b&#xd;c\td\ne"


def test_timestamps() -> None:
    t = calendar.timegm((2024, 5, 1, 12, 0, 0)) + 0.1239
    assert iso8601(t) == "2024-05-01T12:00:00.123Z"
    assert http_date(t) == "Wed, 01 May 2024 12:00:00 GMT"


def test_writer() -> None:
    w = XmlWriter("Root")
    w.elem("A", "x<y")
    w.elem("B", 3)
    w.elem("C", True)
    w.elem("D", None)
    w.open("E")
    w.elem("F", "")
    w.close("E")
    body = w.finish().decode()
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Root xmlns="http://s3.amazonaws.com/doc/2006-03-01/">')
    assert body.endswith("<A>x&lt;y</A><B>3</B><C>true</C><E><F></F></E></Root>")


def test_error_body() -> None:
    body = error_body(NoSuchKey(), "/b/k&", "REQ1").decode()
    assert "<Code>NoSuchKey</Code>" in body
    assert "<Resource>/b/k&amp;</Resource>" in body
    assert "<RequestId>REQ1</RequestId>" in body


def test_parse_namespaced_and_plain() -> None:
    for doc in (b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key> a </Key></Object></Delete>',
                b"<?xml version='1.0'?><Delete><Object><Key> a </Key></Object></Delete>"):
        root = parse_xml(doc, "Delete")
        obj = root.find("Object")
        assert obj is not None and obj.findtext("Key") == " a "


def test_parse_keeps_escaped_text() -> None:
    root = parse_xml(b"<T><K>a&amp;b&#x20AC;</K></T>", "T")
    assert root.findtext("K") == "a&b\u20ac"


@pytest.mark.parametrize("doc", [
    b"",
    b"<Delete>",
    b"<Other/>",
    b"not xml",
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><Delete>&x;</Delete>',
    b'<!DOCTYPE d SYSTEM "file:///etc/passwd"><Delete/>',
    b"<Delete>" + b"<a>" * 100 + b"</a>" * 100 + b"</Delete>",
    b"<Delete>&undefined;</Delete>",
])
def test_parse_rejects(doc: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_xml(doc, "Delete")


def test_parse_size_limit() -> None:
    with pytest.raises(MaxMessageLengthExceeded):
        parse_xml(b"<Delete>" + b" " * 100 + b"</Delete>", "Delete", max_size=50)
