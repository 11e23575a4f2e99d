"""Listener routes of the voicemail-drop channel: the LO's recording, and the providers' results."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from urllib.parse import parse_qsl

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from desktop_app.core import drops, models, phones
from desktop_app.core.db import StorageError
from desktop_app.core.ingest import BadWebhook, WebhookReply, ingest, store_rejected
from desktop_app.core.providers import dropcowboy, slybroadcast
from desktop_app.core.server import register_routes
from desktop_app.core.twilio_webhooks import MAX_BODY_BYTES, _reject as reject

log = logging.getLogger(__name__)

_MEDIA_NAME = re.compile(r"^([A-Za-z0-9_-]{16,128})\.mp3$")
_TOKEN = re.compile(r"^[0-9a-f]{40}$")


def _not_found() -> Response:
    return PlainTextResponse("not found\n", status_code=404)


async def _read_body(request: Request) -> bytes | Response:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        return reject(request, 413, f"body larger than {MAX_BODY_BYTES} bytes or bad Content-Length")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return reject(request, 413, f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(text: str) -> dict:
    """Parse a JSON object; raise ValueError (JSONDecodeError is one) for anything else."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("the JSON body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return data


class DropHooks:
    """The /media, /dropcowboy and /drops endpoints; results are applied in the writer thread."""

    def __init__(self, ctx):
        self.ctx = ctx

    # -- the recording --------------------------------------------------------------------

    async def media(self, request: Request) -> Response:
        """Serve an LO's MP3 at /media/{recording_token}.mp3; anything else is 404."""
        match = _MEDIA_NAME.match(request.path_params["name"])
        if match is None:
            return _not_found()
        token = match.group(1)
        ctx = self.ctx
        with ctx.db.read() as session:
            lo = session.exec(select(models.LoanOfficer)
                              .where(models.LoanOfficer.recording_token == token)).first()
        if lo is None:
            return _not_found()
        path = drops.recording_path(ctx.data_dir, lo.recording_file)
        if path is None or not path.is_file():
            return _not_found()
        log.info("Serving %s's recording to %s", lo.name, request.client.host if request.client else "?")
        return FileResponse(path, media_type="audio/mpeg",
                            headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})

    # -- intake helpers -------------------------------------------------------------------

    async def _ingest(self, request: Request, provider: str, endpoint: str, raw: str, content_type: str,
                      dedup_key: str | None, handler, ok_body: str = "") -> Response:
        ctx = self.ctx

        def work():
            return ingest(ctx, provider=provider, endpoint=endpoint, body=raw,
                          content_type=content_type, dedup_key=dedup_key, handler=handler)

        try:
            reply = await asyncio.wrap_future(ctx.db.run_in_writer(work))
        except BadWebhook as exc:
            return reject(request, 400, str(exc))
        except StorageError as exc:
            log.error("Could not store %s %s: %s", provider, endpoint, exc)
            return PlainTextResponse("storage unavailable, retry later\n", status_code=503,
                                     headers={"Retry-After": "5"})
        except Exception:
            log.exception("Handling %s %s failed", provider, endpoint)
            return PlainTextResponse("internal error; the event was stored\n", status_code=500)
        if reply.note:
            log.info("%s %s: %s", provider, endpoint, reply.note)
        return PlainTextResponse(ok_body or reply.body, status_code=reply.status)

    async def _bad(self, request: Request, provider: str, endpoint: str, raw: str, content_type: str,
                   reason: str) -> Response:
        """Store an authenticated request that cannot be read, and respond 400."""
        def work():
            store_rejected(self.ctx, provider=provider, endpoint=endpoint, body=raw,
                           content_type=content_type, status=400, reason=reason)

        try:
            await asyncio.wrap_future(self.ctx.db.run_in_writer(work))
        except StorageError:
            pass
        return reject(request, 400, reason)

    def _check_token(self, request: Request, provider: str) -> int | None:
        step_id = request.path_params["step_id"]
        token = request.path_params["token"]
        if not step_id.isdigit() or len(step_id) > 12 or not _TOKEN.match(token):
            return None
        expected = drops.callback_token(self.ctx, provider, int(step_id))
        return int(step_id) if hmac.compare_digest(expected, token) else None

    def _apply(self, uow, *, provider: str, drop, delivered: bool, code: str | None, words: str,
               retry: bool, what: str) -> str:
        if drop is None:
            return f"{what}: no matching drop (kept)"
        outcome = drops.record_result(uow, self.ctx, drop, delivered=delivered, code=code, words=words,
                                      retry=retry, now=self.ctx.clock.now())
        return f"{what} for drop {drop.foreign_id} to {phones.mask(drop.phone)}: {outcome}"

    # -- Drop Cowboy ----------------------------------------------------------------------

    async def dropcowboy_webhook(self, request: Request) -> Response:
        """Handle signed contact.rvm.status webhooks, matched to the latest drop to the number."""
        raw = await _read_body(request)
        if isinstance(raw, Response):
            return raw
        ctx = self.ctx
        signing = [s.strip() for s in (ctx.secrets.get("dropcowboy.webhook_secret") or "").split(",")
                   if s.strip()]
        if not signing:
            return reject(request, 503, "no Drop Cowboy webhook signing secret is set "
                                        "(MCD_DROPCOWBOY_WEBHOOK_SECRET); the event was not stored")
        problem = dropcowboy.verify_signature(raw, request.headers.get("x-signature"),
                                              request.headers.get("x-timestamp"), signing,
                                              now=ctx.clock.now().timestamp())
        if problem:
            return reject(request, 403, problem)

        text = raw.decode("utf-8", "replace")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            event = _json_object(text)
            event_id = str(event.get("event_id") or "").strip()
            if not event_id or len(event_id) > 100:
                raise ValueError("missing event_id")
            data = event.get("data") if isinstance(event.get("data"), dict) else {}
        except ValueError as exc:
            return await self._bad(request, "dropcowboy", "webhook", text, content_type,
                                   f"unreadable Drop Cowboy webhook: {exc}")
        kind = str(event.get("event") or "")
        status = str(data.get("status") or "").lower()
        code = data.get("reason_code")
        reason = str(data.get("reason") or "")
        phone = phones.try_normalize(str(data.get("to") or ""))

        def handle(uow, duplicate: bool) -> WebhookReply:
            if duplicate:
                return WebhookReply(200, note=f"event {event_id} again; ignored")
            if kind != "contact.rvm.status":
                return WebhookReply(200, note=f"event {event_id} ({kind or 'no type'}) kept, not acted on")
            if status not in ("success", "failure") or phone is None:
                raise BadWebhook(f"status {status!r} or recipient {data.get('to')!r} is missing or invalid")
            drop = drops.find_drop(uow.session, provider="dropcowboy", phone=phone)
            described = dropcowboy.describe(code, reason)
            return WebhookReply(200, note=self._apply(
                uow, provider="dropcowboy", drop=drop, delivered=status == "success",
                code=None if code in (None, "", 0) else str(code), words=described.words,
                retry=described.retry, what=f"status event {event_id}"))

        return await self._ingest(request, "dropcowboy", "webhook", text, content_type,
                                  f"dropcowboy:event:{event_id}", handle)

    async def dropcowboy_callback(self, request: Request) -> Response:
        """Handle the unsigned callback_url result; the token in the URL replaces a signature."""
        step_id = self._check_token(request, "dropcowboy")
        if step_id is None:
            return reject(request, 403, "invalid callback token")
        raw = await _read_body(request)
        if isinstance(raw, Response):
            return raw
        text = raw.decode("utf-8", "replace")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            body = _json_object(text)
            foreign_id = str(body.get("foreign_id") or "").strip()
            status = str(body.get("status") or "").lower()
            if not foreign_id or status not in ("success", "failure"):
                raise ValueError("missing foreign_id, or status is not success or failure")
        except ValueError as exc:
            return await self._bad(request, "dropcowboy", "callback", text, content_type,
                                   f"unreadable Drop Cowboy callback: {exc}")
        code = body.get("reason_code")
        described = dropcowboy.describe(code, str(body.get("reason") or ""))

        def handle(uow, duplicate: bool) -> WebhookReply:
            if duplicate:
                return WebhookReply(200, note=f"callback for {foreign_id} again; ignored")
            drop = drops.find_drop(uow.session, provider="dropcowboy", step_id=step_id,
                                   foreign_id=foreign_id)
            return WebhookReply(200, note=self._apply(
                uow, provider="dropcowboy", drop=drop, delivered=status == "success",
                code=None if code in (None, "", 0) else str(code), words=described.words,
                retry=described.retry, what="callback"))

        return await self._ingest(request, "dropcowboy", "callback", text, content_type,
                                  f"dropcowboy:callback:{foreign_id}:{status}:{code}", handle)

    # -- Slybroadcast ---------------------------------------------------------------------

    async def slybroadcast_disposition(self, request: Request) -> Response:
        """Handle the c_dispo_url post (form field var); Slybroadcast expects the response OK."""
        step_id = self._check_token(request, "slybroadcast")
        if step_id is None:
            return reject(request, 403, "invalid callback token")
        raw = await _read_body(request)
        if isinstance(raw, Response):
            return raw
        text = raw.decode("utf-8", "replace")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fields = dict(parse_qsl(text, keep_blank_values=True))
        try:
            result = slybroadcast.parse_disposition(fields.get("var", ""))
        except ValueError as exc:
            return await self._bad(request, "slybroadcast", "disposition", text, content_type,
                                   f"unreadable Slybroadcast disposition: {exc}")
        words, retry = ("left in the voicemail box", False) if result.delivered else \
            slybroadcast.describe_failure(result.status, result.reason)

        def handle(uow, duplicate: bool) -> WebhookReply:
            if duplicate:
                return WebhookReply(200, "OK", note=f"disposition for session {result.session_id} again")
            drop = drops.find_drop(uow.session, provider="slybroadcast", step_id=step_id,
                                   provider_id=result.session_id)
            return WebhookReply(200, "OK", note=self._apply(
                uow, provider="slybroadcast", drop=drop, delivered=result.delivered, code=None,
                words=words, retry=retry, what=f"disposition for session {result.session_id}"))

        dedup = f"slybroadcast:dispo:{result.session_id}:{result.phone}:{result.status}"
        return await self._ingest(request, "slybroadcast", "disposition", text, content_type, dedup,
                                  handle, ok_body="OK")


def _routes(ctx) -> list[Route]:
    hooks = DropHooks(ctx)
    return [
        Route("/media/{name}", hooks.media, methods=["GET"]),
        Route("/dropcowboy/webhook", hooks.dropcowboy_webhook, methods=["POST"]),
        Route("/drops/dropcowboy/{step_id}/{token}", hooks.dropcowboy_callback, methods=["POST"]),
        Route("/drops/slybroadcast/{step_id}/{token}", hooks.slybroadcast_disposition, methods=["POST"]),
    ]


def register() -> None:
    register_routes(_routes)
