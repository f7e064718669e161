"""A provider that misbehaves on cue: an HTTP proxy in front of the simulator.

The simulator is a well-behaved Kling; real providers and the proxies in front of them are not.
Requests pass through to the simulator, and a job whose prompt carries a cue such as
`[[create-html]]` has one exchange spoiled: the create is made but answered with a gateway's HTML
page, a query answers without its fields, a download stops half-way, and so on. Tasks are
recognised by what passes through: the create carries the prompt and the external id, its answer
the task id, and queries and result URLs name one of the two.

Result URLs must point here too: start the simulator with `--public-url` set to `url`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# What the proxy can do to a job's traffic; each cue applies to the first exchange of its kind
# (`times` of them), or to every one.
CUES: dict[str, tuple[str, int | None]] = {
    "create-html": ("create", 1),  # made, then answered 502 with a gateway's HTML page
    "create-garbage": ("create", 1),  # made, then answered 200 with a body that is not JSON
    "create-timeout": ("create", 1),  # made, then answered only after the client gave up
    "query-missing": ("query", 2),  # 200 with an envelope whose task has no id or status
    "query-unknown": ("query", 2),  # a task status no Kling version has
    "query-html": ("query", 2),  # 200 with an HTML page
    "download-truncated": ("download", 1),  # Content-Length promised, half the body sent
    "download-always-truncated": ("download", None),
    "download-expired": ("download", None),  # 410 Gone, as a deleted result answers
}
GATEWAY_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>"
_CUE = re.compile(r"\[\[([a-z-]+)\]\]")
_QUERY = re.compile(r"^/v1/(?:videos|images)/[\w-]+/(?P<ident>[^/?]+)$")
_RESULT = re.compile(r"^/results/(?P<task>[^/]+)/")


class MisbehavingProvider:
    """Forwards to `upstream` (set before the first request) and spoils cued exchanges."""

    def __init__(self, *, delay_s: float = 2.0) -> None:
        self.upstream = ""
        self.delay_s = delay_s
        self.spoiled: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._cue_of: dict[str, str] = {}  # task id or external id -> cue
        self._left: dict[tuple[str, str], int] = {}  # (task id, kind) -> spoils left
        self._client = httpx.Client(timeout=30.0)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[MisbehavingProvider]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._client.close()

    # -- bookkeeping ---------------------------------------------------------------------------

    def _learn(self, body: bytes, answer: bytes) -> str:
        """The external id of a create; its cue is remembered under it and under the task id."""
        try:
            sent = json.loads(body)
            external_id = str(sent.get("external_task_id") or "")
            cue = _CUE.search(str(sent.get("prompt", "")))
            task_id = json.loads(answer).get("data", {}).get("task_id")
        except (ValueError, AttributeError):
            return ""
        if cue is not None and cue.group(1) in CUES:
            with self._lock:
                for ident in (external_id, task_id):
                    if ident:
                        self._cue_of[str(ident)] = cue.group(1)
        return external_id

    def _spoil(self, ident: str, kind: str) -> str | None:
        """The cue to apply to this exchange about `ident`, if still due; counts it as applied."""
        with self._lock:
            cue = self._cue_of.get(ident)
            if cue is None or CUES[cue][0] != kind:
                return None
            times = CUES[cue][1]
            if times is not None:
                left = self._left.setdefault((ident, kind), times)
                if left <= 0:
                    return None
                self._left[(ident, kind)] = left - 1
            self.spoiled[cue] += 1
            return cue

    def hidden(self, task: dict[str, Any]) -> bool:
        """Whether a list answer leaves this task out, so its job is queried on its own."""
        with self._lock:
            cue = self._cue_of.get(str(task.get("task_id")))
        return cue is not None and CUES[cue][0] == "query"

    # -- the server ----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None  # the test reads counters, not access logs

            def do_GET(self) -> None:
                provider._exchange(self, "GET")

            def do_POST(self) -> None:
                provider._exchange(self, "POST")

        return Handler

    def _exchange(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {
            k: v for k, v in h.headers.items() if k.lower() not in ("host", "content-length")
        }
        answer = self._client.request(method, self.upstream + h.path, headers=headers, content=body)
        path = h.path.split("?", 1)[0]
        spoiled: str | None = None
        if method == "POST":
            spoiled = self._spoil(self._learn(body, answer.content), "create")
        elif (result := _RESULT.match(path)) is not None:
            spoiled = self._spoil(result["task"], "download")
        elif (query := _QUERY.match(path)) is not None:
            spoiled = self._spoil(query["ident"], "query")
        elif answer.status_code == 200:
            answer = self._filtered_list(answer)
        _SPOILERS.get(spoiled or "", _as_is)(self, h, answer)

    def _filtered_list(self, answer: httpx.Response) -> httpx.Response:
        try:
            payload = answer.json()
        except ValueError:
            return answer
        if isinstance(payload.get("data"), list):
            payload["data"] = [t for t in payload["data"] if not self.hidden(t)]
        return httpx.Response(200, json=payload, headers={"content-type": "application/json"})


def _send(
    h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, *, length: int = -1
) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body) if length < 0 else length))
    h.end_headers()
    h.wfile.write(body)
    h.wfile.flush()


def _as_is(p: MisbehavingProvider, h: BaseHTTPRequestHandler, answer: httpx.Response) -> None:
    _send(h, answer.status_code, answer.content, answer.headers.get("content-type", ""))


def _gateway_page(p: MisbehavingProvider, h: BaseHTTPRequestHandler, a: httpx.Response) -> None:
    _send(h, 502, GATEWAY_PAGE, "text/html")


def _not_json(p: MisbehavingProvider, h: BaseHTTPRequestHandler, a: httpx.Response) -> None:
    _send(h, 200, b"OK", "text/plain")


def _late(p: MisbehavingProvider, h: BaseHTTPRequestHandler, answer: httpx.Response) -> None:
    time.sleep(p.delay_s)  # the fault itself: an answer slower than the client's read timeout
    with contextlib.suppress(OSError):  # the client has gone
        _as_is(p, h, answer)


def _missing(p: MisbehavingProvider, h: BaseHTTPRequestHandler, a: httpx.Response) -> None:
    body = json.dumps({"code": 0, "message": "SUCCEED", "request_id": "r", "data": {}})
    _send(h, 200, body.encode(), "application/json")


def _unknown(p: MisbehavingProvider, h: BaseHTTPRequestHandler, answer: httpx.Response) -> None:
    payload = answer.json()
    payload["data"]["task_status"] = "awaiting-moderation"
    _send(h, 200, json.dumps(payload).encode(), "application/json")


def _html(p: MisbehavingProvider, h: BaseHTTPRequestHandler, a: httpx.Response) -> None:
    _send(h, 200, b"<html><body>Service temporarily unavailable</body></html>", "text/html")


def _truncated(p: MisbehavingProvider, h: BaseHTTPRequestHandler, answer: httpx.Response) -> None:
    body = answer.content
    _send(h, 200, body[: len(body) // 2], "video/mp4", length=len(body))
    h.close_connection = True
    with contextlib.suppress(OSError):
        h.connection.shutdown(socket.SHUT_RDWR)


def _gone(p: MisbehavingProvider, h: BaseHTTPRequestHandler, a: httpx.Response) -> None:
    _send(h, 410, b"Gone", "text/plain")


_SPOILERS = {
    "create-html": _gateway_page,
    "create-garbage": _not_json,
    "create-timeout": _late,
    "query-missing": _missing,
    "query-unknown": _unknown,
    "query-html": _html,
    "download-truncated": _truncated,
    "download-always-truncated": _truncated,
    "download-expired": _gone,
}
