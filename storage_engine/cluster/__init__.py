"""Distributed mode: the node-to-node API, remote drives, locks and the cluster-wide config store.

See docs/distributed.md for how the pieces fit together.
"""
