#!/usr/bin/env bash
# Regenerate tests/component/upgrade/<release>/: a release's stack files and the plans of that release's code
# with the URNs real Pulumi gave it (README.md in this folder says why and how).
#
#   tests/component/upgrade/make_fixture.sh [RELEASE_TAG [PLAN_TREEISH]]     # defaults: v0.1.0 HEAD
#
# RELEASE_TAG: the release (a git tag). PLAN_TREEISH: where today's plan package (the recorder) comes from.
# PYTHON: the interpreter with the cloud SDKs (default .venv/bin/python of this checkout).
set -euo pipefail

release=${1:-v0.1.0}
plan_from=${2:-HEAD}
repo=$(git rev-parse --show-toplevel)
python=${PYTHON:-$repo/.venv/bin/python}
out="$repo/tests/component/upgrade/$release"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The release's tree, with today's rustfs_component/plan/ over its own: the release's program and component
# code run unchanged; only the recorder (URNs with the whole parent type chain, the SDKs' type tokens and
# outputs in the mocks) is today's.
git -C "$repo" archive "$release" | tar -x -C "$work"
rm -rf "$work/rustfs_component/plan"
git -C "$repo" archive "$plan_from" rustfs_component/plan | tar -x -C "$work"

rm -rf "$out"
mkdir -p "$out/stacks" "$out/plans"
cp "$work"/stacks/Pulumi.*.yaml "$out/stacks/"

# A fresh process whose first sys.path entry is the release's tree, so `rustfs_component` is the release's
# even where this checkout is installed in the venv (editable).
(cd "$work" && PYTHONPATH="$work" PYTHONDONTWRITEBYTECODE=1 "$python" - "$work" "$out" <<'PY'
import sys
from pathlib import Path

import rustfs_component
from rustfs_component.plan import render_stack

work, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
if Path(rustfs_component.__file__).resolve().parents[1] != work:
    sys.exit(f"rendered the wrong code: rustfs_component is {rustfs_component.__file__}, not under {work}")
for stack_file in sorted((work / "stacks").glob("Pulumi.*.yaml")):
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    plan = render_stack(stack, work)
    (out / "plans" / f"{stack}.json").write_text(plan.to_json())
    print(f"{stack}: {len(plan.registrations)} resources")
PY
)
echo "release=$release plan=$(git -C "$repo" rev-parse --short "$plan_from")" 
