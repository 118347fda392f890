"""What every cluster module hands downstream: a secret kubeconfig and a Kubernetes provider."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

TIER_NODE_LABEL = "rustfs.io/tier"
"""Nodes of a tier's node pool carry `rustfs.io/tier=<tier>`; engine pods select on it."""


@dataclass(frozen=True)
class ClusterHandle:
    """The same small handle from every cloud.

    `ready` lists the resources in-cluster objects must wait for (node pools, CSI add-ons): Kubernetes
    objects are applied through `provider` as soon as the API answers, but pods need nodes and volumes.
    """

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    ready: Sequence[pulumi.Resource] = field(default_factory=list)


def kubernetes_provider(name: str, kubeconfig: pulumi.Input[str], parent: pulumi.Resource,
                        depends_on: Sequence[pulumi.Resource] = ()) -> k8s.Provider:
    """The provider every in-cluster child uses.

    Its kubeconfig is built only from values that stay fixed for the cluster's life (endpoint, CA, name,
    an exec credential plugin): a changed token or rotated credential is an in-place update of the
    provider, never a replacement, so no in-cluster resource is replaced with it.
    """
    return k8s.Provider(
        f"{name}-k8s",
        kubeconfig=pulumi.Output.secret(kubeconfig),
        # Explicit: never fall back to the ambient kubeconfig's namespace for namespaced objects.
        namespace="default",
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


def render_kubeconfig(*, cluster_name: str, server: str, ca_data: str, user: dict[str, Any]) -> str:
    """A one-cluster kubeconfig as deterministic JSON (valid YAML), so equal inputs give equal text."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": user}],
        "preferences": {},
    }
    return json.dumps(config, sort_keys=True, indent=2)
