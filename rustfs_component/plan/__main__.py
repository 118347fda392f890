"""CLI: `python -m rustfs_component.plan --stack STACK [--json FILE] [--diff OLD.json [--exit-code]]`.

Exit codes: 0 rendered (or no changes), 1 changes with `--exit-code`, 2 a usage or stack error (an unknown
stack, an invalid stack file, a missing or unreadable `--diff` file), told on stderr in one line per error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pydantic import ValidationError

from rustfs_component.clouds import CloudSdkMissing
from rustfs_component.plan.diff import diff_plans, format_diff
from rustfs_component.plan.render import REPO_ROOT, Plan, UnknownStackError, render_stack

USAGE_ERROR = 2


class CliError(Exception):
    """An error the user can fix; its lines are printed as `error: <line>` without a traceback."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _read_old_plan(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CliError(f"--diff file {str(path)!r} does not exist (write one with --json)")
    try:
        old = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CliError(f"--diff file {str(path)!r} is not a plan: {_one_line(str(error))}") from error
    if not isinstance(old, dict) or not isinstance(old.get("resources"), list):
        raise CliError(f"--diff file {str(path)!r} is not a plan: no \"resources\" list")
    return old


def _render(stack: str, root: Path) -> Plan:
    """`render_stack`, with a user's mistakes turned into `CliError`s that name the stack file and field."""
    where = f"stacks/Pulumi.{stack}.yaml"
    try:
        return render_stack(stack, root)
    except UnknownStackError as error:
        raise CliError(f"unknown stack {stack!r}; stacks in {error.stack_dir}: "
                       f"{', '.join(error.available) or '(none)'}") from error
    except FileNotFoundError as error:
        raise CliError(f"{root} is not a Pulumi project: {_one_line(str(error))}") from error
    except yaml.YAMLError as error:
        raise CliError(f"{where}: not valid YAML: {_one_line(str(error))}") from error
    except ValidationError as error:
        raise CliError(*(f"{where}: {_location(e['loc'])}: {e['msg']}" for e in error.errors())) from error
    except (pulumi.RunError, ValueError, CloudSdkMissing) as error:  # config missing or mistyped; a component
        # refusing a value; the cloud's SDK not installed (names the extra)
        raise CliError(f"{where}: {_one_line(str(error))}") from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rustfs_component.plan", description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="project directory (with Pulumi.yaml)")
    parser.add_argument("--json", dest="json_out", metavar="FILE",
                        help="write the deterministic plan (secrets redacted) to FILE ('-' for stdout)")
    parser.add_argument("--diff", metavar="OLD.json", help="print what changed since OLD.json")
    parser.add_argument("--exit-code", action="store_true", help="with --diff: exit 1 when anything changed")
    args = parser.parse_args(argv)
    try:
        old = _read_old_plan(Path(args.diff)) if args.diff else None
        plan = _render(args.stack, args.root)
    except CliError as error:
        for line in error.lines:
            print(f"error: {line}", file=sys.stderr)
        return USAGE_ERROR

    if args.json_out == "-":
        sys.stdout.write(plan.to_json())
    elif args.json_out:
        Path(args.json_out).write_text(plan.to_json())
    if old is not None:
        diff = diff_plans(old, json.loads(plan.to_json()))
        sys.stdout.write(format_diff(diff))
        return 1 if args.exit_code and not diff.empty else 0
    if not args.json_out:
        sys.stdout.write(tree(plan))
    print(f"rendered {len(plan.registrations)} resources in {plan.seconds:.2f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
