"""Drives formatted with layout version 1 (``drives/layout.py``) are migrated when the engine opens them."""

from __future__ import annotations

import json
from pathlib import Path

from storage_helpers import BytesBody, open_layer, read_all, run

from storage_engine.objects.types import PutOptions

KEYS = {"x.xl.cont/y": b"under a directory whose name version 2 reserves",
        "a/b.xl.cont/c/d": b"deeper", "b.xl.cont": b"a leaf of that name", "plain": b"plain"}


def _format_version(drive: Path) -> int:
    return json.loads((drive / ".rustfs.sys" / "format.json").read_text())["version"]


def _as_version_1(drive: Path) -> None:
    """Turn a drive into what version 1 wrote for the same keys: ``*.xl.cont`` directories unescaped."""
    for escaped in sorted(drive.glob("bkt/**/*.xl.cont.xl.esc"), key=lambda p: -len(p.parts)):
        escaped.rename(escaped.with_name(escaped.name[: -len(".xl.esc")]))
    fmt = drive / ".rustfs.sys" / "format.json"
    doc = json.loads(fmt.read_text())
    doc["version"] = 1
    fmt.write_text(json.dumps(doc))


def test_version_1_drives_are_migrated_on_open(tmp_path: Path) -> None:
    async def fill() -> None:
        layer = await open_layer(tmp_path)
        try:
            await layer.make_bucket("bkt")
            for key, body in KEYS.items():
                await layer.put_object("bkt", key, BytesBody(body), PutOptions())
        finally:
            await layer.close()

    async def check() -> list[str]:
        layer = await open_layer(tmp_path)
        try:
            for key, body in KEYS.items():
                assert await read_all(layer, "bkt", key) == body, key
            return [o.key for o in (await layer.list_objects("bkt")).objects]
        finally:
            await layer.close()

    run(fill())
    drives = sorted(tmp_path.glob("d*"))
    assert [_format_version(d) for d in drives] == [2] * 4
    for drive in drives:
        _as_version_1(drive)
        assert (drive / "bkt" / "x.xl.cont" / "y.xl.meta").is_file()
    # One drive was cut short half-way through an earlier migration: one directory renamed, version still 1.
    (drives[0] / "bkt" / "x.xl.cont").rename(drives[0] / "bkt" / "x.xl.cont.xl.esc")
    assert run(check()) == sorted(KEYS)
    for drive in drives:
        assert _format_version(drive) == 2
        assert not list(drive.glob("bkt/**/*.xl.cont")), "a version 1 name was left to be misread"
    assert run(check()) == sorted(KEYS)                 # a second open changes nothing
