"""The engine's own log records (not the audit log): JSON lines or text on stderr (``log_format``).

A JSON line carries ``time`` (RFC 3339 UTC, ms), ``level``, ``logger``, ``message``, and ``error`` (the
formatted traceback) when the record has one, so an error and its traceback stay one line a log shipper
(Fluent Bit) reads as one event.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["error"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(log_format: Literal["json", "text"] = "json", level: int = logging.INFO) -> None:
    """Log to stderr in ``log_format``, unless the root logger already has handlers (tests, embedding)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
