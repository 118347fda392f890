"""The image test's report (build time, image size, readiness), printed in pytest's terminal summary."""

from __future__ import annotations

import pytest

REPORT_KEY = pytest.StashKey[dict[str, str]]()


@pytest.fixture(scope="session")
def image_report(request: pytest.FixtureRequest) -> dict[str, str]:
    return request.config.stash.setdefault(REPORT_KEY, {})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = terminalreporter.config.stash.get(REPORT_KEY, {})
    if report:
        terminalreporter.section("engine image")
        for key, value in report.items():
            terminalreporter.write_line(f"{key}: {value}")
