"""The Pulumi program: stack config -> PlatformConfig (validated) -> ObjectStoragePlatform."""

import pulumi

from rustfs_component import ObjectStoragePlatform, PlatformConfig

config = pulumi.Config()
platform_config = PlatformConfig.model_validate(config.require_object("platform"))
platform = ObjectStoragePlatform(
    platform_config.name,
    platform_config,
    kubeconfig=config.get_secret("kubeconfig"),
    cold_tier_secret_access_key=config.get_secret("coldTierSecretAccessKey"),
    image_pull_docker_config_json=config.get_secret("imagePullDockerConfigJson"),
    vault_transit_token=config.get_secret("vaultTransitToken"),
)

pulumi.export("kubeconfig", platform.kubeconfig)
pulumi.export("tenants", {name: {"endpoint": tenant.endpoint,
                                 "credentialsSecret": tenant.credentials_secret_name,
                                 "coldTierSecret": tenant.cold_tier_secret_name,
                                 "iamUsers": tenant.iam_users}  # secret: identity.users' generated keys
                          for name, tenant in platform.tenants.items()})
