"""Fixtures of the component tests: every stack rendered once per session, offline, under Pulumi mocks.

    plans       {stack: Plan} for every stacks/Pulumi.<stack>.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # component_support, component_validation

from component_support import REPO, STACKS  # noqa: E402

from rustfs_component.plan import Plan, render_stack  # noqa: E402


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    return {stack: render_stack(stack, REPO) for stack in STACKS}
