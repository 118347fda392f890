"""Labels: Kubernetes' recommended `app.kubernetes.io/*` set, plus the tenant/pool keys selectors use."""

from __future__ import annotations

APP_NAME = "rustfs"
TENANT_LABEL = "rustfs.io/tenant"
POOL_LABEL = "rustfs.io/pool"


def tenant_labels(platform: str, tenant: str) -> dict[str, str]:
    """Labels on every object of a tenant."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": tenant,
        "app.kubernetes.io/part-of": platform,
        "app.kubernetes.io/managed-by": "pulumi",
        TENANT_LABEL: tenant,
    }


def tenant_selector(tenant: str) -> dict[str, str]:
    """Selects all engine pods of a tenant, and nothing else even in a shared namespace."""
    return {"app.kubernetes.io/name": APP_NAME, TENANT_LABEL: tenant}


def pool_selector(tenant: str, pool: str) -> dict[str, str]:
    """Selects one pool's pods; immutable in a StatefulSet, so it never includes versions."""
    return {**tenant_selector(tenant), POOL_LABEL: pool}
