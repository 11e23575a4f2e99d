"""Database tables (SQLModel on SQLite). Times are stored as UTC and read back as aware datetimes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; SQLite keeps naive UTC text."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; pass an aware one")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def _dt(**kwargs):
    return Field(sa_type=UTCDateTime, **kwargs)


# Intent buckets, step statuses and task priorities, spelled as the export shows them.
INTENTS = ("accidental", "inquiry", "hot")
STEP_STATUSES = ("scheduled", "sending", "sent", "failed", "cancelled", "skipped", "needs_review")
STEP_OPEN = ("scheduled",)
PRIORITIES = ("low", "medium", "high")


class Meta(SQLModel, table=True):
    key: str = Field(primary_key=True)
    value: str


class Setting(SQLModel, table=True):
    key: str = Field(primary_key=True)
    value: str  # JSON
    updated_at: datetime = _dt()


class LoanOfficer(SQLModel, table=True):
    __tablename__ = "loan_officer"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    phone: Optional[str] = None  # forwarding phone, E.164
    email: Optional[str] = None
    senior: bool = False
    active: bool = True
    hubspot_owner_id: Optional[str] = None
    recording_file: Optional[str] = None  # relative to the data folder
    recording_token: Optional[str] = None  # secret part of the public recording URL
    last_assigned_at: Optional[datetime] = _dt(default=None)


class Route(SQLModel, table=True):
    """One number the brokerage owns: the LO who takes its calls and the lead source it carries."""

    id: Optional[int] = Field(default=None, primary_key=True)
    dialed: str = Field(index=True, unique=True)  # E.164
    provider: str = "twilio"
    lo_id: Optional[int] = Field(default=None, foreign_key="loan_officer.id")
    lead_source: Optional[str] = None
    label: Optional[str] = None


class Contact(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    phone: str = Field(index=True, unique=True)  # E.164
    phone_extension: Optional[str] = None
    first_name: Optional[str] = None
    last_name: Optional[str] = None
    email: Optional[str] = None
    lead_source: str = "missed_call_inbound"
    loan_purpose: Optional[str] = None  # purchase or refi
    intent: Optional[str] = None
    status: str = "open"  # open, contacted, replied, opted_out, do_not_contact, paused
    halt_reason: Optional[str] = None
    halted_at: Optional[datetime] = _dt(default=None)
    paused: bool = False
    opted_out: bool = False
    opted_out_at: Optional[datetime] = _dt(default=None)
    do_not_contact: bool = False
    dnc_reason: Optional[str] = None
    sms_capable: Optional[bool] = None  # False once a carrier reports a landline
    consent_sms: Optional[bool] = None
    consent_sms_source: Optional[str] = None
    consent_sms_at: Optional[datetime] = _dt(default=None)
    consent_voicemail: Optional[bool] = None
    consent_voicemail_source: Optional[str] = None
    consent_voicemail_at: Optional[datetime] = _dt(default=None)
    consent_email: Optional[bool] = None
    consent_email_source: Optional[str] = None
    consent_email_at: Optional[datetime] = _dt(default=None)
    lo_id: Optional[int] = Field(default=None, foreign_key="loan_officer.id")
    lo_name: Optional[str] = None
    notes: str = ""
    time_zone: Optional[str] = None
    hubspot_id: Optional[str] = None
    hubspot_sync: str = ""  # "", pending, synced, failed
    hubspot_error: Optional[str] = None
    hubspot_synced_at: Optional[datetime] = _dt(default=None)
    last_call_at: Optional[datetime] = _dt(default=None)
    last_inbound_at: Optional[datetime] = _dt(default=None)
    created_at: datetime = _dt()
    updated_at: datetime = _dt()

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class Call(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("provider", "call_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    provider: str  # twilio, ringcentral
    call_id: str  # CallSid or telephonySessionId
    contact_id: Optional[int] = Field(default=None, foreign_key="contact.id", index=True)
    caller_raw: str = ""
    caller: Optional[str] = None  # E.164, None when withheld or invalid
    caller_extension: Optional[str] = None
    dialed: str = ""
    direction: str = "inbound"
    flow: str = "forward"  # dial (our TwiML dialed an LO), voicemail (no LO phone), forward
    started_at: datetime = _dt(index=True)
    ended_at: Optional[datetime] = _dt(default=None)
    seconds: Optional[int] = None
    call_status: Optional[str] = None
    dial_status: Optional[str] = None
    dial_action_at: Optional[datetime] = _dt(default=None)
    screened: bool = False  # the LO was asked to press 1 before the call connected
    lo_accepted: bool = False  # the LO pressed 1 (a voicemail greeting cannot)
    outcome: str = "pending"  # pending, missed, answered, ignored
    intent: Optional[str] = None
    lead_source: Optional[str] = None
    lo_id: Optional[int] = None
    lo_name: Optional[str] = None
    repeat_caller: bool = False
    decided_at: Optional[datetime] = _dt(default=None)
    detail: Optional[str] = None  # why the call was handled the way it was
    recording_sid: Optional[str] = None
    recording_url: Optional[str] = None
    recording_seconds: Optional[int] = None
    transcription: Optional[str] = None
    updated_at: datetime = _dt()


class Task(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    call_id: Optional[int] = Field(default=None, foreign_key="call.id")
    type: str = "call"
    title: str = ""
    body: str = ""
    due_at: datetime = _dt()
    assignee: str = "Coordinator"
    lo_id: Optional[int] = None
    priority: str = "high"
    status: str = "open"  # open, done, cancelled
    created_at: datetime = _dt()
    completed_at: Optional[datetime] = _dt(default=None)
    hubspot_task_id: Optional[str] = None
    hubspot_sync: str = ""
    hubspot_error: Optional[str] = None


class Step(SQLModel, table=True):
    """One planned automated action of a follow-up sequence."""

    # Covers the board's join to each call's first text, so it needs no table reads.
    __table_args__ = (sa.Index("ix_step_first_text", "call_id", "status", "delivery_status",
                               "detail", sqlite_where=sa.text("name = 'first_text'")),)

    id: Optional[int] = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    call_id: Optional[int] = Field(default=None, foreign_key="call.id", index=True)
    sequence: str = ""  # which plan it came from: accidental, inquiry, hot
    position: int = 0
    name: str = ""  # first_text, voicemail_drop, email_4h, sms_24h, nurture_3d, nurture_7d
    channel: str = "sms"  # sms, voicemail, email
    template: str = ""
    due_at: datetime = _dt(index=True)
    planned_at: Optional[datetime] = _dt(default=None)  # due time before quiet hours moved it
    immediate: bool = False  # the first reply to a call the borrower just made
    status: str = Field(default="scheduled", index=True)
    detail: Optional[str] = None
    attempts: int = 0
    sent_at: Optional[datetime] = _dt(default=None)
    provider: Optional[str] = None
    provider_id: Optional[str] = Field(default=None, index=True)
    delivery_status: Optional[str] = None
    error_code: Optional[str] = None
    created_at: datetime = _dt()
    updated_at: datetime = _dt()


class Message(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    contact_id: Optional[int] = Field(default=None, foreign_key="contact.id", index=True)
    step_id: Optional[int] = Field(default=None, foreign_key="step.id")
    direction: str = "out"  # out, in
    channel: str = "sms"
    kind: str = "automated"  # automated, confirmation, help, manual, reply
    provider: str = ""
    provider_id: Optional[str] = Field(default=None, index=True, unique=True)
    from_number: str = ""
    to_number: str = ""
    body: str = ""
    status: str = ""  # queued, sent, delivered, undelivered, failed, received, sandbox
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    flagged: bool = False
    flag_reason: Optional[str] = None
    created_at: datetime = _dt()
    updated_at: datetime = _dt()


class InboundEvent(SQLModel, table=True):
    """Every webhook request as it arrived, stored before the app responds to it."""

    __tablename__ = "inbound_event"

    id: Optional[int] = Field(default=None, primary_key=True)
    received_at: datetime = _dt(index=True)
    provider: str
    endpoint: str
    content_type: str = ""
    body: str = ""
    dedup_key: Optional[str] = Field(default=None, index=True)
    outcome: str = "received"  # received, accepted, duplicate, rejected, failed
    http_status: Optional[int] = None
    detail: Optional[str] = None
    attempts: int = 0  # processing attempts; failed events are retried a few times


class ProcessedKey(SQLModel, table=True):
    """Idempotency keys: a (CallSid, status) or MessageSid is acted on once."""

    __tablename__ = "processed_key"

    key: str = Field(primary_key=True)
    event_id: Optional[int] = None
    processed_at: datetime = _dt()


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_event"

    id: Optional[int] = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    at: datetime = _dt()
    kind: str  # call, text_out, text_in, drop, email, task, opt_out, opt_in, pause, resume, note, ...
    summary: str
    call_id: Optional[int] = None
    step_id: Optional[int] = None
    message_id: Optional[int] = None


class OptOutEntry(SQLModel, table=True):
    """The opt-out ledger. Keyed by phone, not contact, so it outlives contact deletion."""

    __tablename__ = "opt_out_entry"

    id: Optional[int] = Field(default=None, primary_key=True)
    phone: str = Field(index=True)
    email: Optional[str] = Field(default=None, index=True)
    channel: str = "all"  # sms, voicemail, email, all
    action: str = "opt_out"  # opt_out, opt_in
    source: str = ""  # keyword, sentence, optout_type, error_21610, manual, import
    text: Optional[str] = None
    flagged: bool = False
    at: datetime = _dt()


class DncEntry(SQLModel, table=True):
    __tablename__ = "dnc_entry"

    id: Optional[int] = Field(default=None, primary_key=True)
    phone: str = Field(index=True, unique=True)
    source: str = "manual"
    reason: Optional[str] = None
    added_at: datetime = _dt()
