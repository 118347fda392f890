"""storage_engine/requirements.lock, the image's pinned dependencies, agrees with pyproject.toml.

Runs everywhere (no container tools): the lock pins every engine dependency within pyproject's range,
pins nothing of the component extra, and the Containerfile installs exactly the lock.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "storage_engine" / "requirements.lock"


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"not an exact pin: {line!r}"
        pins[canonicalize_name(name)] = version
    return pins


def _project() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def test_lock_pins_every_engine_dependency_within_range() -> None:
    pins = _pins()
    for spec in _project()["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is an engine dependency but not in {LOCK.name}: run scripts/image/lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} is outside pyproject's {req.specifier}: run scripts/image/lock")


def test_lock_has_nothing_of_the_component_extra() -> None:
    pins = _pins()
    component = {canonicalize_name(Requirement(s).name) for s in _project()["optional-dependencies"]["component"]}
    assert not component & set(pins), f"component dependencies in the image lock: {component & set(pins)}"
    assert not [n for n in pins if n.startswith("pulumi")]


def test_containerfile_installs_the_lock_only() -> None:
    text = (REPO / "storage_engine" / "Containerfile").read_text()
    assert "-r /src/storage_engine/requirements.lock" in text
    # Everything is installed without dependency resolution, so nothing unpinned can slip in.
    installs = re.findall(r"\$pip install [^;]*", text)
    assert installs and all("--no-deps" in cmd for cmd in installs), installs
    assert "component" not in " ".join(installs)
