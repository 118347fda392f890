"""pyright over both halves of the repository, as part of the test run: any type error fails the suite.

What is checked is `[tool.pyright]` in pyproject.toml (`include = ["rustfs_component", "storage_engine"]`, the
project's .venv for imports); the test adds no settings of its own, so `.venv/bin/pyright` run by hand from the
repository root reports the same. `tests/` is not checked (it has known errors of its own; see the report of
issue 8). One pyright run takes about 30-50 s on a 2-core machine under load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HALVES = ("rustfs_component", "storage_engine")
PYRIGHT = Path(sys.executable).with_name("pyright")  # the test extra installs it beside the interpreter


def _pyright(cwd: Path) -> tuple[dict[str, Any], str]:
    """Run pyright with the project's config in `cwd`; return its JSON report and a readable listing."""
    assert PYRIGHT.exists(), f"{PYRIGHT} is missing: install the test extra (pip install -e '.[test]')"
    done = subprocess.run([str(PYRIGHT), "--outputjson"], cwd=cwd, capture_output=True, text=True, timeout=600)
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"pyright gave no JSON report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    lines = [
        f"{Path(d['file']).relative_to(cwd) if Path(d['file']).is_relative_to(cwd) else d['file']}:"
        f"{d['range']['start']['line'] + 1}:{d['range']['start']['character'] + 1}: "
        f"{d['severity']}: {d['message']}" + (f" ({d['rule']})" if d.get("rule") else "")
        for d in report.get("generalDiagnostics", [])
    ]
    return report, "\n".join(lines)


def test_pyright_reports_no_error_in_either_half() -> None:
    report, listing = _pyright(REPO)
    summary = report["summary"]
    assert summary["errorCount"] == 0, f"pyright: {summary['errorCount']} error(s)\n{listing}"
    # Zero errors only means something if both halves were read: a config that matches nothing also reports 0.
    sources = [p for half in HALVES for p in (REPO / half).rglob("*.py") if "__pycache__" not in p.parts]
    assert summary["filesAnalyzed"] >= len(sources), (
        f"pyright analyzed {summary['filesAnalyzed']} files, but {' and '.join(HALVES)} hold {len(sources)}: "
        "check [tool.pyright] include in pyproject.toml")


def test_the_pyright_run_reports_an_error_it_finds(tmp_path: Path) -> None:
    """The harness itself: an ill-typed file gives a non-zero error count (and its line), not a silent pass."""
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"include": ["bad.py"], "pythonVersion": "3.11"}))
    (tmp_path / "bad.py").write_text("count: int = 'three'\n")
    report, listing = _pyright(tmp_path)
    assert report["summary"]["errorCount"] == 1, listing
    assert listing.startswith("bad.py:1:") and "error" in listing, listing
