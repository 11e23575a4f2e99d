"""Webhook intake: store the raw event, act on it once per idempotency key, record the outcome.

Endpoints whose response depends on the outcome (TwiML that dials an LO) are processed
before responding. Status callbacks get their response as soon as the raw event is
committed and are processed right after from the stored event. So a burst gets fast
responses, and an event caught by a crash between the two is processed at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlmodel import select

from desktop_app.core import models
from desktop_app.core.db import BACKGROUND, StorageError

log = logging.getLogger(__name__)

MAX_STORED_BODY = 64 * 1024
MAX_ATTEMPTS = 5


@dataclass
class WebhookReply:
    status: int = 200
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"
    note: str = ""
    headers: dict = field(default_factory=dict)


class BadWebhook(ValueError):
    """A request that is not what the provider sends; the response is 400 with this reason."""


@dataclass(frozen=True)
class Endpoint:
    """Rules for one webhook: how it is checked, keyed, acted on and responded to.

    parse(params) -> parsed data (raises BadWebhook); key(parsed) -> idempotency key;
    apply(uow, ctx, parsed, duplicate) -> WebhookReply; decode(body, content_type) ->
    params, used to process a stored event again. A deferred endpoint responds with `ack`
    once the raw event is stored.
    """

    provider: str
    name: str
    parse: Callable[[Any], Any]
    key: Callable[[Any], str | None]
    apply: Callable[[Any, Any, Any, bool], WebhookReply]
    decode: Callable[[str, str], Any]
    deferred: bool = False
    ack: WebhookReply | None = None


ENDPOINTS: dict[tuple[str, str], Endpoint] = {}


def register_endpoint(endpoint: Endpoint) -> Endpoint:
    ENDPOINTS[(endpoint.provider, endpoint.name)] = endpoint
    return endpoint


def _store_raw(uow, provider: str, endpoint: str, body: str, content_type: str,
               dedup_key: str | None, now) -> int:
    event = models.InboundEvent(received_at=now, provider=provider, endpoint=endpoint,
                                content_type=content_type[:100], body=body[:MAX_STORED_BODY],
                                dedup_key=dedup_key, outcome="received")
    uow.add(event)
    uow.flush()
    return event.id


def _finish(uow, event_id: int, outcome: str, status: int | None, detail: str,
            count_attempt: bool = False) -> None:
    event = uow.session.get(models.InboundEvent, event_id)
    if event is not None:
        event.outcome = outcome
        if status is not None:
            event.http_status = status
        event.detail = detail[:1000]
        if count_attempt:
            event.attempts += 1
        uow.add(event)


def _apply(uow, ctx, endpoint: Endpoint, event_id: int, dedup_key: str | None, parsed,
           now, status: int | None) -> WebhookReply:
    duplicate = False
    if dedup_key is not None:
        duplicate = uow.session.get(models.ProcessedKey, dedup_key) is not None
    reply = endpoint.apply(uow, ctx, parsed, duplicate)
    if dedup_key is not None and not duplicate:
        uow.add(models.ProcessedKey(key=dedup_key, event_id=event_id, processed_at=now))
    _finish(uow, event_id, "duplicate" if duplicate else "accepted",
            status if status is not None else reply.status,
            ("duplicate; " if duplicate else "") + reply.note, count_attempt=True)
    return reply


class RawEventBatcher:
    """Stores raw events for many concurrent requests in one transaction (group commit).

    Each request gets a future with its event id. The first request of a batch queues one
    urgent writer job; requests arriving before that job runs join the same commit.
    """

    def __init__(self, db):
        self._db = db
        self._lock = threading.Lock()
        self._pending: list[tuple[dict, Future]] = []
        self._scheduled = False

    def store(self, row: dict) -> Future:
        future: Future = Future()
        with self._lock:
            self._pending.append((row, future))
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            try:
                self._db.run_in_writer(self._flush)
            except StorageError as exc:
                self._fail_all(exc)
        return future

    def _fail_all(self, exc: BaseException) -> None:
        with self._lock:
            items, self._pending, self._scheduled = self._pending, [], False
        for _row, future in items:
            future.set_exception(exc)

    def _flush(self) -> None:
        with self._lock:
            items, self._pending, self._scheduled = self._pending, [], False
        if not items:
            return
        try:
            ids = self._db.write(_insert_raw_rows, [row for row, _ in items])
        except BaseException as exc:
            for _row, future in items:
                future.set_exception(exc)
            return
        for (_row, future), event_id in zip(items, ids):
            future.set_result(event_id)


def _insert_raw_rows(uow, rows: list[dict]) -> list[int]:
    table = models.InboundEvent.__table__
    ids = []
    for row in rows:
        result = uow.session.connection().execute(table.insert().values(**row))
        ids.append(result.inserted_primary_key[0])
    return ids


_batchers: dict[int, RawEventBatcher] = {}
_batchers_lock = threading.Lock()


def batcher_for(db) -> RawEventBatcher:
    with _batchers_lock:
        batcher = _batchers.get(id(db))
        if batcher is None or batcher._db is not db:
            batcher = _batchers[id(db)] = RawEventBatcher(db)
        return batcher


def raw_row(endpoint: Endpoint, body: str, content_type: str, dedup_key: str | None, now) -> dict:
    return {"received_at": now,
            "provider": endpoint.provider, "endpoint": endpoint.name,
            "content_type": content_type[:100], "body": body[:MAX_STORED_BODY],
            "dedup_key": dedup_key, "outcome": "received", "attempts": 0}


class InFlight:
    """Count of HTTP requests still waiting for their response (kept by the listener)."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self._count += 1

    def leave(self) -> None:
        with self._lock:
            self._count = max(0, self._count - 1)

    @property
    def count(self) -> int:
        return self._count


class EventProcessor:
    """Feeds stored events to the writer one at a time, after the listener has responded.

    While requests are waiting for their response, processing waits (at most `max_hold`
    seconds per event), so a burst of webhooks gets its responses before the CPU goes to
    acting on them. Events keep their arrival order.
    """

    def __init__(self, ctx, inflight: InFlight, max_hold: float = 0.25):
        self.ctx = ctx
        self.inflight = inflight
        self.max_hold = max_hold
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="event-processor", daemon=True)
        self._pending = 0
        self._lock = threading.Condition()
        self._thread.start()

    def submit(self, event_id: int) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(event_id)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            event_id = self._queue.get()
            if event_id is None:
                return
            held = time.monotonic() + self.max_hold
            while self.inflight.count and time.monotonic() < held:
                time.sleep(0.001)
            try:
                self.ctx.db.run_in_writer(lambda: process_stored(self.ctx, event_id),
                                          priority=BACKGROUND).result()
            except StorageError as exc:
                log.error("Event %s stays queued for a retry: %s", event_id, exc)
            except Exception:
                log.exception("Processing event %s crashed", event_id)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()


def queue_processing(ctx, event_id: int) -> None:
    processor = getattr(ctx, "processor", None)
    if processor is not None:
        processor.submit(event_id)
    else:
        ctx.db.run_in_writer(lambda: process_stored(ctx, event_id), priority=BACKGROUND)


async def receive_async(ctx, endpoint: Endpoint, *, body: str, content_type: str,
                        parsed) -> WebhookReply:
    """Store the raw event (batched with concurrent requests), then return the response.

    Deferred endpoints respond right after the commit and are processed afterwards. Others
    are processed first because the response depends on the outcome.
    """
    now = ctx.clock.now()
    dedup_key = endpoint.key(parsed)
    future = batcher_for(ctx.db).store(raw_row(endpoint, body, content_type, dedup_key, now))
    event_id = await asyncio.wrap_future(future)
    if endpoint.deferred:
        # The processor waits until this request's response has gone out.
        queue_processing(ctx, event_id)
        return endpoint.ack or WebhookReply(204)
    return await asyncio.wrap_future(ctx.db.run_in_writer(
        lambda: _apply_now(ctx, endpoint, event_id, dedup_key, parsed, now)))


def receive(ctx, endpoint: Endpoint, *, body: str, content_type: str, parsed) -> WebhookReply:
    """Store and process one checked request in the writer thread; return the response."""
    now = ctx.clock.now()
    dedup_key = endpoint.key(parsed)
    event_id = ctx.db.write(_store_raw, endpoint.provider, endpoint.name, body, content_type,
                            dedup_key, now)
    if endpoint.deferred:
        queue_processing(ctx, event_id)
        return endpoint.ack or WebhookReply(204)
    return _apply_now(ctx, endpoint, event_id, dedup_key, parsed, now)


def _apply_now(ctx, endpoint: Endpoint, event_id: int, dedup_key: str | None, parsed,
               now) -> WebhookReply:
    try:
        return ctx.db.write(_apply, ctx, endpoint, event_id, dedup_key, parsed, now, None)
    except BadWebhook as exc:
        ctx.db.write(_finish, event_id, "rejected", 400, str(exc))
        raise
    except StorageError as exc:
        _mark_failed(ctx, event_id, 503, f"storage error: {exc}")
        raise
    except Exception as exc:
        _mark_failed(ctx, event_id, 500, f"internal error: {exc!r}")
        raise


Handler = Callable[[Any, bool], WebhookReply]


def ingest(ctx, *, provider: str, endpoint: str, body: str, content_type: str,
           dedup_key: str | None, handler: Handler) -> WebhookReply:
    """Store the raw event, then run handler(uow, duplicate) in its own transaction.

    For endpoints that act before responding, with a one-off handler (no Endpoint entry).
    Run it in the writer thread. A failing handler rolls back its changes, marks the event
    failed and raises, so the listener answers 5xx and the provider retries.
    """
    now = ctx.clock.now()
    event_id = ctx.db.write(_store_raw, provider, endpoint, body, content_type, dedup_key, now)
    endpoint_spec = Endpoint(provider, endpoint, parse=lambda p: p, key=lambda p: dedup_key,
                             apply=lambda uow, _ctx, _parsed, duplicate: handler(uow, duplicate),
                             decode=lambda b, c: None)
    return _apply_now(ctx, endpoint_spec, event_id, dedup_key, None, now)


def _mark_failed(ctx, event_id: int, status: int, detail: str) -> None:
    try:
        ctx.db.write(_finish, event_id, "failed", status, detail, True)
    except StorageError:
        log.error("Could not mark event %s failed: %s", event_id, detail)


def process_stored(ctx, event_id: int) -> str:
    """Process a stored event (deferred, or left over from a crash). Returns its outcome."""
    with ctx.db.read() as session:
        event = session.get(models.InboundEvent, event_id)
    if event is None or event.outcome in ("accepted", "duplicate", "rejected"):
        return event.outcome if event else "missing"
    endpoint = ENDPOINTS.get((event.provider, event.endpoint))
    if endpoint is None:
        ctx.db.write(_finish, event_id, "failed", None,
                     f"no handler for {event.provider} {event.endpoint}", True)
        return "failed"
    now = ctx.clock.now()
    try:
        parsed = endpoint.parse(endpoint.decode(event.body, event.content_type))
        reply = ctx.db.write(_apply, ctx, endpoint, event_id, event.dedup_key, parsed, now,
                             endpoint.ack.status if endpoint.ack else 204)
    except BadWebhook as exc:
        ctx.db.write(_finish, event_id, "rejected", None, str(exc))
        log.warning("Stored %s %s event %s is invalid: %s", event.provider, event.endpoint,
                    event_id, exc)
        return "rejected"
    except Exception as exc:
        if isinstance(exc, StorageError):
            log.error("Processing %s event %s failed: %s", event.endpoint, event_id, exc)
        else:
            log.exception("Processing %s event %s failed", event.endpoint, event_id)
        _mark_failed(ctx, event_id, 500, f"processing failed: {exc!r}")
        return "failed"
    if reply.note:
        log.info("%s %s", event.endpoint, reply.note)
    return "accepted"


def reprocess_pending(ctx, now: datetime, startup: bool = False) -> int:
    """Process events left unprocessed by a crash (at start) and retry failed ones with backoff.

    A failed event is retried after 1, 2, 4 and 8 minutes, then left failed for a person.
    """
    with ctx.db.read() as session:
        rows = session.exec(
            select(models.InboundEvent.id, models.InboundEvent.outcome,
                   models.InboundEvent.attempts, models.InboundEvent.received_at)
            .where(models.InboundEvent.outcome.in_(("received", "failed")))
            .order_by(models.InboundEvent.id)
        ).all()
    count = 0
    for event_id, outcome, attempts, received in rows:
        if outcome == "received" and not startup:
            continue
        if outcome == "failed":
            if attempts >= MAX_ATTEMPTS or (received + timedelta(minutes=2 ** max(0, attempts - 1))) > now:
                continue
        queue_processing(ctx, event_id)
        count += 1
    return count


def next_retry(ctx) -> datetime | None:
    with ctx.db.read() as session:
        rows = session.exec(
            select(models.InboundEvent.attempts, models.InboundEvent.received_at)
            .where(models.InboundEvent.outcome == "failed")
            .where(models.InboundEvent.attempts < MAX_ATTEMPTS)
        ).all()
    times = [received + timedelta(minutes=2 ** max(0, attempts - 1)) for attempts, received in rows]
    return min(times) if times else None


def store_rejected(ctx, *, provider: str, endpoint: str, body: str, content_type: str,
                   status: int, reason: str) -> None:
    """Keep a malformed request (signature valid) so nothing a provider sent is lost."""
    now = ctx.clock.now()

    def store(uow):
        event_id = _store_raw(uow, provider, endpoint, body, content_type, None, now)
        _finish(uow, event_id, "rejected", status, reason)

    ctx.db.write(store)


class LogThrottle:
    """Let through at most `limit` log lines per key per `window` seconds; count the rest."""

    def __init__(self, limit: int = 5, window: float = 60.0):
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[str, list] = {}

    def allow(self, key: str) -> tuple[bool, int]:
        """Return (log this one?, how many were suppressed since the last line logged)."""
        now = time.monotonic()
        with self._lock:
            start, count, suppressed = self._seen.get(key, [now, 0, 0])
            if now - start > self.window:
                start, count = now, 0
            if count < self.limit:
                self._seen[key] = [start, count + 1, 0]
                return True, suppressed
            self._seen[key] = [start, count, suppressed + 1]
            return False, 0
