"""The AWS query protocol: ``POST /`` with an ``application/x-www-form-urlencoded`` body and ``Action=``.

The router sends such requests here (``Endpoint.QueryApi``); the API is chosen by the SigV4 credential
scope's service (``iam`` -> ``api/iam.py``, ``sts`` -> ``api/sts.py``); unsigned (anonymous) requests go to
STS (AssumeRoleWithWebIdentity / AssumeRoleWithLDAPIdentity). Each API authorizes its own actions and
answers its own ``<ErrorResponse>``; what fails before an API is chosen is answered here, the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from storage_engine.api import iam, sts
from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest
from storage_engine.api.xml import XmlWriter
from storage_engine.errors import MaxMessageLengthExceeded
from storage_engine.http.types import Response

__all__ = ["MAX_FORM_BYTES", "QUERY_APIS", "QueryApi", "error_response", "handle_query"]

MAX_FORM_BYTES = 128 * 1024          # the largest form: a 6 KiB policy document, URL-encoded, with room

# (ctx, request, Action, parameters) -> the API's response (its own errors included)
QueryApi = Callable[[ReqCtx, VerifiedRequest, str, dict[str, str]], Awaitable[Response]]
QUERY_APIS: dict[str, QueryApi] = {"iam": iam.handle, "sts": sts.handle}


async def handle_query(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    service = "sts" if req.principal.is_anonymous else req.service
    try:
        body = await read_small_body(req.body, ctx.headers, MAX_FORM_BYTES)
    except MaxMessageLengthExceeded:
        return error_response("ValidationError", f"The request body is larger than {MAX_FORM_BYTES} bytes.",
                              400, ctx.request_id)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return error_response("MalformedQueryString", "The request body is not UTF-8 form data.", 400,
                              ctx.request_id)
    params = dict(ctx.query)
    params.update(pairs)
    action = params.get("Action", "")
    api = QUERY_APIS.get(service)
    if api is None or not action:
        return error_response("InvalidAction", f"Could not find operation {action or '(none)'} for service "
                                               f"{service}.", 400, ctx.request_id)
    return await api(ctx, req, action, params)


def error_response(code: str, message: str, status: int, request_id: str, namespace: str | None = None) -> Response:
    """AWS's query-protocol error document (``Type`` Sender for 4xx, Receiver for 5xx)."""
    w = XmlWriter("ErrorResponse", namespace=namespace)
    w.open("Error")
    w.elem("Type", "Receiver" if status >= 500 else "Sender")
    w.elem("Code", code)
    w.elem("Message", message)
    w.close("Error")
    w.elem("RequestId", request_id)
    return Response(status=status, headers=[("Content-Type", "text/xml")], body=w.finish())
