"""The local webhook listener: a Starlette app served by uvicorn on 127.0.0.1 in its own thread."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from desktop_app import __version__
from desktop_app.core import twilio_webhooks

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
# Webhook bodies are a few kilobytes; this cap only stops abuse.
MAX_REQUEST_BYTES = 1024 * 1024
BODY_TIMEOUT_SECONDS = 10.0
# Connections served at once; more get 503 at once instead of piling up.
MAX_CONNECTIONS = 1000

# Extra routes registered by integrations: factory(context) -> list[Route].
_EXTRA_ROUTES: list[Callable] = []


def register_routes(factory: Callable) -> None:
    if factory not in _EXTRA_ROUTES:
        _EXTRA_ROUTES.append(factory)


class ListenerError(RuntimeError):
    """The listener could not start (port taken, permission denied)."""


def create_app(ctx) -> Starlette:
    async def health(request: Request) -> Response:
        return JSONResponse({
            "status": "ok",
            "version": __version__,
            "sandbox": ctx.sandbox("twilio"),
            "public_url": ctx.public_url(),
            "port": ctx.listen_port,
        })

    routes = [Route("/health", health, methods=["GET"])]
    routes.extend(twilio_webhooks.routes(ctx))
    for factory in _EXTRA_ROUTES:
        routes.extend(factory(ctx))
    return ListenerGuard(Starlette(routes=routes), ctx.inflight,
                         body_timeout=getattr(ctx, "body_timeout", BODY_TIMEOUT_SECONDS))


class ListenerGuard:
    """ASGI wrapper in front of every route: reads the request body itself, with a size cap
    and a time limit, before the app sees the request.

    A body over `max_body` gets 413 and one that does not finish within `body_timeout`
    seconds gets 408, so neither can hold memory or a worker. A request counts as in flight
    (which makes stored-event processing wait) only from its complete body until the last
    byte of its response, so a client that never finishes its body delays nothing.
    """

    def __init__(self, app, inflight, max_body: int = MAX_REQUEST_BYTES,
                 body_timeout: float = BODY_TIMEOUT_SECONDS):
        self.app = app
        self.inflight = inflight
        self.max_body = max_body
        self.body_timeout = body_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_body:
                    await _plain(send, 413, f"request body larger than {self.max_body} bytes")
                    return
        body = bytearray()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                await _plain(send, 408, f"request body not received within {self.body_timeout:g} s")
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _plain(send, 413, f"request body larger than {self.max_body} bytes")
                return
            if not message.get("more_body"):
                break

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        self.inflight.enter()
        done = False

        async def counting_send(message):
            nonlocal done
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body") and not done:
                done = True
                self.inflight.leave()

        try:
            await self.app(scope, replay, counting_send)
        finally:
            if not done:
                self.inflight.leave()


async def _plain(send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class Listener:
    """Runs uvicorn on its own thread and event loop, so a busy window never delays it."""

    def __init__(self, app, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ListenerError(f"the listener only binds to the loopback address, not {host!r}")
        self.app = app
        self.host = "127.0.0.1" if host == "localhost" else host
        self.requested_port = port
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> int:
        """Bind the port, start serving, and return the port bound."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # No SO_REUSEADDR: a second copy of the app must fail loudly, not share the port.
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise ListenerError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}. "
                "Another copy of the app may be running; close it or start with --port N."
            ) from exc
        sock.listen(2048)
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        # uvicorn writes an access line whenever its logger has handlers; the app logs each
        # webhook itself, with numbers masked.
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off",
                                server_header=False, date_header=False, timeout_graceful_shutdown=3,
                                loop="asyncio", http="h11", limit_concurrency=MAX_CONNECTIONS)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="listener", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise ListenerError("the listener did not start in time")
        if self._error is not None:
            raise ListenerError(f"the listener failed to start: {self._error}")
        log.info("Listening on http://%s:%d", self.host, self.port)
        return self.port

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve_async())
        except BaseException as exc:  # reported to start() or logged at stop
            self._error = exc
            log.exception("Listener stopped with an error")
        finally:
            self._started.set()
            loop.close()

    async def _serve_async(self) -> None:
        assert self._server is not None
        task = asyncio.ensure_future(self._server.serve(sockets=[self._socket]))
        while not self._server.started and not task.done():
            await asyncio.sleep(0.005)
        self._started.set()
        await task

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("Listener thread did not stop within %.0f s", timeout)
        if self._socket is not None:
            try:
                self._socket.close()
            except OSError:
                pass
        self._thread = None
        log.info("Listener stopped")
