"""Structured logging: one handler on the root logger for kbatch, Celery and every library, writing
JSON lines when not on a terminal.

Every line logged while a job's step runs carries the batch id and the job key. A context variable
holds them: `job_log_context` sets it around a step, and Celery's task signals set it around the
whole task run, so Celery's own lines about the task ("succeeded in 0.2s", retries, tracebacks)
carry them too; the lines Celery logs before the task runs ("received", and the pool's DEBUG
"Apply") get them from the message they describe. A filter on the handler copies the fields onto
each record. A worker installs the handler as it starts (`celeryd_init`), before its first line.

No secret reaches a line: every value of a `SecretStr` setting (for a URL, its password), bearer
tokens, JWTs and URL query strings (signed result and upload URLs) are masked in the finished
line, whatever logger wrote it. httpx's per-request INFO lines name signed URLs and are not
emitted at all (the httpx logger starts at WARNING).
"""

from __future__ import annotations

import ast
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

from celery import signals
from pydantic import BaseModel, SecretStr

from worker.settings import get_settings

_job: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "kbatch_job", default=None
)

# Attributes every LogRecord has; anything else on a record is an `extra` field worth writing.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# `data` is Celery's copy of a message's arguments (the fields worth having are lifted out of it);
# `color_message` is uvicorn's coloured duplicate of the message.
_DROPPED = frozenset({"data", "color_message"})
_HEAD = ("ts", "level", "logger", "msg")

# Loggers that say too much for their level: httpx logs each request with its full URL at INFO
# (result links and presigned uploads carry their signature in the query string); httpcore's and
# botocore's DEBUG lines dump headers and signed requests.
LOGGER_FLOORS: dict[str, int] = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "botocore": logging.INFO,
    "boto3": logging.INFO,
    "s3transfer": logging.INFO,
    "urllib3": logging.INFO,
}

TASK_PREFIX = "kbatch."
MASK = "***"
# Shorter values would mask common words in unrelated lines and hide nothing worth hiding.
MIN_SECRET_LEN = 4

_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*")
_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
# The start of the message repr in Celery's "TaskPool: Apply" line: task name, id, and the
# headers' argument reprs (themselves quoted strings).
_POOL_APPLY = re.compile(
    r"""\('(?P<name>kbatch\.\w+)', '(?P<id>[\w-]+)', \{.*?"""
    rf"""'argsrepr': (?P<args>{_QUOTED}), 'kwargsrepr': (?P<kwargs>{_QUOTED})""",
    re.S,
)
_QUERY = re.compile(r"""(\bhttps?://[^\s'"<>?#\\]+)\?[^\s'"<>#\\]*""")


# -- the job context --------------------------------------------------------------------------


@contextmanager
def job_log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` (batch, job, step...) to every line logged inside the block.

    Nested blocks add to the outer one, so a step run inside a Celery task keeps the task id.
    """
    merged = {**(_job.get() or {}), **{k: v for k, v in fields.items() if v not in (None, "")}}
    token = _job.set(merged)
    try:
        yield
    finally:
        _job.reset(token)


def job_log_fields() -> dict[str, Any]:
    """The fields the current line would carry."""
    return dict(_job.get() or {})


def task_fields(
    name: str, task_id: str | None, args: Iterable[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """What a line logged about one kbatch task carries: its step, task id, job and batch."""
    fields: dict[str, Any] = {"step": name.removeprefix(TASK_PREFIX), "task_id": task_id}
    first = next(iter(args), None)
    if isinstance(first, int) and not isinstance(first, bool):
        fields["job_id"] = first
    if kwargs.get("batch"):
        fields["batch"] = kwargs["batch"]
    if kwargs.get("key"):
        fields["job"] = kwargs["key"]
    return {k: v for k, v in fields.items() if v not in (None, "")}


def _literal(text: Any) -> Any:
    """A Python literal from a Celery argument repr, or None (reprs of objects do not parse)."""
    if not isinstance(text, str) or len(text) > 2000:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _described_task(name: Any, task_id: Any, args: Any, kwargs: Any) -> dict[str, Any]:
    if not isinstance(name, str) or not name.startswith(TASK_PREFIX):
        return {}
    args, kwargs = _literal(args), _literal(kwargs)
    return task_fields(
        name,
        str(task_id or "") or None,
        args if isinstance(args, list | tuple) else (),
        kwargs if isinstance(kwargs, dict) else {},
    )


def _fields_from_celery(record: logging.LogRecord) -> dict[str, Any]:
    """Fields for the lines Celery logs about a task before it runs, from what they carry.

    The "received" line passes the task's name, id and argument reprs as `extra={"data": ...}`;
    the pool's DEBUG "TaskPool: Apply" line passes a (truncated) repr of the message, headers
    first, among its arguments.
    """
    data = getattr(record, "data", None)
    if isinstance(data, Mapping):
        return _described_task(
            data.get("name"), data.get("id"), data.get("args"), data.get("kwargs")
        )
    if record.name == "celery.pool" and isinstance(record.args, tuple) and len(record.args) > 1:
        found = _POOL_APPLY.match(str(record.args[1]))
        if found:
            return _described_task(
                found["name"], found["id"], _literal(found["args"]), _literal(found["kwargs"])
            )
    return {}


class JobContextFilter(logging.Filter):
    """Copies the job context onto each record (never over a field the call passed itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _job.get()
        if fields is None:
            fields = _fields_from_celery(record)
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


# Celery runs one task at a time per thread; tokens are kept by task id so that the context is
# put back exactly as it was, even if a signal for another task came in between.
_tokens: dict[str, contextvars.Token[dict[str, Any] | None]] = {}


@signals.task_prerun.connect(weak=False, dispatch_uid="kbatch.logs.prerun")
def _task_started(
    task_id: str = "",
    task: Any = None,
    args: Any = (),
    kwargs: Any = None,
    **_: Any,
) -> None:
    name = str(getattr(task, "name", "") or "")
    if not name.startswith(TASK_PREFIX):
        return
    fields = task_fields(name, task_id, args or (), kwargs or {})
    _tokens[task_id] = _job.set({**(_job.get() or {}), **fields})


@signals.task_postrun.connect(weak=False, dispatch_uid="kbatch.logs.postrun")
def _task_ended(task_id: str = "", **_: Any) -> None:
    token = _tokens.pop(task_id, None)
    if token is None:
        return
    try:
        _job.reset(token)
    except ValueError:
        # Set in another context (a thread pool hands tasks around): nothing to restore there.
        _job.set(None)


# -- secrets ----------------------------------------------------------------------------------


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret in `settings`: `SecretStr` values, and for `*_url` secrets the password only
    (the rest of a database or Redis URL is useful in a log line and not secret)."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            found.extend(secret_values(value))
        elif isinstance(value, SecretStr):
            raw = value.get_secret_value()
            found.append((urlsplit(raw).password or "") if name.endswith("_url") else raw)
    return [s for s in found if len(s) >= MIN_SECRET_LEN]


class Redactor:
    """Masks secrets, bearer tokens, JWTs and URL query strings in finished log lines."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LEN:
                # As written, and as JSON and repr() escape it inside a string.
                forms |= {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}
        self._secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _BEARER.sub(rf"\1 {MASK}", text)
        text = _JWT.sub(MASK, text)
        return _QUERY.sub(rf"\1?{MASK}", text)


# -- formats ----------------------------------------------------------------------------------


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v
        for k, v in record.__dict__.items()
        if k not in _STANDARD and k not in _DROPPED and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the job context and extras."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return self._redact(json.dumps(data, default=str, ensure_ascii=False))


class ConsoleFormatter(logging.Formatter):
    """Readable lines for a terminal: time, level, logger, message, then key=value fields."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extra = " ".join(f"{k}={v}" for k, v in _extras(record).items() if k not in _HEAD)
        line = f"{at} {record.levelname.lower():7} {record.name}: {record.getMessage()}"
        line = f"{line}  {extra}".rstrip()
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return self._redact(line)


@signals.celeryd_init.connect(weak=False, dispatch_uid="kbatch.logs.worker_init")
def configure_from_settings(**_: Any) -> logging.Handler:
    """Configure logging from the process settings.

    Connected to `celeryd_init` so that a worker's first lines (Celery warns about running as
    root before it sets logging up) already go through the handler.
    """
    settings = get_settings()
    return configure_logging(settings.log_format, settings.log_level)


def configure_logging(
    fmt: str = "auto",
    level: str | int = "INFO",
    *,
    secrets: Iterable[str] | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Install one handler on the root logger and route every logger through it.

    `fmt` is "json", "console" or "auto" (JSON unless the stream is a terminal). `secrets` are
    masked in every line; by default, those of the process settings.
    """
    target = stream or sys.stderr
    if secrets is None:
        secrets = secret_values(get_settings())
    redact = Redactor(secrets)
    use_json = fmt == "json" or (fmt == "auto" and not target.isatty())
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter(redact) if use_json else ConsoleFormatter(redact))
    handler.addFilter(JobContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # Celery gives its task logger a handler of its own and stops it propagating when it sets up
    # logging itself; this handler is the only one.
    for name in ("celery", "celery.task", "celery.redirected"):
        celery_logger = logging.getLogger(name)
        celery_logger.handlers.clear()
        celery_logger.propagate = True
    for name, floor in LOGGER_FLOORS.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
    logging.captureWarnings(True)
    return handler
