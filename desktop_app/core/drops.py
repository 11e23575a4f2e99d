"""The voicemail-drop channel: drop the LO's recording through Drop Cowboy or Slybroadcast.

Drop Cowboy is used when its key and secret are set, else Slybroadcast when its user and
password are set, else the channel runs in sandbox mode. Each drop is a row in
voicemail_drop. The provider's result (callback, signed webhook or disposition) is applied
to that row and then to the step, once, by whichever report arrives first.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets as pysecrets
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional

from sqlmodel import Field, SQLModel, select

from desktop_app.core import models, phones, sequences
from desktop_app.core.context import register_channel
from desktop_app.core.models import UTCDateTime
from desktop_app.core.providers import dropcowboy, slybroadcast
from desktop_app.core.providers.base import ProviderError, SendResult
from desktop_app.core.timeline import add_event

log = logging.getLogger(__name__)

PROVIDER_LABELS = {"dropcowboy": "Drop Cowboy", "slybroadcast": "Slybroadcast"}
FINAL = ("delivered", "failed")
# A drop that failed for a reason that can pass (a busy network, a frequency limit) is
# tried again this much later, at most MAX_ROUNDS drops per step in all.
RETRY_DELAY = timedelta(minutes=30)
MAX_ROUNDS = 3
CALLBACK_KEY_FILE = "drop-callbacks.key"


class VoicemailDrop(SQLModel, table=True):
    """One drop request to a provider and what it reported back."""

    __tablename__ = "voicemail_drop"

    id: Optional[int] = Field(default=None, primary_key=True)
    step_id: Optional[int] = Field(default=None, index=True)
    contact_id: Optional[int] = Field(default=None, index=True)
    provider: str
    phone: str = Field(index=True)  # E.164
    foreign_id: str = Field(index=True, unique=True)  # our id for the drop, echoed by callbacks
    idempotency_key: str = ""
    audio: str = ""  # media id or audio URL sent
    provider_id: Optional[str] = Field(default=None, index=True)  # message_id or session_id
    status: str = "sending"  # sending, queued, delivered, failed, error (the request failed)
    retry: bool = False  # the failure can pass; the step is tried again
    reason_code: Optional[str] = None
    reason: Optional[str] = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    result_at: Optional[datetime] = Field(default=None, sa_type=UTCDateTime)


class DropMedia(SQLModel, table=True):
    """A recording imported into a provider's media library, so it is imported once."""

    __tablename__ = "drop_media"

    id: Optional[int] = Field(default=None, primary_key=True)
    provider: str
    lo_id: int = Field(index=True)
    fingerprint: str = Field(index=True)  # account, recording token, size and mtime
    media_id: str
    created_at: datetime = Field(sa_type=UTCDateTime)


# -- configuration ---------------------------------------------------------------------------

def active_provider(ctx) -> str | None:
    """dropcowboy, slybroadcast, or None for sandbox mode. Drop Cowboy wins when both are set."""
    if ctx.secrets.get("dropcowboy.key") and ctx.secrets.get("dropcowboy.secret"):
        return "dropcowboy"
    if ctx.secrets.get("slybroadcast.user") and ctx.secrets.get("slybroadcast.password"):
        return "slybroadcast"
    return None


def drops_ready(ctx) -> tuple[bool, str]:
    """Report the channel ready; a half-entered credential pair is an error, not sandbox mode."""
    pairs = (("Drop Cowboy", "dropcowboy.key", "dropcowboy.secret"),
             ("Slybroadcast", "slybroadcast.user", "slybroadcast.password"))
    for label, first, second in pairs:
        has_first, has_second = bool(ctx.secrets.get(first)), bool(ctx.secrets.get(second))
        if has_first != has_second and active_provider(ctx) is None:
            missing = second if has_first else first
            return False, (f"{label} is half set up: {missing} ({ctx.secrets.env_name(missing)}) "
                           "is missing")
    return True, ""


_key_lock = threading.Lock()
_keys: dict[Path, bytes] = {}


def _callback_key(data_dir: Path) -> bytes:
    """A random key kept in the data folder (mode 0600) that signs our callback URLs."""
    path = Path(data_dir) / CALLBACK_KEY_FILE
    with _key_lock:
        if path in _keys:
            return _keys[path]
        try:
            key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        except (FileNotFoundError, ValueError):
            key = b""
        if len(key) < 16:
            key = pysecrets.token_bytes(32)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(key.hex())
        _keys[path] = key
        return key


def callback_token(ctx, provider: str, step_id: int) -> str:
    """Compute the unguessable part of a step's result URL (an HMAC only this app can make)."""
    digest = hmac.new(_callback_key(ctx.data_dir), f"{provider}:{step_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:40]


def callback_url(ctx, provider: str, step_id: int) -> str | None:
    public = ctx.public_url()
    if not public:
        return None
    return f"{public}/drops/{provider}/{step_id}/{callback_token(ctx, provider, step_id)}"


# -- the LO's recording ----------------------------------------------------------------------

def recording_path(data_dir: Path, relative: str | None) -> Path | None:
    """Return the recording file inside the data folder, or None for a path that leaves it."""
    if not relative:
        return None
    root = Path(data_dir).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() != ".mp3":
        return None
    return path


def media_url(ctx, lo: models.LoanOfficer) -> str | None:
    public = ctx.public_url()
    if not public or not lo.recording_token:
        return None
    return f"{public}/media/{lo.recording_token}.mp3"


def drop_skip_reason(ctx, session, contact: models.Contact, step: models.Step) -> str | None:
    """Why this drop cannot go out (no LO recording, no public URL), checked before each send."""
    if contact.lo_id is None:
        return "no loan officer is assigned, so there is no recording to drop"
    lo = session.get(models.LoanOfficer, contact.lo_id)
    if lo is None:
        return "the assigned loan officer was deleted, so there is no recording to drop"
    if not lo.recording_file:
        return f"{lo.name} has no voicemail recording yet; record one in the voicemail recorder"
    path = recording_path(ctx.data_dir, lo.recording_file)
    if path is None or not path.is_file():
        return f"{lo.name}'s recording {lo.recording_file!r} is missing or not an MP3; record it again"
    if not lo.recording_token:
        return f"{lo.name}'s recording has no link token; save the loan officer again"
    if active_provider(ctx) is not None and not ctx.public_url():
        return ("the app has no public URL (the tunnel is down and MCD_PUBLIC_URL is not set), so "
                "the drop provider could neither fetch the recording nor report the result")
    return None


# -- sending ---------------------------------------------------------------------------------

def _start_drop(uow, job, provider: str, phone: str, now: datetime) -> int:
    drop = uow.session.exec(select(VoicemailDrop).where(
        VoicemailDrop.foreign_id == job.extra["drop_foreign_id"])).first()
    if drop is None:
        drop = VoicemailDrop(step_id=job.step_id, contact_id=job.contact_id, provider=provider,
                             phone=phone, foreign_id=job.extra["drop_foreign_id"],
                             idempotency_key=job.extra.get("idempotency_key", ""),
                             created_at=now, updated_at=now)
    if drop.status not in FINAL:
        # A retry of the same job: a result that already came for it (the provider
        # recognised the Idempotency-Key) must survive the new attempt.
        drop.status = "sending"
    drop.updated_at = now
    uow.add(drop)
    uow.flush()
    return drop.id


def _finish_drop(uow, drop_id: int, *, provider_id: str | None, audio: str, error: str | None,
                 now: datetime) -> None:
    drop = uow.session.get(VoicemailDrop, drop_id)
    if drop is None:
        return
    drop.audio = audio or drop.audio
    drop.updated_at = now
    if error is not None:
        drop.status = "error"
        drop.reason = error[:500]
    else:
        drop.provider_id = provider_id
        # A result may have come in before this response; keep it.
        if drop.status not in FINAL:
            drop.status = "queued"
    uow.add(drop)


def _store_media(uow, provider: str, lo_id: int, fingerprint: str, media_id: str, now: datetime) -> None:
    uow.add(DropMedia(provider=provider, lo_id=lo_id, fingerprint=fingerprint, media_id=media_id,
                      created_at=now))


class DropSender:
    """Sends one voicemail-drop job (see outbox.SendJob) and applies early results after it."""

    def __init__(self, ctx):
        self.ctx = ctx

    def send(self, job) -> SendResult:
        ctx = self.ctx
        with ctx.db.read() as session:
            lo = session.get(models.LoanOfficer, job.extra.get("lo_id")) if job.extra.get("lo_id") else None
        path = recording_path(ctx.data_dir, lo.recording_file) if lo is not None else None
        if lo is None or path is None or not path.is_file():
            raise ProviderError("voicemail", "the loan officer's recording is missing; record it again")
        provider = active_provider(ctx)
        label = f"{lo.name}'s recording"

        if provider is None:
            log.info("Sandbox: would drop %s to %s (step %s)", label, phones.mask(job.to_number), job.step_id)
            return SendResult(provider="voicemail", provider_id=f"sandbox-{uuid.uuid4().hex}",
                              status="sandbox", sandbox=True,
                              detail=f"sandbox mode: recorded, not sent (no Drop Cowboy or Slybroadcast "
                                     f"credentials); would drop {label} to "
                                     f"{phones.format_national(job.to_number)}")
        audio_url = media_url(ctx, lo)
        if audio_url is None:
            raise ProviderError(provider, "the app has no public URL, so the provider cannot fetch "
                                          "the recording; start the tunnel or set MCD_PUBLIC_URL")

        # Both stay the same across the outbox's retries of this job, so a retried request
        # is recognised by the provider (Drop Cowboy) and by our callback matching.
        job.extra.setdefault("drop_foreign_id", f"mcd-{job.step_id}-{pysecrets.token_hex(8)}")
        job.extra.setdefault("idempotency_key", str(uuid.uuid4()))
        now = ctx.clock.now()
        drop_id = ctx.db.write(_start_drop, job, provider, job.to_number, now)
        audio = audio_url
        try:
            if provider == "dropcowboy":
                provider_id, audio = self._send_dropcowboy(job, lo, path, audio_url)
            else:
                provider_id = self._send_slybroadcast(job, audio_url)
        except ProviderError as exc:
            ctx.db.write(_finish_drop, drop_id, provider_id=None, audio=audio, error=str(exc),
                         now=ctx.clock.now())
            raise
        ctx.db.write(_finish_drop, drop_id, provider_id=provider_id, audio=audio, error=None,
                     now=ctx.clock.now())
        log.info("Queued a %s drop of %s to %s (step %s, id %s)", PROVIDER_LABELS[provider], label,
                 phones.mask(job.to_number), job.step_id, provider_id)
        return SendResult(provider=provider, provider_id=provider_id, status="queued",
                          detail=f"queued with {PROVIDER_LABELS[provider]}: {label}")

    def _send_dropcowboy(self, job, lo: models.LoanOfficer, path: Path, audio_url: str) -> tuple[str, str]:
        ctx = self.ctx
        key = ctx.secrets.get("dropcowboy.key")
        client = dropcowboy.DropCowboyClient(ctx.secrets.api_url("dropcowboy"), key,
                                             ctx.secrets.get("dropcowboy.secret"))
        media_id = None
        if ctx.settings.get("drops.dropcowboy_audio") == "media":
            media_id = self._dropcowboy_media(client, key, lo, path, audio_url)
        message_id = client.send_rvm(
            to=job.to_number, idempotency_key=job.extra["idempotency_key"],
            foreign_id=job.extra["drop_foreign_id"],
            callback_url=callback_url(ctx, "dropcowboy", job.step_id or 0),
            media_id=media_id, audio_url=None if media_id else audio_url,
            phone_line_id=ctx.settings.get("drops.dropcowboy_phone_line_id") or None)
        return message_id, media_id or audio_url

    def _dropcowboy_media(self, client, key: str, lo: models.LoanOfficer, path: Path, audio_url: str) -> str:
        """Return the recording's media id, importing it from our media URL the first time."""
        ctx = self.ctx
        stat = path.stat()
        account = hashlib.sha256(key.encode()).hexdigest()[:12]
        fingerprint = f"{account}:{lo.recording_token}:{stat.st_size}:{stat.st_mtime_ns}"
        with ctx.db.read() as session:
            cached = session.exec(select(DropMedia).where(DropMedia.provider == "dropcowboy")
                                  .where(DropMedia.lo_id == lo.id)
                                  .where(DropMedia.fingerprint == fingerprint)).first()
        if cached is not None:
            return cached.media_id
        now = ctx.clock.now()
        media_id = client.import_media(name=f"{lo.name} voicemail {now:%Y-%m-%d}", url=audio_url)
        ctx.db.write(_store_media, "dropcowboy", lo.id, fingerprint, media_id, now)
        log.info("Imported %s's recording into Drop Cowboy as media %s", lo.name, media_id)
        return media_id

    def _send_slybroadcast(self, job, audio_url: str) -> str:
        ctx = self.ctx
        caller = phones.try_normalize(ctx.settings.get("brokerage.callback_number") or "") or \
            phones.try_normalize(job.from_number or "")
        if not caller:
            raise ProviderError("slybroadcast", "no caller ID: set the brokerage callback number")
        client = slybroadcast.SlybroadcastClient(ctx.secrets.api_url("slybroadcast"),
                                                 ctx.secrets.get("slybroadcast.user"),
                                                 ctx.secrets.get("slybroadcast.password"))
        return client.send(phone=job.to_number, caller_id=caller, audio_url=audio_url,
                           dispo_url=callback_url(ctx, "slybroadcast", job.step_id or 0),
                           title=f"Missed-Call Desk step {job.step_id}")

    def after_sent(self, uow, job, result: SendResult, now: datetime) -> None:
        """Apply a result that came in before the send itself was recorded."""
        foreign_id = job.extra.get("drop_foreign_id")
        if not foreign_id or result.sandbox:
            return
        drop = uow.session.exec(select(VoicemailDrop).where(VoicemailDrop.foreign_id == foreign_id)).first()
        if drop is not None and drop.status in FINAL:
            apply_to_step(uow, self.ctx, drop, now)


# -- results ---------------------------------------------------------------------------------

def record_result(uow, ctx, drop: VoicemailDrop, *, delivered: bool, code: str | None,
                  words: str, retry: bool, now: datetime) -> str:
    """Store a provider's result on the drop and its step. Repeats change nothing."""
    if drop.status in FINAL:
        return f"already {drop.status}"
    drop.status = "delivered" if delivered else "failed"
    drop.reason_code = code
    drop.reason = words
    drop.retry = bool(retry and not delivered)
    drop.result_at = now
    drop.updated_at = now
    uow.add(drop)
    return f"{drop.status}" + ("" if delivered else f": {words}") + "; " + apply_to_step(uow, ctx, drop, now)


def apply_to_step(uow, ctx, drop: VoicemailDrop, now: datetime) -> str:
    session = uow.session
    step = session.get(models.Step, drop.step_id) if drop.step_id else None
    if step is None:
        return "no step"
    if step.status in ("queued", "sending"):
        return "applied once the send is recorded"
    if step.provider_id != drop.provider_id:
        return "result of an earlier attempt; the step has moved on"
    label = PROVIDER_LABELS.get(drop.provider, drop.provider)
    code = f" ({label} {drop.reason_code})" if drop.reason_code not in (None, "") else f" ({label})"

    if drop.status == "delivered":
        if step.delivery_status == "delivered":
            return "step already delivered"
        step.delivery_status = "delivered"
        sequences._touch_step(uow, step, now)
        add_event(uow, step.contact_id, "voicemail",
                  f"Voicemail drop delivered: {drop.reason or 'left in the voicemail box'}", now,
                  step_id=step.id)
        return "step delivered"

    if step.status != "sent":
        return f"step is {step.status}; unchanged"
    step.delivery_status = "failed"
    step.error_code = drop.reason_code
    rounds = len(session.exec(select(VoicemailDrop.id).where(VoicemailDrop.step_id == step.id)
                              .where(VoicemailDrop.provider_id.is_not(None))).all())
    if drop.retry and rounds < MAX_ROUNDS:
        due = now + RETRY_DELAY
        step.status = "scheduled"
        step.due_at = due
        step.detail = f"voicemail drop failed: {drop.reason}{code}; trying again at {due:%H:%M} UTC"
        sequences._touch_step(uow, step, now)
        add_event(uow, step.contact_id, "voicemail",
                  f"Voicemail drop failed: {drop.reason}; trying again later", now, step_id=step.id)
        if ctx.wake_at is not None:
            uow.after_commit(lambda: ctx.wake_at(due))
        return f"step rescheduled (attempt {rounds + 1} of {MAX_ROUNDS})"
    step.status = "failed"
    step.detail = f"voicemail drop failed: {drop.reason}{code}"
    sequences._touch_step(uow, step, now)
    add_event(uow, step.contact_id, "voicemail", f"Voicemail drop failed: {drop.reason}", now,
              step_id=step.id)
    return "step failed"


def find_drop(session, *, provider: str, step_id: int | None = None, foreign_id: str | None = None,
              provider_id: str | None = None, phone: str | None = None) -> VoicemailDrop | None:
    """Find the drop a result is about; by phone, the latest one still waiting, else the latest."""
    query = select(VoicemailDrop).where(VoicemailDrop.provider == provider)
    if step_id is not None:
        query = query.where(VoicemailDrop.step_id == step_id)
    if foreign_id is not None:
        query = query.where(VoicemailDrop.foreign_id == foreign_id)
    if provider_id is not None:
        query = query.where(VoicemailDrop.provider_id == provider_id)
    if phone is not None:
        query = query.where(VoicemailDrop.phone == phone)
    drops = list(session.exec(query.order_by(VoicemailDrop.id.desc())))
    waiting = [d for d in drops if d.status not in FINAL]
    return (waiting or drops or [None])[0]


def register() -> None:
    from desktop_app.core import drop_webhooks  # noqa: PLC0415 (routes import this module)

    register_channel("voicemail", drops_ready, DropSender, step_check=drop_skip_reason)
    drop_webhooks.register()
