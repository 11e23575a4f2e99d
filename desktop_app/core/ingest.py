"""Webhook intake: store the raw event, act on it once per idempotency key, record the outcome."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from desktop_app.core import models
from desktop_app.core.db import StorageError

log = logging.getLogger(__name__)

MAX_STORED_BODY = 64 * 1024


@dataclass
class WebhookReply:
    status: int = 200
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"
    note: str = ""
    headers: dict = field(default_factory=dict)


class BadWebhook(ValueError):
    """A request that is not what the provider sends: answered 400 with this reason."""


Handler = Callable[[object, bool], WebhookReply]


def _store_raw(uow, provider: str, endpoint: str, body: str, content_type: str,
               dedup_key: str | None, now) -> int:
    event = models.InboundEvent(received_at=now, provider=provider, endpoint=endpoint,
                                content_type=content_type[:100], body=body[:MAX_STORED_BODY],
                                dedup_key=dedup_key, outcome="received")
    uow.add(event)
    uow.flush()
    return event.id


def _finish(uow, event_id: int, outcome: str, status: int, detail: str) -> None:
    event = uow.session.get(models.InboundEvent, event_id)
    if event is not None:
        event.outcome = outcome
        event.http_status = status
        event.detail = detail[:1000]
        uow.add(event)


def _process(uow, event_id: int, dedup_key: str | None, handler: Handler, now) -> WebhookReply:
    duplicate = False
    if dedup_key is not None:
        duplicate = uow.session.get(models.ProcessedKey, dedup_key) is not None
    reply = handler(uow, duplicate)
    if dedup_key is not None and not duplicate:
        uow.add(models.ProcessedKey(key=dedup_key, event_id=event_id, processed_at=now))
    _finish(uow, event_id, "duplicate" if duplicate else "accepted", reply.status,
            ("duplicate; " if duplicate else "") + reply.note)
    return reply


def ingest(ctx, *, provider: str, endpoint: str, body: str, content_type: str,
           dedup_key: str | None, handler: Handler) -> WebhookReply:
    """Run in the writer thread: two commits, so the raw event survives a failed handler.

    A failure in the handler rolls back its changes, marks the event failed and raises, so
    the listener answers 5xx and the provider retries; the retry then runs the handler again.
    """
    now = ctx.clock.now()
    event_id = ctx.db.write(_store_raw, provider, endpoint, body, content_type, dedup_key, now)
    try:
        return ctx.db.write(_process, event_id, dedup_key, handler, now)
    except BadWebhook as exc:
        ctx.db.write(_finish, event_id, "rejected", 400, str(exc))
        raise
    except StorageError as exc:
        try:
            ctx.db.write(_finish, event_id, "failed", 503, f"storage error: {exc}")
        except StorageError:
            pass
        raise
    except Exception as exc:
        ctx.db.write(_finish, event_id, "failed", 500, f"internal error: {exc!r}")
        raise


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
