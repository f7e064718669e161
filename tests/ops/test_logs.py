"""The log format in one process: JSON lines with the job context, Celery's lines about a task,
secrets and signed URLs masked, httpx's request lines held back, warnings routed as lines."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from celery import Celery
from celery.utils.text import truncate
from kombu.utils.encoding import safe_repr
from pydantic import SecretStr

from worker.logs import (
    LOGGER_FLOORS,
    ConsoleFormatter,
    Redactor,
    configure_logging,
    job_log_context,
    job_log_fields,
    secret_values,
)
from worker.settings import FlowerSettings, ProviderSettings, S3Settings, Settings

API_KEY = "sk-live-0123456789abcdef"
_KWARGS = {"batch": 6, "key": "kb31"}
SIGNED = "https://cdn.example.com/results/42/video.mp4?expires=1893456000&signature=9f8e7d6c5b4a"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Logging configured to a string; the root logger is put back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    named = ["celery", "celery.task", "celery.redirected", *LOGGER_FLOORS]
    saved_named = {n: (logging.getLogger(n).level, logging.getLogger(n).propagate) for n in named}
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", secrets=[API_KEY, 'pa"ss\\word'], stream=buffer)
    try:
        yield buffer
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, (level, propagate) in saved_named.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_job_context(stream: io.StringIO) -> None:
    log = logging.getLogger("worker.pipeline.poll")
    log.info("outside")
    with job_log_context(batch=7, job="kb123", step="poll"):
        log.warning("inside %s", "a step", extra={"attempt": 2})
    (outside, inside) = lines(stream)
    assert outside["msg"] == "outside"
    assert "batch" not in outside
    assert "job" not in outside
    assert inside["msg"] == "inside a step"
    assert (inside["level"], inside["logger"]) == ("warning", "worker.pipeline.poll")
    assert (inside["batch"], inside["job"], inside["step"], inside["attempt"]) == (
        7,
        "kb123",
        "poll",
        2,
    )
    assert inside["ts"].endswith("+00:00")


def test_nested_contexts_add_up_and_unwind() -> None:
    with job_log_context(task_id="t-1", step="submit"):
        with job_log_context(batch=3, job="kbX", step="submit", empty=""):
            assert job_log_fields() == {
                "task_id": "t-1",
                "step": "submit",
                "batch": 3,
                "job": "kbX",
            }
        assert job_log_fields() == {"task_id": "t-1", "step": "submit"}
    assert job_log_fields() == {}


def test_a_field_passed_by_the_call_wins_over_the_context(stream: io.StringIO) -> None:
    with job_log_context(batch=1, job="kbA"):
        logging.getLogger("x").info("other job", extra={"job": "kbB"})
    assert lines(stream)[0]["job"] == "kbB"


def test_exceptions_are_part_of_the_line(stream: io.StringIO) -> None:
    try:
        raise RuntimeError("provider said no")
    except RuntimeError:
        logging.getLogger("x").exception("step failed")
    (line,) = lines(stream)
    assert "RuntimeError: provider said no" in line["exc"]


def test_celerys_received_line_carries_the_job_from_the_message(stream: io.StringIO) -> None:
    # Logged as Celery's worker strategy logs it, before the task runs (no context is set).
    context = {
        "id": "5f0c-uuid",
        "name": "kbatch.store",
        "args": "[12]",
        "kwargs": "{'batch': 4, 'key': 'kbfeed'}",
        "eta": None,
    }
    logging.getLogger("celery.worker.strategy").info(
        "Task %(name)s[%(id)s] received", context, extra={"data": context}
    )
    (line,) = lines(stream)
    assert line["msg"] == "Task kbatch.store[5f0c-uuid] received"
    assert (line["batch"], line["job"], line["job_id"]) == (4, "kbfeed", 12)
    assert (line["step"], line["task_id"]) == ("store", "5f0c-uuid")
    assert "data" not in line


def test_the_pools_debug_line_carries_the_job_from_the_message(stream: io.StringIO) -> None:
    # The message as Celery builds it, logged as Celery's pool logs it (a truncated repr).
    app = Celery("kbatch-log-test", broker="memory://", set_as_current=False)
    message = app.amqp.as_task_v2("77aa-uuid", "kbatch.poll", args=(31,), kwargs=_KWARGS)
    call = ("kbatch.poll", "77aa-uuid", message.headers, message.body, "application/json", "utf-8")
    logging.getLogger("celery.pool").debug(
        "TaskPool: Apply %s (args:%s kwargs:%s)",
        "<function fast_trace_task>",
        truncate(safe_repr(call), 1024),
        truncate(safe_repr({}), 1024),
    )
    (line,) = lines(stream)
    assert (line["batch"], line["job"], line["job_id"]) == (6, "kb31", 31)
    assert (line["step"], line["task_id"]) == ("poll", "77aa-uuid")


def test_a_task_run_carries_its_job_on_celerys_lines_and_its_own(stream: io.StringIO) -> None:
    app = Celery("kbatch-log-test", broker="memory://", set_as_current=False)
    app.conf.task_always_eager = False

    @app.task(name="kbatch.poll", bind=True)
    def poll(self: Any, job_id: int, batch: int = 0, key: str = "") -> None:
        logging.getLogger("worker.pipeline.poll").info("looking at job %s", job_id)

    # apply() runs the task through Celery's tracer in this process, with its signals: what the
    # logging hooks need; the worker test covers a real worker process.
    poll.apply(args=(9,), kwargs={"batch": 5, "key": "kb9"}, task_id="tid-9")
    logging.getLogger("worker.pipeline.poll").info("after the task")
    inside = [line for line in lines(stream) if line["msg"] == "looking at job 9"]
    assert inside
    assert inside[0]["batch"] == 5
    assert inside[0]["job"] == "kb9"
    assert (inside[0]["job_id"], inside[0]["task_id"], inside[0]["step"]) == (9, "tid-9", "poll")
    after = [line for line in lines(stream) if line["msg"] == "after the task"]
    assert "batch" not in after[0]
    assert "task_id" not in after[0]
    assert job_log_fields() == {}


def test_secrets_and_signed_urls_never_reach_a_line(stream: io.StringIO) -> None:
    log = logging.getLogger("worker.providers.session")
    log.info("key %s and %r", API_KEY, 'pa"ss\\word')
    log.info("download %s", SIGNED)
    log.info("header Authorization: Bearer abc.def-123")
    log.info("jwt eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJhayJ9.c2lnbmF0dXJl sent")
    text = stream.getvalue()
    assert API_KEY not in text
    assert "ss\\\\word" not in text
    assert 'pa"ss' not in text
    assert "signature=" not in text
    assert "9f8e7d6c5b4a" not in text
    assert "https://cdn.example.com/results/42/video.mp4?***" in text
    assert "abc.def-123" not in text
    assert "Bearer ***" in text
    assert "eyJpc3MiOiJhayJ9" not in text
    assert len(lines(stream)) == 4


def test_httpx_request_lines_are_held_back_but_its_warnings_pass(stream: io.StringIO) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="ok"))
    with httpx.Client(transport=transport) as client:
        assert client.get(SIGNED).status_code == 200
    logging.getLogger("httpx").warning("pool exhausted")
    assert [line["msg"] for line in lines(stream)] == ["pool exhausted"]


def test_warnings_become_json_lines(stream: io.StringIO) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("running as root", UserWarning, stacklevel=1)
    (line,) = lines(stream)
    assert line["logger"] == "py.warnings"
    assert "running as root" in line["msg"]


def test_celerys_task_logger_goes_through_the_one_handler(stream: io.StringIO) -> None:
    task_logger = logging.getLogger("celery.task")
    assert task_logger.propagate
    assert not task_logger.handlers
    task_logger.info("from a task")
    assert lines(stream)[0]["msg"] == "from a task"


def test_console_format_is_readable_and_masked() -> None:
    formatter = ConsoleFormatter(Redactor([API_KEY]))
    record = logging.makeLogRecord(
        {"name": "worker.x", "levelname": "INFO", "msg": f"using {API_KEY}", "batch": 2}
    )
    line = formatter.format(record)
    assert "info    worker.x: using ***" in line
    assert line.endswith("batch=2")


def test_secret_values_are_the_settings_secrets_and_url_passwords_only() -> None:
    settings = Settings(
        redis_url=SecretStr("redis://:redis-pw-1@cache:6379/0"),
        database_url=SecretStr("sqlite:///./var/kbatch.db"),
        provider=ProviderSettings(api_key=SecretStr(API_KEY), secret_key=SecretStr("sk")),
        s3=S3Settings(secret_access_key=SecretStr("s3-secret-value")),
        flower=FlowerSettings(user="ops", password=SecretStr("flower-pw")),
    )
    found = set(secret_values(settings))
    assert {"redis-pw-1", API_KEY, "s3-secret-value", "flower-pw"} <= found
    assert "sk" not in found  # too short to mask without mangling unrelated lines
    assert not any(v.startswith(("redis://", "sqlite:")) for v in found)
