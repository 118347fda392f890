"""The image test's report (build time, image size, readiness), printed in pytest's terminal summary.

Under pytest-xdist (scripts/test) the test runs in a worker process, which hands its report to the
controller that prints the summary (``workeroutput``).
"""

from __future__ import annotations

import json

import pytest

REPORT_KEY = pytest.StashKey[dict[str, str]]()
_WORKER_OUTPUT = "rustfs_image_report"


@pytest.fixture(scope="session")
def image_report(request: pytest.FixtureRequest) -> dict[str, str]:
    return request.config.stash.setdefault(REPORT_KEY, {})


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_output = getattr(session.config, "workeroutput", None)   # set in an xdist worker only
    report = session.config.stash.get(REPORT_KEY, {})
    if worker_output is not None and report:
        worker_output[_WORKER_OUTPUT] = json.dumps(report)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    output = getattr(node, "workeroutput", {})
    if _WORKER_OUTPUT in output:
        config: pytest.Config = getattr(node, "config")
        config.stash.setdefault(REPORT_KEY, {}).update(json.loads(output[_WORKER_OUTPUT]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = terminalreporter.config.stash.get(REPORT_KEY, {})
    if report:
        terminalreporter.section("engine image")
        for key, value in report.items():
            terminalreporter.write_line(f"{key}: {value}")
