"""Run a Pulumi program offline under mocks and turn what it registered into a deterministic plan."""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi.runtime
import yaml
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import set_mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from rustfs_component.plan.mocks import PlanMocks, RecordingMonitor, Registration

REDACTED = "[secret]"
OFFLINE_SECRET = "offline-placeholder-secret"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Plan:
    """The resources one program registers. `to_json()` is the redacted, sorted form that gets committed."""

    stack: str
    registrations: list[Registration]
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)

    def resources(self) -> list[dict[str, Any]]:
        """`[{urn, type, name, parent, provider, inputs}]` (plus `read`, `aliases` where there are some) sorted
        by URN, secrets replaced by "[secret]"."""
        rows = [{"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "provider": r.provider,
                 "inputs": redact(r.inputs)} for r in self.registrations]
        for row, reg in zip(rows, self.registrations):
            if reg.read_id:
                row["read"] = reg.read_id
            if reg.aliases:  # only when the program gives some: plans of programs without aliases stay as they were
                row["aliases"] = list(reg.aliases)
        return sorted(rows, key=lambda row: row["urn"])

    def to_json(self) -> str:
        return json.dumps({"resources": self.resources()}, indent=1, sort_keys=True) + "\n"

    def raw_inputs(self, urn: str) -> dict[str, Any]:
        """Unredacted inputs (secrets unwrapped): for tests in this process only, never written anywhere."""
        for reg in self.registrations:
            if reg.urn == urn:
                return unwrap(reg.inputs)
        raise KeyError(urn)

    def find(self, type_: str, name: str | None = None) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_ and (name is None or r.name == name)]


def redact(value: Any) -> Any:
    """Replace every secret with "[secret]", recursively (and write whole floats as ints: the wire has
    only doubles, manifests want `replicas: 4`)."""
    if rpc.is_rpc_secret(value):
        return REDACTED
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def load_stack_config(stack_file: Path, project: str) -> tuple[dict[str, str], list[str]]:
    """A stack file's config as Pulumi's runtime holds it: `project:key` -> string (objects as JSON).

    `secure:` values cannot be decrypted offline; they become a placeholder, still marked secret.
    """
    document = yaml.safe_load(stack_file.read_text()) or {}
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (document.get("config") or {}).items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[full_key] = OFFLINE_SECRET
            secret_keys.append(full_key)
        elif isinstance(value, str):
            values[full_key] = value
        else:
            values[full_key] = json.dumps(value)
    return values, secret_keys


def _ensure_event_loop() -> None:
    """Pulumi's runtime drives its futures on the thread's current event loop. Give the thread a
    fresh one when an earlier ``asyncio.run`` in this process (a test, an embedding program) left none."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def _discard_pending_work() -> None:
    """A failed program leaves Pulumi's runtime holding its RPCs and its finished Output tasks; the next render
    in this process would wait on them and raise their errors as its own. Forget them."""
    settings._get_rpc_manager().clear()  # pyright: ignore[reportPrivateUsage]
    settings.SETTINGS.outputs.clear()  # pyright: ignore[reportAttributeAccessIssue]


def render(program: Path, stack: str, config: dict[str, str], secret_keys: list[str] | None = None,
           project: str = "rustfs-platform") -> Plan:
    """Run `program` (a `__main__.py`) for `stack` under mocks and return what it registered."""
    _ensure_event_loop()
    mocks = PlanMocks()
    monitor = RecordingMonitor(mocks)
    settings.ROOT.set(None)  # a fresh root Stack per render, so several stacks render in one process
    pulumi.runtime.set_all_config(config, secret_keys or [])
    set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    started = time.perf_counter()
    program_dir = str(program.parent)
    added_path = program_dir not in sys.path
    if added_path:
        sys.path.insert(0, program_dir)
    cwd = os.getcwd()
    try:
        os.chdir(program_dir)
        def run_program() -> None:
            runpy.run_path(str(program), run_name="__main__")

        _sync_await(run_pulumi_func(run_program))
    except BaseException:
        _discard_pending_work()
        raise
    finally:
        os.chdir(cwd)
        if added_path:
            sys.path.remove(program_dir)
    return Plan(stack=stack, registrations=list(monitor.registrations), seconds=time.perf_counter() - started)


class UnknownStackError(LookupError):
    """No `Pulumi.<stack>.yaml` in the project's stack directory; `available` lists the stacks there."""

    def __init__(self, stack: str, stack_dir: Path, available: list[str]) -> None:
        self.stack, self.stack_dir, self.available = stack, stack_dir, available
        super().__init__(f"no stack {stack!r}: {stack_dir / f'Pulumi.{stack}.yaml'} does not exist; "
                         f"stacks: {', '.join(available) or '(none)'}")


def stack_names(stack_dir: Path) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stack_dir.glob("Pulumi.*.yaml"))


def stack_file(stack: str, root: Path = REPO_ROOT) -> Path:
    """`<root>/<stackConfigDir>/Pulumi.<stack>.yaml`; `UnknownStackError` when there is none."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    stack_dir = root / project.get("stackConfigDir", ".")
    path = stack_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise UnknownStackError(stack, stack_dir, stack_names(stack_dir))
    return path


def render_stack(stack: str, root: Path = REPO_ROOT) -> Plan:
    """Render `stacks/Pulumi.<stack>.yaml` of the project at `root`."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    name = project["name"]
    config, secret_keys = load_stack_config(stack_file(stack, root), name)
    return render(root / project.get("main", "__main__.py"), stack, config, secret_keys, project=name)
