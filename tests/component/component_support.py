"""Helpers of the component tests (a uniquely named module: `conftest` is a name many test folders use).

    STACKS, REPO, HERE         the stacks under stacks/, the repository, this folder
    kubernetes_objects(plan)   the manifests a plan would apply (Kubernetes resources' inputs)
    render_variant(...)        render a stack from a modified copy of the project
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rustfs_component.plan import Plan, render_stack

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (REPO / "stacks").glob("Pulumi.*.yaml"))


def kubernetes_objects(plan: Plan) -> list[dict[str, Any]]:
    """Manifests of the Kubernetes objects a plan creates (reads of existing objects and Helm releases, which are
    no manifests, excluded: see component_validation.validate_helm_values).

    Secrets are unwrapped, in memory only, so a Secret's stringData is checked like any other field."""
    return [plan.raw_inputs(reg.urn) for reg in plan.registrations
            if reg.type.startswith("kubernetes:") and not reg.type.startswith("kubernetes:helm.sh/")
            and not reg.read_id]


def render_variant(tmp_path: Path, stack: str, mutate: Any) -> Plan:
    """Render `stack` from a copy of the project whose stack file `mutate(config_dict)` has changed."""
    import shutil

    import yaml

    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "stacks").mkdir(exist_ok=True)
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    mutate(document["config"])
    (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
    return render_stack(stack, tmp_path)


def waits_for(plan: Plan, urn: str, target: str) -> bool:
    """Whether ``urn`` depends on ``target``, directly or through other resources (Pulumi creates it after)."""
    deps = {r.urn: r.dependencies for r in plan.registrations}
    seen, todo = set(), [urn]
    while todo:
        current = todo.pop()
        if current == target:
            return True
        if current not in seen:
            seen.add(current)
            todo += deps.get(current, [])
    return False
