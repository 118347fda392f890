"""``GET /rustfs/metrics``: the node's metrics in the Prometheus text format 0.0.4.

Access (``RUSTFS_METRICS_AUTH``): ``token`` (default) needs ``Authorization: Bearer <RUSTFS_METRICS_TOKEN>``
(401 without it, 403 with another token, 403 saying how to configure one while none is set);
``public`` needs nothing. With ``RUSTFS_METRICS_ENABLED=false`` it answers 404. The answers to refused scrapes are one line of plain text (Prometheus shows
it as the scrape error), never an S3 XML document.
"""

from __future__ import annotations

import hmac

from storage_engine.config import EngineSettings
from storage_engine.http.types import Request, Response
from storage_engine.metrics import CONTENT_TYPE, exposition

_TEXT = "text/plain; charset=utf-8"


def _refuse(status: int, message: str, *, challenge: bool = False) -> Response:
    headers = [("Content-Type", _TEXT), ("Cache-Control", "no-store")]
    if challenge:
        headers.append(("WWW-Authenticate", 'Bearer realm="rustfs-metrics"'))
    return Response(status=status, headers=headers, body=(message + "\n").encode())


def check_access(request: Request, settings: EngineSettings) -> Response | None:
    """None when the scrape may proceed, else the refusal."""
    if not settings.metrics_enabled:
        return _refuse(404, "metrics are switched off on this node (RUSTFS_METRICS_ENABLED=false)")
    if settings.metrics_auth == "public":
        return None
    token = settings.metrics_token.get_secret_value()
    if not token:
        return _refuse(403, "metrics are disabled: set RUSTFS_METRICS_TOKEN (scrape with 'Authorization: Bearer "
                            "<token>') or RUSTFS_METRICS_AUTH=public")
    header = request.headers.get("authorization") or ""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return _refuse(401, "metrics need 'Authorization: Bearer <RUSTFS_METRICS_TOKEN>'", challenge=True)
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return _refuse(403, "the metrics bearer token is not RUSTFS_METRICS_TOKEN")
    return None


async def handle_metrics(request: Request, settings: EngineSettings) -> Response:
    refused = check_access(request, settings)
    if refused is not None:
        return refused
    body = exposition()
    headers = [("Content-Type", CONTENT_TYPE), ("Cache-Control", "no-store")]
    if request.method == "HEAD":
        return Response(status=200, headers=headers + [("Content-Length", str(len(body)))])
    return Response(status=200, headers=headers, body=body)
