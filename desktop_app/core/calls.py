"""Call lifecycle from provider events to one decision per call: missed or answered."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from desktop_app.core import compliance, models, phones, sequences
from desktop_app.core.context import run_miss_hooks
from desktop_app.core.events import CallChanged, ContactChanged, Notification, TaskChanged
from desktop_app.core.messaging import find_contact, open_task
from desktop_app.core.routing import (COORDINATOR, INTENT_RANK, Thresholds, classify, higher_intent,
                                      lead_source_for, pick_lo)
from desktop_app.core.timeline import add_event

log = logging.getLogger(__name__)

MISSED_STATUSES = frozenset({"no-answer", "busy", "failed", "canceled"})
ANSWERED_DIAL_STATUSES = frozenset({"completed", "answered"})
FINAL_CALL_STATUSES = frozenset({"completed"}) | MISSED_STATUSES
CALL_STATUS_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3,
                    "completed": 4, "no-answer": 4, "busy": 4, "failed": 4, "canceled": 4}
PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2}
# A final status that arrives without the dial's own result waits this long for it.
DIAL_RESULT_GRACE = timedelta(seconds=15)


def get_call(session, provider: str, call_id: str) -> models.Call | None:
    return session.exec(
        select(models.Call).where(models.Call.provider == provider)
        .where(models.Call.call_id == call_id)
    ).first()


def _caller_fields(caller_raw: str | None) -> tuple[str | None, str | None, str]:
    """(E.164 or None, extension, why the number is unusable or "")."""
    raw = (caller_raw or "").strip()
    if phones.is_withheld(raw):
        return None, None, "caller ID withheld"
    try:
        parsed = phones.parse_phone(raw)
    except phones.InvalidPhoneNumber as exc:
        return None, None, f"caller number {raw!r} is not valid ({exc.reason})"
    return parsed.e164, parsed.extension, ""


def ensure_call(uow, provider: str, call_id: str, caller_raw: str | None, dialed_raw: str | None,
                now: datetime, direction: str = "inbound") -> tuple[models.Call, bool]:
    """Find the call or create it from the first event's fields. Returns (call, created)."""
    call = get_call(uow.session, provider, call_id)
    if call is not None:
        return call, False
    caller, extension, problem = _caller_fields(caller_raw)
    dialed = phones.try_normalize(dialed_raw) or (dialed_raw or "").strip()
    call = models.Call(provider=provider, call_id=call_id, caller_raw=(caller_raw or "")[:64],
                       caller=caller, caller_extension=extension, dialed=dialed,
                       direction=direction or "inbound", started_at=now, updated_at=now,
                       detail=problem or None)
    uow.add(call)
    uow.flush()
    uow.emit(CallChanged(call.id))
    return call, True


# -- provider events -------------------------------------------------------------------------

def on_dial_result(uow, ctx, call: models.Call, dial_status: str, now: datetime) -> None:
    """Record the end of the <Dial> to the LO; a miss waits for the call's final status,
    which carries the seconds on the line."""
    dial_status = dial_status.strip().lower()
    if call.outcome != "pending":
        return
    if dial_status in ANSWERED_DIAL_STATUSES and call.screened and not call.lo_accepted:
        # Something answered the LO's phone without pressing 1: its voicemail, or the LO
        # declined. Either way the borrower did not reach anyone.
        call.detail = "the LO's phone answered without pressing 1 (voicemail or declined)"
        dial_status = "no-answer"
    call.dial_status = dial_status
    call.dial_action_at = call.dial_action_at or now
    call.updated_at = now
    uow.add(call)
    uow.emit(CallChanged(call.id))
    if dial_status in ANSWERED_DIAL_STATUSES:
        mark_answered(uow, ctx, call, now)
        return
    if dial_status in MISSED_STATUSES and call.call_status in FINAL_CALL_STATUSES:
        decide_missed(uow, ctx, call, call.seconds, now)
        return
    wait = timedelta(seconds=ctx.settings.get("voice.final_status_wait_seconds"))
    _wake(uow, ctx, now + wait)


def on_call_status(uow, ctx, call: models.Call, status: str, duration: int | None,
                   now: datetime) -> str:
    """Apply a call status callback. Returns what it changed, for the log."""
    status = status.strip().lower()
    current = call.call_status
    if current in FINAL_CALL_STATUSES:
        return f"ignored {status}: call already {current}"
    if current is not None and CALL_STATUS_RANK.get(status, 0) < CALL_STATUS_RANK.get(current, 0):
        return f"ignored {status}: call already {current}"
    call.call_status = status
    call.updated_at = now
    if duration is not None:
        call.seconds = duration
    if status in FINAL_CALL_STATUSES:
        call.ended_at = now
        if call.seconds is None:
            call.seconds = 0
    uow.add(call)
    uow.emit(CallChanged(call.id))
    if status not in FINAL_CALL_STATUSES or call.outcome != "pending":
        return f"{current or 'new'} -> {status}"

    if call.direction.startswith("outbound"):
        call.outcome = "ignored"
        call.detail = "outbound call"
        return f"{status} (outbound call: no follow-up)"
    if call.flow == "dial":
        if call.dial_status in MISSED_STATUSES:
            decide_missed(uow, ctx, call, call.seconds, now)
            return f"{status}: missed"
        if call.dial_status in ANSWERED_DIAL_STATUSES:
            mark_answered(uow, ctx, call, now)
            return f"{status}: answered"
        # The dial's own result has not arrived; give it a moment before deciding.
        _wake(uow, ctx, now + DIAL_RESULT_GRACE)
        return f"{status}: waiting for the dial result"
    if call.flow == "voicemail":
        decide_missed(uow, ctx, call, call.seconds, now)
        return f"{status}: missed (no LO phone, went to voicemail)"
    # Forwarding set-ups without our TwiML: the status itself shows whether anyone answered.
    if status in MISSED_STATUSES:
        decide_missed(uow, ctx, call, call.seconds, now)
        return f"{status}: missed"
    mark_answered(uow, ctx, call, now)
    return f"{status}: answered"


def on_recording(uow, ctx, call: models.Call, *, recording_sid: str | None, url: str | None,
                 seconds: int | None, transcription: str | None, now: datetime) -> None:
    changed = False
    if url and call.recording_url != url:
        call.recording_url = url
        call.recording_sid = recording_sid or call.recording_sid
        call.recording_seconds = seconds if seconds is not None else call.recording_seconds
        changed = True
        if call.contact_id:
            add_event(uow, call.contact_id, "voicemail_in",
                      f"Voicemail left ({seconds or 0} s)", now, call_id=call.id)
    if transcription and call.transcription != transcription:
        call.transcription = transcription
        changed = True
        if call.contact_id:
            add_event(uow, call.contact_id, "voicemail_in",
                      f"Voicemail transcript: \u201c{transcription[:120]}\u201d", now, call_id=call.id)
    if changed:
        call.updated_at = now
        uow.add(call)
        uow.emit(CallChanged(call.id))


def _wake(uow, ctx, when: datetime) -> None:
    if ctx.wake_at is not None:
        uow.after_commit(lambda: ctx.wake_at(when))


# -- decisions -------------------------------------------------------------------------------

def mark_answered(uow, ctx, call: models.Call, now: datetime) -> None:
    """Someone spoke with the caller: halt the contact's automation (a call back counts)."""
    call.outcome = "answered"
    call.decided_at = now
    call.updated_at = now
    uow.add(call)
    uow.emit(CallChanged(call.id))
    if call.caller is None:
        return
    contact = find_contact(uow.session, call.caller)
    if contact is None:
        return
    call.contact_id = contact.id
    contact.last_call_at = call.started_at
    if contact.status not in ("opted_out",):
        contact.status = "contacted"
    uow.add(contact)
    add_event(uow, contact.id, "call", "Answered call from the borrower", now, call_id=call.id)
    if sequences.pending_steps(uow.session, contact.id):
        sequences.halt(uow, contact, "answered call from the borrower", now, kind="call")
    task = open_task(uow.session, contact.id)
    if task is not None:
        task.status = "done"
        task.completed_at = now
        task.body = (task.body + "\nClosed: the borrower called and was answered.").strip()
        uow.add(task)
        uow.emit(TaskChanged(task.id, contact.id))
    uow.emit(ContactChanged(contact.id))


def _local(ctx, when: datetime) -> str:
    zone = ZoneInfo(ctx.settings.get("brokerage.time_zone"))
    return when.astimezone(zone).strftime("%a %b %d, %I:%M %p %Z").replace(" 0", " ")


def decide_missed(uow, ctx, call: models.Call, seconds: int | None, now: datetime,
                  note: str | None = None) -> int:
    """Everything a missed call sets off, in one transaction: contact, intent, LO, task, steps.

    Steps due at once are claimed here and handed to the outbox after the transaction
    commits. Returns how many sends were queued.
    """
    session = uow.session
    if call.outcome != "pending":
        return 0
    seconds = max(0, int(seconds or 0))
    call.outcome = "missed"
    call.seconds = seconds
    call.decided_at = now
    call.updated_at = now
    if note:
        call.detail = f"{call.detail}; {note}" if call.detail else note
    uow.add(call)
    uow.emit(CallChanged(call.id))

    route_source = lead_source_for(session, call.dialed)
    if call.caller is None:
        call.intent = classify(seconds, Thresholds.from_settings(ctx.settings), route_source)
        call.lead_source = route_source
        call.detail = (call.detail or "caller number unusable") + ": no text or task"
        log.info("Missed call %s with no usable caller number (%s)", call.call_id, call.detail)
        return 0

    contact = find_contact(session, call.caller)
    first_time = contact is None
    if contact is None:
        contact = models.Contact(phone=call.caller, phone_extension=call.caller_extension,
                                 lead_source=route_source, created_at=now, updated_at=now)
        opt_out = compliance.opted_out(session, call.caller, "sms")
        if opt_out is not None:  # the ledger outlives a deleted contact
            contact.opted_out, contact.opted_out_at, contact.status = True, opt_out.at, "opted_out"
        uow.add(contact)
        uow.flush()
    else:
        earlier = session.exec(
            select(models.Call.id).where(models.Call.contact_id == contact.id)
            .where(models.Call.id != call.id)
        ).first()
        first_time = earlier is None
        if call.caller_extension and not contact.phone_extension:
            contact.phone_extension = call.caller_extension
    call.contact_id = contact.id

    source = contact.lead_source or route_source
    thresholds = Thresholds.from_settings(ctx.settings)
    intent = classify(seconds, thresholds, source)
    running = sequences.has_running_sequence(session, contact.id)
    assignment = pick_lo(session, call.dialed, intent, now)
    call.intent = intent
    call.lead_source = source
    call.lo_id = assignment.lo_id
    call.lo_name = assignment.name
    call.repeat_caller = not first_time

    previous_intent = contact.intent
    contact.intent = higher_intent(contact.intent, intent) if running else intent
    if contact.lo_id is None or intent == "hot" or not running:
        contact.lo_id = assignment.lo_id
        contact.lo_name = assignment.name
    contact.last_call_at = call.started_at
    if contact.status in ("contacted", "replied") and not running:
        contact.status = "open"
    contact.updated_at = now
    uow.add(contact)
    uow.emit(ContactChanged(contact.id))

    dialed_text = phones.format_national(call.dialed) if call.dialed.startswith("+") else call.dialed
    add_event(uow, contact.id, "call",
              f"Missed call to {dialed_text}, {seconds} s on the line ({intent}); "
              f"assigned to {assignment.name}", now, call_id=call.id)
    _upsert_task(uow, ctx, contact, call, intent, first_time, assignment, seconds, now)

    created = []
    blocked = compliance.block_reason(session, contact, "sms")
    if blocked:
        add_event(uow, contact.id, "note", f"No follow-up planned: {blocked}", now, call_id=call.id)
    elif contact.paused:
        add_event(uow, contact.id, "note", "Sequence not started: the contact is paused", now)
    elif running:
        add_event(uow, contact.id, "call",
                  "Called again during a running sequence; the sequence continues", now,
                  call_id=call.id)
        if sequences.raise_intent(previous_intent, intent):
            created = sequences.plan(uow, ctx, contact, call, intent, now, only_missing=True)
    else:
        created = sequences.plan(uow, ctx, contact, call, intent, now)

    jobs = []
    for step in created:
        if step.due_at <= now:
            job = sequences.claim(uow, ctx, step, now)
            if job is not None:
                jobs.append(job)
    if jobs and ctx.outbox is not None:
        outbox = ctx.outbox
        uow.after_commit(lambda: [outbox.submit(job) for job in jobs])

    contact_id, call_row_id = contact.id, call.id
    uow.after_commit(lambda: run_miss_hooks(ctx, contact_id, call_row_id))

    if intent == "hot":
        who = contact.name or phones.format_national(contact.phone)
        uow.emit(Notification("hot_call", f"Hot missed call: {who}",
                              f"{seconds} s on the line to {dialed_text}; assigned to {assignment.name}.",
                              contact.id))
    log.info("Missed call %s: %s, %d s, assigned to %s, %d step(s) planned",
             call.call_id, intent, seconds, assignment.name, len(created))
    return len(jobs)


def _upsert_task(uow, ctx, contact: models.Contact, call: models.Call, intent: str,
                 first_time: bool, assignment, seconds: int, now: datetime) -> models.Task:
    """Create the contact's open Call task, or raise the one it has (one open task per contact)."""
    due = call.started_at + timedelta(minutes=ctx.settings.get("tasks.due_minutes"))
    if intent == "accidental":
        priority = "low"
    elif first_time or intent == "hot":
        priority = "high"
    else:
        priority = "medium"
    who = contact.name or phones.format_national(contact.phone)
    dialed_text = phones.format_national(call.dialed) if call.dialed.startswith("+") else call.dialed
    facts = (f"Missed call from {phones.format_national(contact.phone)}"
             + (f" ext. {call.caller_extension}" if call.caller_extension else "")
             + f" to {dialed_text} on {_local(ctx, call.started_at)}: {seconds} s on the line "
             f"({intent}), lead source {call.lead_source}, "
             f"{'first-time caller' if first_time else 'has called before'}.")
    task = open_task(uow.session, contact.id)
    if task is None:
        task = models.Task(contact_id=contact.id, call_id=call.id, type="call",
                           title=f"Call back {who}", body=facts, due_at=due,
                           assignee=assignment.name or COORDINATOR, lo_id=assignment.lo_id,
                           priority=priority, status="open", created_at=now)
        uow.add(task)
        uow.flush()
        add_event(uow, contact.id, "task",
                  f"Call task for {task.assignee}, {priority} priority, due {_local(ctx, due)}", now,
                  call_id=call.id)
    else:
        if PRIORITY_RANK[priority] > PRIORITY_RANK.get(task.priority, 0):
            task.priority = priority
        if due < task.due_at:
            task.due_at = due
        if intent == "hot" and INTENT_RANK.get(intent, 0) > 0:
            task.assignee = assignment.name
            task.lo_id = assignment.lo_id
        task.body = (task.body + "\n" + facts).strip()
        uow.add(task)
        add_event(uow, contact.id, "task", f"Call task updated: called again ({intent})", now,
                  call_id=call.id)
    uow.emit(TaskChanged(task.id, contact.id))
    return task


def decide_overdue(uow, ctx, now: datetime) -> int:
    """Decide calls whose final status never came (or came without the dial's result).

    Returns how many calls were decided.
    """
    session = uow.session
    wait = timedelta(seconds=ctx.settings.get("voice.final_status_wait_seconds"))
    recording = timedelta(seconds=ctx.settings.get("voice.max_recording_seconds"))
    ring = timedelta(seconds=ctx.settings.get("voice.dial_timeout_seconds"))
    decided = 0
    for call in session.exec(select(models.Call).where(models.Call.outcome == "pending")).all():
        seconds, note = None, None
        if call.dial_status in MISSED_STATUSES and call.call_status not in FINAL_CALL_STATUSES:
            if call.dial_action_at and call.dial_action_at + wait <= now:
                seconds = int((call.dial_action_at - call.started_at).total_seconds())
                note = (f"no final call status within {int(wait.total_seconds())} s of the dial "
                        "result; seconds on the line counted up to the dial result")
        elif call.flow == "dial" and call.call_status in FINAL_CALL_STATUSES and call.dial_status is None:
            if call.ended_at and call.ended_at + DIAL_RESULT_GRACE <= now:
                seconds, note = call.seconds, "the caller hung up while the LO's phone rang"
        elif call.call_status not in FINAL_CALL_STATUSES and call.flow in ("dial", "voicemail"):
            # Nothing more arrived at all: the longest the call could have lasted has passed.
            limit = (ring if call.flow == "dial" else timedelta(0)) + recording + wait
            if call.started_at + limit <= now:
                seconds = int((limit - wait).total_seconds())
                note = "no further call events arrived; acted on what was known"
        if note is not None:
            decide_missed(uow, ctx, call, seconds, now, note=note)
            decided += 1
    return decided


def next_overdue_check(session, ctx) -> datetime | None:
    """When decide_overdue next has something to do, for the scheduler."""
    wait = timedelta(seconds=ctx.settings.get("voice.final_status_wait_seconds"))
    recording = timedelta(seconds=ctx.settings.get("voice.max_recording_seconds"))
    ring = timedelta(seconds=ctx.settings.get("voice.dial_timeout_seconds"))
    times = []
    for call in session.exec(select(models.Call).where(models.Call.outcome == "pending")):
        if call.dial_action_at and call.dial_status in MISSED_STATUSES:
            times.append(call.dial_action_at + wait)
        elif call.ended_at and call.dial_status is None and call.flow == "dial":
            times.append(call.ended_at + DIAL_RESULT_GRACE)
        elif call.flow in ("dial", "voicemail"):
            times.append(call.started_at + (ring if call.flow == "dial" else timedelta(0))
                         + recording + wait)
    return min(times) if times else None
