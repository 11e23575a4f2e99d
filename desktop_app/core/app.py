"""The running app without a window: store, listener, scheduler and sending queues."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core import calls, ingest, sequences
from desktop_app.core.clock import SystemClock
from desktop_app.core.context import Context, service_factories
from desktop_app.core.db import BUSY_TIMEOUT_MS, DB_FILENAME, Database
from desktop_app.core.events import EventBus, ServiceState
from desktop_app.core.integrations import register_all
from desktop_app.core.messaging import SendHandler
from desktop_app.core.outbox import Outbox, RetryPolicy
from desktop_app.core.scheduler import Alarm
from desktop_app.core.secrets import SecretStore
from desktop_app.core.server import DEFAULT_PORT, Listener, create_app
from desktop_app.core.settings import Settings
from desktop_app.core.templates import TemplateStore

log = logging.getLogger(__name__)


@dataclass
class AppOptions:
    data_dir: Path
    port: int = DEFAULT_PORT
    tunnel: bool = True
    start_scheduler: bool = True
    send_interval: float = 1.0
    retry: RetryPolicy | None = None
    busy_timeout_ms: int = BUSY_TIMEOUT_MS


def open_context(data_dir: Path, *, clock=None, environ: dict | None = None,
                 bus: EventBus | None = None, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Context:
    """Open the store and settings for a data folder (used by the app and by CLI commands)."""
    register_all()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    bus = bus or EventBus()
    environ = dict(os.environ) if environ is None else environ
    db = Database(data_dir / DB_FILENAME, bus, busy_timeout_ms)
    return Context(
        data_dir=data_dir, db=db, settings=Settings(db, environ), templates=TemplateStore(db),
        secrets=SecretStore(environ), bus=bus, clock=clock or SystemClock(), environ=environ,
    )


class DeskApp:
    """Starts and stops every background part in order; the window and --headless share it."""

    def __init__(self, options: AppOptions, *, clock=None, environ: dict | None = None):
        self.options = options
        self.ctx = open_context(options.data_dir, clock=clock, environ=environ,
                                busy_timeout_ms=options.busy_timeout_ms)
        self.handler = SendHandler(self.ctx)
        self.outbox = Outbox(self.handler, min_interval=options.send_interval,
                             policy=options.retry, wall_clock=self.ctx.clock.now)
        self.ctx.outbox = self.outbox
        self.ctx.processor = ingest.EventProcessor(self.ctx, self.ctx.inflight)
        self.alarm = Alarm(self.tick, self.ctx.clock)
        self.ctx.wake_at = self.alarm.wake_at
        self.listener: Listener | None = None
        self.tunnel = None
        self.services: list = []
        self.started = False

    @property
    def bus(self) -> EventBus:
        return self.ctx.bus

    def start(self) -> None:
        ctx = self.ctx
        log.debug("Start: recovering steps interrupted by the last stop")
        counts = ctx.db.write(sequences.recover, ctx.clock.now())
        if counts["needs_review"]:
            log.warning("%d step(s) were caught mid-send by the last stop and need review",
                        counts["needs_review"])

        log.debug("Start: warming up the SMS provider")
        ctx.sms_provider("twilio")

        log.debug("Start: opening the listener")
        self.listener = Listener(create_app(ctx), port=self.options.port)
        ctx.listen_port = self.listener.start()
        ctx.bus.publish(ServiceState("listener", "listening", f"127.0.0.1:{ctx.listen_port}"))

        ctx.bus.subscribe(self._log_tunnel_state)
        if self.options.tunnel:
            log.debug("Start: opening the tunnel")
            self._start_tunnel()

        log.debug("Start: background services of the integrations")
        for factory in service_factories():
            service = factory(ctx)
            if service is not None:
                service.start()
                self.services.append(service)

        log.debug("Start: catching up on steps due while the app was closed")
        self.tick(startup=True)
        if self.options.start_scheduler:
            self.alarm.start()
            self._schedule_next()
        self.started = True
        log.info("Missed-Call Desk is running (data in %s)", ctx.data_dir)

    def _log_tunnel_state(self, event: object) -> None:
        if not isinstance(event, ServiceState) or event.service != "tunnel":
            return
        if event.state == "up":
            log.info("Tunnel up: providers reach the app at %s", event.detail or self.ctx.public_url())
        elif event.state in ("down", "reconnecting"):
            log.warning("Tunnel %s: %s", event.state, event.detail or "no reason given")
        elif event.state == "off" and event.detail:
            log.info("Tunnel off: %s", event.detail)

    def _start_tunnel(self) -> None:
        try:
            from desktop_app.core.tunnel import Tunnel  # noqa: PLC0415
        except ImportError:
            return
        self.tunnel = Tunnel(self.ctx)
        self.tunnel.start_in_background()

    def tick(self, startup: bool = False) -> None:
        """Process webhooks left over or failed, decide calls whose final status is overdue,
        then run every step that is due."""
        ctx = self.ctx
        try:
            ingest.reprocess_pending(ctx, ctx.clock.now(), startup=startup)
            self.settle()
            ctx.db.write(calls.decide_overdue, ctx, ctx.clock.now())
            sequences.run_due(ctx, startup=startup)
        finally:
            self._schedule_next()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every stored webhook event has been processed (tests, orderly stop)."""
        self.ctx.processor.wait_idle(timeout)
        self.ctx.db.barrier(timeout)

    def _schedule_next(self) -> None:
        ctx = self.ctx
        upcoming = sequences.next_due(ctx)
        if upcoming is not None:
            self.alarm.wake_at(upcoming)
        with ctx.db.read() as session:
            overdue = calls.next_overdue_check(session, ctx)
        if overdue is not None:
            self.alarm.wake_at(overdue)
        retry = ingest.next_retry(ctx)
        if retry is not None:
            self.alarm.wake_at(retry)

    def stop(self) -> None:
        log.info("Stopping")
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception:
                log.exception("Stopping %r failed", service)
        self.services.clear()
        if self.tunnel is not None:
            self.tunnel.stop()
        if self.listener is not None:
            self.listener.stop()
            self.ctx.bus.publish(ServiceState("listener", "stopped", ""))
        self.alarm.stop()
        self.ctx.processor.stop()
        self.outbox.stop()
        self.ctx.reset_providers()
        self.ctx.db.close()
        self.started = False
