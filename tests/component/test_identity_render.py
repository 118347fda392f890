"""A tenant's `identity` in the rendered plans (docs/iam.md "Component"): OIDC / LDAP settings as the engine's own
RUSTFS_* names (from storage_engine.config), secrets by secretKeyRef only, the IAM bootstrap document as a ConfigMap
the engine's own model accepts, mounted read-only with the generated users' secret files and the CAs; config errors
name the field."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any

import pytest
import yaml
from component_support import REPO, STACKS, kubernetes_objects, render_variant
from component_validation import validate_builtin
from pydantic import ValidationError
from storage_engine.config import EngineSettings, env_name
from storage_engine.iam.bootstrap import parse_bootstrap

from rustfs_component.config import PlatformConfig, TenantConfig
from rustfs_component.identity import BOOTSTRAP_ANNOTATION
from rustfs_component.plan import REDACTED, Plan

IAM_MOUNT = "/etc/rustfs/iam"
SECRET_FIELDS = ("oidc_client_secret", "ldap_lookup_bind_password")


def _platform(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return document["config"]["rustfs-platform:platform"]


def _objects(plan: Plan, kind: str, namespace: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in kubernetes_objects(plan)
            if o["kind"] == kind and o["metadata"].get("namespace") == namespace}


def _pods(plan: Plan, tenant: TenantConfig) -> list[dict[str, Any]]:
    sets = _objects(plan, "StatefulSet", tenant.namespace_name)
    return [sets[f"{tenant.name}-{pool.name}"]["spec"]["template"]["spec"] for pool in tenant.pools]


def _projected(pod: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """Files of the iam volume: path -> (source kind, object name, key)."""
    [volume] = [v for v in pod["volumes"] if v["name"] == "iam"]
    files = {}
    for source in volume["projected"]["sources"]:
        [(kind, ref)] = source.items()
        for item in ref["items"]:
            files[f"{IAM_MOUNT}/{item['path']}"] = (kind, ref["name"], item["key"])
    return files


def _engine_reads(*envs: dict[str, str]) -> EngineSettings:
    """The settings the engine reads from this environment (pydantic-settings, JSON for dicts), as in the pod."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("RUSTFS_")]:
            patch.delenv(name)
        for env in envs:
            for name, value in env.items():
                patch.setenv(name, value)
        return EngineSettings()


def _identity_tenants(stack: str) -> list[TenantConfig]:
    config = PlatformConfig.model_validate(_platform(stack))
    return [t for t in config.tenants if t.identity != type(t.identity)()]


def test_every_stack_renders_an_identity_example() -> None:
    assert all(_identity_tenants(stack) for stack in STACKS)
    kinds = {kind for stack in STACKS for t in _identity_tenants(stack) for kind in ("oidc", "ldap", "users")
             if getattr(t.identity, kind)}
    assert kinds == {"oidc", "ldap", "users"}


@pytest.mark.parametrize("stack", STACKS)
def test_identity_settings_reach_the_engine_through_its_contract(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    for tenant in _identity_tenants(stack):
        identity = tenant.identity
        for pod in _pods(plan, tenant):
            [container] = pod["containers"]
            values = {e["name"]: e["value"] for e in container["env"] if "value" in e}
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
            # The plain values are what the engine's own settings model reads (env names from config.py).
            settings = _engine_reads(values, {env_name(f): "x" for f in SECRET_FIELDS if env_name(f) in refs})
            for field in SECRET_FIELDS:
                assert env_name(field) not in values  # never a plain value in the pod spec
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert mounts[IAM_MOUNT]["readOnly"] is True
            files = _projected(pod)
            if identity.oidc is not None:
                oidc = identity.oidc
                assert (settings.oidc_issuer, settings.oidc_client_id) == (oidc.issuer, oidc.client_id)
                assert settings.oidc_groups_claim == oidc.groups_claim
                assert settings.oidc_group_policies == oidc.group_policies
                if oidc.client_secret is not None:
                    ref = refs[env_name("oidc_client_secret")]
                    given = oidc.client_secret.secret
                    assert (ref["name"], ref["key"]) == ((given.name, given.key) if given else
                                                         (f"{tenant.name}-oidc-client", "clientSecret"))
                if oidc.ca is not None:
                    kind, name, key = files[settings.oidc_ca_file]
                    assert (name, key) == (oidc.ca.secret or oidc.ca.config_map, oidc.ca.key)
                    assert kind == ("secret" if oidc.ca.secret else "configMap")
            if identity.ldap is not None:
                ldap = identity.ldap
                assert settings.ldap_server_url == ldap.server_url and settings.ldap_start_tls == ldap.start_tls
                assert settings.ldap_user_search_filter == ldap.user_search_filter
                assert settings.ldap_group_search_filter == ldap.group_search_filter
                assert settings.ldap_policies == ldap.policies
                ref = refs[env_name("ldap_lookup_bind_password")]
                assert (ref["name"], ref["key"]) == (ldap.lookup_bind_password.name, ldap.lookup_bind_password.key)
                if ldap.ca is not None:
                    assert files[settings.ldap_ca_file][1:] == (ldap.ca.secret or ldap.ca.config_map, ldap.ca.key)
            if identity.bootstraps:
                assert files[settings.iam_bootstrap_file] == ("configMap", f"{tenant.name}-iam-bootstrap",
                                                             "bootstrap.json")
            else:
                assert not settings.iam_bootstrap_file


@pytest.mark.parametrize("stack", STACKS)
def test_the_bootstrap_document_is_the_engines_with_users_secrets_by_file(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    for tenant in _identity_tenants(stack):
        if not tenant.identity.bootstraps:
            continue
        namespace = tenant.namespace_name
        config_map = _objects(plan, "ConfigMap", namespace)[f"{tenant.name}-iam-bootstrap"]
        validate_builtin(config_map, "1.31")
        bootstrap = parse_bootstrap(json.loads(config_map["data"]["bootstrap.json"]))
        sets = _objects(plan, "StatefulSet", namespace)
        for pool in tenant.pools:  # a changed document rolls the pods: the engine applies it at start
            annotations = sets[f"{tenant.name}-{pool.name}"]["spec"]["template"]["metadata"]["annotations"]
            assert annotations[BOOTSTRAP_ANNOTATION] == \
                hashlib.sha256(config_map["data"]["bootstrap.json"].encode()).hexdigest()
        assert set(bootstrap.policies) == set(tenant.identity.policies)
        assert set(bootstrap.users) == set(tenant.identity.users)
        if not tenant.identity.users:
            continue
        secret = _objects(plan, "Secret", namespace)[f"{tenant.name}-iam-users"]
        validate_builtin(secret, "1.31")
        files = _projected(_pods(plan, tenant)[0])
        for name, user in bootstrap.users.items():
            assert user.access_key == secret["stringData"][f"{name}.accessKey"]
            assert len(secret["stringData"][f"{name}.secretKey"]) == 40
            assert user.secret_key_file is not None
            assert files[user.secret_key_file] == ("secret", f"{tenant.name}-iam-users", f"{name}.secretKey")
            assert user.groups == tenant.identity.users[name].groups
        # Generated secrets are Pulumi secrets: redacted wherever the plan is written.
        [row] = [r for r in plan.resources() if r["type"] == "kubernetes:core/v1:Secret"
                 and r["name"].endswith(f"{tenant.name}-iam-users")]
        assert row["inputs"]["stringData"] == REDACTED


EXPECTED_EGRESS = {  # the stacks' providers: (port, peer)
    "https://sso.example.com/realms/storage": (443, {"ipBlock": {"cidr": "0.0.0.0/0"}}),
    "ldap://openldap.directory.svc:389": (389, {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "directory"}}}),
    "https://sso.games.example.com/realms/players": (443, {"ipBlock": {"cidr": "0.0.0.0/0"}}),
    "ldaps://dc1.research.example.org:636": (636, {"ipBlock": {"cidr": "10.20.0.0/24"}}),
    "https://oidc.ci.example.internal": (443, {"ipBlock": {"cidr": "0.0.0.0/0"}}),
}


@pytest.mark.parametrize("stack", STACKS)
def test_the_engines_may_reach_their_identity_providers(plans: dict[str, Plan], stack: str) -> None:
    """Tenants' egress is denied by default: `<tenant>-allow-identity` opens the issuer's / directory's port."""
    for tenant in _identity_tenants(stack):
        oidc, ldap = tenant.identity.oidc, tenant.identity.ldap
        urls = ([oidc.issuer] if oidc else []) + ([ldap.server_url] if ldap else [])
        policies = _objects(plans[stack], "NetworkPolicy", tenant.namespace_name)
        if not urls:
            assert f"{tenant.name}-allow-identity" not in policies
            continue
        policy = policies[f"{tenant.name}-allow-identity"]
        validate_builtin(policy, "1.31")
        spec = policy["spec"]
        assert spec["podSelector"]["matchLabels"]["rustfs.io/tenant"] == tenant.name
        assert spec["policyTypes"] == ["Egress"] and "ingress" not in spec
        assert [(rule["ports"], rule["to"]) for rule in spec["egress"]] == [
            ([{"port": EXPECTED_EGRESS[url][0], "protocol": "TCP"}], [EXPECTED_EGRESS[url][1]]) for url in urls]


def test_a_tenant_without_identity_renders_none_of_it(plans: dict[str, Plan]) -> None:
    config = PlatformConfig.model_validate(_platform("eks"))
    [backups] = [t for t in config.tenants if t.name == "backups"]
    for pod in _pods(plans["eks"], backups):
        assert all(v["name"] != "iam" for v in pod["volumes"])
        names = {e["name"] for e in pod["containers"][0]["env"]}
        assert not any(n.startswith(("RUSTFS_OIDC_", "RUSTFS_LDAP_", "RUSTFS_IAM_")) for n in names)


def test_a_client_secret_from_pulumi_config_becomes_a_secret(tmp_path: Any) -> None:
    def mutate(config: dict[str, Any]) -> None:
        oidc = config["rustfs-platform:platform"]["tenants"][0]["identity"]["oidc"]
        oidc["client_secret"] = {"config": "keycloakClientSecret"}
        config["rustfs-platform:keycloakClientSecret"] = {"secure": "v1:offline"}
    plan = render_variant(tmp_path, "eks", mutate)
    secrets = _objects(plan, "Secret", "analytics")
    assert secrets["analytics-oidc-client"]["stringData"] == {"clientSecret": "offline-placeholder-secret"}
    [row] = [r for r in plan.resources() if r["name"].endswith("analytics-oidc-client")]
    assert row["inputs"]["stringData"] == REDACTED
    for statefulset in _objects(plan, "StatefulSet", "analytics").values():  # every pool's, the warm tier's too
        env = statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
        [ref] = [e["valueFrom"]["secretKeyRef"] for e in env if e["name"] == env_name("oidc_client_secret")]
        assert ref == {"name": "analytics-oidc-client", "key": "clientSecret"}


def _errors(stack: str, mutate: Any) -> dict[str, str]:
    config = copy.deepcopy(_platform(stack))
    mutate(config["tenants"][0])
    with pytest.raises(ValidationError) as caught:
        PlatformConfig.model_validate(config)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize(("stack", "mutate", "field", "words"), [
    ("ack", lambda t: t["identity"]["ldap"].update(user_search_filter="(uid=alice)"),
     "tenants.0.identity.ldap", "user_search_filter needs '%s'"),
    ("ack", lambda t: t["identity"]["ldap"].update(group_search_filter="(member=alice)"),
     "tenants.0.identity.ldap", "group_search_filter needs '%d'"),
    ("ack", lambda t: t["identity"]["ldap"]["policies"].update({"cn=x": ["nope"]}),
     "tenants.0.identity", "ldap.policies['cn=x']"),
    ("eks", lambda t: t["identity"]["oidc"].update(issuer="http://sso.example.com/realms/storage"),
     "tenants.0.identity.oidc", "issuer must be an https:// URL"),
    ("eks", lambda t: t["identity"]["oidc"].update(client_secret={}),
     "tenants.0.identity.oidc.client_secret", "exactly one of secret and config"),
    ("eks", lambda t: t["identity"]["users"].update(bob={"groups": ["undeclared"]}),
     "tenants.0.identity", "users.bob.groups: ['undeclared'] are not declared"),
    ("eks", lambda t: t["identity"]["groups"].update(g={"policies": ["missing"]}),
     "tenants.0.identity", "groups.g.policies: ['missing']"),
    ("eks", lambda t: t["identity"]["policies"].update(bad={"Statement": [{"Effect": "Allow"}]}),
     "tenants.0.identity", "policy 'bad'"),
    ("eks", lambda t: t["identity"]["users"].update({"bad+name": {}}),
     "tenants.0.identity.users.bad+name.[key]", "String should match pattern"),
    ("eks", lambda t: t["engine_settings"].update(oidc_client_secret="plain"),
     "tenants.0", "would be plain text"),
    ("eks", lambda t: t["engine_settings"].update(oidc_client_id="other"),
     "tenants.0", "give the oidc settings in identity.oidc only"),
    ("tanzu", lambda t: t["identity"]["ldap"].update(egress_cidrs=["10.20.0.1/24"]),
     "tenants.0.identity.ldap.egress_cidrs.0", "not a CIDR"),
    ("eks", lambda t: t["engine_settings"].update(iam_bootstrap_file="/x"),
     "tenants.0.engine_settings", "set by the component"),
])
def test_config_errors_name_the_field(stack: str, mutate: Any, field: str, words: str) -> None:
    errors = _errors(stack, mutate)
    assert field in errors and words in errors[field], errors


def test_a_users_change_of_groups_changes_only_the_bootstrap_document(tmp_path: Any, plans: dict[str, Plan]) -> None:
    def mutate(config: dict[str, Any]) -> None:
        tenant = config["rustfs-platform:platform"]["tenants"][0]
        tenant["identity"]["groups"]["auditors"] = {"policies": ["readonly"]}
        tenant["identity"]["users"]["etl"]["groups"].append("auditors")
    plan = render_variant(tmp_path, "eks", mutate)
    before, after = (_objects(p, "ConfigMap", "analytics")["analytics-iam-bootstrap"] for p in (plans["eks"], plan))
    document = json.loads(after["data"]["bootstrap.json"])
    assert document["users"]["etl"]["groups"] == ["pipelines", "auditors"]
    assert json.loads(before["data"]["bootstrap.json"])["users"]["etl"]["access_key"] == \
        document["users"]["etl"]["access_key"]  # the user's generated key stays
    assert {r.urn for r in plan.registrations} == {r.urn for r in plans["eks"].registrations}
    digests = [_objects(p, "StatefulSet", "analytics")["analytics-pool0"]["spec"]["template"]["metadata"]
               ["annotations"][BOOTSTRAP_ANNOTATION] for p in (plans["eks"], plan)]
    assert digests[0] != digests[1]


def test_the_engine_applies_the_rendered_document_and_the_rendered_key_works(
        plans: dict[str, Plan], make_engine: Any, tmp_path: Any) -> None:
    """The component-engine contract end to end: the rendered ConfigMap and Secret written where the pod's projected
    volume puts them (the mount mapped under tmp_path), the engine started with the rendered identity env; the
    generated user signs with the key from the rendered Secret and gets exactly its group's policy."""
    from botocore.exceptions import ClientError

    plan = plans["eks"]
    [tenant] = [t for t in PlatformConfig.model_validate(_platform("eks")).tenants if t.name == "analytics"]
    pod = _pods(plan, tenant)[0]
    mount = tmp_path / IAM_MOUNT.lstrip("/")
    sources = {"configMap": _objects(plan, "ConfigMap", "analytics"), "secret": _objects(plan, "Secret", "analytics")}
    for path, (kind, name, key) in _projected(pod).items():
        data = sources[kind][name]["data" if kind == "configMap" else "stringData"][key]
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data.replace(IAM_MOUNT, str(mount)))  # absolute paths follow the mapped mount
    env = {e["name"]: e["value"].replace(IAM_MOUNT, str(mount)) for e in pod["containers"][0]["env"]
           if "value" in e and e["name"].startswith(("RUSTFS_OIDC_", "RUSTFS_IAM_"))}
    env[env_name("oidc_client_secret")] = "stand-in-for-the-existing-secret"
    engine = make_engine(env=env, name="identity-contract")

    users = _objects(plan, "Secret", "analytics")["analytics-iam-users"]["stringData"]
    etl = engine.client(access_key=users["etl.accessKey"], secret_key=users["etl.secretKey"])
    root = engine.client()
    for bucket in ("analytics-events", "other"):
        root.create_bucket(Bucket=bucket)
    etl.put_object(Bucket="analytics-events", Key="e1", Body=b"x")  # analytics-rw, through the group pipelines
    assert etl.get_object(Bucket="analytics-events", Key="e1")["Body"].read() == b"x"
    with pytest.raises(ClientError) as denied:
        etl.put_object(Bucket="other", Key="e1", Body=b"x")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


# --- aws:SourceIp behind the way in: the engines trust the proxies' X-Forwarded-For (docs/iam.md) ------------------
def _pod_cidr(cluster: Any) -> str | None:
    """The stack's pod addresses, read from its cluster config (eks / ack terway: VPC CNI; else the CNI's range)."""
    return {"eks": getattr(cluster, "vpc_cidr", None), "ack": getattr(cluster, "vpc_cidr", None),
            "tke": getattr(cluster, "cluster_cidr", None), "tanzu": getattr(cluster, "pod_cidr", None)
            }.get(cluster.cloud)


def _plain_env(plan: Plan, tenant: TenantConfig) -> list[dict[str, str]]:
    return [{e["name"]: e["value"] for e in pod["containers"][0]["env"] if "value" in e} for pod in _pods(plan, tenant)]


def _proxies(values: dict[str, str]) -> tuple[str, ...]:
    """The proxies the engine trusts with this environment (its own setting's parsing)."""
    return _engine_reads({env_name("trusted_proxies"): values[env_name("trusted_proxies")]}).trusted_proxy_networks


@pytest.mark.parametrize("stack", STACKS)
def test_tenants_behind_the_way_in_trust_the_pod_cidr(plans: dict[str, Plan], stack: str) -> None:
    config = PlatformConfig.model_validate(_platform(stack))
    assert stack != "ack" or getattr(config.cluster, "cni") == "terway"        # ack's example: pods in the VPC's vswitches
    expected = _pod_cidr(config.cluster)
    for tenant in config.tenants:
        for values in _plain_env(plans[stack], tenant):
            if tenant.hosts and expected is not None:
                assert _proxies(values) == (expected,), tenant.name
            else:                                                     # no way in, or an unknown pod CIDR
                assert env_name("trusted_proxies") not in values, tenant.name


def test_a_tenants_trusted_proxies_reach_the_engine(tmp_path: Any) -> None:
    def mutate(config: dict[str, Any]) -> None:
        config["rustfs-platform:platform"]["tenants"][0]["trusted_proxies"] = ["10.244.0.0/16", "fd00::/64"]
    plan = render_variant(tmp_path, "existing", mutate)
    tenant = TenantConfig.model_validate(_platform("existing")["tenants"][0])
    for values in _plain_env(plan, tenant):
        assert _proxies(values) == ("10.244.0.0/16", "fd00::/64")


@pytest.mark.parametrize(("mutate", "field", "words"), [
    (lambda t: t.update(trusted_proxies=["10.0.0.1/8"]), "tenants.0.trusted_proxies.0", "not a CIDR"),
    (lambda t: (t.update(trusted_proxies=[]), t["engine_settings"].update(trusted_proxies="")),
     "tenants.0", "give the proxies in trusted_proxies only"),
])
def test_trusted_proxies_errors_name_the_field(mutate: Any, field: str, words: str) -> None:
    errors = _errors("eks", mutate)
    assert field in errors and words in errors[field], errors


def test_ingress_nginx_forwards_the_clients_address(plans: dict[str, Plan]) -> None:
    # X-Forwarded-For is the connection's peer (the client: externalTrafficPolicy Local), never a header the
    # client sent: trusting the controller pods' X-Forwarded-For cannot be fooled.
    [release] = [r for r in plans["eks"].resources() if r["name"].endswith("-ingress-release")]
    config = plans["eks"].raw_inputs(release["urn"])["values"]["controller"]["config"]
    assert config == {"use-forwarded-headers": "false", "compute-full-forwarded-for": "false"}
