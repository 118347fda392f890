"""Offline previews: run the real program under Pulumi mocks, print or diff what it would deploy.

    python -m rustfs_component.plan --stack eks              # resource tree, like `pulumi preview`
    python -m rustfs_component.plan --stack eks --json p.json  # deterministic plan, secrets redacted
    python -m rustfs_component.plan --stack eks --diff old.json --exit-code
"""

from rustfs_component.plan.diff import diff_plans, format_diff
from rustfs_component.plan.render import REDACTED, Plan, load_stack_config, redact, render, render_stack

__all__ = ["REDACTED", "Plan", "diff_plans", "format_diff", "load_stack_config", "redact", "render", "render_stack"]
