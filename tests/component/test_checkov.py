"""checkov over the Kubernetes manifests of every stack: nothing but the documented exceptions.

Every stack's manifests (`kubernetes_objects(plans[stack])`, the objects the plan would apply) are written as
one YAML file per stack and scanned with `checkov --framework kubernetes`. The accepted findings are the table
of the "Security scan" section of docs/component.md, which says why each is accepted; this test reads that
table, so it is the one list. A finding not in it fails, and so does a row no finding matches any longer.

checkov lives in its own virtualenv (`.venv-checkov`, made by `scripts/test`: its dependencies conflict with
the project's); `CHECKOV` names another executable. The test is skipped, saying why, only when checkov is not
installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_support import REPO, STACKS, kubernetes_objects

from rustfs_component.plan import Plan

DOC = REPO / "docs" / "component.md"
SECTION = "## Security scan"


def _checkov() -> Path:
    chosen = os.environ.get("CHECKOV")
    path = Path(chosen) if chosen else REPO / ".venv-checkov" / "bin" / "checkov"
    if not path.exists():
        why = os.environ.get("RUSTFS_CHECKOV_UNAVAILABLE") or (
            "scripts/test installs it (or: bash -c '. scripts/lib/env.sh; ensure_tool_venv checkov checkov==3.3.30')")
        pytest.skip(f"checkov is not installed at {path}: {why}")
    return path


def documented_exceptions() -> dict[tuple[str, str], str]:
    """{(check id, resource kind): why} from the table of docs/component.md's "Security scan" section."""
    text = DOC.read_text()
    if SECTION not in text:
        return {}
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    accepted: dict[tuple[str, str], str] = {}
    for line in section.splitlines():
        row = re.fullmatch(r"\|\s*`(CKV\w+)`\s*\|\s*`(\w+)`\s*\|(.+)\|\s*", line)
        if row:
            check, kind, why = row.groups()
            assert why.strip(), f"{check} on {kind}: the table must say why it is accepted"
            accepted[(check, kind)] = why.strip()
    return accepted


def _scan(plans: dict[str, Plan], directory: Path) -> dict[str, Any]:
    for stack in STACKS:
        objects = kubernetes_objects(plans[stack])
        assert objects, f"stack {stack} renders no Kubernetes object"
        (directory / f"{stack}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=True))
    done = subprocess.run(
        [str(_checkov()), "--directory", str(directory), "--framework", "kubernetes", "--output", "json",
         "--quiet", "--compact", "--skip-download"],   # --skip-download: no call to the vendor's API
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "TRUE"})
    assert done.returncode in (0, 1), f"checkov failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    (kubernetes,) = [r for r in reports if r.get("check_type") == "kubernetes"]
    return kubernetes


def test_checkov_finds_nothing_but_the_documented_exceptions(plans: dict[str, Plan], tmp_path: Path) -> None:
    report = _scan(plans, tmp_path)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, summary
    assert summary["resource_count"] > 0 and summary["passed"] > 0, f"checkov scanned nothing: {summary}"

    findings: dict[tuple[str, str], list[str]] = {}
    for failed in report["results"]["failed_checks"]:
        kind = failed["resource"].split(".", 1)[0]
        where = f"{failed['file_path'].lstrip('/')}: {failed['resource']}"
        findings.setdefault((failed["check_id"], kind), []).append(f"{where} ({failed['check_name']})")

    accepted = documented_exceptions()
    unexpected = {key: where for key, where in findings.items() if key not in accepted}
    assert not unexpected, "checkov findings not documented in docs/component.md 'Security scan':\n" + "\n".join(
        f"  {check} on {kind}:\n    " + "\n    ".join(sorted(where)) for (check, kind), where in sorted(unexpected.items()))
    stale = sorted(set(accepted) - set(findings))
    assert not stale, f"documented exceptions that checkov no longer reports (remove them from the doc): {stale}"
