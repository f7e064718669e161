"""Against a real HTTP server on 127.0.0.1: the preflight, and connections that drop or stall."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pydantic import SecretStr

from jobs.spec import JobSpec
from tests.providers.wire import ALL_SECRETS, API_KEY, EXTERNAL_ID, TASK_ID, envelope, task
from tests.services import free_port
from worker.providers import KlingClient
from worker.providers.auth import StaticKey
from worker.providers.errors import ImageUnreachable, TransportError
from worker.providers.images import check_image_url, preflight_image

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048
PROXIED = "http://kling.invalid"
T2V = JobSpec(mode="text2video", model="kling-v3", prompt="a lighthouse", duration=5)
OMNI = JobSpec(mode="omni", model="kling-o3", prompt="a chef", duration=5)


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.release = threading.Event()
        self.received: list[tuple[str, str, bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: LocalServer

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _record(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.server.received.append((self.command, self.path, self.rfile.read(length)))

    def do_GET(self) -> None:
        self._record()
        if self.path == "/image.png":
            self._send(200, "image/png", PNG)
        elif self.path == "/page.html":
            self._send(200, "text/html", b"<html><body>sign in</body></html>")
        elif self.path == "/video.mp4":
            # Promise 1000 bytes, deliver 10, hang up.
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
        elif self.path.startswith("/v1/videos/text2video/"):
            return  # hang up without an answer
        elif self.path.startswith(f"{PROXIED}/v1/videos/text2video/"):
            # Asked as a proxy: the request line names the whole URL.
            body = json.dumps(envelope(task("processing"))).encode()
            self._send(200, "application/json", body)
        else:
            self._send(404, "text/plain", b"not here")

    def do_POST(self) -> None:
        self._record()
        if self.path == "/v1/videos/omni-video":
            self.server.release.wait(10)  # stall past the client's read timeout
        # Every create is received in full, then the connection drops without an answer.

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def client(server: LocalServer) -> Iterator[KlingClient]:
    with KlingClient(
        server.url, StaticKey(SecretStr(API_KEY)), connect_timeout_s=2.0, read_timeout_s=0.3
    ) as made:
        yield made


def test_preflight_against_a_real_server(server: LocalServer) -> None:
    with httpx.Client(timeout=5.0) as http:
        check_image_url(f"{server.url}/image.png", http, allow_private_hosts=True)
        with pytest.raises(ImageUnreachable, match="text/html"):
            check_image_url(f"{server.url}/page.html", http, allow_private_hosts=True)
        with pytest.raises(ImageUnreachable, match="HTTP 404"):
            check_image_url(f"{server.url}/gone.png", http, allow_private_hosts=True)
        with pytest.raises(ImageUnreachable, match="private network"):
            preflight_image(f"{server.url}/image.png", http)
    # The refused private URL never reached the server.
    assert [path for _, path, _ in server.received] == ["/image.png", "/page.html", "/gone.png"]


def test_preflight_through_a_provider_client(server: LocalServer, client: KlingClient) -> None:
    # The provider runs on 127.0.0.1 too, so it could fetch this image: the preflight admits it.
    preflight_image(f"{server.url}/image.png", client)
    method, path, _ = server.received[-1]
    assert (method, path) == ("GET", "/image.png")
    with pytest.raises(ImageUnreachable, match="HTTP 404"):
        preflight_image(f"{server.url}/gone.png", client)


def test_a_create_dropped_after_sending_may_have_happened(
    server: LocalServer, client: KlingClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TransportError) as caught:
        client.create(T2V, EXTERNAL_ID)
    assert caught.value.outcome_unknown is True
    assert caught.value.__context__ is None
    method, path, body = server.received[-1]
    assert (method, path) == ("POST", "/v1/videos/text2video")
    assert EXTERNAL_ID.encode() in body  # the server did get the whole create
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(secret in logged for secret in ALL_SECRETS)


def test_a_query_dropped_is_transient_and_harmless(client: KlingClient) -> None:
    with pytest.raises(TransportError) as caught:
        client.query(TASK_ID, T2V)
    assert caught.value.outcome_unknown is False


def test_a_create_that_stalls_past_the_read_timeout_may_have_happened(
    server: LocalServer, client: KlingClient
) -> None:
    with pytest.raises(TransportError, match="timed out") as caught:
        client.create(OMNI, EXTERNAL_ID)
    assert caught.value.outcome_unknown is True


def test_a_refused_connection_created_nothing() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with (
        KlingClient(closed, StaticKey(SecretStr(API_KEY)), connect_timeout_s=2.0) as client,
        pytest.raises(TransportError, match="could not connect") as caught,
    ):
        client.create(T2V, EXTERNAL_ID)
    assert caught.value.outcome_unknown is False


def test_a_download_cut_short_is_a_transport_error(
    server: LocalServer, client: KlingClient
) -> None:
    with client.download(f"{server.url}/video.mp4") as download:
        assert download.content_length == 1000
        with pytest.raises(TransportError):
            for _ in download.iter_bytes(4):
                pass


def test_api_calls_go_through_the_proxy_the_environment_names(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kling.invalid does not resolve: the answer can only come through the proxy.
    monkeypatch.setenv("HTTP_PROXY", server.url)
    with KlingClient(PROXIED, StaticKey(SecretStr(API_KEY)), connect_timeout_s=2.0) as client:
        status = client.query(TASK_ID, T2V)
    assert status.task_id == TASK_ID
    assert server.received[-1][:2] == ("GET", f"{PROXIED}/v1/videos/text2video/{TASK_ID}")
