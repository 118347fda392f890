"""The `vault-configure` Job: every tenant's transit key, policy and Kubernetes-auth role in Vault.

The contract is docs/encryption.md ("Component"). A Job in Vault's namespace, with Vault's own image, runs a shell
script (a ConfigMap) that is idempotent, and is replaced whenever the script changes (its name carries the script's
hash), so every `pulumi up` that changes a tenant re-runs it and one that changes nothing does not:

    wait until Vault answers
    install: initialize it once (auto/transit unseal: recovery shares; shamir: key shares), the output kept in the
             Secret `vault-init` (created by the Job: the one write its Role allows), then unseal every sealed pod
             (shamir)
    log in   `vault-init`'s `configure-token` (else `root-token`), or the token Secret of an existing Vault
    once     enable transit and Kubernetes auth (Kubernetes auth reviews tokens against the in-cluster API)
    always   the policy `rustfs-configure` (what this Job needs, for a narrower token than root; README)
    tenant   transit key `rustfs-<tenant>` (aes256-gcm96), policy `rustfs-<tenant>` (that key only), Kubernetes-auth
             role `rustfs-<tenant>` bound to exactly the tenant's ServiceAccount and namespace, with only that policy

Why a Job, not the pulumi-vault provider: Vault is private to the cluster (no address reachable from where `pulumi up`
runs), and a Job needs no second provider, no port-forward, and no Vault token on the operator's machine or in the
Pulumi state. Pulumi waits for the Job to complete; the tenants' StatefulSets depend on it, so an engine starts only
once its key and role exist. Tokens and keys are never echoed (the CLI reads them from the environment or stdin).
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pulumi
import pulumi_kubernetes as k8s

from rustfs_component.config.kms import PORT, VaultAccess, vault_access
from rustfs_component.network import VaultPeer, vault_job_network_policy, vault_network_policy

if TYPE_CHECKING:
    from rustfs_component.config.platform import PlatformConfig

TYPE_TOKEN = "rustfs:services:VaultConfigure"
JOB = "vault-configure"
INIT_SECRET = "vault-init"
KEY_PREFIX = "rustfs-"
CONFIGURE_POLICY = "rustfs-configure"
AUDIENCE = "vault"  # the audience of the tenants' projected ServiceAccount tokens, required by their roles
KEY_TYPE = "aes256-gcm96"
KEY_SHARES, KEY_THRESHOLD = 5, 3
TOKEN_TTL, TOKEN_MAX_TTL = "1h", "24h"
SCRIPT_KEY = "configure.sh"
IMAGE = "hashicorp/vault:2.0.4"  # the chart's server.image: appVersion of ../shared/schemas/helm/versions.json
RUN_AS = 10100  # any uid: the CLI needs no user of the image (HOME is /tmp); high, clear of host uids
KUBERNETES_HOST = "https://kubernetes.default.svc"
VAULT_POD_SELECTOR = {"app.kubernetes.io/name": "vault", "component": "server"}  # the chart's server pods
JOB_POD_SELECTOR = {"app.kubernetes.io/name": JOB}


@dataclass(frozen=True)
class VaultTenant:
    """A tenant as Vault sees it: its key / policy / role name, and the ServiceAccount allowed to log in."""

    name: str
    namespace: str
    service_account: str

    @property
    def key(self) -> str:
        return tenant_key(self.name)


@dataclass(frozen=True)
class TenantVault:
    """What a tenant needs from Vault: `access` (where, which mounts), `ready` (the vault-configure Job: its key and
    role exist once it completed), and for an existing Vault its CA (`ca_bundle`, base64 PEM as in a Secret's data),
    which the tenant copies into its namespace."""

    access: VaultAccess
    ready: Sequence[pulumi.Resource] = ()
    ca_bundle: pulumi.Input[str] | None = None


def tenant_key(tenant: str) -> str:
    """The name of a tenant's transit key, and of its policy and Kubernetes-auth role: `rustfs-<tenant>`."""
    return f"{KEY_PREFIX}{tenant}"


def tenant_policy(tenant: str, transit_mount: str = "transit") -> str:
    """The tenant's policy: data keys, decrypt and rewrap with its own key, and reading that key; nothing else."""
    key = tenant_key(tenant)
    return "".join(_rule(f"{transit_mount}/{path}", [capability]) for path, capability in (
        (f"datakey/plaintext/{key}", "update"), (f"decrypt/{key}", "update"), (f"rewrap/{key}", "update"),
        (f"keys/{key}", "read")))


def configure_policy(transit_mount: str = "transit", auth_mount: str = "kubernetes") -> str:
    """What the Job needs: a token with this policy can replace the root token in `vault-init` (README)."""
    rules = (
        ("sys/mounts", ["read"]), (f"sys/mounts/{transit_mount}", ["create", "read", "update"]),
        ("sys/auth", ["read"]), (f"sys/auth/{auth_mount}", ["create", "read", "update", "sudo"]),
        (f"auth/{auth_mount}/config", ["create", "read", "update"]),
        (f"auth/{auth_mount}/role/{KEY_PREFIX}*", ["create", "read", "update"]),
        (f"sys/policies/acl/{KEY_PREFIX}*", ["create", "read", "update"]),
        (f"{transit_mount}/keys/{KEY_PREFIX}*", ["create", "read", "update"]),
    )
    return "".join(_rule(path, caps) for path, caps in rules)


def _rule(path: str, capabilities: Sequence[str]) -> str:
    quoted = ", ".join(f'"{c}"' for c in capabilities)
    return f'path "{path}" {{\n  capabilities = [{quoted}]\n}}\n'


_FUNCTIONS = r'''
log() { printf 'vault-configure: %s\n' "$*" >&2; }
fail() { log "$*"; exit 1; }

# vault status exits 0 unsealed, 2 sealed (or not initialized), 1 when Vault does not answer.
answers() { rc=0; VAULT_ADDR="$1" vault status >/dev/null 2>&1 || rc=$?; [ "$rc" -ne 1 ]; }
status_has() { VAULT_ADDR="$1" vault status -format=json 2>/dev/null | tr -d ' \n' | grep -q "\"$2\":$3"; }

wait_for() {  # wait_for ADDRESS: until Vault at ADDRESS answers (sealed or not)
  i=0
  until answers "$1"; do
    i=$((i + 1)); [ "$i" -lt "$WAIT_TRIES" ] || fail "Vault at $1 does not answer"
    sleep "$WAIT_SECONDS"
  done
}

retry() {  # retry CMD...: idempotent writes, retried while a standby or a new leader settles
  i=0
  until "$@"; do
    i=$((i + 1)); [ "$i" -lt "$WAIT_TRIES" ] || fail "failed: $1 $2 $3"
    sleep "$WAIT_SECONDS"
  done
}

pod_address() {  # pod_address N: Vault pod N's own address (POD_ADDRESSES: a list instead, the tests' servers)
  if [ -n "$POD_ADDRESSES" ]; then printf '%s\n' $POD_ADDRESSES | sed -n "$(($1 + 1))p"
  else printf 'https://%s-%s.%s-internal.%s.svc:%s' "$RELEASE" "$1" "$RELEASE" "$NAMESPACE" "$PORT"; fi
}

# The Kubernetes API, with the image's busybox wget (POST only; OpenSSL reads the CA from SSL_CERT_FILE).
create_init_secret() {  # create_init_secret QUERY INIT_JSON: create Secret vault-init (QUERY ?dryRun=All: a dry run)
  token=$(root_token "$2")
  init_b64=$(printf '%s' "$2" | base64 | tr -d '\n')
  token_b64=$(printf '%s' "$token" | base64 | tr -d '\n')
  body="$WORK/vault-init.json"
  printf '{"apiVersion":"v1","kind":"Secret","type":"Opaque","metadata":{"name":"%s","namespace":"%s","labels":{"app.kubernetes.io/managed-by":"vault-configure"}},"data":{"init.json":"%s","root-token":"%s"}}' \
    "$INIT_SECRET" "$NAMESPACE" "$init_b64" "$token_b64" >"$body"
  SSL_CERT_FILE="$SA_DIR/ca.crt" wget -q -O /dev/null \
    --header "Authorization: Bearer $(cat "$SA_DIR/token")" --header "Content-Type: application/json" \
    --post-file "$body" "$KUBERNETES_HOST/api/v1/namespaces/$NAMESPACE/secrets$1"
  rc=$?
  rm -f "$body"
  return "$rc"
}

root_token() { printf '%s\n' "$1" | awk '/"root_token"/ { gsub(/[ ",]/, ""); sub(/^root_token:/, ""); print }'; }

unseal_keys() {  # the first KEY_THRESHOLD unseal keys of the init output $1
  printf '%s\n' "$1" | awk '/"unseal_keys_b64"/ { keys = 1; next } keys && /\]/ { keys = 0 } keys { gsub(/[ ",]/, ""); print }' |
    head -n "$KEY_THRESHOLD"
}

unseal() {  # unseal ADDRESS INIT_JSON: the keys on stdin (`key=-`: never in an argument) until ADDRESS is unsealed
  status_has "$1" sealed true || return 0
  for key in $(unseal_keys "$2"); do
    printf '%s' "$key" | VAULT_ADDR="$1" vault write sys/unseal key=- >/dev/null || return 1
  done
  log "unsealed $1"
}

initialize() {  # install: initialize once, keep the output in vault-init, unseal (shamir); sets INIT
  first=$(pod_address 0)
  wait_for "$first"
  INIT=""
  [ -s "$INIT_DIR/init.json" ] && INIT=$(cat "$INIT_DIR/init.json")
  if ! status_has "$first" initialized true; then
    [ -z "$INIT" ] || fail "Vault is not initialized but Secret $INIT_SECRET exists: save and delete it to initialize"
    # The one-time output must be storable before it exists: prove the write with a dry run first.
    create_init_secret '?dryRun=All' '{"root_token": "dry-run"}' || fail "cannot create Secret $INIT_SECRET"
    if [ "$UNSEAL" = shamir ]; then set -- -key-shares="$KEY_SHARES" -key-threshold="$KEY_THRESHOLD"
    else set -- -recovery-shares="$KEY_SHARES" -recovery-threshold="$KEY_THRESHOLD"; fi
    INIT=$(VAULT_ADDR="$first" vault operator init -format=json "$@") || fail "vault operator init failed"
    retry create_init_secret '' "$INIT"
    log "initialized Vault; its root token and $([ "$UNSEAL" = shamir ] && echo unseal || echo recovery) keys are in Secret $INIT_SECRET"
  fi
  [ -n "$INIT" ] || fail "Vault is initialized but Secret $INIT_SECRET is missing"
  if [ "$UNSEAL" = shamir ]; then
    n=0
    while [ "$n" -lt "$REPLICAS" ]; do
      address=$(pod_address "$n")
      wait_for "$address"
      retry unseal "$address" "$INIT"
      n=$((n + 1))
    done
  fi
}

login() {  # VAULT_TOKEN from vault-init (install) or the given token Secret (existing); never printed
  if [ "$MODE" = install ]; then
    if [ -s "$INIT_DIR/configure-token" ]; then VAULT_TOKEN=$(cat "$INIT_DIR/configure-token")
    elif [ -s "$INIT_DIR/root-token" ]; then VAULT_TOKEN=$(cat "$INIT_DIR/root-token")
    else VAULT_TOKEN=$(root_token "$INIT")
    fi
  else
    [ -s "$TOKEN_FILE" ] || fail "no Vault token in $TOKEN_FILE"
    VAULT_TOKEN=$(cat "$TOKEN_FILE")
  fi
  export VAULT_TOKEN
  retry vault token lookup >/dev/null
}

enable_once() {  # transit, and Kubernetes auth (configured against the in-cluster API where this Job enables it)
  if ! vault secrets list -format=json | tr -d ' \n' | grep -q "\"$TRANSIT/\":"; then
    retry vault secrets enable -path="$TRANSIT" transit >/dev/null
    log "enabled transit at $TRANSIT/"
  fi
  if ! vault auth list -format=json | tr -d ' \n' | grep -q "\"$AUTH/\":"; then
    retry vault auth enable -path="$AUTH" kubernetes >/dev/null
    log "enabled Kubernetes auth at $AUTH/"
  fi
  # Vault runs in the cluster: it reviews tenants' tokens with its own ServiceAccount (its pod's token and CA). An
  # existing Vault's configuration is its team's: written only while it has none.
  if [ "$CONFIGURE_AUTH" = always ] || [ -z "$(vault read -field=kubernetes_host "auth/$AUTH/config" 2>/dev/null)" ]
  then
    set -- kubernetes_host="$KUBERNETES_HOST"
    # KUBERNETES_CA_FILE: a Vault outside the cluster (the tests' OpenBao) has no pod CA to read
    [ -z "$KUBERNETES_CA_FILE" ] || set -- "$@" kubernetes_ca_cert=@"$KUBERNETES_CA_FILE" disable_local_ca_jwt=true
    retry vault write "auth/$AUTH/config" "$@" >/dev/null
  fi
}

write_policy() { printf '%s' "$2" | vault policy write "$1" - >/dev/null; }

tenant() {  # tenant NAME NAMESPACE SERVICE_ACCOUNT POLICY
  key="$KEY_PREFIX$1"
  if ! vault read "$TRANSIT/keys/$key" >/dev/null 2>&1; then
    retry vault write -f "$TRANSIT/keys/$key" type="$KEY_TYPE" >/dev/null
    log "created transit key $key"
  fi
  retry write_policy "$key" "$4"
  retry vault write "auth/$AUTH/role/$key" bound_service_account_names="$3" bound_service_account_namespaces="$2" \
    audience="$AUDIENCE" token_policies="$key" token_no_default_policy=true token_ttl="$TOKEN_TTL" \
    token_max_ttl="$TOKEN_MAX_TTL" >/dev/null
  log "tenant $1: key, policy and role $key (ServiceAccount $2/$3)"
}
'''


def configure_script(tenants: Sequence[VaultTenant], *, mode: Literal["install", "existing"],
                     unseal: Literal["auto", "shamir", "transit"] = "auto", replicas: int = 3, release: str = "vault",
                     namespace: str = "vault", transit_mount: str = "transit", auth_mount: str = "kubernetes") -> str:
    """The Job's shell script (POSIX sh, busybox): settings first, then the functions, then one line per tenant.

    Paths and addresses the Job provides have environment overrides (`VAULT_ADDR`, `VAULT_CACERT`, `INIT_DIR`,
    `TOKEN_FILE`, `SA_DIR`, `KUBERNETES_HOST`, `KUBERNETES_CA_FILE`, `POD_ADDRESSES`, `WORK`, `WAIT_TRIES`,
    `WAIT_SECONDS`), so the same script runs against a local OpenBao and a fake Kubernetes API in the tests."""
    q = shlex.quote
    settings = {
        "MODE": mode, "UNSEAL": unseal, "REPLICAS": str(replicas), "RELEASE": release, "NAMESPACE": namespace,
        "PORT": str(PORT), "TRANSIT": transit_mount, "AUTH": auth_mount, "KEY_PREFIX": KEY_PREFIX,
        "KEY_TYPE": KEY_TYPE, "AUDIENCE": AUDIENCE, "TOKEN_TTL": TOKEN_TTL, "TOKEN_MAX_TTL": TOKEN_MAX_TTL,
        "INIT_SECRET": INIT_SECRET, "KEY_SHARES": str(KEY_SHARES), "KEY_THRESHOLD": str(KEY_THRESHOLD),
        # An installed Vault is configured entirely here; an existing one's auth config is the team's, if any.
        "CONFIGURE_AUTH": "always" if mode == "install" else "when-unset",
    }
    overridable = {
        "INIT_DIR": f"/{INIT_SECRET}", "TOKEN_FILE": "/vault-token/token",
        "SA_DIR": "/var/run/secrets/kubernetes.io/serviceaccount", "KUBERNETES_HOST": KUBERNETES_HOST,
        "KUBERNETES_CA_FILE": "", "POD_ADDRESSES": "",
        "WORK": "/tmp", "WAIT_TRIES": "120", "WAIT_SECONDS": "5"}
    lines = ["#!/bin/sh", "# vault-configure: rendered by rustfs_component.services.vault_configure; idempotent.",
             "set -eu", "umask 077"]
    lines += [f"{name}={q(value)}" for name, value in settings.items()]
    lines += [f'{name}="${{{name}:-{value}}}"' for name, value in overridable.items()]
    lines.append(': "${VAULT_ADDR:?VAULT_ADDR is not set}"')
    lines.append(_FUNCTIONS.strip("\n"))
    lines.append("")
    lines.append('log "configuring $VAULT_ADDR"')
    if mode == "install":
        lines.append("initialize")
    lines += ["wait_for \"$VAULT_ADDR\"", "login", "enable_once",
              f"retry write_policy {CONFIGURE_POLICY} {q(configure_policy(transit_mount, auth_mount))}"]
    lines += [f"tenant {q(t.name)} {q(t.namespace)} {q(t.service_account)} {q(tenant_policy(t.name, transit_mount))}"
              for t in sorted(tenants, key=lambda t: t.name)]
    lines.append('log "done"')
    return "\n".join(lines) + "\n"


def script_hash(script: str, image: str) -> str:
    """What names the Job: a change of script or image is a new Job (Pulumi replaces it, so it runs again)."""
    return hashlib.sha256(f"{image}\n{script}".encode()).hexdigest()[:10]


class VaultConfigure(pulumi.ComponentResource):
    """Type `rustfs:services:VaultConfigure`: the ConfigMap, ServiceAccount, Role and Job that configure Vault.

    `job` is what tenants' StatefulSets depend on. `depends_on` is what Vault needs first (the Helm release, and for an
    existing Vault nothing). `unseal` and `replicas` are the installed Vault's; ignored for an existing one."""

    job: k8s.batch.v1.Job
    script: str

    def __init__(self, name: str, access: VaultAccess, tenants: Sequence[VaultTenant], provider: k8s.Provider, *,
                 image: str = IMAGE, unseal: Literal["auto", "shamir", "transit"] = "auto", replicas: int = 3,
                 release: str = "vault", labels: Mapping[str, str] | None = None,
                 image_pull_secret: str | None = None, depends_on: Sequence[pulumi.Resource] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        namespace = access.namespace
        install = access.installed
        labels = {**(labels or {}), **JOB_POD_SELECTOR}
        base = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(depends_on))
        self.script = configure_script(
            tenants, mode="install" if install else "existing", unseal=unseal, replicas=replicas, release=release,
            namespace=namespace, transit_mount=access.transit_mount, auth_mount=access.auth_mount)
        digest = script_hash(self.script, image)

        config_map = k8s.core.v1.ConfigMap(
            f"{name}-script",
            metadata={"name": f"{JOB}-{digest}", "namespace": namespace, "labels": labels},
            data={SCRIPT_KEY: self.script}, immutable=True, opts=base)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata={"name": JOB, "namespace": namespace, "labels": labels},
            automount_service_account_token=False, opts=base)
        after: list[pulumi.Resource] = [config_map, account]
        if install:
            # The Job creates vault-init once (Kubernetes cannot restrict `create` to a name; nothing else is allowed:
            # the Job reads vault-init through its volume, never through the API).
            role = k8s.rbac.v1.Role(
                f"{name}-role", metadata={"name": JOB, "namespace": namespace, "labels": labels},
                rules=[{"api_groups": [""], "resources": ["secrets"], "verbs": ["create"]}], opts=base)
            binding = k8s.rbac.v1.RoleBinding(
                f"{name}-role-binding", metadata={"name": JOB, "namespace": namespace, "labels": labels},
                role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "Role", "name": JOB},
                subjects=[{"kind": "ServiceAccount", "name": JOB, "namespace": namespace}],
                opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[role])))
            after += [role, binding]

        volumes: list[k8s.core.v1.VolumeArgsDict] = [
            {"name": "script", "config_map": {"name": f"{JOB}-{digest}", "default_mode": 0o555}},
            {"name": "ca", "secret": {"secret_name": access.ca_secret,
                                      "items": [{"key": access.ca_key, "path": "ca.crt"}]}},
            {"name": "tmp", "empty_dir": {"medium": "Memory", "size_limit": "16Mi"}}]
        mounts: list[k8s.core.v1.VolumeMountArgsDict] = [
            {"name": "script", "mount_path": "/script", "read_only": True},
            {"name": "ca", "mount_path": "/vault-ca", "read_only": True},
            {"name": "tmp", "mount_path": "/tmp"}]
        if install:
            # Optional: absent until the first run creates it.
            volumes.append({"name": "init", "secret": {"secret_name": INIT_SECRET, "optional": True}})
            mounts.append({"name": "init", "mount_path": f"/{INIT_SECRET}", "read_only": True})
            volumes.append({"name": "kube-api", "projected": {"sources": [
                {"service_account_token": {"path": "token", "expiration_seconds": 600}},
                {"config_map": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}})
            mounts.append({"name": "kube-api", "mount_path": "/var/run/secrets/kubernetes.io/serviceaccount",
                           "read_only": True})
        elif access.token_secret is not None:
            volumes.append({"name": "token", "secret": {"secret_name": access.token_secret,
                                                        "items": [{"key": "token", "path": "token"}]}})
            mounts.append({"name": "token", "mount_path": "/vault-token", "read_only": True})
        pod: k8s.core.v1.PodSpecArgsDict = {
            "service_account_name": JOB,
            "automount_service_account_token": False,
            "restart_policy": "Never",
            "enable_service_links": False,
            "security_context": {"run_as_non_root": True, "run_as_user": RUN_AS, "run_as_group": RUN_AS,
                                 "fs_group": RUN_AS, "seccomp_profile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "configure", "image": image, "image_pull_policy": "Always",
                "command": ["/bin/sh", f"/script/{SCRIPT_KEY}"],
                "env": [{"name": "VAULT_ADDR", "value": access.address}, {"name": "VAULT_CACERT", "value": "/vault-ca/ca.crt"},
                        {"name": "HOME", "value": "/tmp"}],
                "volume_mounts": mounts,
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
                "security_context": {"allow_privilege_escalation": False, "read_only_root_filesystem": True,
                                     "privileged": False, "capabilities": {"drop": ["ALL"]},
                                     "run_as_non_root": True, "seccomp_profile": {"type": "RuntimeDefault"}}}],
            "volumes": volumes,
        }
        if image_pull_secret:
            pod["image_pull_secrets"] = [{"name": image_pull_secret}]
        plain = {k: v for k, v in labels.items() if k not in JOB_POD_SELECTOR}
        vault_job_network_policy(
            f"{name}-job-network-policy", namespace=namespace, job_pods=JOB_POD_SELECTOR, labels=plain,
            vault=VaultPeer.of_address(access.address, VAULT_POD_SELECTOR if install else None),
            kubernetes_api=install, opts=base)
        if install:
            # Vault admits its own pods, this Job and the tenants' engines; nobody else.
            vault_network_policy(f"{name}-network-policy", namespace=namespace, vault_pods=VAULT_POD_SELECTOR,
                                 job_pods=JOB_POD_SELECTOR, tenants=[(t.name, t.namespace) for t in tenants],
                                 port=PORT, labels=plain,
                                 opts=base)
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={"name": f"{JOB}-{digest}", "namespace": namespace, "labels": labels,
                      "annotations": {"rustfs.io/inputs-sha256": digest}},
            spec={"backoff_limit": 3, "active_deadline_seconds": 1800,
                  "template": {"metadata": {"labels": labels}, "spec": pod}},
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=after)))
        self.register_outputs({"job": self.job.metadata.apply(lambda m: m.name)})


def tenants_vault(name: str, config: "PlatformConfig", provider: k8s.Provider, *, parent: pulumi.Resource,
                  vault: Sequence[pulumi.Resource] = ()) -> TenantVault | None:
    """The platform's side: with `kms.mode` install or existing, the `vault-configure` Job (unless an existing Vault
    is configured by its team) after `vault` (the installed Vault's release), and for an existing Vault a read of its
    CA Secret; what every tenant gets (`TenantPlacement.vault`). None with `kms.mode` none."""
    access = vault_access(config)
    if access is None:
        return None
    ready: list[pulumi.Resource] = []
    if access.configure:
        configure = VaultConfigure(
            f"{name}-vault-configure", access,
            [VaultTenant(t.name, t.namespace_name, service_account=t.name) for t in config.tenants], provider,
            unseal=config.kms.effective_unseal(config.cluster.cloud), replicas=config.kms.replicas,
            labels={"app.kubernetes.io/part-of": name, "app.kubernetes.io/managed-by": "pulumi"},
            depends_on=vault, opts=pulumi.ResourceOptions(parent=parent))
        ready.append(configure.job)
    ca_bundle = None
    if not access.installed:
        source = k8s.core.v1.Secret.get(f"{name}-vault-ca-source", f"{access.namespace}/{access.ca_secret}",
                                        opts=pulumi.ResourceOptions(parent=parent, provider=provider))
        key = access.ca_key
        ca_bundle = pulumi.Output.secret(source.data).apply(lambda data: (data or {}).get(key, ""))
    return TenantVault(access, ready, ca_bundle)
