"""Everything the contact detail view shows about one contact, read in one go."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import select

from desktop_app.core import compliance, models, sequences


@dataclass
class ContactDetail:
    contact: models.Contact
    calls: list[models.Call] = field(default_factory=list)
    timeline: list[models.TimelineEvent] = field(default_factory=list)
    steps: list[models.Step] = field(default_factory=list)
    tasks: list[models.Task] = field(default_factory=list)
    ledger: list[models.OptOutEntry] = field(default_factory=list)
    on_dnc_list: models.DncEntry | None = None
    flagged: list[models.Message] = field(default_factory=list)
    sms_block: str | None = None  # why no automated text may go out now, if any

    @property
    def pending_steps(self) -> list[models.Step]:
        return [s for s in self.steps if s.status in sequences.PENDING]

    @property
    def running(self) -> bool:
        return bool(self.pending_steps)

    def consent_text(self, channel: str) -> str:
        contact = self.contact
        granted = getattr(contact, f"consent_{channel}")
        source = getattr(contact, f"consent_{channel}_source")
        at: datetime | None = getattr(contact, f"consent_{channel}_at")
        if granted is None:
            return "not recorded"
        words = "given" if granted else "declined"
        when = f", {at:%Y-%m-%d}" if at else ""
        return f"{words} ({source or 'no source'}{when})"


def load(db, contact_id: int) -> ContactDetail | None:
    with db.read() as session:
        contact = session.get(models.Contact, contact_id)
        if contact is None:
            return None
        detail = ContactDetail(contact=contact)
        detail.calls = list(session.exec(
            select(models.Call).where(models.Call.contact_id == contact_id)
            .order_by(models.Call.started_at.desc())))
        detail.timeline = list(session.exec(
            select(models.TimelineEvent).where(models.TimelineEvent.contact_id == contact_id)
            .order_by(models.TimelineEvent.at.desc(), models.TimelineEvent.id.desc())))
        detail.steps = list(session.exec(
            select(models.Step).where(models.Step.contact_id == contact_id)
            .order_by(models.Step.due_at, models.Step.id)))
        detail.tasks = list(session.exec(
            select(models.Task).where(models.Task.contact_id == contact_id)
            .order_by(models.Task.created_at.desc())))
        detail.ledger = list(session.exec(
            select(models.OptOutEntry).where(models.OptOutEntry.phone == contact.phone)
            .order_by(models.OptOutEntry.at.desc())))
        detail.on_dnc_list = compliance.on_dnc_list(session, contact.phone)
        detail.flagged = list(session.exec(
            select(models.Message).where(models.Message.contact_id == contact_id)
            .where(models.Message.flagged).order_by(models.Message.created_at.desc())))
        detail.sms_block = compliance.block_reason(session, contact, "sms")
        return detail
