"""RingCentral: the /ringcentral/webhook endpoint, telephony-session decisions and the SMS provider.

RingCentral reports each call as a telephony session: a stream of notifications that
share a telephonySessionId, carry a `sequence` number and may arrive repeated and out of
order. Each notification is stored (table ringcentral_session_event), and the session is
decided from everything stored so far, once:

- answered: a party of ours reached Answered (or Hold or Parked, which follow an answer),
  or ended Disconnected with a reason that means someone else took the call (Pickup,
  TakeOver, AgentAnswered, CallFlip, ParkLocation, CallPark). A known contact's automation
  halts (calls.mark_answered).
- transferred: a party ended Gone (warm transfer, conference) or Disconnected with a
  transfer or redirect reason (BlindTransfer, AttendedTransfer, RccTransfer, DtmfTransfer,
  CallRedirected, CallerInputRedirect). The call went on elsewhere, so it is not a miss;
  where it went reports its own session.
- missed: an inbound party ended Disconnected with missedCall true. Seconds on the line are
  the last event time minus the first one of the session.

Answered wins over transferred, and both win over the missed flag, because a transfer or
redirect can also carry missedCall true for the party it left. Calls from an extension of
the same account (from.extensionId set) are internal and are not recorded as calls.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Optional

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from desktop_app.core import calls, models, phones
from desktop_app.core.context import register_sms_provider
from desktop_app.core.db import StorageError
from desktop_app.core.events import CallChanged, ServiceState
from desktop_app.core.ingest import BadWebhook, LogThrottle, WebhookReply, ingest, store_rejected
from desktop_app.core.providers.base import SmsProvider
from desktop_app.core.providers.ringcentral_sms import RingCentralClient, RingCentralSms
from desktop_app.core.providers.sandbox import SandboxSms
from desktop_app.core.ringcentral_subscription import SubscriptionKeeper
from desktop_app.core.twilio_webhooks import read_text_body
from desktop_app.core.server import register_routes

log = logging.getLogger(__name__)

PROVIDER = "ringcentral"
WEBHOOK_PATH = "/ringcentral/webhook"
# Extension- or account-level telephony-session events; RingCentral fills in the real ids.
_TELEPHONY_EVENT = re.compile(r"^/restapi/v1\.0/account/[^/?]+(?:/extension/[^/?]+)?"
                              r"/telephony/sessions(?:\?.*)?$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_\-=+/.:!]{1,128}$")
# Visible ASCII only: the token is echoed in a response header.
_VALIDATION_TOKEN = re.compile(r"^[\x21-\x7e]{1,512}$")

FINAL_CODES = frozenset({"Disconnected", "Gone"})
ANSWERED_CODES = frozenset({"Answered", "Hold", "Parked"})
TAKEN_REASONS = frozenset({"Pickup", "TakeOver", "AgentAnswered", "CallFlip", "ParkLocation",
                           "CallPark"})
TRANSFER_REASONS = frozenset({"BlindTransfer", "AttendedTransfer", "RccTransfer", "DtmfTransfer",
                              "CallRedirected", "CallerInputRedirect"})


class RingCentralSessionEvent(SQLModel, table=True):
    """One telephony-session notification, kept to order a session's events by sequence."""

    __tablename__ = "ringcentral_session_event"
    __table_args__ = (sa.UniqueConstraint("telephony_session_id", "sequence"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    telephony_session_id: str = Field(index=True)
    session_id: str = ""
    sequence: int
    event_time: datetime = Field(sa_type=models.UTCDateTime)
    received_at: datetime = Field(sa_type=models.UTCDateTime)
    parties: str = "[]"  # JSON list of Party fields


# -- parsing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Party:
    party_id: str
    direction: str  # Inbound or Outbound, from our extension's point of view
    code: str  # status.code: Setup, Proceeding, Answered, Disconnected, Gone, VoiceMail ...
    reason: str | None
    missed: bool
    from_number: str | None
    to_number: str | None
    internal: bool  # the caller is an extension of the same account

    @property
    def external_inbound(self) -> bool:
        return self.direction == "Inbound" and not self.internal


@dataclass(frozen=True)
class SessionEvent:
    telephony_session_id: str
    session_id: str
    sequence: int
    event_time: datetime
    parties: tuple[Party, ...]


@dataclass(frozen=True)
class Notification:
    event: str
    uuid: str | None
    session: SessionEvent | None  # None for events other than telephony sessions


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise BadWebhook(f"{where} is missing or not a JSON object")
    return value


def _string(data: dict, key: str, where: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise BadWebhook(f"missing required field: {where}{key}")
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise BadWebhook(f"{where}{key} is not a string")
    return str(value)


def _sequence(body: dict) -> int:
    value = body.get("sequence")
    if value is None:
        raise BadWebhook("missing required field: body.sequence")
    if isinstance(value, bool) or not (isinstance(value, int) or
                                       (isinstance(value, str) and value.isascii() and value.isdigit())):
        raise BadWebhook(f"body.sequence {str(value)[:30]!r} is not a whole number")
    number = int(value)
    if not 0 <= number < 2 ** 63:  # SQLite stores 64-bit integers
        raise BadWebhook(f"body.sequence {str(value)[:30]!r} is out of range")
    return number


def _event_time(body: dict) -> datetime:
    value = _string(body, "eventTime", "body.")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise BadWebhook(f"body.eventTime {value[:40]!r} is not an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _party(raw, index: int) -> Party:
    where = f"body.parties[{index}]"
    data = _object(raw, where)
    direction = _string(data, "direction", f"{where}.")
    if direction not in ("Inbound", "Outbound"):
        raise BadWebhook(f"{where}.direction {direction[:20]!r} is not Inbound or Outbound")
    status = _object(data.get("status"), f"{where}.status")
    code = _string(status, "code", f"{where}.status.")
    missed = data.get("missedCall", False)
    if not isinstance(missed, bool):
        raise BadWebhook(f"{where}.missedCall {str(missed)[:20]!r} is not true or false")
    caller = data.get("from") if isinstance(data.get("from"), dict) else {}
    callee = data.get("to") if isinstance(data.get("to"), dict) else {}
    return Party(
        party_id=_string(data, "id", f"{where}.", required=False) or f"#{index}",
        direction=direction, code=code,
        reason=_string(status, "reason", f"{where}.status.", required=False),
        missed=missed,
        from_number=_string(caller, "phoneNumber", f"{where}.from.", required=False),
        to_number=_string(callee, "phoneNumber", f"{where}.to.", required=False),
        internal=bool(caller.get("extensionId")),
    )


def parse_notification(raw: str) -> Notification:
    """Parse a webhook body; raise BadWebhook naming the first field that is wrong."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadWebhook(f"invalid JSON body: {exc.msg} (line {exc.lineno}, column {exc.colno})") \
            from None
    except RecursionError:
        raise BadWebhook("invalid JSON body: nested too deeply") from None
    data = _object(data, "the request body")
    event = _string(data, "event", "")
    uuid = _string(data, "uuid", "", required=False)
    body = _object(data.get("body"), "body")
    if not _TELEPHONY_EVENT.match(event):
        return Notification(event=event, uuid=uuid, session=None)

    session_id = _string(body, "telephonySessionId", "body.")
    if not _SESSION_ID.match(session_id):
        raise BadWebhook(f"body.telephonySessionId {session_id[:70]!r} is not a valid identifier")
    parties = body.get("parties")
    if not isinstance(parties, list):
        raise BadWebhook("missing required field: body.parties (a list)")
    return Notification(event=event, uuid=uuid, session=SessionEvent(
        telephony_session_id=session_id,
        session_id=_string(body, "sessionId", "body.", required=False) or "",
        sequence=_sequence(body),
        event_time=_event_time(body),
        parties=tuple(_party(p, i) for i, p in enumerate(parties)),
    ))


# -- deciding a session ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    kind: str  # answered, transferred, fax, missed, ended, ringing
    reason: str  # the status code or reason that decided it, for the log and the call
    first_time: datetime
    last_time: datetime
    # An event that precedes the first final one has arrived, so first_time is trustworthy.
    has_earlier_events: bool
    latest_code: str

    @property
    def seconds(self) -> int:
        """Seconds on the line, rounded to the nearest second."""
        return max(0, int((self.last_time - self.first_time).total_seconds() + 0.5))


def evaluate(events: list[SessionEvent]) -> Verdict | None:
    """Decide what a session amounts to so far; None when no outside caller takes part."""
    events = sorted(events, key=lambda e: e.sequence)
    inbound = [(e, p) for e in events for p in e.parties if p.external_inbound]
    if not inbound:
        return None
    times = [e.event_time for e in events]
    finals = [e.sequence for e, p in inbound if p.code in FINAL_CODES]
    earlier = bool(finals) and any(e.sequence < min(finals) for e in events)

    def verdict(kind: str, reason: str) -> Verdict:
        return Verdict(kind, reason, min(times), max(times), earlier, inbound[-1][1].code)

    for _, p in inbound:
        if p.code in ANSWERED_CODES:
            return verdict("answered", p.code)
        if p.code == "Disconnected" and p.reason in TAKEN_REASONS:
            return verdict("answered", f"Disconnected ({p.reason})")
    for _, p in inbound:
        if p.code == "Gone":
            return verdict("transferred", f"Gone ({p.reason or 'no reason given'})")
        if p.code == "Disconnected" and p.reason in TRANSFER_REASONS:
            return verdict("transferred", f"Disconnected ({p.reason})")
    if any(p.code == "FaxReceive" for _, p in inbound):
        return verdict("fax", "FaxReceive")
    for _, p in inbound:
        if p.code == "Disconnected" and p.missed:
            return verdict("missed", f"Disconnected ({p.reason or 'missedCall'})")
    if finals:
        return verdict("ended", "Disconnected without missedCall")
    return verdict("ringing", inbound[-1][1].code)


def _to_row(event: SessionEvent, now: datetime) -> RingCentralSessionEvent:
    parties = [asdict(p) for p in event.parties]
    return RingCentralSessionEvent(telephony_session_id=event.telephony_session_id,
                                   session_id=event.session_id, sequence=event.sequence,
                                   event_time=event.event_time, received_at=now,
                                   parties=json.dumps(parties))


def _from_row(row: RingCentralSessionEvent) -> SessionEvent:
    parties = tuple(Party(**p) for p in json.loads(row.parties))
    return SessionEvent(row.telephony_session_id, row.session_id, row.sequence, row.event_time,
                        parties)


def session_events(session, telephony_session_id: str) -> list[SessionEvent]:
    rows = session.exec(
        select(RingCentralSessionEvent)
        .where(RingCentralSessionEvent.telephony_session_id == telephony_session_id)
        .order_by(RingCentralSessionEvent.sequence)
    ).all()
    return [_from_row(row) for row in rows]


def _set_outcome(uow, call: models.Call, outcome: str, detail: str, now: datetime) -> None:
    call.outcome = outcome
    call.detail = f"{call.detail}; {detail}" if call.detail else detail
    call.decided_at = now
    call.updated_at = now
    uow.add(call)
    uow.emit(CallChanged(call.id))


def decide_session(uow, ctx, telephony_session_id: str, now: datetime, *,
                   force: bool = False) -> tuple[str, bool]:
    """Apply what a session's stored events show. Returns (note for the log, wait).

    `wait` is True when the session ended but is better decided later. Either the
    missed-call event came before the session's earlier events, so the seconds are not
    known yet, or the session ended without the missed flag, which a second final event
    may still carry. `force` decides with what has arrived.
    """
    events = session_events(uow.session, telephony_session_id)
    verdict = evaluate(events)
    if verdict is None:
        return "no outside caller in this session (outbound or internal call): ignored", False

    first = next(p for e in events for p in e.parties if p.external_inbound)
    call, created = calls.ensure_call(uow, PROVIDER, telephony_session_id, first.from_number,
                                      first.to_number, now, "inbound")
    call.call_status = verdict.latest_code.lower()
    if verdict.latest_code in FINAL_CODES and call.ended_at is None:
        call.ended_at = now
    call.updated_at = now
    uow.add(call)
    label = f"call {telephony_session_id} from {phones.mask(call.caller_raw)}"

    if call.outcome == "missed" and verdict.kind == "answered":
        # An answer reported after the miss was decided (events out of order): a person did
        # speak with the caller, so the automation halts now.
        calls.mark_answered(uow, ctx, call, now)
        return f"{label}: answered after all ({verdict.reason}); automation halted", False
    if call.outcome != "pending":
        return f"{label}: {verdict.latest_code} (already {call.outcome})", False

    if verdict.kind == "answered":
        calls.mark_answered(uow, ctx, call, now)
        return f"{label}: answered ({verdict.reason})", False
    if verdict.kind == "transferred":
        _set_outcome(uow, call, "ignored", f"transferred, not a miss: {verdict.reason}", now)
        return f"{label}: transferred ({verdict.reason}), not a miss", False
    if verdict.kind == "fax":
        _set_outcome(uow, call, "ignored", "a fax, not a borrower's call", now)
        return f"{label}: fax, ignored", False
    if verdict.kind == "missed":
        if not (verdict.has_earlier_events or force):
            return f"{label}: missed; waiting for the session's earlier events", True
        calls.decide_missed(uow, ctx, call, verdict.seconds, now,
                            note=None if verdict.has_earlier_events else
                            "the session's earlier events never arrived; seconds counted "
                            "from the events received")
        return f"{label}: missed ({verdict.reason}), {verdict.seconds} s on the line", False
    if verdict.kind == "ended":
        if not force:
            return f"{label}: ended without the missed flag; waiting for later events", True
        _set_outcome(uow, call, "ignored", "ended without being answered and without "
                                          "RingCentral's missedCall flag", now)
        return f"{label}: ended without the missed flag, not treated as a miss", False
    return f"{label}: {verdict.reason}" + (" (new call)" if created else ""), False


def _decide_late(uow, ctx, telephony_session_id: str) -> str:
    note, _ = decide_session(uow, ctx, telephony_session_id, ctx.clock.now(), force=True)
    return note


def decide_waiting_sessions(uow, ctx) -> int:
    """Decide every pending RingCentral call whose session has ended (used at start).

    A call that was waiting for late events when the app stopped is decided here with
    what was stored. Returns how many calls were looked at.

    NOTE: a session whose final event never arrives stays pending (shown as ringing on the
    board); nothing times it out yet.
    """
    pending = uow.session.exec(
        select(models.Call.call_id).where(models.Call.provider == PROVIDER)
        .where(models.Call.outcome == "pending")
    ).all()
    for telephony_session_id in pending:
        note = _decide_late(uow, ctx, telephony_session_id)
        log.info("RingCentral %s", note)
    return len(pending)


def notification_key(notification: Notification) -> str | None:
    """Idempotency key: RingCentral repeats a session event with the same sequence number."""
    event = notification.session
    if event is not None:
        return f"ringcentral:session:{event.telephony_session_id}:{event.sequence}"
    return f"ringcentral:event:{notification.uuid}" if notification.uuid else None


def apply_notification(uow, ctx, notification: Notification, duplicate: bool) -> WebhookReply:
    """Store a session event and decide its session (runs in the writer thread)."""
    event = notification.session
    if event is None:
        return WebhookReply(200, note=f"ignored RingCentral event {notification.event[:100]}")
    session_id, sequence = event.telephony_session_id, event.sequence
    if duplicate:
        return WebhookReply(200, note=f"session {session_id} event {sequence} again")
    now = ctx.clock.now()
    exists = uow.session.exec(
        select(RingCentralSessionEvent.id)
        .where(RingCentralSessionEvent.telephony_session_id == session_id)
        .where(RingCentralSessionEvent.sequence == sequence)
    ).first()
    if exists is None:
        uow.add(_to_row(event, now))
        uow.flush()
    note, wait = decide_session(uow, ctx, session_id, now)
    if wait:
        runtime = runtime_for(ctx)
        uow.after_commit(lambda: runtime.decide_later(session_id))
    return WebhookReply(200, note=f"event {sequence}: {note}")


# -- the endpoint ---------------------------------------------------------------------------------

_throttle = LogThrottle()


def _reject(request: Request, status: int, reason: str) -> Response:
    allowed, suppressed = _throttle.allow(f"{request.url.path[:64]}:{status}")
    if allowed:
        client = f"{request.client.host}:{request.client.port}" if request.client else "?"
        extra = f" ({suppressed} similar lines suppressed)" if suppressed else ""
        log.warning("Rejected %s %s from %s: HTTP %d, %s%s", request.method, request.url.path,
                    client, status, reason, extra)
    return Response(reason + "\n", status_code=status, media_type="text/plain")


async def _read_body(request: Request) -> str | Response:
    return await read_text_body(request, _reject)


class RingCentralWebhook:
    """POST /ringcentral/webhook: the validation handshake and telephony-session events."""

    def __init__(self, ctx):
        self.ctx = ctx

    async def handle(self, request: Request) -> Response:
        validation = request.headers.get("validation-token")
        if validation is not None:
            return self._validate(request, validation)

        expected = self.ctx.secrets.get("ringcentral.verification_token")
        if not expected:
            return _reject(request, 403, "no RingCentral verification token is set; set "
                                         "MCD_RINGCENTRAL_VERIFICATION_TOKEN or create the "
                                         "subscription from the app")
        given = request.headers.get("verification-token")
        if given is None:
            return _reject(request, 403, "missing Verification-Token header")
        # Starlette decodes header values as latin-1, so this recovers the bytes sent.
        if not hmac.compare_digest(given.encode("latin-1", "replace"), expected.encode("utf-8")):
            return _reject(request, 403, "invalid Verification-Token header")

        raw = await _read_body(request)
        if isinstance(raw, Response):
            return raw
        content_type = request.headers.get("content-type", "")
        try:
            notification = parse_notification(raw)
        except BadWebhook as exc:
            return await self._bad(request, raw, content_type, exc)
        ctx = self.ctx

        def handler(uow, duplicate: bool) -> WebhookReply:
            return apply_notification(uow, ctx, notification, duplicate)

        return await self._run(request, raw, content_type, notification_key(notification), handler)

    def _validate(self, request: Request, token: str) -> Response:
        """Echo RingCentral's Validation-Token at once: nothing is read from or written to the store."""
        if not _VALIDATION_TOKEN.match(token):
            return _reject(request, 400, "invalid Validation-Token header")
        allowed, _ = _throttle.allow("validation")
        if allowed:
            log.info("Echoed the Validation-Token of a RingCentral subscription request")
        # RingCentral expects application/json here even though the body is empty.
        return Response(b"", status_code=200, headers={"Validation-Token": token},
                        media_type="application/json")

    async def _run(self, request: Request, raw: str, content_type: str, key: str | None,
                   handler) -> Response:
        ctx = self.ctx

        def work():
            return ingest(ctx, provider=PROVIDER, endpoint="webhook", body=raw,
                          content_type=content_type, dedup_key=key, handler=handler)

        try:
            reply = await asyncio.wrap_future(ctx.db.run_in_writer(work))
        except BadWebhook as exc:
            return _reject(request, 400, str(exc))
        except StorageError as exc:
            log.error("Could not store a RingCentral webhook: %s", exc)
            return Response("storage unavailable, retry later\n", status_code=503,
                            headers={"Retry-After": "5"}, media_type="text/plain")
        except Exception:
            log.exception("Handling a RingCentral webhook failed")
            return Response("internal error; the event was stored\n", status_code=500,
                            media_type="text/plain")
        if reply.note:
            log.info("RingCentral %s", reply.note)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type,
                        headers=reply.headers)

    async def _bad(self, request: Request, raw: str, content_type: str,
                   exc: BadWebhook) -> Response:
        def work():
            store_rejected(self.ctx, provider=PROVIDER, endpoint="webhook", body=raw,
                           content_type=content_type, status=400, reason=str(exc))

        try:
            await asyncio.wrap_future(self.ctx.db.run_in_writer(work))
        except StorageError:
            pass
        return _reject(request, 400, str(exc))


# -- background work ------------------------------------------------------------------------------

class RingCentralRuntime:
    """Background work for one running app: late session decisions and the subscription keeper.

    It follows the listener: it starts when the listener reports listening and stops when
    the listener stops, so nothing runs after the database closes.
    """

    def __init__(self, ctx):
        self.ctx = ctx
        self.keeper = SubscriptionKeeper(ctx)
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self.unsubscribe = None

    def on_event(self, event: object) -> None:
        if not isinstance(event, ServiceState):
            return
        if event.service == "listener" and event.state == "listening":
            self.start()
        elif event.service == "listener" and event.state == "stopped":
            self.stop()
        elif event.service == "tunnel":
            # The public URL may have changed: check the subscription's address now.
            self.keeper.wake()

    def start(self) -> None:
        with self._lock:
            self._stopped = False
        try:
            self.ctx.db.submit_write(decide_waiting_sessions, self.ctx)
        except StorageError as exc:
            log.warning("Could not check RingCentral calls left waiting: %s", exc)
        self.start_keeper()

    def start_keeper(self) -> None:
        """Start the subscription keeper if the setting allows it and credentials are set."""
        if self._stopped or not self.ctx.settings.get("ringcentral.manage_subscription"):
            return
        if not has_credentials(self.ctx):
            log.debug("No RingCentral credentials: the subscription keeper is not started")
            return
        self.keeper.start()
        self.keeper.wake()

    def decide_later(self, telephony_session_id: str) -> None:
        """Decide a session after ringcentral.event_wait_seconds with what has arrived by then."""
        wait = float(self.ctx.settings.get("ringcentral.event_wait_seconds"))
        with self._lock:
            if self._stopped or telephony_session_id in self._timers:
                return
            timer = threading.Timer(wait, self._decide, args=(telephony_session_id,))
            timer.daemon = True
            timer.name = "ringcentral-late-decision"
            self._timers[telephony_session_id] = timer
        timer.start()

    def _decide(self, telephony_session_id: str) -> None:
        with self._lock:
            self._timers.pop(telephony_session_id, None)
            if self._stopped:
                return
        try:
            note = self.ctx.db.write(_decide_late, self.ctx, telephony_session_id)
            log.info("RingCentral %s", note)
        except StorageError as exc:
            log.warning("Could not decide RingCentral session %s: %s", telephony_session_id, exc)
        except Exception:
            log.exception("Deciding RingCentral session %s failed", telephony_session_id)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            timers = list(self._timers.values())
            self._timers.clear()
        for timer in timers:
            timer.cancel()
        self.keeper.stop()
        _RUNTIMES.pop(id(self.ctx), None)
        if self.unsubscribe is not None:
            self.unsubscribe()


# One runtime per running app, keyed by id(ctx) because Context is not hashable.
_RUNTIMES: dict[int, RingCentralRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


def runtime_for(ctx) -> RingCentralRuntime:
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(id(ctx))
        if runtime is None or runtime.ctx is not ctx:
            runtime = _RUNTIMES[id(ctx)] = RingCentralRuntime(ctx)
        return runtime


def _routes(ctx) -> list[Route]:
    runtime = runtime_for(ctx)
    # The listener's start and stop arrive on the bus; see RingCentralRuntime.
    if runtime.unsubscribe is None:
        runtime.unsubscribe = ctx.bus.subscribe(runtime.on_event)
    return [Route(WEBHOOK_PATH, RingCentralWebhook(ctx).handle, methods=["POST"])]


def has_credentials(ctx) -> bool:
    return all(ctx.secrets.get(name) for name in
               ("ringcentral.client_id", "ringcentral.client_secret", "ringcentral.jwt"))


def credentials_changed(ctx) -> None:
    """Use new RingCentral credentials: drop cached clients, then start or wake the keeper.

    The window calls this after saving the credentials.
    """
    ctx.reset_providers()
    runtime_for(ctx).start_keeper()


def _sms_provider(ctx) -> SmsProvider:
    """RingCentral's SMS provider, or a sandbox when any of the three credentials is missing."""
    client_id = ctx.secrets.get("ringcentral.client_id")
    client_secret = ctx.secrets.get("ringcentral.client_secret")
    jwt = ctx.secrets.get("ringcentral.jwt")
    if not (client_id and client_secret and jwt):
        ctx.bus.publish(ServiceState(PROVIDER, "sandbox",
                                     "no RingCentral credentials: texts are recorded, not sent"))
        return SandboxSms(PROVIDER, "no RingCentral credentials")
    ctx.bus.publish(ServiceState(PROVIDER, "ready", ""))
    return RingCentralSms(RingCentralClient(client_id, client_secret, jwt,
                                            ctx.secrets.api_url(PROVIDER)))


def register() -> None:
    register_routes(_routes)
    register_sms_provider(PROVIDER, _sms_provider)
