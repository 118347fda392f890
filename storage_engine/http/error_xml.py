"""S3 XML error bodies for the errors the HTTP layer itself answers (bad requests, limits, crashes).

The application renders its own errors; the server needs the same shape for the requests that never
reach the application, so clients always get ``<Error><Code>...`` and never a traceback.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

from storage_engine.errors import S3Error

from .types import Response

# Characters XML 1.0 cannot carry at all; a hostile path must not make the error document invalid.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def error_xml(error: S3Error, resource: str = "", request_id: str = "") -> bytes:
    """The S3 ``<Error>`` document for ``error``."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
        f"<Code>{_text(error.code)}</Code>",
        f"<Message>{_text(error.message)}</Message>",
    ]
    resource = resource or (error.resource or "")
    if resource:
        parts.append(f"<Resource>{_text(resource)}</Resource>")
    if request_id:
        parts.append(f"<RequestId>{_text(request_id)}</RequestId>")
    parts.append("</Error>")
    return "".join(parts).encode("utf-8", "replace")


def error_response(error: S3Error, resource: str = "", request_id: str = "") -> Response:
    """A complete Response for ``error`` (status, XML body, the error's extra headers)."""
    headers = [("Content-Type", "application/xml")]
    headers.extend(error.headers.items())
    return Response(status=error.status, headers=headers, body=error_xml(error, resource, request_id))
