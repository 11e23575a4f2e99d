"""Rows of the live board: one per missed call, as plain tuples read in one query.

A board row is a tuple (indexes below), so 100,000 rows load in a fraction of a second and
cost little memory. The helpers here turn a row into the words the board shows. The query
has no ORDER BY, because walking the started_at index costs a random read per row, and
sorting the nearly ordered rows in Python is faster.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

from desktop_app.core import phones

# Row tuple indexes.
(R_ID, R_CONTACT, R_STARTED, R_CALLER, R_DIALED, R_LO, R_SECONDS, R_INTENT, R_SOURCE,
 R_OUTCOME, R_DETAIL, R_VOICEMAIL, R_FIRST, R_LAST, R_STATUS, R_HALT, R_OPTED_OUT,
 R_TEXT_STATUS, R_TEXT_DELIVERY, R_TEXT_DETAIL) = range(20)

STEP_WORDS = {
    "first_text": "First text", "voicemail_drop": "Voicemail drop", "email_4h": "Email",
    "sms_24h": "Day-after text", "nurture_3d": "Nurture text", "nurture_7d": "Nurture email",
}
SOURCE_WORDS = {
    "missed_call_inbound": "Inbound call", "inbound_sms": "Inbound text", "zillow": "Zillow",
    "google_ads": "Google Ads", "client_referral": "Client referral", "past_client": "Past client",
    "website": "Website", "realtor_referral": "Realtor referral", "facebook": "Facebook",
}
STATUS_WORDS = {
    "open": "Open", "contacted": "Contacted", "replied": "Replied", "opted_out": "Opted out",
    "do_not_contact": "Do not contact", "paused": "Paused",
}

_ROWS_SQL = """
SELECT c.id, c.contact_id, c.started_at, COALESCE(c.caller, c.caller_raw, ''),
       COALESCE(c.dialed, ''), COALESCE(c.lo_name, ''), c.seconds, c.intent,
       COALESCE(c.lead_source, ''), c.outcome, COALESCE(c.detail, ''),
       c.recording_url IS NOT NULL,
       COALESCE(k.first_name, ''), COALESCE(k.last_name, ''), COALESCE(k.status, ''),
       COALESCE(k.halt_reason, ''), COALESCE(k.opted_out, 0),
       COALESCE(s.status, ''), COALESCE(s.delivery_status, ''), COALESCE(s.detail, '')
FROM call c
LEFT JOIN contact k ON k.id = c.contact_id
LEFT JOIN step s ON s.call_id = c.id AND s.name = 'first_text'
WHERE c.outcome IN ('missed', 'pending') AND c.direction = 'inbound' {where}
"""
_NEXT_STEPS_SQL = """
SELECT contact_id, name, MIN(due_at) FROM step
WHERE status = 'scheduled' {where}
GROUP BY contact_id
"""
_REVIEW_SQL = "SELECT DISTINCT contact_id FROM step WHERE status = 'needs_review' {where}"


def _placeholders(values) -> str:
    return ",".join("?" * len(values))


class BoardData:
    """The rows plus the per-contact facts kept apart (next step, needs review)."""

    def __init__(self, rows: list[tuple], next_steps: dict[int, tuple[str, str]],
                 review: set[int]):
        self.rows = rows
        self.next_steps = next_steps
        self.review = review


def load(db, call_ids: list[int] | None = None) -> BoardData:
    """Load all board rows, or only those of the given calls (for in-place updates)."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if call_ids is None:
            rows = cursor.execute(_ROWS_SQL.format(where="")).fetchall()
            next_rows = cursor.execute(_NEXT_STEPS_SQL.format(where="")).fetchall()
            review = {r[0] for r in cursor.execute(_REVIEW_SQL.format(where=""))}
        else:
            ids = list(call_ids) or [-1]
            rows = cursor.execute(_ROWS_SQL.format(where=f"AND c.id IN ({_placeholders(ids)})"),
                                  ids).fetchall()
            contacts = sorted({r[R_CONTACT] for r in rows if r[R_CONTACT] is not None}) or [-1]
            where = f"AND contact_id IN ({_placeholders(contacts)})"
            next_rows = cursor.execute(_NEXT_STEPS_SQL.format(where=where), contacts).fetchall()
            review = {r[0] for r in cursor.execute(_REVIEW_SQL.format(where=where), contacts)}
        cursor.close()
    finally:
        raw.close()
    next_steps = {contact_id: (name, due) for contact_id, name, due in next_rows}
    return BoardData(rows, next_steps, review)


def call_id_for(db, provider_call_id: str) -> int | None:
    """Return the board's call id for a provider's CallSid or session id."""
    raw = db.engine.raw_connection()
    try:
        row = raw.execute("SELECT id FROM call WHERE call_id = ?", (provider_call_id,)).fetchone()
        return row[0] if row else None
    finally:
        raw.close()


def calls_for_contact(db, contact_id: int) -> list[int]:
    raw = db.engine.raw_connection()
    try:
        return [r[0] for r in raw.execute("SELECT id FROM call WHERE contact_id = ?", (contact_id,))]
    finally:
        raw.close()


@lru_cache(maxsize=4096)
def parse_time(text: str | None) -> datetime | None:
    """Parse a stored UTC time (SQLite text) into an aware datetime."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def time_key(moment: datetime) -> str:
    """Format a time as the stored UTC text, so rows compare by plain string comparison."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def source_text(source: str) -> str:
    return SOURCE_WORDS.get(source, source.replace("_", " ").capitalize())


def caller_name(row: tuple) -> str:
    return f"{row[R_FIRST]} {row[R_LAST]}".strip()


def caller_text(row: tuple) -> str:
    caller = row[R_CALLER]
    number = phones.format_national(caller) if caller.startswith("+") else (caller or "Unknown")
    name = caller_name(row)
    return f"{name} \u00b7 {number}" if name else number


def dialed_text(row: tuple) -> str:
    dialed = row[R_DIALED]
    return phones.format_national(dialed) if dialed.startswith("+") else dialed


def status_text(row: tuple, needs_review: bool) -> str:
    if row[R_OUTCOME] == "pending":
        return "Call in progress"
    if row[R_CONTACT] is None:
        return "No follow-up: " + (row[R_DETAIL] or "no usable number")
    if needs_review:
        return "Needs review"
    status, halt = row[R_STATUS], row[R_HALT]
    if halt and status == "open":
        return f"Halted: {halt}"
    return STATUS_WORDS.get(status, status.capitalize())


def status_tooltip(row: tuple, needs_review: bool) -> str:
    text = status_text(row, needs_review)
    halt = row[R_HALT]
    return f"{text} (automation halted: {halt})" if halt and not text.startswith("Halted") else text


def first_text_text(row: tuple) -> str:
    status, delivery, detail = row[R_TEXT_STATUS], row[R_TEXT_DELIVERY], row[R_TEXT_DETAIL]
    if not status:
        return "\u2014" if row[R_INTENT] == "accidental" else ""
    if status == "sent":
        if delivery == "sandbox":
            return "Sandbox: recorded, not sent"
        return (delivery or "sent").capitalize()
    if status == "scheduled":
        return "Scheduled"
    if status in ("queued", "sending"):
        return "Sending\u2026"
    if status == "needs_review":
        return "Needs review"
    words = {"failed": "Failed", "cancelled": "Cancelled", "skipped": "Skipped"}.get(
        status, status.capitalize())
    return f"{words}: {detail}" if detail else words


def next_step_text(name: str, due: datetime, now: datetime) -> str:
    label = STEP_WORDS.get(name, name.replace("_", " "))
    return f"{label} {countdown(due, now)}"


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
        return f"in {hours}h {minutes:02d}m"
    return f"in {hours // 24} d"
