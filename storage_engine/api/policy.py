"""Authorization: one decision point, taken after authentication and before any handler runs.

Today only the root user exists and it may do everything. IAM policies (users, groups, bucket
policies) plug in here: the function receives everything a policy decision needs (who, which
operation, which bucket and key), so handlers never make access decisions of their own.
"""

from __future__ import annotations

from storage_engine.api.context import Identity
from storage_engine.api.router import Endpoint
from storage_engine.errors import AccessDenied

# Engine administration is for the root user whatever policies say.
ROOT_ONLY = frozenset({Endpoint.AdminHeal, Endpoint.AdminKmsRewrap})


def authorize(identity: Identity, endpoint: Endpoint, bucket: str, key: str) -> None:
    """Raise AccessDenied unless ``identity`` may perform ``endpoint`` on ``bucket``/``key``."""
    del bucket, key   # consulted once IAM policies exist
    if identity.is_root:
        return
    if endpoint in ROOT_ONLY:
        raise AccessDenied()
    raise AccessDenied()
