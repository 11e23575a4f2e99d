"""The follow-up sequence: plan steps, check every rule before a send, run due steps, halt."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from desktop_app.core import compliance, models, phones
from desktop_app.core.events import ContactChanged, StepChanged
from desktop_app.core.outbox import SendJob
from desktop_app.core.quiet_hours import QuietHours, add_offset, borrower_zones, next_opening
from desktop_app.core.routing import INTENT_RANK
from desktop_app.core.templates import render
from desktop_app.core.timeline import add_event

log = logging.getLogger(__name__)

PENDING = ("scheduled", "queued")
IN_FLIGHT = ("sending",)
# Export shows only the documented statuses; queued and sending are moments of "scheduled".
EXPORT_STATUS = {"queued": "scheduled", "sending": "scheduled"}


@dataclass(frozen=True)
class Gate:
    action: str  # send, cancel, skip, defer
    reason: str = ""
    until: datetime | None = None


def pending_steps(session: Session, contact_id: int) -> list[models.Step]:
    return list(session.exec(
        select(models.Step)
        .where(models.Step.contact_id == contact_id)
        .where(models.Step.status.in_(PENDING + IN_FLIGHT))
        .order_by(models.Step.due_at)
    ))


def has_running_sequence(session: Session, contact_id: int) -> bool:
    return bool(pending_steps(session, contact_id))


def _touch_step(uow, step: models.Step, now: datetime) -> None:
    step.updated_at = now
    uow.add(step)
    uow.emit(StepChanged(step.id or 0, step.contact_id))


# -- planning --------------------------------------------------------------------------------

def _sequence_for(settings, intent: str) -> list[dict]:
    return list(settings.get("sequence.steps").get(intent, []))


def plan(uow, ctx, contact: models.Contact, call: models.Call, intent: str, now: datetime,
         only_missing: bool = False) -> list[models.Step]:
    """Create the steps of the intent's sequence, due relative to the call.

    With only_missing, steps the running sequence already has are left out (a second call
    raised the intent; the running sequence is extended, not restarted).
    """
    session = uow.session
    quiet = QuietHours.from_settings(ctx.settings)
    zone = borrower_zones(contact.phone, quiet.fallback_zone, contact.time_zone)[0]
    existing: set[str] = set()
    if only_missing:
        # Every step of the running sequence counts, sent or not: the calls whose steps
        # are still pending started it.
        running_calls = {s.call_id for s in pending_steps(session, contact.id)}
        existing = set(session.exec(
            select(models.Step.name).where(models.Step.contact_id == contact.id)
            .where(models.Step.call_id.in_(running_calls))
        ).all())
    anchor = call.started_at if call is not None else now
    created = []
    for position, spec in enumerate(_sequence_for(ctx.settings, intent)):
        if spec["name"] in existing:
            continue
        due = add_offset(anchor, int(spec["offset_minutes"]), zone)
        immediate = spec["offset_minutes"] == 0 and spec["channel"] == "sms" and call is not None
        if due < now:
            due = now
        planned = due
        allow_now = immediate and ctx.settings.get("quiet_hours.first_reply_immediate")
        detail = None
        if not allow_now and not quiet.allowed(due, contact.phone, contact.time_zone):
            due = quiet.next_allowed(due, contact.phone, contact.time_zone)
            detail = f"moved out of quiet hours to {_local_text(due, contact, quiet)}"
        step = models.Step(
            contact_id=contact.id, call_id=call.id if call is not None else None,
            sequence=intent, position=position, name=spec["name"], channel=spec["channel"],
            template=spec["template"], due_at=due, planned_at=planned, immediate=immediate,
            status="scheduled", detail=detail, created_at=now, updated_at=now,
        )
        uow.add(step)
        created.append(step)
    uow.flush()
    for step in created:
        uow.emit(StepChanged(step.id, step.contact_id))
    if created and ctx.wake_at is not None:
        first_due = min(s.due_at for s in created)
        uow.after_commit(lambda: ctx.wake_at(first_due))
    return created


def _local_text(when: datetime, contact: models.Contact, quiet: QuietHours) -> str:
    zone = borrower_zones(contact.phone, quiet.fallback_zone, contact.time_zone)[0]
    return when.astimezone(zone).strftime("%a %b %d %I:%M %p %Z")


# -- halting ---------------------------------------------------------------------------------

def cancel_pending(uow, contact: models.Contact, reason: str, now: datetime,
                   channels: tuple[str, ...] | None = None) -> int:
    count = 0
    for step in pending_steps(uow.session, contact.id):
        if step.status not in PENDING:
            continue
        if channels is not None and step.channel not in channels:
            continue
        step.status = "cancelled"
        step.detail = reason
        _touch_step(uow, step, now)
        count += 1
    return count


def halt(uow, contact: models.Contact, reason: str, now: datetime, kind: str = "halt") -> int:
    """Cancel every pending step of the contact at once and record why."""
    count = cancel_pending(uow, contact, reason, now)
    contact.halt_reason = reason
    contact.halted_at = now
    contact.updated_at = now
    uow.add(contact)
    uow.emit(ContactChanged(contact.id))
    add_event(uow, contact.id, kind, f"Automation halted: {reason}"
              + (f" ({count} pending step{'s' if count != 1 else ''} cancelled)" if count else ""), now)
    log.info("Halted contact %s: %s (%d steps cancelled)", contact.id, reason, count)
    return count


def pause(uow, contact: models.Contact, now: datetime, who: str = "coordinator") -> int:
    contact.paused = True
    contact.status = "paused"
    return halt(uow, contact, f"paused by the {who}", now, kind="pause")


def resume(uow, ctx, contact: models.Contact, now: datetime) -> list[models.Step]:
    """Clear a halt or pause and plan the sequence again from now (an explicit action)."""
    contact.paused = False
    contact.halt_reason = None
    contact.halted_at = None
    if contact.status in ("paused", "replied", "contacted"):
        contact.status = "open"
    contact.updated_at = now
    uow.add(contact)
    add_event(uow, contact.id, "resume", "Automation resumed by the coordinator", now)
    uow.emit(ContactChanged(contact.id))
    intent = contact.intent or "inquiry"
    steps = [s for s in plan(uow, ctx, contact, None, intent, now)]
    # A resumed sequence does not resend the "we missed you" text.
    for step in steps:
        if step.name == "first_text":
            step.status = "skipped"
            step.detail = "not resent on resume"
            _touch_step(uow, step, now)
    return steps


# -- gates -----------------------------------------------------------------------------------

def _sms_sent_since(session: Session, contact_id: int, since: datetime) -> list[datetime]:
    rows = session.exec(
        select(models.Message.created_at)
        .where(models.Message.contact_id == contact_id)
        .where(models.Message.direction == "out")
        .where(models.Message.channel == "sms")
        .where(models.Message.kind == "automated")
        .where(models.Message.status != "rejected")
        .where(models.Message.created_at >= since)
    ).all()
    return sorted(rows)


def check(session: Session, ctx, contact: models.Contact, step: models.Step, now: datetime,
          startup: bool = False) -> Gate:
    """Every rule that must hold right before an automated send, in order of precedence."""
    if contact.paused:
        return Gate("cancel", "paused by the coordinator")
    blocked = compliance.block_reason(session, contact, step.channel)
    if blocked:
        return Gate("cancel", blocked)
    if contact.halt_reason:
        return Gate("cancel", f"automation halted: {contact.halt_reason}")

    settings = ctx.settings
    if step.channel == "sms":
        unreachable = phones.text_block_reason(contact.phone, settings.get("sms.allowed_regions"))
        if unreachable:
            return Gate("skip", unreachable)
        if contact.sms_capable is False:
            return Gate("skip", "the number cannot receive texts (landline); the Call task is the follow-up")
        first_allowed = step.name == "first_text" and settings.get("consent.first_sms_without_consent")
        if contact.consent_sms is False:
            return Gate("skip", "the borrower declined text messages")
        if contact.consent_sms is not True and step.name == "first_text" and not first_allowed:
            return Gate("skip", "no text-message consent on file (first text needs consent by setting)")
    elif step.channel == "voicemail":
        if contact.consent_voicemail is not True:
            return Gate("skip", "no voicemail-drop consent on file; ringless voicemail needs consent")
    elif step.channel == "email":
        if not contact.email:
            return Gate("skip", "no email address known for the borrower")
        if contact.consent_email is False:
            return Gate("skip", "the borrower declined email")
    if step.channel != "sms":
        channel_reason = ctx.step_skip_reason(session, contact, step)
        if channel_reason:
            return Gate("skip", channel_reason)

    quiet = QuietHours.from_settings(settings)
    late = now - step.due_at
    catch_up = timedelta(minutes=settings.get("sequence.catch_up_minutes"))
    if late > catch_up:
        office = ZoneInfo(settings.get("brokerage.time_zone"))
        return Gate("skip", f"not sent: due {step.due_at.astimezone(office):%b %d %I:%M %p %Z}, "
                            f"{int(late.total_seconds() // 60)} min late (the app was not running); "
                            f"the catch-up window is {int(catch_up.total_seconds() // 60)} min")
    immediate_ok = step.immediate and settings.get("quiet_hours.first_reply_immediate") and not startup
    if not immediate_ok and not quiet.allowed(now, contact.phone, contact.time_zone):
        if startup and late > timedelta(0):
            return Gate("skip", "not sent: came due while the app was not running, and it is "
                                "now quiet hours for the borrower")
        until = quiet.next_allowed(now, contact.phone, contact.time_zone)
        return Gate("defer", f"quiet hours for the borrower; moved to "
                             f"{_local_text(until, contact, quiet)}", until)

    if step.channel == "sms":
        per_hour = settings.get("caps.per_hour")
        per_day = settings.get("caps.per_day")
        if per_hour == 0 or per_day == 0:
            return Gate("skip", "automated texts are turned off (a text cap is set to 0)")
        day_sends = _sms_sent_since(session, contact.id, now - timedelta(hours=24))
        hour_sends = [t for t in day_sends if t >= now - timedelta(hours=1)]
        if len(hour_sends) >= per_hour:
            until = hour_sends[-per_hour] + timedelta(hours=1)
            return Gate("defer", f"cap of {per_hour} automated text(s) per hour reached", until)
        if len(day_sends) >= per_day:
            until = day_sends[-per_day] + timedelta(hours=24)
            return Gate("defer", f"cap of {per_day} automated texts per 24 hours reached", until)
    return Gate("send")


# -- rendering -------------------------------------------------------------------------------

def render_values(session: Session, ctx, contact: models.Contact, call: models.Call | None,
                  at: datetime) -> dict:
    callback = ctx.settings.get("brokerage.callback_number")
    if callback:
        callback_text = phones.format_national(phones.try_normalize(callback) or callback)
    elif call is not None and call.dialed:
        callback_text = phones.format_national(call.dialed)
    else:
        callback_text = ""
    _open, opens = next_opening(at, ctx.settings.get("brokerage.business_hours"),
                                ctx.settings.get("brokerage.time_zone"))
    opens_text = ""
    if opens is not None:
        local = opens.astimezone(ZoneInfo(ctx.settings.get("brokerage.time_zone")))
        opens_text = local.strftime("%A at %-I:%M %p").replace(":00 ", " ")
    return {
        "first_name": contact.first_name,
        "broker_name": ctx.settings.get("brokerage.name"),
        "callback_number": callback_text,
        "lo_name": contact.lo_name if contact.lo_name and contact.lo_name != "Coordinator" else None,
        "loan_purpose": contact.loan_purpose,
        "office_opens": opens_text,
        "rate_snapshot": ctx.settings.get("email.rate_snapshot"),
    }


def _first_sms_to(session: Session, contact_id: int) -> bool:
    sent = session.exec(
        select(models.Message.id)
        .where(models.Message.contact_id == contact_id)
        .where(models.Message.direction == "out")
        .where(models.Message.channel == "sms")
        .where(models.Message.status != "rejected")
    ).first()
    return sent is None


def compose(session: Session, ctx, contact: models.Contact, step: models.Step,
            call: models.Call | None, now: datetime) -> tuple[str, str]:
    """Return (subject, body) for a step."""
    template_name = step.template
    if step.name == "first_text" and call is not None:
        is_open, _ = next_opening(call.started_at, ctx.settings.get("brokerage.business_hours"),
                                  ctx.settings.get("brokerage.time_zone"))
        if not is_open and "first_text_after_hours" in ctx.templates.defaults:
            template_name = "first_text_after_hours"
    template = ctx.templates.get(template_name)
    values = render_values(session, ctx, contact, call, now)
    body = render(template.body, values)
    subject = render(template.subject, values) if template.subject else ""
    if step.channel == "sms" and ctx.settings.get("sms.opt_out_line") and _first_sms_to(session, contact.id):
        line = ctx.settings.get("sms.opt_out_line_text").strip()
        if line and line.lower() not in body.lower():
            body = f"{body} {line}"
    return subject, body


# -- claiming and running --------------------------------------------------------------------

def claim(uow, ctx, step: models.Step, now: datetime, startup: bool = False) -> SendJob | None:
    """Apply the gates to one due step. Returns a job to send, or None after recording why not."""
    session = uow.session
    contact = session.get(models.Contact, step.contact_id)
    if contact is None:
        step.status = "cancelled"
        step.detail = "contact deleted"
        _touch_step(uow, step, now)
        return None
    gate = check(session, ctx, contact, step, now, startup=startup)
    if gate.action == "defer":
        step.due_at = gate.until
        step.detail = gate.reason
        _touch_step(uow, step, now)
        if ctx.wake_at is not None:
            until = gate.until
            uow.after_commit(lambda: ctx.wake_at(until))
        return None
    if gate.action in ("cancel", "skip"):
        step.status = "cancelled" if gate.action == "cancel" else "skipped"
        step.detail = gate.reason
        _touch_step(uow, step, now)
        add_event(uow, contact.id, "step", f"{_step_label(step)} {step.status}: {gate.reason}", now,
                  step_id=step.id)
        return None

    call = session.get(models.Call, step.call_id) if step.call_id else _latest_call(session, contact.id)
    provider_name, from_number = _sender_for(ctx, call, contact)
    if step.channel == "sms" and not from_number:
        step.status = "skipped"
        step.detail = "no number to send from (no call on record for this contact)"
        _touch_step(uow, step, now)
        return None
    ready, why_not = ctx.channel_ready(step.channel)
    if not ready:
        step.status = "skipped"
        step.detail = why_not
        _touch_step(uow, step, now)
        add_event(uow, contact.id, "step", f"{_step_label(step)} skipped: {step.detail}", now,
                  step_id=step.id)
        return None

    subject, body = compose(session, ctx, contact, step, call, now)
    step.status = "queued"
    step.detail = None
    _touch_step(uow, step, now)
    to = contact.email if step.channel == "email" else contact.phone
    callback = None
    public = ctx.public_url()
    if public and step.channel == "sms" and provider_name == "twilio":
        callback = f"{public}/twilio/message-status"
    return SendJob(step_id=step.id, contact_id=contact.id, provider=provider_name,
                   channel=step.channel, from_number=from_number or "", to_number=to or "",
                   body=body, subject=subject, status_callback=callback,
                   extra={"lo_id": contact.lo_id, "step_name": step.name})


def _step_label(step: models.Step) -> str:
    return step.name.replace("_", " ").capitalize()


def _latest_call(session: Session, contact_id: int) -> models.Call | None:
    return session.exec(
        select(models.Call).where(models.Call.contact_id == contact_id)
        .order_by(models.Call.started_at.desc())
    ).first()


def _sender_for(ctx, call: models.Call | None, contact: models.Contact) -> tuple[str, str | None]:
    """Texts go out from the number the borrower dialed, through the provider that owns it."""
    if call is None:
        return "twilio", None
    return call.provider, call.dialed or None


def claim_due(uow, ctx, now: datetime, startup: bool = False) -> list[SendJob]:
    due = list(uow.session.exec(
        select(models.Step)
        .where(models.Step.status == "scheduled")
        .where(models.Step.due_at <= now)
        .order_by(models.Step.due_at, models.Step.id)
    ))
    jobs = []
    for step in due:
        job = claim(uow, ctx, step, now, startup=startup)
        if job is not None:
            jobs.append(job)
    return jobs


def run_due(ctx, startup: bool = False) -> int:
    """Claim every step that is due now and hand the sends to the outbox. Returns the count."""
    now = ctx.clock.now()
    jobs = ctx.db.write(claim_due, ctx, now, startup)
    for job in jobs:
        ctx.outbox.submit(job)
    if ctx.wake_at is not None:
        upcoming = next_due(ctx)
        if upcoming is not None:
            ctx.wake_at(upcoming)
    return len(jobs)


def next_due(ctx) -> datetime | None:
    with ctx.db.read() as session:
        step = session.exec(
            select(models.Step).where(models.Step.status == "scheduled")
            .order_by(models.Step.due_at)
        ).first()
        return step.due_at if step else None


def recover(uow, now: datetime) -> dict:
    """After a start: steps caught in flight need a person; queued ones were never sent.

    A step in "sending" may or may not have reached the provider, and Twilio has no
    idempotency key for messages, so it is never resent automatically.
    """
    counts = {"needs_review": 0, "requeued": 0}
    for step in uow.session.exec(select(models.Step).where(models.Step.status == "sending")):
        step.status = "needs_review"
        step.detail = ("the app stopped while this was being sent; check the provider's log "
                       "before sending it by hand")
        _touch_step(uow, step, now)
        add_event(uow, step.contact_id, "step",
                  f"{_step_label(step)} needs review: interrupted while sending", now, step_id=step.id)
        counts["needs_review"] += 1
    for step in uow.session.exec(select(models.Step).where(models.Step.status == "queued")):
        step.status = "scheduled"
        _touch_step(uow, step, now)
        counts["requeued"] += 1
    for message in uow.session.exec(select(models.Message).where(models.Message.status == "sending")):
        message.status = "unknown"
        message.error_message = "the app stopped while this was being sent"
        message.updated_at = now
        uow.add(message)
    return counts


def raise_intent(current: str | None, new: str) -> bool:
    return current is None or INTENT_RANK[new] > INTENT_RANK[current]
