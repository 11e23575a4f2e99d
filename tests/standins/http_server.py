"""The part every HTTP stand-in shares: a threaded server on 127.0.0.1 that records requests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx


@dataclass
class Request:
    method: str
    path: str
    headers: dict  # lower-case names
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    after: object = None  # callable run on a thread once the response is sent (a result post)


@dataclass
class Delivery:
    """A result the stand-in posted to the app, and the app's response."""

    kind: str
    url: str
    status: int
    text: str
    body: bytes = b""
    headers: dict = field(default_factory=dict)


class StandInServer:
    """Subclasses implement respond(request) -> Response."""

    name = "standin"

    def __init__(self):
        self.requests: list[Request] = []
        self.deliveries: list[Delivery] = []
        # Where callbacks really go: the public URL the app gave is mapped onto its
        # loopback listener, as the tunnel would.
        self.public_base: str | None = None
        self.app_base: str | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                standin._serve(self)

            def do_GET(self):
                standin._serve(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                                  name=f"{self.name}-standin")
        thread.start()
        return self

    def stop(self) -> None:
        for thread in list(self._threads):
            thread.join(timeout=10)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- serving ----------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(handler.command, urlsplit(handler.path).path,
                          {k.lower(): v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.requests.append(request)
            self._changed.notify_all()
        response = self.respond(request)
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(response.body)
        handler.wfile.flush()
        if response.after is not None:
            self._in_background(response.after)

    def respond(self, request: Request) -> Response:
        raise NotImplementedError

    # -- talking to the app -----------------------------------------------------------------

    def local(self, url: str) -> str:
        if self.public_base and self.app_base and url.startswith(self.public_base):
            return self.app_base + url[len(self.public_base):]
        return url

    def fetch(self, url: str) -> httpx.Response | None:
        """GET a URL the way the provider fetches audio; None when it cannot connect."""
        try:
            return httpx.get(self.local(url), timeout=5)
        except httpx.HTTPError:
            return None

    def _in_background(self, work) -> None:
        thread = threading.Thread(target=work, daemon=True, name=f"{self.name}-result")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def deliver(self, kind: str, url: str, *, content: bytes, headers: dict) -> Delivery:
        try:
            response = httpx.post(self.local(url), content=content, headers=headers, timeout=10)
            delivery = Delivery(kind, url, response.status_code, response.text, content, headers)
        except httpx.HTTPError as exc:
            delivery = Delivery(kind, url, -1, repr(exc), content, headers)
        with self._lock:
            self.deliveries.append(delivery)
            self._changed.notify_all()
        return delivery

    def wait_for(self, predicate, description: str, timeout: float = 10.0):
        """Block until predicate(self) is true; wakes on every request and delivery."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.name} stand-in: {description} did not happen in {timeout} s")
                self._changed.wait(remaining)

    def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        return self.wait_for(lambda s: list(s.deliveries) if len(s.deliveries) >= count else None,
                             f"{count} result deliveries", timeout)
