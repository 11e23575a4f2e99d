"""Texts in and out: the send lifecycle, delivery receipts, replies and opt-outs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import select

from desktop_app.core import compliance, models, phones, sequences
from desktop_app.core.events import ContactChanged, MessageChanged, Notification, StepChanged, TaskChanged
from desktop_app.core.outbox import SendJob
from desktop_app.core.providers.base import ProviderError, SendResult
from desktop_app.core.providers.twilio_sms import describe_error
from desktop_app.core.routing import DEFAULT_LEAD_SOURCE, lead_source_for
from desktop_app.core.templates import render
from desktop_app.core.timeline import add_event

log = logging.getLogger(__name__)

# Delivery states in the order they happen. A final state is never replaced by an earlier
# one; "read" may follow "delivered".
STATUS_RANK = {"accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4,
               "receiving": 4, "received": 5, "delivered": 6, "undelivered": 6, "failed": 6,
               "read": 7, "canceled": 6}
FINAL_STATUSES = {"delivered", "undelivered", "failed", "read", "canceled"}
# Errors after which no later text can reach the number.
DEAD_NUMBER_CODES = {"30005", "30006", "21614"}
OPT_OUT_CODES = {"21610"}


def _short(body: str, limit: int = 60) -> str:
    text = " ".join((body or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class SendHandler:
    """The storage side of each outbound send (see outbox.JobHandler)."""

    def __init__(self, ctx):
        self.ctx = ctx

    # prepare -----------------------------------------------------------------------------

    def prepare(self, job: SendJob) -> bool:
        return self.ctx.db.write(self._prepare, job)

    def _prepare(self, uow, job: SendJob) -> bool:
        session = uow.session
        now = self.ctx.clock.now()
        step = session.get(models.Step, job.step_id) if job.step_id else None
        if job.step_id is not None:
            if step is None or step.status != "queued":
                log.info("Step %s is no longer queued (%s); not sending", job.step_id,
                         step.status if step else "deleted")
                return False
            contact = session.get(models.Contact, step.contact_id)
            gate = sequences.check(session, self.ctx, contact, step, now)
            if gate.action == "defer":
                step.status = "scheduled"
                step.due_at = gate.until
                step.detail = gate.reason
                sequences._touch_step(uow, step, now)
                if self.ctx.wake_at is not None:
                    uow.after_commit(lambda: self.ctx.wake_at(gate.until))
                return False
            if gate.action != "send":
                step.status = "cancelled" if gate.action == "cancel" else "skipped"
                step.detail = gate.reason
                sequences._touch_step(uow, step, now)
                return False
        if job.channel == "sms":
            message = models.Message(
                contact_id=job.contact_id, step_id=job.step_id, direction="out", channel="sms",
                kind=job.kind, provider=job.provider, from_number=job.from_number,
                to_number=job.to_number, body=job.body, status="sending",
                created_at=now, updated_at=now)
            uow.add(message)
            uow.flush()
            job.message_id = message.id
            uow.emit(MessageChanged(message.id, job.contact_id))
        if step is not None:
            step.status = "sending"
            step.provider = job.provider
            sequences._touch_step(uow, step, now)
        return True

    # deliver -----------------------------------------------------------------------------

    def deliver(self, job: SendJob) -> SendResult:
        if job.channel == "sms":
            provider = self.ctx.sms_provider(job.provider)
            return provider.send_sms(from_number=job.from_number, to_number=job.to_number,
                                     body=job.body, status_callback=job.status_callback)
        sender = self.ctx.channel_sender(job.channel)
        if sender is None:
            raise ProviderError(job.channel, f"no {job.channel} provider is set up")
        return sender.send(job)

    def reconcile(self, job: SendJob, since) -> str | None:
        if job.channel != "sms":
            raise ProviderError(job.provider, "this provider cannot list what it sent")
        provider = self.ctx.sms_provider(job.provider)
        finder = getattr(provider, "find_recent", None)
        if finder is None:
            raise ProviderError(job.provider, "this provider cannot list what it sent")
        since = (since or self.ctx.clock.now()) - timedelta(minutes=2)
        try:
            return finder(from_number=job.from_number, to_number=job.to_number, body=job.body,
                          since=since)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(job.provider, f"listing recent messages failed: {exc}") from None

    # results -----------------------------------------------------------------------------

    def succeeded(self, job: SendJob, result: SendResult) -> None:
        self.ctx.db.write(self._succeeded, job, result)

    def _succeeded(self, uow, job: SendJob, result: SendResult) -> None:
        session = uow.session
        now = self.ctx.clock.now()
        message = session.get(models.Message, job.message_id) if job.message_id else None
        if message is not None:
            message.provider_id = result.provider_id
            message.status = "sandbox" if result.sandbox else (result.status or "queued")
            message.updated_at = now
            uow.add(message)
            uow.emit(MessageChanged(message.id, message.contact_id))
        step = session.get(models.Step, job.step_id) if job.step_id else None
        if step is not None:
            step.status = "sent"
            step.attempts = job.attempts
            step.sent_at = now
            step.provider = result.provider
            step.provider_id = result.provider_id
            step.delivery_status = message.status if message is not None else result.status
            step.detail = result.detail or None
            sequences._touch_step(uow, step, now)
        label = {"sms": "Text", "email": "Email", "voicemail": "Voicemail drop"}.get(job.channel, job.channel)
        prefix = "Sandbox: would have sent" if result.sandbox else f"{label} sent"
        if job.channel == "sms":
            summary = f"{prefix} text: \u201c{_short(job.body)}\u201d" if result.sandbox else \
                f"{prefix}: \u201c{_short(job.body)}\u201d"
        else:
            summary = f"{prefix} {label.lower()}" if result.sandbox else prefix
            if job.subject:
                summary += f": {job.subject}"
        add_event(uow, job.contact_id, "text_out" if job.channel == "sms" else job.channel,
                  summary, now, step_id=job.step_id, message_id=job.message_id)
        if message is not None and result.provider_id:
            self._apply_early_statuses(uow, message, now)
        if job.channel != "sms":
            # A channel's own results (a drop's delivery report) can arrive before the send's own response.
            after_sent = getattr(self.ctx.channel_sender(job.channel), "after_sent", None)
            if after_sent is not None:
                after_sent(uow, job, result, now)

    def _apply_early_statuses(self, uow, message: models.Message, now: datetime) -> None:
        """Replay status callbacks that arrived before the send's own response."""
        prefix = f"{message.provider}:msgstatus:{message.provider_id}:"
        keys = uow.session.exec(
            select(models.ProcessedKey.key).where(models.ProcessedKey.key.startswith(prefix))
        ).all()
        for key in keys:
            event_row = uow.session.exec(
                select(models.InboundEvent).where(models.InboundEvent.dedup_key == key)
                .order_by(models.InboundEvent.id.desc())
            ).first()
            if event_row is None:
                continue
            from urllib.parse import parse_qs  # noqa: PLC0415

            params = {k: v[0] for k, v in parse_qs(event_row.body, keep_blank_values=True).items()}
            apply_delivery_status(uow, self.ctx, message.provider, message.provider_id,
                                  params.get("MessageStatus") or params.get("SmsStatus") or "",
                                  params.get("ErrorCode") or None, params.get("ErrorMessage"), now)

    def failed(self, job: SendJob, error: ProviderError, final: bool, retry_in: float | None) -> None:
        self.ctx.db.write(self._failed, job, error, final, retry_in)

    def _failed(self, uow, job: SendJob, error: ProviderError, final: bool, retry_in: float | None) -> None:
        session = uow.session
        now = self.ctx.clock.now()
        step = session.get(models.Step, job.step_id) if job.step_id else None
        message = session.get(models.Message, job.message_id) if job.message_id else None
        if step is not None:
            step.attempts = job.attempts
        if not final:
            if step is not None:
                step.detail = f"attempt {job.attempts} failed, retrying in {retry_in:.0f} s: {error}"
                sequences._touch_step(uow, step, now)
            return
        if message is not None:
            message.status = "unknown" if error.ambiguous else "rejected"
            message.error_code = error.code
            message.error_message = error.message
            message.updated_at = now
            uow.add(message)
            uow.emit(MessageChanged(message.id, message.contact_id))
        if step is not None:
            step.status = "needs_review" if error.ambiguous else "failed"
            step.error_code = error.code
            step.detail = str(error)
            sequences._touch_step(uow, step, now)
        contact = session.get(models.Contact, job.contact_id) if job.contact_id else None
        add_event(uow, job.contact_id, "text_out" if job.channel == "sms" else job.channel,
                  f"{job.channel.upper() if job.channel == 'sms' else job.channel.capitalize()} "
                  f"{'needs review' if error.ambiguous else 'failed'}: {error}", now,
                  step_id=job.step_id, message_id=job.message_id)
        if contact is not None:
            handle_error_code(uow, self.ctx, contact, error.code, now, source_text=str(error))
        uow.emit(Notification("provider_error", "Message not sent",
                              f"{job.channel} to {phones.format_national(job.to_number) if job.channel != 'email' else job.to_number}: {error.message}",
                              job.contact_id))

    def interrupted(self, job: SendJob, error: ProviderError) -> None:
        self.ctx.db.write(self._interrupted, job, error)

    def _interrupted(self, uow, job: SendJob, error: ProviderError) -> None:
        now = self.ctx.clock.now()
        message = uow.session.get(models.Message, job.message_id) if job.message_id else None
        if message is not None:
            message.status = "rejected"
            message.error_message = f"not sent: the app stopped before retrying ({error.message})"
            message.updated_at = now
            uow.add(message)
        step = uow.session.get(models.Step, job.step_id) if job.step_id else None
        if step is not None:
            step.status = "queued"
            step.detail = f"will retry after restart: {error}"
            sequences._touch_step(uow, step, now)


def handle_error_code(uow, ctx, contact: models.Contact, code: str | None, now: datetime,
                      source_text: str = "") -> None:
    """Act on provider error codes that change what may be sent to this borrower."""
    if not code:
        return
    code = str(code)
    if code in OPT_OUT_CODES:
        apply_opt_out(uow, ctx, contact, source="error_21610", channel="all", now=now,
                      text=source_text or "provider error 21610", flagged=False,
                      confirm=False)
    elif code in DEAD_NUMBER_CODES:
        if contact.sms_capable is not False:
            contact.sms_capable = False
            contact.updated_at = now
            uow.add(contact)
            uow.emit(ContactChanged(contact.id))
            reason = describe_error(code)
            count = sequences.cancel_pending(uow, contact, f"no more texts: {reason}", now,
                                             channels=("sms",))
            add_event(uow, contact.id, "note",
                      f"Texts stopped: {reason}. The Call task is the follow-up"
                      + (f" ({count} text step(s) cancelled)." if count else "."), now)
            raise_task(uow, contact, now, "the borrower cannot receive texts")


# -- tasks -------------------------------------------------------------------------------------

def open_task(session, contact_id: int) -> models.Task | None:
    return session.exec(
        select(models.Task).where(models.Task.contact_id == contact_id)
        .where(models.Task.status == "open").order_by(models.Task.due_at)
    ).first()


def raise_task(uow, contact: models.Contact, now: datetime, why: str) -> None:
    task = open_task(uow.session, contact.id)
    if task is None:
        return
    changed = False
    if task.priority != "high":
        task.priority = "high"
        changed = True
    if task.due_at > now + timedelta(minutes=15):
        task.due_at = now + timedelta(minutes=15)
        changed = True
    if changed:
        task.body = (task.body + f"\nRaised: {why}.").strip()
        uow.add(task)
        uow.emit(TaskChanged(task.id, contact.id))
        add_event(uow, contact.id, "task", f"Call task raised to high priority: {why}", now)


# -- opt-out ---------------------------------------------------------------------------------

def apply_opt_out(uow, ctx, contact: models.Contact | None, *, source: str, channel: str,
                  now: datetime, text: str | None, flagged: bool, confirm: bool,
                  phone: str | None = None, provider: str = "twilio", sender: str | None = None
                  ) -> bool:
    """Record an opt-out and stop everything at once. Returns True if a confirmation was queued."""
    number = contact.phone if contact is not None else phone
    already = compliance.opted_out(uow.session, number, "sms") is not None if number else False
    compliance.record(uow.session, phone=number, action="opt_out", channel=channel, source=source,
                      at=now, text=text, flagged=flagged)
    if contact is None:
        return False
    contact.opted_out = True
    contact.opted_out_at = contact.opted_out_at if already else now
    contact.status = "opted_out"
    contact.updated_at = now
    uow.add(contact)
    sequences.halt(uow, contact, f"opted out ({source.replace('_', ' ')})", now, kind="opt_out")
    uow.emit(Notification("opt_out", "Borrower opted out",
                          f"{contact.name or phones.format_national(contact.phone)} opted out "
                          f"({source.replace('_', ' ')}).", contact.id))
    if not confirm or already or not ctx.settings.get("sms.send_confirmation") or not sender:
        return False
    template = ctx.templates.get("opt_out_confirmation")
    body = render(template.body, sequences.render_values(uow.session, ctx, contact, None, now))
    job = SendJob(step_id=None, contact_id=contact.id, provider=provider, channel="sms",
                  from_number=sender, to_number=contact.phone, body=body, kind="confirmation")
    uow.after_commit(lambda: ctx.outbox.submit(job))
    return True


# -- inbound ---------------------------------------------------------------------------------

def find_contact(session, phone: str) -> models.Contact | None:
    return session.exec(select(models.Contact).where(models.Contact.phone == phone)).first()


def handle_inbound_sms(uow, ctx, *, provider: str, sid: str, from_raw: str, to_raw: str,
                       body: str, opt_out_type: str | None, num_media: int, now: datetime,
                       carrier_handles_keywords: bool = True) -> str:
    """Store an inbound text and act on it. Returns a short outcome for the log."""
    session = uow.session
    sender = phones.try_normalize(from_raw)
    dialed = phones.try_normalize(to_raw) or (to_raw or "")
    contact = find_contact(session, sender) if sender else None
    created = False
    if contact is None and sender:
        route_source = lead_source_for(session, dialed)
        contact = models.Contact(
            phone=sender, lead_source=route_source if route_source != DEFAULT_LEAD_SOURCE else "inbound_sms",
            created_at=now, updated_at=now)
        uow.add(contact)
        uow.flush()
        created = True
    message = models.Message(
        contact_id=contact.id if contact else None, direction="in", channel="sms", kind="reply",
        provider=provider, provider_id=sid, from_number=sender or from_raw or "",
        to_number=dialed, body=body or "", status="received", created_at=now, updated_at=now)
    uow.add(message)
    uow.flush()
    uow.emit(MessageChanged(message.id, message.contact_id))
    if contact is None:
        log.info("Inbound text %s from a sender that is not a phone number; stored only", sid)
        return "stored (sender is not a phone number)"

    contact.last_inbound_at = now
    contact.updated_at = now
    uow.add(contact)
    media = f" (+{num_media} attachment{'s' if num_media != 1 else ''})" if num_media else ""
    add_event(uow, contact.id, "text_in", f"Text received: \u201c{_short(body)}\u201d{media}", now,
              message_id=message.id)
    result = compliance.classify_inbound(body or "", opt_out_type)
    if result.flag:
        message.flagged = True
        message.flag_reason = result.reason
        uow.add(message)
        add_event(uow, contact.id, "flag", f"Needs a person: {result.reason}", now,
                  message_id=message.id)

    if result.kind == "opt_out":
        carrier_confirmed = bool(opt_out_type) or (
            carrier_handles_keywords and result.keyword in compliance.CARRIER_CONFIRMED_WORDS)
        if opt_out_type:
            source = "optout_type"
        elif result.keyword:
            source = "keyword"
        else:
            source = "sentence"
        apply_opt_out(uow, ctx, contact, source=source, channel="all", now=now, text=body,
                      flagged=result.flag, confirm=not carrier_confirmed, provider=provider,
                      sender=dialed or None)
        return f"opt-out ({result.reason})"

    if result.kind == "opt_in" and (contact.opted_out or result.keyword != "YES"):
        was_out = contact.opted_out
        compliance.record(session, phone=contact.phone, action="opt_in", channel="sms",
                          source="optout_type" if opt_out_type else "keyword", at=now, text=body)
        contact.opted_out = False
        contact.consent_sms = True
        contact.consent_sms_source = f"texted {result.keyword or 'START'}"
        contact.consent_sms_at = now
        if contact.status == "opted_out":
            contact.status = "open"
        uow.add(contact)
        uow.emit(ContactChanged(contact.id))
        add_event(uow, contact.id, "opt_in",
                  "Re-subscribed to texts" if was_out else f"Texted {result.keyword}: text consent recorded", now)
        return "opt-in"

    if result.kind == "help":
        sequences.halt(uow, contact, "the borrower texted HELP", now, kind="reply")
        if not opt_out_type and dialed:
            template = ctx.templates.get("help_reply")
            reply = render(template.body, sequences.render_values(session, ctx, contact, None, now))
            job = SendJob(step_id=None, contact_id=contact.id, provider=provider, channel="sms",
                          from_number=dialed, to_number=contact.phone, body=reply, kind="help")
            uow.after_commit(lambda: ctx.outbox.submit(job))
        _notify_reply(uow, contact, body, now)
        return "help"

    # A reply (or YES from a subscribed contact): the conversation is with a person now.
    if contact.status not in ("opted_out",):
        contact.status = "replied"
    uow.add(contact)
    sequences.halt(uow, contact, "the borrower replied", now, kind="reply")
    raise_task(uow, contact, now, "the borrower replied")
    _notify_reply(uow, contact, body, now)
    if created:
        add_event(uow, contact.id, "note", "New contact from an inbound text", now)
    return "reply"


def _notify_reply(uow, contact: models.Contact, body: str, now: datetime) -> None:
    who = contact.name or phones.format_national(contact.phone)
    lo = f" for {contact.lo_name}" if contact.lo_name else ""
    uow.emit(Notification("reply", f"Reply from {who}{lo}", _short(body, 120), contact.id))


def apply_delivery_status(uow, ctx, provider: str, sid: str, status: str, error_code: str | None,
                          error_message: str | None, now: datetime) -> str:
    """Update a sent message and its step from a delivery receipt, never moving backwards."""
    session = uow.session
    status = (status or "").strip().lower()
    message = session.exec(select(models.Message).where(models.Message.provider_id == sid)).first()
    if message is None:
        return "unknown message (kept; applied when the send is recorded)"
    current = message.status
    if current in FINAL_STATUSES and not (current == "delivered" and status == "read"):
        return f"ignored {status}: already {current}"
    if current not in ("sandbox", "unknown", "rejected", "sending") and \
            STATUS_RANK.get(status, 0) < STATUS_RANK.get(current, 0):
        return f"ignored {status}: already {current}"
    message.status = status
    if error_code:
        message.error_code = str(error_code)
        message.error_message = describe_error(error_code, error_message or "")
    message.updated_at = now
    uow.add(message)
    uow.emit(MessageChanged(message.id, message.contact_id))
    step = session.get(models.Step, message.step_id) if message.step_id else None
    if step is not None:
        step.delivery_status = status
        if status in ("undelivered", "failed"):
            step.status = "failed"
            step.error_code = str(error_code) if error_code else None
            step.detail = f"{status}: {describe_error(error_code, error_message or 'no reason given')}"
        sequences._touch_step(uow, step, now)
        uow.emit(StepChanged(step.id, step.contact_id))
    contact = session.get(models.Contact, message.contact_id) if message.contact_id else None
    if contact is not None and status in ("undelivered", "failed"):
        add_event(uow, contact.id, "text_out",
                  f"Text {status}: {describe_error(error_code, error_message or 'no reason given')}",
                  now, message_id=message.id)
        handle_error_code(uow, ctx, contact, error_code, now)
    elif contact is not None and status == "delivered":
        uow.emit(ContactChanged(contact.id))
    return f"{current} -> {status}"
