"""Structured logging: JSON lines when not on a terminal, with batch and job key on every line
logged while a job's step runs (a context variable read by a logging filter)."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_job: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "kbatch_job", default=None
)

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


@contextmanager
def job_log_context(**fields: Any) -> Iterator[None]:
    token = _job.set({k: v for k, v in fields.items() if v not in (None, "")})
    try:
        yield
    finally:
        _job.reset(token)


class JobContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_job.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD)
        base = f"{record.levelname.lower():7} {record.name}: {record.getMessage()}"
        return f"{base} {extra}".rstrip()


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    """Install one handler on the root logger (JSON unless on a terminal, or as configured)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    handler.addFilter(JobContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
