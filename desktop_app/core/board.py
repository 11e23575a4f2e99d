"""Rows of the live board: one per missed call, newest first, read with a few set-based queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from desktop_app.core import phones

STEP_WORDS = {
    "first_text": "First text", "voicemail_drop": "Voicemail drop", "email_4h": "Email",
    "sms_24h": "Day-after text", "nurture_3d": "Nurture text", "nurture_7d": "Nurture email",
}
SOURCE_WORDS = {
    "missed_call_inbound": "Inbound call", "inbound_sms": "Inbound text", "zillow": "Zillow",
    "google_ads": "Google Ads", "client_referral": "Client referral", "past_client": "Past client",
    "website": "Website", "realtor_referral": "Realtor referral", "facebook": "Facebook",
}


def source_text(source: str) -> str:
    return SOURCE_WORDS.get(source, source.replace("_", " ").capitalize())


STATUS_WORDS = {
    "open": "Open", "contacted": "Contacted", "replied": "Replied", "opted_out": "Opted out",
    "do_not_contact": "Do not contact", "paused": "Paused",
}


@dataclass
class BoardRow:
    call_id: int
    call_sid: str
    contact_id: int | None
    started_at: datetime
    caller: str  # E.164, or the raw caller ID when unusable
    caller_name: str
    dialed: str
    lo_name: str
    seconds: int | None
    intent: str | None
    lead_source: str
    outcome: str
    call_detail: str
    contact_status: str
    halt_reason: str
    opted_out: bool
    do_not_contact: bool
    first_text_status: str  # "" when the call has no first text
    first_text_delivery: str
    first_text_detail: str
    next_step_name: str
    next_step_due: datetime | None
    needs_review: bool
    voicemail: bool

    @property
    def caller_display(self) -> str:
        number = phones.format_national(self.caller) if self.caller.startswith("+") else (
            self.caller or "Unknown")
        return f"{self.caller_name} \u00b7 {number}" if self.caller_name else number

    @property
    def dialed_display(self) -> str:
        return phones.format_national(self.dialed) if self.dialed.startswith("+") else self.dialed

    @property
    def status_text(self) -> str:
        if self.outcome == "pending":
            return "Call in progress"
        if self.contact_id is None:
            return "No follow-up: " + (self.call_detail or "no usable number")
        if self.needs_review:
            return "Needs review"
        if self.halt_reason and self.contact_status not in ("opted_out", "do_not_contact"):
            return f"{STATUS_WORDS.get(self.contact_status, 'Halted')}: {self.halt_reason}"
        return STATUS_WORDS.get(self.contact_status, self.contact_status.capitalize())

    @property
    def first_text_text(self) -> str:
        status, delivery = self.first_text_status, self.first_text_delivery
        if not status:
            return "\u2014" if self.intent == "accidental" else ""
        if status == "sent":
            if delivery == "sandbox":
                return "Sandbox: recorded, not sent"
            return (delivery or "sent").capitalize()
        if status in ("scheduled",):
            return "Scheduled"
        if status in ("queued", "sending"):
            return "Sending\u2026"
        if status == "failed":
            return f"Failed: {self.first_text_detail}" if self.first_text_detail else "Failed"
        if status == "needs_review":
            return "Needs review"
        words = {"cancelled": "Cancelled", "skipped": "Skipped"}.get(status, status.capitalize())
        return f"{words}: {self.first_text_detail}" if self.first_text_detail else words

    def next_step_text(self, now: datetime) -> str:
        if self.next_step_due is None:
            return ""
        name = STEP_WORDS.get(self.next_step_name, self.next_step_name.replace("_", " "))
        return f"{name} {countdown(self.next_step_due, now)}"


def countdown(when: datetime, now: datetime) -> str:
    seconds = int((when - now).total_seconds())
    if seconds <= 0:
        return "now"
    if seconds < 60:
        return f"in {seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"in {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"in {hours} h {minutes:02d} min"
    return f"in {hours // 24} d"


_CALLS_SQL = """
SELECT c.id, c.call_id, c.contact_id, c.started_at, COALESCE(c.caller, c.caller_raw), c.dialed,
       COALESCE(c.lo_name, ''), c.seconds, c.intent, COALESCE(c.lead_source, ''), c.outcome,
       COALESCE(c.detail, ''), c.recording_url IS NOT NULL
FROM call c
WHERE c.outcome IN ('missed', 'pending') AND c.direction = 'inbound' {where}
ORDER BY c.started_at DESC, c.id DESC
"""
_CONTACTS_SQL = """
SELECT id, TRIM(COALESCE(first_name, '') || ' ' || COALESCE(last_name, '')), status,
       COALESCE(halt_reason, ''), opted_out, do_not_contact
FROM contact {where}
"""
_FIRST_TEXT_SQL = """
SELECT call_id, status, COALESCE(delivery_status, ''), COALESCE(detail, '')
FROM step WHERE name = 'first_text' {where}
"""
_NEXT_STEP_SQL = """
SELECT s.contact_id, s.name, s.due_at FROM step s
JOIN (SELECT contact_id, MIN(due_at) AS due FROM step WHERE status = 'scheduled' {where}
      GROUP BY contact_id) n ON n.contact_id = s.contact_id AND n.due = s.due_at
WHERE s.status = 'scheduled'
"""
_REVIEW_SQL = "SELECT DISTINCT contact_id FROM step WHERE status = 'needs_review' {where}"


def _as_dt(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def load_rows(db, call_ids: list[int] | None = None) -> list[BoardRow]:
    """All board rows, or only the rows for the given calls (for in-place updates)."""
    params: dict = {}
    call_where = ""
    if call_ids is not None:
        if not call_ids:
            return []
        call_where = "AND c.id IN :ids"
        params["ids"] = list(call_ids)
    with db.engine.connect() as conn:
        call_stmt = sa.text(_CALLS_SQL.format(where=call_where))
        if call_ids is not None:
            call_stmt = call_stmt.bindparams(sa.bindparam("ids", expanding=True))
        calls = conn.execute(call_stmt, params).all()
        contact_ids = sorted({row[2] for row in calls if row[2] is not None})
        if call_ids is None:
            contact_filter, step_filter, first_filter, cparams = "", "", "", {}
        else:
            contact_filter = "WHERE id IN :cids"
            step_filter = "AND contact_id IN :cids"
            first_filter = "AND call_id IN :ids"
            cparams = {"cids": contact_ids or [-1], "ids": list(call_ids)}

        def run(sql: str, filter_text: str, names: tuple[str, ...]):
            stmt = sa.text(sql.format(where=filter_text))
            for name in names:
                stmt = stmt.bindparams(sa.bindparam(name, expanding=True))
            return conn.execute(stmt, {k: v for k, v in cparams.items() if k in names}).all()

        expanding = ("cids",) if call_ids is not None else ()
        contacts = {r[0]: r for r in run(_CONTACTS_SQL, contact_filter, expanding)}
        first = {r[0]: r for r in run(_FIRST_TEXT_SQL, first_filter,
                                      ("ids",) if call_ids is not None else ())}
        next_steps: dict = {}
        for contact_id, name, due in run(_NEXT_STEP_SQL, step_filter, expanding):
            next_steps.setdefault(contact_id, (name, _as_dt(due)))
        review = {r[0] for r in run(_REVIEW_SQL, step_filter, expanding)}

    rows = []
    for (call_id, call_sid, contact_id, started, caller, dialed, lo_name, seconds, intent, source, outcome,
         detail, voicemail) in calls:
        contact = contacts.get(contact_id)
        text = first.get(call_id)
        nxt = next_steps.get(contact_id)
        rows.append(BoardRow(
            call_id=call_id, call_sid=call_sid, contact_id=contact_id, started_at=_as_dt(started),
            caller=caller or "", caller_name=(contact[1] if contact else "") or "",
            dialed=dialed or "", lo_name=lo_name, seconds=seconds, intent=intent,
            lead_source=source, outcome=outcome, call_detail=detail,
            contact_status=contact[2] if contact else "", halt_reason=contact[3] if contact else "",
            opted_out=bool(contact[4]) if contact else False,
            do_not_contact=bool(contact[5]) if contact else False,
            first_text_status=text[1] if text else "", first_text_delivery=text[2] if text else "",
            first_text_detail=text[3] if text else "",
            next_step_name=nxt[0] if nxt else "", next_step_due=nxt[1] if nxt else None,
            needs_review=contact_id in review, voicemail=bool(voicemail),
        ))
    return rows


def calls_for_contact(db, contact_id: int) -> list[int]:
    with db.engine.connect() as conn:
        return [r[0] for r in conn.execute(
            sa.text("SELECT id FROM call WHERE contact_id = :cid"), {"cid": contact_id})]
