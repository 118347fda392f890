"""Using the component from your own Pulumi program, on a cluster you already run.

Your program keeps its own Kubernetes provider (and credentials); the platform uses it as is.
"""

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component import ObjectStoragePlatform, PlatformConfig

config = pulumi.Config()
# Your provider: here from the ambient kubeconfig's context; could equally come from your cluster code.
cluster = k8s.Provider("lab", context=config.get("context") or "storage-lab")

platform = ObjectStoragePlatform(
    "storage",
    PlatformConfig.model_validate({
        "name": "storage",
        "cluster": {"cloud": "existing",
                    "tiers": {"hot": {"existing_storage_class": "fast-ssd"},
                              "warm": {"existing_storage_class": "standard"}}},
        "engine": {"image": "ghcr.io/acme/rustfs-engine:0.1.0@sha256:"
                            "8d59c183e26f6cf72ef266967d5336a890fd51559056ca00c1f4cf9bb1d8f418"},
        "tenants": [
            {"name": "team-a", "namespace": "object-storage",
             "pools": [{"name": "pool0", "servers": 4, "drives_per_server": 2, "drive_size": "50Gi"}]},
            {"name": "team-b", "namespace": "object-storage",
             "pools": [{"name": "pool0", "servers": 1, "drives_per_server": 4, "drive_size": "20Gi", "tier": "warm"}]},
        ],
    }),
    kubernetes_provider=cluster,
)

pulumi.export("endpoints", {name: tenant.endpoint for name, tenant in platform.tenants.items()})
pulumi.export("credentialsSecrets", {name: tenant.credentials_secret_name for name, tenant in platform.tenants.items()})
