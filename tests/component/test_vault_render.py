"""Vault in the rendered plans (docs/encryption.md, "Component"): the pinned chart with values the chart's schema
accepts, HA Raft over TLS from the internal CA, and the seal per cloud (EKS awskms with its own key and an IRSA
role allowed only that key, ACK alicloudkms with a RAM user's key in a Secret, Shamir on TKE / Tanzu / existing,
transit by config); `kms.mode` existing or none renders no Vault; config errors name the field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from component_support import REPO, STACKS, kubernetes_objects, render_variant, waits_for
from component_validation import validate_custom, validate_helm_values

from rustfs_component.config import PlatformConfig
from rustfs_component.plan import Plan

RELEASE = "kubernetes:helm.sh/v3:Release"
VERSIONS = json.loads((REPO.parent / "shared" / "schemas" / "helm" / "versions.json").read_text())
SEALS = {"eks": "awskms", "ack": "alicloudkms", "tke": None, "tanzu": None, "existing": None}


def _vault_release(plan: Plan) -> tuple[str, dict[str, Any]]:
    [reg] = [r for r in plan.find(RELEASE) if plan.raw_inputs(r.urn)["chart"] == "vault"]
    return reg.urn, plan.raw_inputs(reg.urn)


def _hcl(release: dict[str, Any]) -> str:
    return release["values"]["server"]["ha"]["raft"]["config"]


def _seal(hcl: str) -> tuple[str, dict[str, str]] | None:
    match = re.search(r'^seal "([a-z]+)" \{\n(.*?)^\}', hcl, re.S | re.M)
    if match is None:
        return None
    return match.group(1), dict(re.findall(r'^\s+(\w+) = "([^"]*)"$', match.group(2), re.M))


def _stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]["rustfs-platform:platform"]


@pytest.mark.parametrize("stack", STACKS)
def test_vault_release_is_pinned_ha_raft_over_tls_and_its_values_validate(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    pin = next(v for v in VERSIONS if v["chart"] == "vault")
    urn, release = _vault_release(plan)
    assert release["version"] == pin["chartVersion"]
    assert release["repositoryOpts"]["repo"] == pin["helmRepository"]
    assert release["namespace"] == "vault" and release["name"] == "vault"
    values = release["values"]
    assert validate_helm_values("vault", values) == []
    assert values["global"]["tlsDisable"] is False and values["injector"]["enabled"] is False
    server = values["server"]
    assert server["ha"]["enabled"] is True and server["ha"]["replicas"] == 3
    assert server["ha"]["raft"]["enabled"] is True
    assert {"type": "secret", "name": "vault-tls"} in server["extraVolumes"]
    # Tenants' Service `vault` routes to initialized, unsealed pods only (a sealed standby answers 503).
    assert server["readinessProbe"]["path"] == "/v1/sys/health?standbyok=true"
    assert server["service"]["publishNotReadyAddresses"] is False
    hcl = _hcl(release)
    assert 'tls_cert_file = "/vault/userconfig/vault-tls/tls.crt"' in hcl
    assert 'tls_key_file = "/vault/userconfig/vault-tls/tls.key"' in hcl
    assert "tls_disable = 1" not in hcl and "tls_disable = true" not in hcl
    joins = re.findall(r'leader_api_addr = "https://(vault-\d)\.vault-internal\.vault\.svc:8200"\n'
                       r'\s+leader_ca_cert_file = "/vault/userconfig/vault-tls/ca.crt"', hcl)
    assert joins == ["vault-0", "vault-1", "vault-2"]

    # Its certificate: the internal CA's, for the Services, every pod under the headless Service and 127.0.0.1.
    [certificate] = [o for o in kubernetes_objects(plan) if o["kind"] == "Certificate"
                     and o["metadata"]["name"] == "vault-tls"]
    assert validate_custom(certificate) == []
    spec = certificate["spec"]
    assert certificate["metadata"]["namespace"] == "vault" and spec["secretName"] == "vault-tls"
    [ca_issuer] = [o for o in kubernetes_objects(plan) if o["kind"] == "ClusterIssuer" and "ca" in o["spec"]]
    assert spec["issuerRef"] == {"name": ca_issuer["metadata"]["name"], "kind": "ClusterIssuer",
                                 "group": "cert-manager.io"}
    assert {"vault", "vault.vault.svc", "vault-active.vault.svc", "vault-0.vault-internal",
            "vault-2.vault-internal.vault.svc.cluster.local"} <= set(spec["dnsNames"])
    assert spec["ipAddresses"] == ["127.0.0.1"]

    # Destroy order: the release goes before its Certificate, which goes before cert-manager (and its CRDs).
    [cert_reg] = [r for r in plan.registrations if r.type == "kubernetes:cert-manager.io/v1:Certificate"
                  and plan.raw_inputs(r.urn)["metadata"]["name"] == "vault-tls"]
    [cert_manager] = [r for r in plan.find(RELEASE) if plan.raw_inputs(r.urn)["chart"].endswith("/cert-manager")]
    assert waits_for(plan, urn, cert_reg.urn) and waits_for(plan, cert_reg.urn, cert_manager.urn)
    assert all(r.parent for r in plan.registrations if r.type in (RELEASE, "rustfs:services:Vault"))


@pytest.mark.parametrize("stack", STACKS)
def test_the_seal_is_the_clouds_kms_where_vault_has_one_and_shamir_elsewhere(plans: dict[str, Plan],
                                                                              stack: str) -> None:
    plan = plans[stack]
    _, release = _vault_release(plan)
    seal = _seal(_hcl(release))
    kms_keys = [r for r in plan.registrations if r.type in ("aws:kms/key:Key", "alicloud:kms/key:Key")]
    if SEALS[stack] is None:
        assert seal is None and kms_keys == []  # Shamir: no seal stanza, no cloud key
        return
    assert seal is not None and seal[0] == SEALS[stack]
    [key] = kms_keys
    key_id = key.outputs.get("keyId") or key.outputs["id"]
    assert seal[1] == {"region": _stack_config(stack)["cluster"]["region"], "kms_key_id": key_id}


def test_eks_irsa_role_allows_only_the_unseal_key_to_vaults_service_account(plans: dict[str, Plan]) -> None:
    plan = plans["eks"]
    _, release = _vault_release(plan)
    [key] = plan.find("aws:kms/key:Key")
    [alias] = plan.find("aws:kms/alias:Alias")
    assert plan.raw_inputs(alias.urn)["targetKeyId"] == key.outputs["keyId"]
    [role] = [r for r in plan.find("aws:iam/role:Role") if r.name.endswith("-vault-unseal")]
    [policy] = [r for r in plan.find("aws:iam/rolePolicy:RolePolicy") if r.name == role.name]
    document = json.loads(plan.raw_inputs(policy.urn)["policy"])
    assert document["Statement"] == [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                                      "Resource": key.outputs["arn"]}]
    trust = json.loads(plan.raw_inputs(role.urn)["assumeRolePolicy"])
    [statement] = trust["Statement"]
    subjects = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == [["system:serviceaccount:vault:vault"]]
    account = release["values"]["server"]["serviceAccount"]
    assert account["name"] == "vault"
    assert account["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}


def test_ack_ram_user_allows_only_the_unseal_key_and_its_access_key_reaches_vault_through_a_secret(
        plans: dict[str, Plan]) -> None:
    plan = plans["ack"]
    _, release = _vault_release(plan)
    [key] = plan.find("alicloud:kms/key:Key")
    [policy] = [r for r in plan.find("alicloud:ram/policy:Policy") if r.name.endswith("-vault-unseal")]
    document = json.loads(plan.raw_inputs(policy.urn)["policyDocument"])
    region = _stack_config("ack")["cluster"]["region"]
    assert document["Statement"] == [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                                      "Resource": [f"acs:kms:{region}:*:key/{key.outputs['id']}"]}]
    [access_key] = [r for r in plan.find("alicloud:ram/accessKey:AccessKey") if r.name.endswith("-vault-unseal")]
    [secret] = [o for o in kubernetes_objects(plan) if o["kind"] == "Secret"
                and o["metadata"]["name"] == "vault-unseal"]
    assert secret["metadata"]["namespace"] == "vault"
    assert secret["stringData"] == {"ALICLOUD_ACCESS_KEY": access_key.outputs["id"],
                                    "ALICLOUD_SECRET_KEY": access_key.outputs["secret"]}
    env = release["values"]["server"]["extraSecretEnvironmentVars"]
    assert sorted(env, key=lambda e: e["envName"]) == [
        {"envName": "ALICLOUD_ACCESS_KEY", "secretName": "vault-unseal", "secretKey": "ALICLOUD_ACCESS_KEY"},
        {"envName": "ALICLOUD_SECRET_KEY", "secretName": "vault-unseal", "secretKey": "ALICLOUD_SECRET_KEY"}]
    # Credentials only in the Secret (redacted in the plan), never in the release's values.
    assert access_key.outputs["secret"] not in json.dumps(release)
    assert access_key.outputs["secret"] not in plan.to_json()


def test_tanzu_unseals_with_another_vaults_transit_key_by_config(tmp_path: Path) -> None:
    def transit(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["kms"] = {"unseal": "transit", "replicas": 5, "transit": {
            "address": "https://vault.corp.example.com:8200", "key_name": "autounseal", "token_secret": "unseal-token",
            "ca_secret": "corp-ca"}}

    plan = render_variant(tmp_path, "tanzu", transit)
    _, release = _vault_release(plan)
    assert validate_helm_values("vault", release["values"]) == []
    assert _seal(_hcl(release)) == ("transit", {
        "address": "https://vault.corp.example.com:8200", "key_name": "autounseal", "mount_path": "transit/",
        "disable_renewal": "false", "tls_ca_cert": "/vault/userconfig/corp-ca/ca.crt"})
    server = release["values"]["server"]
    assert server["ha"]["replicas"] == 5 and len(re.findall("retry_join", _hcl(release))) == 5
    assert {"envName": "VAULT_TOKEN", "secretName": "unseal-token", "secretKey": "token"} in \
        server["extraSecretEnvironmentVars"]
    assert {"type": "secret", "name": "corp-ca"} in server["extraVolumes"]
    assert not [r for r in plan.registrations if ":kms/" in r.type]
    # Without `vaultTransitToken` the token Secret is the operator's: the component makes none.
    assert not [o for o in kubernetes_objects(plan) if o["kind"] == "Secret" and o["metadata"]["namespace"] == "vault"]


TRANSIT = {"unseal": "transit", "transit": {"address": "https://vault.corp.example.com:8200", "key_name": "autounseal",
                                            "token_secret": "unseal-token"}}


def test_a_transit_token_given_as_secret_config_becomes_the_token_secret_vaultwaits_for(tmp_path: Path) -> None:
    token = "hvs.offline-transit-token-for-tests"

    def transit(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["kms"] = TRANSIT
        config["rustfs-platform:vaultTransitToken"] = token

    plan = render_variant(tmp_path, "tanzu", transit)
    [secret] = [r for r in plan.find("kubernetes:core/v1:Secret") if r.name.endswith("-transit-token")]
    manifest = plan.raw_inputs(secret.urn)
    assert manifest["metadata"] == {"name": "unseal-token", "namespace": "vault", "labels": manifest["metadata"]["labels"]}
    assert manifest["stringData"] == {"token": token}
    urn, release = _vault_release(plan)
    assert waits_for(plan, urn, secret.urn)
    assert token not in json.dumps(release) and token not in plan.to_json()


def test_a_transit_token_without_transit_unseal_is_refused(tmp_path: Path) -> None:
    def stray(config: dict[str, Any]) -> None:
        config["rustfs-platform:vaultTransitToken"] = "hvs.stray"

    with pytest.raises(Exception, match="vaultTransitToken / vault_transit_token is given but kms.unseal is not"):
        render_variant(tmp_path, "tanzu", stray)


@pytest.mark.parametrize("kms", [
    {"mode": "existing", "address": "https://vault.corp.example.com", "ca_secret": "vault-ca",
     "token_secret": "vault-admin"},
    {"mode": "none"}])
def test_an_existing_vault_or_none_renders_no_release(tmp_path: Path, kms: dict[str, Any]) -> None:
    def adopt(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["kms"] = kms

    plan = render_variant(tmp_path, "eks", adopt)
    assert not [r for r in plan.find(RELEASE) if plan.raw_inputs(r.urn)["chart"] == "vault"]
    assert not plan.find("rustfs:services:Vault") and not plan.find("aws:kms/key:Key")
    assert "vault-tls" not in json.dumps([o["metadata"] for o in kubernetes_objects(plan)])


def test_vault_is_installed_by_default_with_tls_and_not_without(plans: dict[str, Plan], tmp_path: Path) -> None:
    assert plans["ack"].find("rustfs:services:Vault") and plans["ack"].find("alicloud:kms/key:Key")
    plan = render_variant(tmp_path, "ack", lambda c: c["rustfs-platform:platform"].update(tls={"enabled": False}))
    assert not plan.find("rustfs:services:Vault") and not plan.find("alicloud:kms/key:Key")


@pytest.mark.parametrize(("stack", "kms", "tls", "message"), [
    ("tke", {"unseal": "auto"}, True, "kms.unseal 'auto' is not available on cluster.cloud 'tke' (Vault has no "
                                      "Tencent Cloud KMS seal)"),
    ("tanzu", {"unseal": "auto"}, True, "kms.unseal 'auto' is not available on cluster.cloud 'tanzu'"),
    ("eks", {"unseal": "transit"}, True, "kms.transit is required with kms.unseal 'transit'"),
    ("eks", {"mode": "existing", "ca_secret": "ca"}, True, "kms.address is required with kms.mode 'existing'"),
    ("eks", {"mode": "existing", "address": "https://v.example.com", "ca_secret": "ca"}, True,
     "kms.token_secret is required with kms.mode 'existing'"),
    ("eks", {"address": "https://v.example.com"}, True, "kms.address applies to kms.mode 'existing' only"),
    ("eks", {"mode": "install"}, False, "kms.mode 'install' needs tls.enabled true"),
    ("eks", {"replicas": 2}, True, "kms.replicas must be odd"),
    ("ack", {"unsael": "auto"}, True, "kms.unsael"),
])
def test_kms_config_errors_name_the_field(stack: str, kms: dict[str, Any], tls: bool, message: str) -> None:
    config = _stack_config(stack)
    config["kms"] = kms
    config["tls"] = {"enabled": tls}
    with pytest.raises(pydantic.ValidationError) as error:
        PlatformConfig.model_validate(config)
    text = str(error.value)
    assert message in text or message in " ".join(".".join(map(str, e["loc"])) for e in error.value.errors()), text
