"""One module per cloud; each builds a cluster and returns the same `ClusterHandle`."""

from rustfs_component.clusters.handle import TIER_NODE_LABEL, ClusterHandle

__all__ = ["TIER_NODE_LABEL", "ClusterHandle"]
