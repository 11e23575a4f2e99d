"""Twilio's webhooks: signature check, parameter validation, TwiML, and hand-off to the core."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from desktop_app.core import calls, messaging, models, phones
from desktop_app.core.db import StorageError
from desktop_app.core.ingest import (BadWebhook, Endpoint, LogThrottle, WebhookReply,
                                     receive_async, register_endpoint, store_rejected)
from desktop_app.core.routing import forwarding_phone

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
TWIML = "text/xml; charset=utf-8"
_SID = re.compile(r"^[A-Za-z0-9_\-:.]{2,64}$")
DIAL_STATUSES = {"completed", "answered", "busy", "no-answer", "failed", "canceled"}
CALL_STATUSES = {"queued", "initiated", "ringing", "in-progress", "completed", "busy",
                 "no-answer", "failed", "canceled"}
MESSAGE_STATUSES = {"accepted", "scheduled", "queued", "sending", "sent", "delivered",
                    "undelivered", "failed", "read", "receiving", "received", "canceled",
                    "partially_delivered"}


class MultiParams:
    """Form parameters with repeated names kept (the signature covers every value)."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = pairs
        self._first: dict[str, str] = {}
        for key, value in pairs:
            self._first.setdefault(key, value)

    def __iter__(self):
        return iter(self._first)

    def __contains__(self, key: str) -> bool:
        return key in self._first

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def get(self, key: str, default=None):
        return self._first.get(key, default)

    def getall(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]


@dataclass
class ParsedRequest:
    params: MultiParams
    raw: str
    content_type: str


_throttle = LogThrottle()


def _client_label(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "?"


def _reject(request: Request, status: int, reason: str) -> Response:
    # Throttled per endpoint (the first two path segments), so varying the rest of the
    # path cannot flood the log or grow the throttle's table.
    route = "/".join(request.url.path.split("/")[:3])[:64]
    allowed, suppressed = _throttle.allow(f"{route}:{status}")
    if allowed:
        extra = f" ({suppressed} similar lines suppressed)" if suppressed else ""
        log.warning("Rejected %s %r from %s: HTTP %d, %r%s", request.method,
                    request.url.path[:200], _client_label(request), status, reason, extra)
    return Response(reason + "\n", status_code=status, media_type="text/plain")


def signing_url(ctx, request: Request) -> str:
    """Return the URL Twilio signed: the public base URL plus the path and query as received."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    tail = path + (f"?{query}" if query else "")
    base = ctx.public_url()
    if base:
        return base + tail
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or \
        f"127.0.0.1:{ctx.listen_port}"
    return f"{proto}://{host.split(',')[0].strip()}{tail}"


async def read_text_body(request: Request, reject=None) -> str | Response:
    """Read the request body as UTF-8 text of at most MAX_BODY_BYTES, or return the error response.

    `reject(request, status, reason)` builds the error (each provider logs its own way).
    """
    reject = reject or _reject
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            return reject(request, 400, "invalid Content-Length header")
        if int(length) > MAX_BODY_BYTES:
            return reject(request, 413, f"body larger than {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return reject(request, 413, f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        return reject(request, 400, "body is not valid UTF-8")


async def read_request(ctx, request: Request) -> ParsedRequest | Response:
    """Read, decode and authenticate a Twilio request, or return the error response."""
    raw = await read_text_body(request)
    if isinstance(raw, Response):
        return raw

    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        return _reject(request, 403, "missing X-Twilio-Signature header")
    url = signing_url(ctx, request)
    algorithm = get_signature_algorithm(request.headers.get("x-twilio-webhooks-signature-settings"))
    if algorithm.upper() not in SIGNATURE_ALGORITHMS:
        return _reject(request, 403, f"unsupported signature algorithm {algorithm[:20]!r}")
    validator = RequestValidator(ctx.twilio_signing_key())

    # The signature is checked before anything else is parsed, so unsigned input never
    # reaches a parser. A request the library cannot even check counts as unsigned.
    if request.method == "GET":
        signed_params: object = {}
    elif content_type == "application/json":
        if not _body_hash_in(url):
            return _reject(request, 400, "JSON body without a bodySHA256 query parameter")
        signed_params = raw
    elif content_type in ("application/x-www-form-urlencoded", ""):
        try:
            signed_params = MultiParams(parse_qsl(raw, keep_blank_values=True, strict_parsing=False,
                                                  encoding="utf-8", errors="strict"))
        except (UnicodeDecodeError, ValueError) as exc:
            return _reject(request, 400, f"form body cannot be decoded: {exc}")
    else:
        return _reject(request, 415, f"unsupported Content-Type {content_type!r}; "
                                     "Twilio sends application/x-www-form-urlencoded")
    try:
        valid = validator.validate(url, signed_params, signature, algorithm)
    except (TypeError, ValueError, KeyError, IndexError):
        valid = False
    if not valid:
        return _reject(request, 403, f"invalid X-Twilio-Signature for {url}")

    if request.method == "GET":
        params = MultiParams(parse_qsl(request.scope.get("query_string", b"").decode("latin-1"),
                                       keep_blank_values=True))
    elif content_type == "application/json":
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            return _reject(request, 400, f"invalid JSON body: {reason}")
        pairs = [(str(k), str(v)) for k, v in data.items()] if isinstance(data, dict) else []
        params = MultiParams(pairs)
    else:
        params = signed_params
    return ParsedRequest(params=params, raw=raw, content_type=content_type)


SIGNATURE_ALGORITHMS = {"HMAC_SHA1", "HMAC_SHA256"}


def _body_hash_in(url: str) -> bool:
    query = parse_qs(url.split("?", 1)[1]) if "?" in url else {}
    values = query.get("bodySHA256", [])
    return len(values) == 1 and bool(re.fullmatch(r"[0-9a-fA-F]{64}", values[0]))


def _require(params: MultiParams, *names: str) -> dict[str, str]:
    values = {}
    missing = [n for n in names if not (params.get(n) or "").strip()]
    if missing:
        raise BadWebhook(f"missing required parameter{'s' if len(missing) > 1 else ''}: "
                         + ", ".join(missing))
    for name in names:
        values[name] = params[name].strip()
    return values


def _sid(params: MultiParams, *names: str) -> str:
    for name in names:
        value = (params.get(name) or "").strip()
        if value:
            if not _SID.match(value):
                raise BadWebhook(f"{name} {value[:70]!r} is not a valid identifier")
            return value
    raise BadWebhook(f"missing required parameter: {names[0]}")


_ASCII_DIGITS = re.compile(r"[0-9]{1,9}")
# Twilio ends a call after 24 hours; a longer duration is not real.
MAX_CALL_SECONDS = 24 * 60 * 60


def _count(params: MultiParams, name: str, maximum: int, unit: str) -> int | None:
    """Return a whole number in ASCII digits, at most `maximum`, or None when absent."""
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if not _ASCII_DIGITS.fullmatch(value):
        raise BadWebhook(f"{name} {value[:20]!r} is not a whole number of {unit}")
    number = int(value)
    if number > maximum:
        raise BadWebhook(f"{name} {number} is more than the maximum of {maximum} {unit}")
    return number


def _duration(params: MultiParams, name: str) -> int | None:
    return _count(params, name, MAX_CALL_SECONDS, "seconds")


def voicemail_twiml(ctx) -> VoiceResponse:
    response = VoiceResponse()
    if ctx.settings.get("voice.after_no_answer") == "hangup":
        response.hangup()
        return response
    response.say(ctx.settings.get("voice.voicemail_prompt"))
    transcribe = ctx.settings.get("voice.transcribe")
    record_args = {
        "max_length": ctx.settings.get("voice.max_recording_seconds"),
        "play_beep": True,
        "action": "recording",
        "recording_status_callback": "recording",
        "recording_status_callback_event": "completed",
    }
    if transcribe:
        record_args["transcribe"] = True
        record_args["transcribe_callback"] = "recording"
    response.record(**record_args)
    response.hangup()
    return response


def decode_form(body: str, _content_type: str) -> MultiParams:
    """Parameters of a stored form body, for processing it again."""
    if body.lstrip().startswith("{"):
        data = json.loads(body)
        return MultiParams([(str(k), str(v)) for k, v in data.items()])
    return MultiParams(parse_qsl(body, keep_blank_values=True))


# -- voice ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class VoiceEvent:
    call_sid: str
    caller_raw: str
    dialed_raw: str
    direction: str


def parse_voice(p: MultiParams) -> VoiceEvent:
    return VoiceEvent(_sid(p, "CallSid"), p.get("From") or p.get("Caller") or "",
                      _require(p, "To")["To"], (p.get("Direction") or "inbound").strip().lower())


def apply_voice(uow, ctx, event: VoiceEvent, duplicate: bool) -> WebhookReply:
    now = ctx.clock.now()
    call, created = calls.ensure_call(uow, "twilio", event.call_sid, event.caller_raw,
                                      event.dialed_raw, now, event.direction)
    if created:
        assignment = forwarding_phone(uow.session, call.dialed, now)
        call.flow = "dial" if assignment.phone else "voicemail"
        call.lo_name = assignment.name if assignment.phone else None
        call.lo_id = assignment.lo_id if assignment.phone else None
        call.call_status = "ringing"
        uow.add(call)
    if call.flow == "dial":
        lo = uow.session.get(models.LoanOfficer, call.lo_id) if call.lo_id is not None else None
        if lo is not None and lo.phone:
            response = VoiceResponse()
            dial = response.dial(timeout=ctx.settings.get("voice.dial_timeout_seconds"),
                                 action="dial-action", method="POST")
            if ctx.settings.get("voice.screen_calls"):
                # The LO hears a prompt and presses 1 before the caller is connected.
                dial.number(lo.phone, url="screen", method="POST")
                if not call.screened:
                    call.screened = True
                    uow.add(call)
            else:
                dial.number(lo.phone)
            return WebhookReply(200, str(response), TWIML,
                                note=f"call {event.call_sid} from {phones.mask(call.caller)}: "
                                     f"ringing {call.lo_name}")
        call.flow = "voicemail"
        uow.add(call)
    return WebhookReply(200, str(voicemail_twiml(ctx)), TWIML,
                        note=f"call {event.call_sid} from {phones.mask(call.caller)}: no LO phone, "
                             "voicemail prompt")


@dataclass(frozen=True)
class ScreenEvent:
    child_sid: str
    parent_sid: str
    digits: str


def parse_screen(p: MultiParams) -> ScreenEvent:
    child = _sid(p, "CallSid")
    parent = _sid(p, "ParentCallSid")
    return ScreenEvent(child, parent, (p.get("Digits") or "").strip()[:10])


def apply_screen(uow, ctx, event: ScreenEvent, duplicate: bool) -> WebhookReply:
    """Ask the LO to press a key before the forwarded call connects (a greeting cannot)."""
    call = calls.get_call(uow.session, "twilio", event.parent_sid)
    who = phones.format_national(call.caller) if call is not None and call.caller else "a caller"
    response = VoiceResponse()
    gather = response.gather(num_digits=1, timeout=6, action="screen-result", method="POST")
    gather.say(f"Missed-Call Desk. Call from {who}. Press 1 to take it.")
    response.say("Not taken. The caller goes to voicemail.")
    response.hangup()
    return WebhookReply(200, str(response), TWIML, note=f"call {event.parent_sid}: screening the LO")


def apply_screen_result(uow, ctx, event: ScreenEvent, duplicate: bool) -> WebhookReply:
    """Connect the caller when the LO pressed 1; otherwise hang up the LO's leg."""
    call = calls.get_call(uow.session, "twilio", event.parent_sid)
    accepted = event.digits == "1"
    if accepted and call is not None and not call.lo_accepted:
        call.lo_accepted = True
        call.updated_at = ctx.clock.now()
        uow.add(call)
    response = VoiceResponse()
    if not accepted:
        response.hangup()
    return WebhookReply(200, str(response), TWIML,
                        note=f"call {event.parent_sid}: LO {'took' if accepted else 'did not take'} the call")


@dataclass(frozen=True)
class DialEvent:
    call_sid: str
    status: str
    caller_raw: str
    dialed_raw: str


def parse_dial(p: MultiParams) -> DialEvent:
    call_sid = _sid(p, "CallSid")
    status = _require(p, "DialCallStatus")["DialCallStatus"].lower()
    if status not in DIAL_STATUSES:
        raise BadWebhook(f"DialCallStatus {status[:30]!r} is not one of "
                         + ", ".join(sorted(DIAL_STATUSES)))
    return DialEvent(call_sid, status, p.get("From") or "", p.get("To") or "")


def apply_dial(uow, ctx, event: DialEvent, duplicate: bool) -> WebhookReply:
    now = ctx.clock.now()
    call, _ = calls.ensure_call(uow, "twilio", event.call_sid, event.caller_raw, event.dialed_raw, now)
    if not duplicate:
        if call.flow == "forward":
            call.flow = "dial"
        calls.on_dial_result(uow, ctx, call, event.status, now)
    if event.status in calls.ANSWERED_DIAL_STATUSES:
        response = VoiceResponse()
        response.hangup()
        return WebhookReply(200, str(response), TWIML, note=f"call {event.call_sid}: answered")
    return WebhookReply(200, str(voicemail_twiml(ctx)), TWIML,
                        note=f"call {event.call_sid}: dial {event.status}, voicemail prompt")


@dataclass(frozen=True)
class RecordingEvent:
    call_sid: str
    recording_sid: str | None
    url: str | None
    seconds: int | None
    transcription: str | None
    kind: str
    key_id: str
    caller_raw: str | None
    dialed_raw: str | None


def parse_recording(p: MultiParams) -> RecordingEvent:
    call_sid = _sid(p, "CallSid")
    seconds = _duration(p, "RecordingDuration")
    url = (p.get("RecordingUrl") or "").strip() or None
    if url and not url.startswith(("https://", "http://")):
        raise BadWebhook(f"RecordingUrl {url[:60]!r} is not an http(s) URL")
    recording_sid = (p.get("RecordingSid") or "").strip() or None
    kind = "transcription" if p.get("TranscriptionSid") or p.get("TranscriptionStatus") else (
        "status" if p.get("RecordingStatus") else "action")
    return RecordingEvent(call_sid, recording_sid, url, seconds,
                          (p.get("TranscriptionText") or "").strip() or None, kind,
                          p.get("TranscriptionSid") or recording_sid or call_sid,
                          p.get("From"), p.get("To"))


def apply_recording(uow, ctx, event: RecordingEvent, duplicate: bool) -> WebhookReply:
    if not duplicate:
        now = ctx.clock.now()
        call, _ = calls.ensure_call(uow, "twilio", event.call_sid, event.caller_raw,
                                    event.dialed_raw, now)
        calls.on_recording(uow, ctx, call, recording_sid=event.recording_sid, url=event.url,
                           seconds=event.seconds, transcription=event.transcription, now=now)
    return WebhookReply(200, HANGUP_TWIML, TWIML, note=f"call {event.call_sid}: recording {event.kind}")


@dataclass(frozen=True)
class CallStatusEvent:
    call_sid: str
    status: str
    duration: int | None
    parent: str
    direction: str
    caller_raw: str
    dialed_raw: str


def parse_call_status(p: MultiParams) -> CallStatusEvent:
    call_sid = _sid(p, "CallSid")
    status = _require(p, "CallStatus")["CallStatus"].lower()
    if status not in CALL_STATUSES:
        raise BadWebhook(f"CallStatus {status[:30]!r} is not one of " + ", ".join(sorted(CALL_STATUSES)))
    return CallStatusEvent(call_sid, status, _duration(p, "CallDuration"),
                           (p.get("ParentCallSid") or "").strip(),
                           (p.get("Direction") or "inbound").strip().lower(),
                           p.get("From") or p.get("Caller") or "", p.get("To") or p.get("Called") or "")


def apply_call_status(uow, ctx, event: CallStatusEvent, duplicate: bool) -> WebhookReply:
    if duplicate:
        return WebhookReply(204, note=f"call {event.call_sid}: {event.status} again")
    if event.parent:
        # A child leg (our <Dial> to the LO); the parent call's own events decide.
        return WebhookReply(204, note=f"call {event.call_sid}: child leg of {event.parent}, {event.status}")
    now = ctx.clock.now()
    call, _ = calls.ensure_call(uow, "twilio", event.call_sid, event.caller_raw, event.dialed_raw,
                                now, event.direction)
    outcome = calls.on_call_status(uow, ctx, call, event.status, event.duration, now)
    return WebhookReply(204, note=f"call {event.call_sid} from {phones.mask(call.caller_raw)}: {outcome}")


# -- messaging ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmsEvent:
    sid: str
    sender: str
    to: str
    body: str
    opt_out_type: str | None
    num_media: int


def parse_sms(p: MultiParams) -> SmsEvent:
    sid = _sid(p, "MessageSid", "SmsMessageSid", "SmsSid")
    fields = _require(p, "From", "To")
    num_media = _count(p, "NumMedia", 10, "media files") or 0
    return SmsEvent(sid, fields["From"], fields["To"], p.get("Body") or "",
                    (p.get("OptOutType") or "").strip() or None, num_media)


def apply_sms(uow, ctx, event: SmsEvent, duplicate: bool) -> WebhookReply:
    if duplicate:
        return WebhookReply(200, EMPTY_MESSAGING, TWIML, note=f"text {event.sid} again")
    outcome = messaging.handle_inbound_sms(
        uow, ctx, provider="twilio", sid=event.sid, from_raw=event.sender, to_raw=event.to,
        body=event.body, opt_out_type=event.opt_out_type, num_media=event.num_media,
        now=ctx.clock.now())
    return WebhookReply(200, EMPTY_MESSAGING, TWIML,
                        note=f"text {event.sid} from {phones.mask(event.sender)}: {outcome}")


@dataclass(frozen=True)
class MessageStatusEvent:
    sid: str
    status: str
    error_code: str | None
    error_message: str | None


def parse_message_status(p: MultiParams) -> MessageStatusEvent:
    sid = _sid(p, "MessageSid", "SmsSid")
    status = (p.get("MessageStatus") or p.get("SmsStatus") or "").strip().lower()
    if not status:
        raise BadWebhook("missing required parameter: MessageStatus")
    if status not in MESSAGE_STATUSES:
        raise BadWebhook(f"MessageStatus {status[:30]!r} is not a Twilio message status")
    return MessageStatusEvent(sid, status, (p.get("ErrorCode") or "").strip() or None,
                              (p.get("ErrorMessage") or "").strip() or None)


def apply_message_status(uow, ctx, event: MessageStatusEvent, duplicate: bool) -> WebhookReply:
    if duplicate:
        return WebhookReply(204, note=f"status {event.status} for {event.sid} again")
    outcome = messaging.apply_delivery_status(uow, ctx, "twilio", event.sid, event.status,
                                              event.error_code, event.error_message, ctx.clock.now())
    return WebhookReply(204, note=f"text {event.sid}: {outcome}")


def _hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


HANGUP_TWIML = _hangup()
EMPTY_MESSAGING = str(MessagingResponse())

VOICE = register_endpoint(Endpoint(
    "twilio", "voice", parse_voice, lambda e: f"twilio:voice:{e.call_sid}", apply_voice, decode_form))
DIAL_ACTION = register_endpoint(Endpoint(
    "twilio", "dial-action", parse_dial, lambda e: f"twilio:dial:{e.call_sid}:{e.status}",
    apply_dial, decode_form))
SCREEN = register_endpoint(Endpoint(
    "twilio", "screen", parse_screen, lambda e: None, apply_screen, decode_form))
SCREEN_RESULT = register_endpoint(Endpoint(
    "twilio", "screen-result", parse_screen, lambda e: f"twilio:screen:{e.child_sid}:{e.digits}",
    apply_screen_result, decode_form))
RECORDING = register_endpoint(Endpoint(
    "twilio", "recording", parse_recording, lambda e: f"twilio:recording:{e.key_id}:{e.kind}",
    apply_recording, decode_form, deferred=True, ack=WebhookReply(200, HANGUP_TWIML, TWIML)))
CALL_STATUS = register_endpoint(Endpoint(
    "twilio", "call-status", parse_call_status, lambda e: f"twilio:status:{e.call_sid}:{e.status}",
    apply_call_status, decode_form, deferred=True, ack=WebhookReply(204)))
SMS = register_endpoint(Endpoint(
    "twilio", "sms", parse_sms, lambda e: f"twilio:sms:{e.sid}", apply_sms, decode_form,
    deferred=True, ack=WebhookReply(200, EMPTY_MESSAGING, TWIML)))
MESSAGE_STATUS = register_endpoint(Endpoint(
    "twilio", "message-status", parse_message_status,
    lambda e: f"twilio:msgstatus:{e.sid}:{e.status}", apply_message_status, decode_form,
    deferred=True, ack=WebhookReply(204)))


async def handle(ctx, request: Request, endpoint: Endpoint) -> Response:
    """Check, store and respond to one Twilio webhook request."""
    parsed_request = await read_request(ctx, request)
    if isinstance(parsed_request, Response):
        return parsed_request
    try:
        parsed = endpoint.parse(parsed_request.params)
    except BadWebhook as exc:
        return await _store_bad(ctx, request, parsed_request, endpoint.name, exc)
    try:
        reply = await receive_async(ctx, endpoint, body=parsed_request.raw,
                                    content_type=parsed_request.content_type, parsed=parsed)
    except BadWebhook as exc:
        return _reject(request, 400, str(exc))
    except StorageError as exc:
        log.error("Could not store %s webhook: %s", endpoint.name, exc)
        return Response("storage unavailable, retry later\n", status_code=503,
                        headers={"Retry-After": "5"}, media_type="text/plain")
    except Exception:
        log.exception("Handling %s webhook failed", endpoint.name)
        return Response("internal error; the event was stored\n", status_code=500,
                        media_type="text/plain")
    if reply.note:
        log.info("%s %s", endpoint.name, reply.note)
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type,
                    headers=reply.headers)


async def _store_bad(ctx, request: Request, parsed: ParsedRequest, name: str,
                     exc: BadWebhook) -> Response:
    def work():
        store_rejected(ctx, provider="twilio", endpoint=name, body=parsed.raw,
                       content_type=parsed.content_type, status=400, reason=str(exc))

    try:
        await asyncio.wrap_future(ctx.db.run_in_writer(work))
    except StorageError:
        log.error("Could not store a rejected %s webhook", name)
    return _reject(request, 400, str(exc))


def routes(ctx) -> list:
    from starlette.routing import Route  # noqa: PLC0415

    def endpoint_route(path: str, endpoint: Endpoint) -> Route:
        async def view(request: Request) -> Response:
            return await handle(ctx, request, endpoint)

        return Route(path, view, methods=["POST", "GET"])

    return [
        endpoint_route("/twilio/voice", VOICE),
        endpoint_route("/twilio/dial-action", DIAL_ACTION),
        endpoint_route("/twilio/screen", SCREEN),
        endpoint_route("/twilio/screen-result", SCREEN_RESULT),
        endpoint_route("/twilio/recording", RECORDING),
        endpoint_route("/twilio/call-status", CALL_STATUS),
        endpoint_route("/twilio/sms", SMS),
        endpoint_route("/twilio/message-status", MESSAGE_STATUS),
    ]
