"""Diff two plans: resources added, removed and changed, with the changed fields and their values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Kubernetes fields whose change makes the provider replace the object rather than patch it.
_REPLACING_K8S_FIELDS = ("metadata.name", "metadata.namespace", "spec.selector", "spec.serviceName",
                         "spec.volumeClaimTemplates", "spec.podManagementPolicy", "spec.clusterIP")


@dataclass
class PlanDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # urn -> [(path, old, new)]
    changed: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, inner in enumerate(value):
            out.update(_flatten(inner, f"{path}[{index}]"))
        return out
    return {path: value}


def _by_urn(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["urn"]: row for row in plan.get("resources", [])}


def diff_plans(old: dict[str, Any], new: dict[str, Any]) -> PlanDiff:
    """Compare two `--json` plans (their `resources` lists) field by field."""
    before, after = _by_urn(old), _by_urn(new)
    result = PlanDiff(added=sorted(set(after) - set(before)), removed=sorted(set(before) - set(after)))
    for urn in sorted(set(before) & set(after)):
        old_fields = _flatten({k: v for k, v in before[urn].items() if k != "urn"})
        new_fields = _flatten({k: v for k, v in after[urn].items() if k != "urn"})
        changes = [(path, old_fields.get(path), new_fields.get(path))
                   for path in sorted(set(old_fields) | set(new_fields))
                   if old_fields.get(path) != new_fields.get(path)]
        if changes:
            result.changed[urn] = changes
    return result


def _replaces(urn: str, paths: list[str]) -> bool:
    if "::kubernetes:" not in urn and "$kubernetes:" not in urn:
        return False
    return any(p.startswith(f"inputs.{f}") for p in paths for f in _REPLACING_K8S_FIELDS)


def format_diff(diff: PlanDiff) -> str:
    """Human-readable diff, `pulumi preview --diff` style."""
    if diff.empty:
        return "no changes\n"
    lines: list[str] = []
    for urn in diff.added:
        lines.append(f"+ {urn}")
    for urn in diff.removed:
        lines.append(f"- {urn}")
    for urn, changes in diff.changed.items():
        replace = " (likely replace)" if _replaces(urn, [c[0] for c in changes]) else ""
        lines.append(f"~ {urn}{replace}")
        for path, old, new in changes:
            lines.append(f"    {path}: {json.dumps(old)} => {json.dumps(new)}")
    lines.append(f"{len(diff.added)} to add, {len(diff.changed)} to change, {len(diff.removed)} to delete")
    return "\n".join(lines) + "\n"
