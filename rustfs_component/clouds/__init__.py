"""One module per cloud, found through one registry.

    CLOUD_MODULES     cluster.cloud -> the module that implements it (imported only when used)
    cloud_for(cloud)  that module's `CLOUD` (a `Cloud`: its cluster, StorageClasses and cold tier)

A cloud's SDK is imported by its own module only, so a program on EKS never imports the Alibaba or
Tencent SDKs, and an install with only the `[eks]` extra works. A fifth cloud is one new module here,
its config model in `rustfs_component.config`, and a stack file; nothing else dispatches on the cloud.
"""

from __future__ import annotations

import importlib

from rustfs_component.clouds.base import (TIER_NODE_LABEL, Cloud, ClusterHandle, ColdTierAccess, TenantIdentity,
                                          cloud_provider, given_provider, kubernetes_provider, render_kubeconfig)

CLOUD_MODULES: dict[str, str] = {
    "eks": "rustfs_component.clouds.eks",
    "ack": "rustfs_component.clouds.ack",
    "tke": "rustfs_component.clouds.tke",
    "tanzu": "rustfs_component.clouds.tanzu",
    "existing": "rustfs_component.clouds.existing",
}
"""`cluster.cloud` -> module path. Each module defines `CLOUD` and is installed with the extra `[<cloud>]`."""

PACKAGE = "rustfs-platform"


class CloudSdkMissing(ImportError):
    """A cloud's module needs a package (its provider SDK) that is not installed."""


def cloud_for(cloud: str) -> Cloud:
    """The `Cloud` of `cluster.cloud`, importing its module on first use.

    Raises `KeyError` for a cloud no module implements, and `CloudSdkMissing` (one line naming the
    extra to install) when the module's SDK is not installed.
    """
    try:
        module_path = CLOUD_MODULES[cloud]
    except KeyError:
        raise KeyError(f"cluster.cloud '{cloud}': no cloud module registered "
                       f"(known: {', '.join(sorted(CLOUD_MODULES))})") from None
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if not missing or missing == module_path.split(".")[0]:
            raise
        raise CloudSdkMissing(
            f"cluster.cloud '{cloud}' needs the Python package '{missing}', which is not installed: "
            f"pip install '{PACKAGE}[{cloud}]'", name=missing) from error
    return module.CLOUD


__all__ = ["CLOUD_MODULES", "TIER_NODE_LABEL", "Cloud", "CloudSdkMissing", "ClusterHandle", "ColdTierAccess",
           "TenantIdentity", "cloud_for", "cloud_provider", "given_provider", "kubernetes_provider",
           "render_kubeconfig"]
