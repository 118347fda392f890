"""Every stack renders, validates against Kubernetes and CRD schemas, and matches its snapshot.

Update the snapshots after an intended change with:  UPDATE_SNAPSHOTS=1 pytest tests/component
"""

from __future__ import annotations

import difflib
import json
import os

import pytest
from component_support import HERE, STACKS, kubernetes_objects
from component_validation import has_crd_schema, kubernetes_versions, validate_builtin, validate_custom

from rustfs_component.plan import REDACTED, Plan

SNAPSHOTS = HERE / "snapshots"
CREDENTIAL_KEYS = {"accessKey", "secretKey", "accessKeyId", "secretAccessKey"}
BUILTIN_GROUPS = ("v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1", "storage.k8s.io/v1",
                  "rbac.authorization.k8s.io/v1")


def test_every_cloud_and_the_existing_example_have_a_stack() -> None:
    assert {"eks", "ack", "tke", "tanzu", "existing"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_plan_renders_a_platform_with_tenants(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    assert plan.find("rustfs:index:ObjectStoragePlatform")
    assert len(plan.find("rustfs:index:Tenant")) >= 2
    assert plan.find("kubernetes:apps/v1:StatefulSet")


@pytest.mark.parametrize("version", kubernetes_versions())
@pytest.mark.parametrize("stack", STACKS)
def test_builtin_objects_validate_strictly(plans: dict[str, Plan], stack: str, version: str) -> None:
    objects = [o for o in kubernetes_objects(plans[stack]) if o["apiVersion"] in BUILTIN_GROUPS]
    assert objects
    for manifest in objects:
        validate_builtin(manifest, version)


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_validate_against_their_crds(plans: dict[str, Plan], stack: str) -> None:
    custom = [o for o in kubernetes_objects(plans[stack]) if o["apiVersion"] not in BUILTIN_GROUPS]
    for manifest in custom:
        assert has_crd_schema(manifest["apiVersion"], manifest["kind"]), f"no schema for {manifest['apiVersion']}/{manifest['kind']}"
        assert validate_custom(manifest) == [], manifest["kind"]
    if stack == "tanzu":
        assert [o["kind"] for o in custom if o["apiVersion"] != "cert-manager.io/v1"] == ["Cluster"]


@pytest.mark.parametrize("stack", STACKS)
def test_snapshot(plans: dict[str, Plan], stack: str) -> None:
    rendered = plans[stack].to_json()
    path = SNAPSHOTS / f"{stack}.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(rendered)
    if not path.exists():
        pytest.fail(f"no snapshot {path.name}; create it with: UPDATE_SNAPSHOTS=1 pytest tests/component")
    committed = path.read_text()
    if committed != rendered:
        diff = "".join(difflib.unified_diff(committed.splitlines(True), rendered.splitlines(True),
                                            f"snapshots/{stack}.json", "rendered", n=2))
        pytest.fail(f"plan of {stack} changed; if intended: UPDATE_SNAPSHOTS=1 pytest tests/component\n{diff[:6000]}")


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_reaches_the_snapshot(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    text = plan.to_json()
    for reg in plan.registrations:
        if reg.type in ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"):
            continue
        if reg.type == "kubernetes:core/v1:Secret" and not reg.read_id:
            row = next(r for r in plan.resources() if r["urn"] == reg.urn)
            assert row["inputs"]["stringData"] == REDACTED
            for key, value in plan.raw_inputs(reg.urn)["stringData"].items():
                if key in CREDENTIAL_KEYS:
                    assert value not in text, f"{reg.name}.{key} leaked into the plan"
    for row in json.loads(text)["resources"]:
        if row["type"] == "pulumi:providers:kubernetes" and "kubeconfig" in row["inputs"]:
            assert row["inputs"]["kubeconfig"] == REDACTED
