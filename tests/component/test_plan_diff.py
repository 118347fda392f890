"""The offline diff reports a real change: added, removed and changed resources with their fields."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_support import REPO

from rustfs_component.plan import Plan, diff_plans, format_diff, render_stack
from rustfs_component.plan.__main__ import main, tree


def test_diff_of_a_real_change(plans: dict[str, Plan], tmp_path: Path) -> None:
    # A copy of the project whose `existing` stack grows tenant "dev" and drops tenant "ci".
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "stacks").mkdir()
    stack = yaml.safe_load((REPO / "stacks" / "Pulumi.existing.yaml").read_text())
    platform = stack["config"]["rustfs-platform:platform"]
    platform["tenants"][0]["pools"][0]["drive_size"] = "40Gi"
    platform["tenants"] = platform["tenants"][:1] + [
        {"name": "qa", "pools": [{"name": "pool0", "servers": 1, "drives_per_server": 1, "tier": "hot"}]}]
    (tmp_path / "stacks" / "Pulumi.existing.yaml").write_text(yaml.safe_dump(stack))

    old = json.loads(plans["existing"].to_json())
    new = json.loads(render_stack("existing", tmp_path).to_json())
    diff = diff_plans(old, new)
    assert any(urn.endswith("::rustfs-qa") for urn in diff.added)
    assert any(urn.endswith("::rustfs-ci-pool0") for urn in diff.removed)
    [(sts_urn, changes)] = [(u, c) for u, c in diff.changed.items() if u.endswith("StatefulSet::rustfs-dev-pool0")]
    assert ("inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage", "20Gi", "40Gi") in changes
    text = format_diff(diff)
    assert f"~ {sts_urn} (likely replace)" in text and '"20Gi" => "40Gi"' in text
    assert diff_plans(old, old).empty and format_diff(diff_plans(old, old)) == "no changes\n"


def test_cli_json_diff_and_exit_code(plans: dict[str, Plan], tmp_path: Path, capsys: object) -> None:
    snapshot = tmp_path / "old.json"
    assert main(["--stack", "existing", "--json", str(snapshot)]) == 0
    assert json.loads(snapshot.read_text()) == json.loads(plans["existing"].to_json())
    assert main(["--stack", "existing", "--diff", str(snapshot), "--exit-code"]) == 0
    changed = json.loads(snapshot.read_text())
    changed["resources"] = changed["resources"][1:]
    snapshot.write_text(json.dumps(changed))
    assert main(["--stack", "existing", "--diff", str(snapshot), "--exit-code"]) == 1


def test_tree_shows_parents_and_redacts_secrets(plans: dict[str, Plan]) -> None:
    text = tree(plans["eks"])
    assert "rustfs:index:ObjectStoragePlatform" in text and "[kubeconfig=[secret]" in text
    lines = text.splitlines()
    tenant = next(i for i, line in enumerate(lines) if "rustfs:index:Tenant" in line)
    assert lines[tenant + 1].startswith("      + ")  # children indented under their parent


def _invalid_eks_stack(config: dict[str, Any]) -> None:
    platform = config["rustfs-platform:platform"]
    platform["cluster"]["availability_zones"] = platform["cluster"]["availability_zones"][:1]
    platform["tenants"][0]["pools"][0]["servers"] = "four"


def _project(tmp_path: Path) -> Path:
    """A copy of the project whose eks stack has two invalid fields."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "stacks").mkdir()
    document = yaml.safe_load((REPO / "stacks" / "Pulumi.eks.yaml").read_text())
    _invalid_eks_stack(document["config"])
    (tmp_path / "stacks" / "Pulumi.eks.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


CLI_ERRORS = {
    "unknown stack": (lambda root: ["--stack", "nope", "--root", str(REPO)],
                      ["error: unknown stack 'nope'; stacks in ", "ack, eks, existing, tanzu, tke"]),
    "invalid stack file": (lambda root: ["--stack", "eks", "--root", str(root)],
                           ["error: stacks/Pulumi.eks.yaml: cluster.eks.availability_zones: List should have at least 2",
                            "error: stacks/Pulumi.eks.yaml: tenants[0].pools[0].servers: Input should be a valid integer"]),
    "missing --diff file": (lambda root: ["--stack", "existing", "--root", str(REPO), "--diff", str(root / "gone.json")],
                            ["error: --diff file '", "gone.json' does not exist"]),
}


@pytest.mark.parametrize("case", sorted(CLI_ERRORS))
def test_cli_errors_are_one_line_each_and_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, expected = CLI_ERRORS[case]
    assert main(argv(_project(tmp_path))) == 2
    out, err = capsys.readouterr()
    assert out == "" and all(part in err for part in expected), err
    assert all(line.startswith("error: ") for line in err.splitlines()), err


@pytest.mark.parametrize("case", sorted(CLI_ERRORS))
def test_cli_errors_through_a_process_show_no_traceback(case: str, tmp_path: Path) -> None:
    argv, expected = CLI_ERRORS[case]
    done = subprocess.run([sys.executable, "-m", "rustfs_component.plan", *argv(_project(tmp_path))],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and all(part in done.stderr for part in expected), done.stderr
    assert done.stdout == ""
