"""A real Kubernetes control plane on 127.0.0.1 (`make cluster`, the `real_cluster` fixture); see README.md."""

from .local_cluster import ClusterError, LocalCluster, missing_binaries

__all__ = ["ClusterError", "LocalCluster", "missing_binaries"]
