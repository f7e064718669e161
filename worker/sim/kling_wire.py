"""The official dialect's JSON: envelopes, error codes and the task object, as the reference shows.

Every answer is `{"code", "message", "request_id", "data"}`; errors have no `data`. Timestamps are
Unix milliseconds, durations decimal strings, `final_unit_deduction` a decimal string.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import JSONResponse

from worker.sim.engine import FINAL, Status, Task, updated_at
from worker.sim.errors import Reason, Refusal
from worker.sim.models import Product
from worker.sim.results import Results

# reason -> (HTTP status, official code)
CODES: dict[Reason, tuple[int, int]] = {
    Reason.MALFORMED: (400, 1200),
    Reason.INVALID: (400, 1201),
    Reason.NOT_FOUND: (400, 1201),
    Reason.DUPLICATE: (400, 1201),
    Reason.UNKNOWN_MODEL: (404, 1203),
    Reason.NOT_ON_PLAN: (403, 1103),
    Reason.CONTENT: (400, 1301),
    Reason.BALANCE: (429, 1102),
    Reason.RATE_LIMIT: (429, 1302),
    Reason.CONCURRENCY: (429, 1303),
}
INTERNAL_ERROR = (500, 5000, "Internal server error")
RATE_LIMITED = "API request frequency exceeds the limit"


def request_id() -> str:
    return str(uuid.uuid4())


def ok(data: Any) -> JSONResponse:
    return JSONResponse({"code": 0, "message": "SUCCEED", "request_id": request_id(), "data": data})


def error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "request_id": request_id()}, status_code=status
    )


def refusal(exc: Refusal) -> JSONResponse:
    status, code = CODES[exc.reason]
    return error(status, code, exc.message)


def ms(t: float) -> int:
    return int(t * 1000)


def created_object(task: Task) -> dict[str, Any]:
    """The `data` of a create answer."""
    return {
        "task_id": task.task_id,
        "task_status": Status.SUBMITTED.value,
        "task_info": _info(task),
        "created_at": ms(task.created_at),
        "updated_at": ms(task.created_at),
    }


def _info(task: Task) -> dict[str, Any]:
    ext = task.request.external_task_id
    return {} if ext is None else {"external_task_id": ext}


def task_object(task: Task, status: Status, results: Results) -> dict[str, Any]:
    """The task object of a query answer, a list entry, or a callback body."""
    data: dict[str, Any] = {
        "task_id": task.task_id,
        "task_status": status.value,
        "task_status_msg": task.fail_reason if status is Status.FAILED else "",
        "task_info": _info(task),
        "task_result": {},
        "created_at": ms(task.created_at),
        "updated_at": ms(updated_at(task, status)),
    }
    if status is Status.SUCCEED:
        urls = results.urls(task)
        if task.product is Product.IMAGE:
            data["task_result"] = {"images": [{"index": i, "url": u} for i, u in enumerate(urls)]}
        else:
            # the rendered length is close to, not exactly, the requested one
            duration = f"{task.request.seconds + 0.1:.1f}"
            data["task_result"] = {
                "videos": [{"id": task.video_id, "url": urls[0], "duration": duration}]
            }
    if status in FINAL:
        data["final_unit_deduction"] = str(task.units_charged) if task.units_charged else "0"
    return data
