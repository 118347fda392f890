"""CLI: `python -m rustfs_component.plan --stack STACK [--json FILE] [--diff OLD.json [--exit-code]]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rustfs_component.plan.diff import diff_plans, format_diff
from rustfs_component.plan.render import REPO_ROOT, Plan, render_stack


def tree(plan: Plan) -> str:
    """The resource tree like `pulumi preview`: type, name and key inputs under each parent."""
    rows = plan.resources()
    children: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        children.setdefault(row["parent"], []).append(row)
    roots = [r for r in rows if r["parent"] not in {row["urn"] for row in rows}]
    lines = [f"Previewing stack {plan.stack} offline (mocks; secrets shown as [secret])", ""]

    def walk(row: dict[str, Any], depth: int) -> None:
        lines.append(f"{'   ' * depth}+ {row['type']:<50} {row['name']}{_key_inputs(row)}")
        for child in children.get(row["urn"], []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    lines.append("")
    lines.append(f"Resources: {len(rows)} to create")
    return "\n".join(lines) + "\n"


def _key_inputs(row: dict[str, Any]) -> str:
    inputs = row["inputs"]
    metadata = inputs.get("metadata")
    if isinstance(metadata, dict) and "name" in metadata:
        where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
        return f"  [{inputs.get('kind', '')} {where}{metadata['name']}]"
    scalars = [f"{k}={v}" for k, v in sorted(inputs.items())
               if isinstance(v, (str, int, float, bool)) and len(str(v)) < 60][:4]
    return f"  [{', '.join(scalars)}]" if scalars else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rustfs_component.plan", description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="project directory (with Pulumi.yaml)")
    parser.add_argument("--json", dest="json_out", metavar="FILE",
                        help="write the deterministic plan (secrets redacted) to FILE ('-' for stdout)")
    parser.add_argument("--diff", metavar="OLD.json", help="print what changed since OLD.json")
    parser.add_argument("--exit-code", action="store_true", help="with --diff: exit 1 when anything changed")
    args = parser.parse_args(argv)

    plan = render_stack(args.stack, args.root)
    if args.json_out == "-":
        sys.stdout.write(plan.to_json())
    elif args.json_out:
        Path(args.json_out).write_text(plan.to_json())
    if args.diff:
        old = json.loads(Path(args.diff).read_text()) if Path(args.diff).exists() else {"resources": []}
        diff = diff_plans(old, json.loads(plan.to_json()))
        sys.stdout.write(format_diff(diff))
        return 1 if args.exit_code and not diff.empty else 0
    if not args.json_out:
        sys.stdout.write(tree(plan))
    print(f"rendered {len(plan.registrations)} resources in {plan.seconds:.2f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
