"""Vault, the KMS of every tenant: the Helm chart, HA with integrated Raft, TLS from the internal CA, and the seal
(docs/encryption.md, "Component"; the config is `rustfs_component.config.kms`).

`Vault` creates, in `kms.namespace`:

    Namespace     vault
    Certificate   vault-tls      internal CA ClusterIssuer; the Services, every pod's headless name, 127.0.0.1
    Secret        vault-unseal   the cloud credentials of an auto-unseal that has no workload identity (ACK)
    Release       vault          chart `vault` (../shared/schemas/helm/versions.json)

The seal is `awskms` (EKS: a KMS key and an IRSA role on Vault's ServiceAccount), `alicloudkms` (ACK: a KMS key and
a RAM user whose access key Vault reads from `vault-unseal`), `transit` (another Vault; its token from the Secret
`kms.transit.token_secret`, made from the secret config `vaultTransitToken` or by the operator), or none (Shamir). Credentials never appear in the values: they reach the pods as Secret-backed
environment variables.

Destroy order: the Release depends on its Certificate, which depends on cert-manager's issuers (and so its CRDs):
Vault goes first, the Certificate next, cert-manager last.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.clouds.base import ControllerIdentity
from rustfs_component.config.kms import AUTO_UNSEAL_SEALS, CA_KEY, PORT, RELEASE, TLS_SECRET, KmsConfig, Unseal
from rustfs_component.services.cert_manager import API_VERSION as CERT_MANAGER_API_VERSION

CHART = "vault"
CHART_VERSION = "0.34.1"  # ../shared/schemas/helm/versions.json
CHART_REPOSITORY = "https://helm.releases.hashicorp.com"
TYPE_TOKEN = "rustfs:services:Vault"

SERVICE_ACCOUNT = RELEASE  # the chart's server ServiceAccount, named explicitly (an IRSA trust names it)
HEADLESS = f"{RELEASE}-internal"
USERCONFIG = "/vault/userconfig"  # where the chart mounts `server.extraVolumes` (<USERCONFIG>/<secret>/)
UNSEAL_SECRET = "vault-unseal"
# Ready = initialized and unsealed (active or standby). The Service `vault` tenants use publishes ready pods only,
# so a sealed pod (a Shamir-sealed restart) gets no tenant traffic; the headless `vault-internal` publishes every
# pod (the chart's fixed choice), which Raft's retry_join and the vault-configure Job's init and unseal use.
READINESS_PATH = "/v1/sys/health?standbyok=true"


def dns_names(namespace: str, replicas: int, cluster_domain: str = "cluster.local") -> list[str]:
    """The names Vault's certificate covers: the Service `vault` and the active Service (every form), the headless
    Service and every pod's name under it (Raft's `retry_join` addresses)."""
    names: list[str] = []
    for service in (RELEASE, f"{RELEASE}-active", HEADLESS):
        names += [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
                  f"{service}.{namespace}.svc.{cluster_domain}"]
    for index in range(replicas):
        pod = f"{RELEASE}-{index}.{HEADLESS}"
        names += [pod, f"{pod}.{namespace}", f"{pod}.{namespace}.svc", f"{pod}.{namespace}.svc.{cluster_domain}"]
    return names


def _hcl_string(value: str) -> str:
    return json.dumps(value)  # an HCL string literal is a JSON one for everything we write


def seal_stanza(unseal: Unseal, seal_type: str | None, settings: Mapping[str, str], config: KmsConfig) -> str:
    """The `seal` block of the server config ('' for Shamir). `settings` are the cloud's facts (region,
    kms_key_id) for an auto-unseal; credentials are never written here."""
    if unseal == "shamir":
        return ""
    if unseal == "transit":
        transit = config.transit
        assert transit is not None  # KmsConfig checks
        params = {"address": transit.address.rstrip("/"), "key_name": transit.key_name,
                  "mount_path": transit.mount_path.rstrip("/") + "/", "disable_renewal": "false"}
        if transit.ca_secret is not None:
            params["tls_ca_cert"] = f"{USERCONFIG}/{transit.ca_secret}/{CA_KEY}"
        seal_type = "transit"
    else:
        assert seal_type is not None
        params = {"region": settings["region"], "kms_key_id": settings["kms_key_id"]}
    body = "".join(f"  {key} = {_hcl_string(value)}\n" for key, value in params.items())
    return f'seal "{seal_type}" {{\n{body}}}\n'


def server_config(namespace: str, replicas: int, seal: str) -> str:
    """The server's HCL: a TLS listener on the mounted certificate, Raft storage joining every pod over TLS
    (trusting only the internal CA), Kubernetes service registration, and the seal."""
    tls = f"{USERCONFIG}/{TLS_SECRET}"
    joins = "".join(
        "  retry_join {\n"
        f"    leader_api_addr = \"https://{RELEASE}-{index}.{HEADLESS}.{namespace}.svc:{PORT}\"\n"
        f"    leader_ca_cert_file = \"{tls}/{CA_KEY}\"\n"
        "  }\n" for index in range(replicas))
    return (
        "ui = true\n"
        "disable_mlock = true\n"
        "listener \"tcp\" {\n"
        f"  address = \"[::]:{PORT}\"\n"
        "  cluster_address = \"[::]:8201\"\n"
        "  tls_disable = false\n"
        f"  tls_cert_file = \"{tls}/tls.crt\"\n"
        f"  tls_key_file = \"{tls}/tls.key\"\n"
        "  tls_min_version = \"tls12\"\n"
        "}\n"
        "storage \"raft\" {\n"
        "  path = \"/vault/data\"\n"
        f"{joins}"
        "}\n"
        "service_registration \"kubernetes\" {}\n"
        f"{seal}")


def chart_values(config: KmsConfig, *, server_hcl: pulumi.Input[str], storage_class: str | None,
                 service_account_annotations: Mapping[str, pulumi.Input[str]] | None = None,
                 secret_env: Sequence[tuple[str, str, str]] = (), extra_secrets: Sequence[str] = ()
                 ) -> dict[str, Any]:
    """The chart's values: HA Raft server with TLS, no injector, our resources; `secret_env` is
    `(variable, secret, key)` for each Secret-backed environment variable; `extra_secrets` are mounted under
    /vault/userconfig/<name> besides the TLS Secret."""
    resources = config.resources
    return {
        "global": {"tlsDisable": False},
        "injector": {"enabled": False},
        "server": {
            "resources": {"requests": {"cpu": resources.cpu, "memory": resources.memory},
                          "limits": {"memory": resources.memory}},
            "dataStorage": {"enabled": True, "size": resources.storage, "storageClass": storage_class},
            "extraEnvironmentVars": {"VAULT_CACERT": f"{USERCONFIG}/{TLS_SECRET}/{CA_KEY}"},
            "extraSecretEnvironmentVars": [{"envName": env, "secretName": secret, "secretKey": key}
                                           for env, secret, key in secret_env],
            "extraVolumes": [{"type": "secret", "name": name} for name in (TLS_SECRET, *extra_secrets)],
            "readinessProbe": {"enabled": True, "path": READINESS_PATH, "port": PORT},
            "service": {"publishNotReadyAddresses": False},
            "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT,
                               "annotations": dict(service_account_annotations or {})},
            "standalone": {"enabled": False},
            "ha": {"enabled": True, "replicas": config.replicas,
                   "raft": {"enabled": True, "setNodeId": True, "config": server_hcl}},
        },
    }


class Vault(pulumi.ComponentResource):
    """Type `rustfs:services:Vault`: Vault installed into `config.namespace` (see the module docstring).

    `unseal_identity` is what the cluster's cloud made for an auto-unseal (`ClusterHandle.controller_identity`):
    ServiceAccount annotations, the key's facts (`settings`: region, kms_key_id) and credentials for the pods'
    environment (`secret_environment`). `transit_token` (unseal 'transit') becomes the Secret
    `kms.transit.token_secret`; without it that Secret is the operator's. `issuer` is the internal CA ClusterIssuer's reference and `issuers_ready`
    what to wait for (cert-manager's CRDs and issuers)."""

    release: k8s.helm.v3.Release
    certificate: k8s.apiextensions.CustomResource

    def __init__(self, name: str, config: KmsConfig, provider: k8s.Provider, *, platform: str, cloud: str,
                 issuer: Mapping[str, str], issuers_ready: Sequence[pulumi.Resource] = (),
                 unseal_identity: ControllerIdentity | None = None, transit_token: pulumi.Input[str] | None = None,
                 storage_class: str | None = None,
                 depends_on: Sequence[pulumi.Resource] = (), opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        namespace = config.namespace
        unseal = config.effective_unseal(cloud)
        labels = {"app.kubernetes.io/part-of": platform, "app.kubernetes.io/managed-by": "pulumi"}
        base = pulumi.ResourceOptions(parent=self, provider=provider)
        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": namespace, "labels": dict(labels)},
                                   opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(
                                       depends_on=list(depends_on))))
        in_ns = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[ns]))
        self.certificate = k8s.apiextensions.CustomResource(
            f"{name}-tls", api_version=CERT_MANAGER_API_VERSION, kind="Certificate",
            metadata={"name": TLS_SECRET, "namespace": namespace, "labels": dict(labels)},
            spec={"secretName": TLS_SECRET, "dnsNames": dns_names(namespace, config.replicas),
                  "ipAddresses": ["127.0.0.1"], "issuerRef": dict(issuer),
                  "usages": ["server auth", "client auth", "digital signature"],
                  "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                  "secretTemplate": {"labels": dict(labels)}},
            opts=pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(depends_on=list(issuers_ready))))

        after: list[pulumi.Resource] = [ns, self.certificate, *depends_on]
        secret_env: list[tuple[str, str, str]] = []
        extra_secrets: list[str] = []
        identity = unseal_identity
        if identity is not None and identity.secret_environment:
            secret = k8s.core.v1.Secret(
                f"{name}-unseal", metadata={"name": UNSEAL_SECRET, "namespace": namespace, "labels": dict(labels)},
                type="Opaque",
                string_data={env: pulumi.Output.secret(value) for env, value in identity.secret_environment.items()},
                opts=in_ns)
            after.append(secret)
            secret_env += [(env, UNSEAL_SECRET, env) for env in sorted(identity.secret_environment)]
        if unseal == "transit":
            transit = config.transit
            assert transit is not None
            secret_env.append(("VAULT_TOKEN", transit.token_secret, transit.token_secret_key))
            if transit_token is not None:  # else the operator's Secret, made once the namespace exists
                after.append(k8s.core.v1.Secret(
                    f"{name}-transit-token",
                    metadata={"name": transit.token_secret, "namespace": namespace, "labels": dict(labels)},
                    type="Opaque", string_data={transit.token_secret_key: pulumi.Output.secret(transit_token)},
                    opts=in_ns))
            if transit.ca_secret is not None:
                extra_secrets.append(transit.ca_secret)

        seal_type = AUTO_UNSEAL_SEALS.get(cloud) if unseal == "auto" else None
        facts: dict[str, pulumi.Input[str]] = dict(identity.settings) if identity is not None else {}
        hcl = pulumi.Output.all(*facts.values()).apply(
            lambda values: server_config(namespace, config.replicas, seal_stanza(
                unseal, seal_type, {k: str(v or "") for k, v in zip(facts, values)}, config)))
        values = chart_values(
            config, server_hcl=hcl, storage_class=storage_class,
            service_account_annotations=identity.service_account_annotations if identity is not None else None,
            secret_env=secret_env, extra_secrets=extra_secrets)
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=RELEASE, chart=CHART, version=CHART_VERSION, repository_opts={"repo": CHART_REPOSITORY},
            namespace=namespace, values=values,
            # Not awaited: a new Vault is ready only once initialized and unsealed, which the vault-configure Job
            # (after this release) does; that Job waits for Vault to answer and fails `pulumi up` if it never does.
            skip_await=True,
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=after)))
        self.register_outputs({"namespace": namespace, "unseal": unseal,
                               "address": f"https://{RELEASE}.{namespace}.svc:{PORT}"})
