"""Diff two plans: resources added, removed, updated and replaced, with the changed fields and their values.

A change is a replacement where the provider would replace (`plan.replacements.FORCE_NEW`), or where a
resource's URN changed without an alias naming the old one (the engine creates the new and deletes the old).
A URN change an alias covers is an update of the renamed resource.

A replaced provider replaces every resource it manages ("(provider replaced)"): the engine creates them anew
with the new provider. A Kubernetes provider is replaced by pulumi-kubernetes' rule
(`plan.replacements.kubernetes_provider_replaces`: its `clusterIdentifier`, else the kubeconfig's cluster);
where that hangs on a kubeconfig the plan redacts, the diff says so (`unseen`) instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rustfs_component.plan.replacements import K8S_PROVIDER, force_new_fields, kubernetes_provider_replaces

URN_CHANGED = "(urn)"
PROVIDER_REPLACED = "(provider replaced)"
UNSEEN = "kubeconfig changes cannot be seen offline"


@dataclass
class PlanDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # urn -> [(path, old, new)], every resource whose fields changed (updated or replaced)
    changed: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)
    # urn -> the force-new properties that make the provider replace it ("(urn)": a URN change without alias)
    replaced: dict[str, list[str]] = field(default_factory=dict)
    # new urn -> old urn, for resources whose URN changed (by an alias, or same type and name elsewhere)
    moved: dict[str, str] = field(default_factory=dict)
    # Kubernetes provider urn -> how many resources it manages, where its kubeconfig is redacted and no
    # unchanged clusterIdentifier decides: replaced (with them) if the real kubeconfig names another cluster
    unseen: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.replaced or self.moved)

    @property
    def updated(self) -> list[str]:
        return [urn for urn in self.changed if urn not in self.replaced]


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


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    skip = {"urn", "aliases"}
    old_fields = _flatten({k: v for k, v in old.items() if k not in skip})
    new_fields = _flatten({k: v for k, v in new.items() if k not in skip})
    return [(path, old_fields.get(path), new_fields.get(path))
            for path in sorted(set(old_fields) | set(new_fields))
            if old_fields.get(path) != new_fields.get(path)]


def _moves(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """new urn -> old urn for resources present under another URN, and which of them an alias covers."""
    gone = set(before) - set(after)
    moved: dict[str, str] = {}
    aliased: set[str] = set()
    for urn in sorted(set(after) - set(before)):
        hits = [a for a in after[urn].get("aliases", []) if a in gone]
        if hits:
            moved[urn] = hits[0]
            aliased.add(urn)
            gone.discard(hits[0])
    for urn in sorted(set(after) - set(before) - set(moved)):
        row = after[urn]
        same = [old for old in sorted(gone) if before[old]["type"] == row["type"] and before[old]["name"] == row["name"]]
        if len(same) == 1:  # the same resource under a new parent chain, and nothing tells the engine so
            moved[urn] = same[0]
            gone.discard(same[0])
    return moved, aliased


def diff_plans(old: dict[str, Any], new: dict[str, Any]) -> PlanDiff:
    """Compare two `--json` plans (their `resources` lists) field by field."""
    before, after = _by_urn(old), _by_urn(new)
    moved, aliased = _moves(before, after)
    result = PlanDiff(added=sorted(set(after) - set(before) - set(moved)),
                      removed=sorted(set(before) - set(after) - set(moved.values())), moved=moved)
    pairs = [(urn, urn) for urn in sorted(set(before) & set(after))] + sorted((o, n) for n, o in moved.items())
    for old_urn, new_urn in pairs:
        changes = _field_changes(before[old_urn], after[new_urn])
        if changes:
            result.changed[new_urn] = changes
        inputs = [p.removeprefix("inputs.") for p, _, _ in changes if p.startswith("inputs.")]
        forcing = force_new_fields(after[new_urn]["type"], inputs)
        if old_urn != new_urn and new_urn not in aliased:
            forcing = [URN_CHANGED, *forcing]
        if after[new_urn]["type"] == K8S_PROVIDER:
            provider = kubernetes_provider_replaces(before[old_urn]["inputs"], after[new_urn]["inputs"])
            forcing += list(provider.replaces)
            if provider.hidden:
                result.unseen[new_urn] = sum(row.get("provider") == new_urn for row in after.values())
        if forcing:
            result.replaced[new_urn] = forcing
    # The engine replaces whatever a replaced provider manages (they were created through the old one).
    providers = {urn for urn in result.replaced if after[urn]["type"].startswith("pulumi:providers:")}
    for _, new_urn in pairs:
        if after[new_urn].get("provider") in providers:
            result.replaced.setdefault(new_urn, []).append(PROVIDER_REPLACED)
    return result


def format_diff(diff: PlanDiff) -> str:
    """Human-readable diff, `pulumi preview --diff` style: `+` add, `-` delete, `~` update, `+-` replace, and
    `?` a Kubernetes provider whose replacement hangs on a redacted kubeconfig."""
    notes = [f"? {urn} ({UNSEEN}: if the kubeconfig now names another cluster (server, CA), the provider "
             f"and its {count} resources are replaced)" for urn, count in sorted(diff.unseen.items())]
    if diff.empty:
        return "\n".join([*notes, "no changes"]) + "\n"
    lines: list[str] = []
    for urn in diff.added:
        lines.append(f"+ {urn}")
    for urn in diff.removed:
        lines.append(f"- {urn}")
    for urn in sorted(set(diff.changed) | set(diff.replaced) | set(diff.moved)):
        mark, note = "~", ""
        if urn in diff.replaced:
            mark, note = "+-", f" (replace: {', '.join(diff.replaced[urn])})"
        lines.append(f"{mark} {urn}{note}")
        if urn in diff.moved:
            lines.append(f"    was {diff.moved[urn]}")
        for path, old, new in diff.changed.get(urn, []):
            lines.append(f"    {path}: {json.dumps(old)} => {json.dumps(new)}")
    lines += notes
    updated = len([u for u in set(diff.changed) | set(diff.moved) if u not in diff.replaced])
    lines.append(f"{len(diff.added)} to add, {updated} to change, {len(diff.replaced)} to replace, "
                 f"{len(diff.removed)} to delete")
    return "\n".join(lines) + "\n"
