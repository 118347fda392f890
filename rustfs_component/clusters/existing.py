"""Any conformant cluster: a kubeconfig (or the caller's own provider) and nothing else created."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.clusters.handle import ClusterHandle
from rustfs_component.config import ExistingCluster


class ExistingClusterResource(pulumi.ComponentResource):
    """Wraps an existing cluster in the same `handle` every cloud gives.

    With `provider` given, it is used as is (the caller's provider, credentials and all). Otherwise a
    provider is built from `kubeconfig` (secret), or from the ambient kubeconfig when that is None.
    """

    handle: ClusterHandle

    def __init__(self, name: str, config: ExistingCluster, kubeconfig: pulumi.Input[str] | None = None,
                 provider: k8s.Provider | None = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rustfs:k8s:ExistingCluster", name, None, opts)
        if provider is not None and kubeconfig is not None:
            raise ValueError("pass either 'kubernetes_provider' or 'kubeconfig', not both")
        secret_kubeconfig = pulumi.Output.secret(kubeconfig if kubeconfig is not None else "")
        if provider is None:
            provider = k8s.Provider(
                f"{name}-k8s", kubeconfig=secret_kubeconfig if kubeconfig is not None else None,
                context=config.context, opts=pulumi.ResourceOptions(parent=self))
        self.handle = ClusterHandle(kubeconfig=secret_kubeconfig, provider=provider)
        self.register_outputs({"kubeconfig": secret_kubeconfig})
