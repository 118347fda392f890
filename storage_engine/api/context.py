"""What every handler receives: the request context (:class:`ReqCtx`) and common response helpers."""

from __future__ import annotations

from dataclasses import dataclass

from storage_engine.api.router import Endpoint
from storage_engine.api.xml import CONTENT_TYPE
from storage_engine.auth import VerifiedRequest
from storage_engine.config import EngineSettings
from storage_engine.errors import InvalidArgument
from storage_engine.http.types import Headers, Response
from storage_engine.iam.principal import ROOT_DISPLAY_NAME, Principal
from storage_engine.iam.store import IamStore
from storage_engine.objects.types import NULL_VERSION, ObjectLayer

__all__ = ["Identity", "ReqCtx", "VerifiedRequest", "xml_response", "version_headers", "int_param"]

# The display name S3 reports for the root user's buckets and objects.
OWNER_DISPLAY_NAME = ROOT_DISPLAY_NAME


# Who made the request, as established by authentication (``iam/principal.py``): ``owner_id``,
# ``is_root``, ``arn``, ``display_name``.
Identity = Principal


@dataclass(slots=True)
class ReqCtx:
    """Per-request context: storage, settings, the resolved route and the authenticated identity."""

    layer: ObjectLayer
    settings: EngineSettings
    endpoint: Endpoint
    bucket: str
    key: str
    identity: Identity
    request_id: str
    query: dict[str, str]
    headers: Headers
    secure: bool = False            # the request came over TLS (SSE-C needs it)

    @property
    def iam(self) -> IamStore | None:
        """The layer's IAM store (``iam/store.py``); None for layers without one (test fakes)."""
        return getattr(self.layer, "iam", None)

    @property
    def resource(self) -> str:
        return f"/{self.bucket}/{self.key}" if self.key else f"/{self.bucket}"


def xml_response(body: bytes, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    all_headers = [("Content-Type", CONTENT_TYPE)]
    if headers:
        all_headers.extend(headers)
    return Response(status=status, headers=all_headers, body=body)


def version_headers(version_id: str | None) -> list[tuple[str, str]]:
    """``x-amz-version-id`` for versioned objects (never for the unversioned ``null`` version)."""
    if version_id and version_id != NULL_VERSION:
        return [("x-amz-version-id", version_id)]
    return []


def int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None = None,
              clamp_high: bool = False) -> int:
    """An integer query parameter in ``[low, high]``; out of range or not a number -> InvalidArgument.

    ``clamp_high`` silently lowers values above ``high`` (S3 does so for max-keys and friends).
    """
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(f"Provided {name} not an integer or within integer range") from None
    if value < low:
        raise InvalidArgument(f"Argument {name} must be an integer between {low} and {high}")
    if high is not None and value > high:
        if clamp_high:
            return high
        raise InvalidArgument(f"Argument {name} must be an integer between {low} and {high}")
    return value
