"""Lifecycle metrics (``objects/lifecycle.py``): what the scanner's passes expired and aborted, process-wide
(one process of the cluster scans; with several workers a scrape sums the node's)."""

from __future__ import annotations


class IlmMetrics:
    def __init__(self) -> None:
        from storage_engine.metrics import counter

        self.expired = counter("rustfs_ilm_expired_versions",
                               "Versions removed and delete markers placed by lifecycle expiration rules.")
        self.aborted = counter("rustfs_ilm_aborted_uploads",
                               "Incomplete multipart uploads aborted by AbortIncompleteMultipartUpload rules.")
        self.transitioned = counter("rustfs_ilm_transitioned_versions",
                                    "Versions whose stored bytes lifecycle transitions moved to a tier.")
        self.transitioned_bytes = counter("rustfs_ilm_transitioned_bytes",
                                          "Stored bytes lifecycle transitions moved to tiers.")
        self.missed = counter("rustfs_ilm_missed",
                              "Transitions found due while the transition queue was full (the next pass retries).")
        self.errors = counter("rustfs_ilm_errors", "Lifecycle actions that failed (retried on the next pass).")


_ILM_METRICS: IlmMetrics | None = None


def ilm_metrics() -> IlmMetrics:
    """The process's lifecycle metrics (created on first use, in the process registry)."""
    global _ILM_METRICS
    if _ILM_METRICS is None:
        _ILM_METRICS = IlmMetrics()
    return _ILM_METRICS
