"""Vault as the KMS of every tenant: installed by the component, or an existing one (docs/encryption.md, "Component").

    kms.mode      install | existing | none
    kms.unseal    auto | shamir | transit   (install only; default per cloud, `default_unseal`)

`vault_access(platform)` is what the tenants' side needs: the address tenants reach Vault at, the CA Secret and key
to copy into their namespaces, Vault's namespace and ServiceAccount, and the auth and transit mounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from rustfs_component.config.base import DnsLabel, Quantity, StrictModel

if TYPE_CHECKING:
    from rustfs_component.config.platform import PlatformConfig

Unseal = Literal["auto", "shamir", "transit"]

RELEASE = "vault"
"""The Helm release's name: the chart's fullname, hence its Services (`vault`, `vault-active`, `vault-internal`),
pods (`vault-<n>`) and ServiceAccount (`vault`)."""
TLS_SECRET = "vault-tls"
"""The Certificate (and its Secret: tls.crt, tls.key, ca.crt) Vault serves, in Vault's namespace."""
CA_KEY = "ca.crt"
PORT = 8200

AUTO_UNSEAL_SEALS: dict[str, str] = {"eks": "awskms", "ack": "alicloudkms"}
"""Clouds whose KMS Vault can auto-unseal with, and the seal's type. Vault has no Tencent Cloud KMS seal (its seal
types are alicloudkms, awskms, azurekeyvault, gcpckms, ocikms, pkcs11, transit; go-kms-wrapping's tencentcloudkms
wrapper is not wired into Vault), Tanzu and an existing cluster have no cloud KMS the component manages."""


def default_unseal(cloud: str) -> Unseal:
    """`auto` where the cloud has a KMS Vault can unseal with (EKS, ACK), `shamir` elsewhere (TKE, Tanzu, existing)."""
    return "auto" if cloud in AUTO_UNSEAL_SEALS else "shamir"


class TransitSeal(StrictModel):
    """Another Vault's transit engine unseals this one (`unseal: transit`)."""

    address: str = Field(pattern=r"^https://[^\s/]+(:[0-9]+)?/?$",
                         description="HTTPS address of the unsealing Vault, e.g. 'https://vault.example.com:8200'. "
                                     "Required.")
    key_name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Its transit key. Required.")
    mount_path: str = Field(default="transit", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                            description="Its transit engine's mount. Default 'transit'.")
    token_secret: DnsLabel = Field(
        description="A Secret in `kms.namespace` whose key `token_secret_key` holds a token allowed to encrypt and "
                    "decrypt with the key (never in the values: Vault reads it from the environment). Required.")
    token_secret_key: str = Field(default="token", pattern=r"^[-._a-zA-Z0-9]+$",
                                  description="Key of the token in `token_secret`. Default 'token'.")
    ca_secret: DnsLabel | None = Field(
        default=None,
        description="A Secret in `kms.namespace` with `ca.crt`, the CA of the unsealing Vault's certificate. Default: "
                    "none (the image's system CAs).")


class VaultResources(StrictModel):
    """Requests and limits of each Vault server pod."""

    cpu: Quantity = Field(default="250m", description="CPU request. Default '250m'.")
    memory: Quantity = Field(default="256Mi", description="Memory request and limit. Default '256Mi'.")
    storage: Quantity = Field(default="10Gi", description="Size of each pod's Raft volume. Default '10Gi'.")


class KmsConfig(StrictModel):
    """Where tenants' keys live: a Vault the component installs (default), an existing one, or none."""

    mode: Literal["install", "existing", "none"] | None = Field(
        default=None,
        description="'install': the Vault Helm chart, HA with integrated Raft, TLS from the internal CA (needs "
                    "tls.enabled); 'existing': a Vault the team runs (`address`, `ca_secret`, ...); 'none': no Vault, "
                    "each engine keeps its own static key (development). Default 'install', or 'none' when "
                    "tls.enabled is false (Vault's certificate comes from the internal CA).")
    namespace: DnsLabel = Field(default="vault", description="Namespace of the installed Vault. Default 'vault'.")
    replicas: int = Field(default=3, ge=1, le=7,
                          description="Vault server pods (Raft voters): 1, 3 or 5 (an odd number keeps a quorum "
                                      "through a loss). Default 3.")
    unseal: Unseal | None = Field(
        default=None,
        description="How the installed Vault unseals: 'auto' with the cloud's KMS (eks: AWS KMS, ack: Alibaba Cloud "
                    "KMS; the component creates the key and its permissions), 'shamir' (key shares, `vault operator "
                    "unseal` after every restart), 'transit' (another Vault, `transit`). Default 'auto' on eks and "
                    "ack, 'shamir' on tke (Vault has no Tencent Cloud KMS seal), tanzu and existing.")
    transit: TransitSeal | None = Field(
        default=None, description="The unsealing Vault; required with unseal 'transit' and refused otherwise.")
    resources: VaultResources = Field(default_factory=VaultResources,
                                      description="Vault pods' resources. Default: see VaultResources.")
    address: str | None = Field(
        default=None, pattern=r"^https://[^\s/]+(:[0-9]+)?/?$",
        description="mode 'existing': HTTPS address of the Vault, as tenant pods reach it. Required there, refused "
                    "otherwise.")
    ca_secret: DnsLabel | None = Field(
        default=None,
        description="mode 'existing': a Secret in `namespace` with `ca.crt` (the CA of the Vault's certificate) that "
                    "the component copies into tenant namespaces. Required there, refused otherwise (the installed "
                    "Vault's CA is its Certificate's).")
    auth_mount: str = Field(default="kubernetes", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                            description="Mount of the Kubernetes auth method tenants log in with. Default "
                                        "'kubernetes'.")
    transit_mount: str = Field(default="transit", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                               description="Mount of the transit engine holding the tenants' keys. Default 'transit'.")
    token_secret: DnsLabel | None = Field(
        default=None,
        description="mode 'existing' with `configure`: a Secret in `namespace` (key 'token') with a token allowed to "
                    "enable transit and Kubernetes auth and write the tenants' keys, policies and roles. Required "
                    "there, refused otherwise.")
    configure: bool = Field(
        default=True,
        description="mode 'existing': the component configures the tenants' keys, policies and roles (the "
                    "`vault-configure` Job); false renders only the engines' settings and the team configures its "
                    "Vault itself (README). Default true.")

    @model_validator(mode="after")
    def _fields_of_mode(self) -> "KmsConfig":
        existing = self.mode == "existing"
        if existing:
            for field in ("address", "ca_secret"):
                if getattr(self, field) is None:
                    raise ValueError(f"kms.{field} is required with kms.mode 'existing'")
            if self.configure and self.token_secret is None:
                raise ValueError("kms.token_secret is required with kms.mode 'existing' and kms.configure true "
                                 "(or set kms.configure false and configure the Vault yourself)")
        else:
            for field in ("address", "ca_secret", "token_secret"):
                if getattr(self, field) is not None:
                    raise ValueError(f"kms.{field} applies to kms.mode 'existing' only")
        if self.mode != "install" and self.mode is not None and (self.unseal is not None or self.transit is not None):
            raise ValueError(f"kms.unseal and kms.transit apply to kms.mode 'install' only, not '{self.mode}'")
        if (self.unseal == "transit") != (self.transit is not None):
            raise ValueError("kms.transit is required with kms.unseal 'transit' and applies to it only")
        if self.replicas % 2 == 0:
            raise ValueError(f"kms.replicas must be odd (1, 3, 5, 7), not {self.replicas}: Raft needs a majority")
        return self

    def effective_mode(self, tls_enabled: bool) -> Literal["install", "existing", "none"]:
        """`mode`, or its default: 'install' with TLS, 'none' without."""
        if self.mode is not None:
            return self.mode
        return "install" if tls_enabled else "none"

    def effective_unseal(self, cloud: str) -> Unseal:
        """`unseal`, or the cloud's default (`default_unseal`)."""
        return self.unseal if self.unseal is not None else default_unseal(cloud)


def kms_errors(kms: KmsConfig, cloud: str, tls_enabled: bool) -> list[str]:
    """What the platform refuses about `kms` given the cluster's cloud and TLS (PlatformConfig raises the first)."""
    mode = kms.effective_mode(tls_enabled)
    if mode != "install":
        return []
    if not tls_enabled:
        return ["kms.mode 'install' needs tls.enabled true (Vault's certificate comes from the internal CA): set "
                "tls.enabled true, or kms.mode 'existing' or 'none'"]
    if kms.unseal == "auto" and cloud not in AUTO_UNSEAL_SEALS:
        why = ("Vault has no Tencent Cloud KMS seal" if cloud == "tke"
               else "the component manages no cloud KMS there")
        return [f"kms.unseal 'auto' is not available on cluster.cloud '{cloud}' ({why}): use kms.unseal 'shamir' or "
                f"'transit' (auto-unseal: {', '.join(sorted(AUTO_UNSEAL_SEALS))})"]
    return []


@dataclass(frozen=True)
class VaultAccess:
    """How tenants reach Vault (`vault_access`).

    `address`: HTTPS address from any namespace; `ca_secret` / `ca_key`: the Secret in `namespace` holding the CA
    of Vault's certificate (copy it into each tenant namespace); `service_account`: Vault's own ServiceAccount (the
    Kubernetes auth method reviews tokens with it); `installed`: the component runs this Vault;
    `configure`: the component configures the tenants' keys, policies and roles; `token_secret`: the Secret (key
    'token') the configuring Job authenticates with, where one is given (existing Vault)."""

    address: str
    namespace: str
    ca_secret: str
    ca_key: str
    service_account: str | None
    auth_mount: str
    transit_mount: str
    installed: bool
    configure: bool
    token_secret: str | None


def vault_access(platform: "PlatformConfig") -> VaultAccess | None:
    """Where the tenants' Vault is, or None with `kms.mode` 'none' (engines keep a static key)."""
    kms = platform.kms
    mode = kms.effective_mode(platform.tls.enabled)
    if mode == "none":
        return None
    if mode == "existing":
        assert kms.address is not None and kms.ca_secret is not None  # KmsConfig checks
        return VaultAccess(address=kms.address.rstrip("/"), namespace=kms.namespace, ca_secret=kms.ca_secret,
                           ca_key=CA_KEY, service_account=None, auth_mount=kms.auth_mount,
                           transit_mount=kms.transit_mount, installed=False, configure=kms.configure,
                           token_secret=kms.token_secret)
    return VaultAccess(address=f"https://{RELEASE}.{kms.namespace}.svc:{PORT}", namespace=kms.namespace,
                       ca_secret=TLS_SECRET, ca_key=CA_KEY, service_account=RELEASE, auth_mount=kms.auth_mount,
                       transit_mount=kms.transit_mount, installed=True, configure=True, token_secret=None)
