"""The examples are real programs: they render offline and their Kubernetes objects validate."""

from __future__ import annotations

from component_support import REPO, kubernetes_objects
from component_validation import has_crd_schema, kubernetes_versions, validate_builtin, validate_custom

from rustfs_component.plan import render


def test_existing_cluster_example_renders_and_validates() -> None:
    plan = render(REPO / "examples" / "existing-cluster" / "__main__.py", stack="lab", config={},
                  project="rustfs-existing-cluster-example")
    tenants = plan.find("rustfs:index:Tenant")
    assert sorted(t.name for t in tenants) == ["storage-team-a", "storage-team-b"]
    # The caller's provider is used as is: no provider of the component's own.
    assert [p.name for p in plan.find("pulumi:providers:kubernetes")] == ["lab"]
    assert all(r.provider.endswith("::lab") for r in plan.registrations if r.type.startswith("kubernetes:"))
    objects = kubernetes_objects(plan)
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"] == ["object-storage", "vault"]
    for manifest in objects:
        if has_crd_schema(manifest["apiVersion"], manifest["kind"]):  # cert-manager's (TLS is on by default)
            assert validate_custom(manifest) == [], manifest["kind"]
        else:
            validate_builtin(manifest, kubernetes_versions()[0])
