"""Coordinator actions on a contact: pause, resume, mark contacted, do-not-contact, notes, delete."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import select

from desktop_app.core import compliance, models, sequences
from desktop_app.core.events import ContactChanged, TaskChanged
from desktop_app.core.timeline import add_event


# A practical check (local part, @, a domain with a dot), not the full RFC 5322 grammar.
EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


class ContactError(ValueError):
    """A contact action that cannot be done; the message says why."""


def _contact(uow, contact_id: int) -> models.Contact:
    contact = uow.session.get(models.Contact, contact_id)
    if contact is None:
        raise ContactError(f"no contact with id {contact_id}")
    return contact


def pause(uow, contact_id: int, now: datetime) -> int:
    return sequences.pause(uow, _contact(uow, contact_id), now)


def resume(uow, ctx, contact_id: int, now: datetime) -> int:
    contact = _contact(uow, contact_id)
    blocked = compliance.block_reason(uow.session, contact, "sms")
    if blocked and "opted out" in blocked:
        raise ContactError(f"cannot resume: the borrower {blocked}. Only the borrower can opt back in.")
    return len(sequences.resume(uow, ctx, contact, now))


def mark_contacted(uow, contact_id: int, now: datetime, note: str = "") -> None:
    """The LO reached the borrower: stop the automation and close the open Call task."""
    contact = _contact(uow, contact_id)
    if contact.status != "opted_out":
        contact.status = "contacted"
    sequences.halt(uow, contact, "marked contacted by the coordinator", now, kind="contacted")
    for task in uow.session.exec(select(models.Task).where(models.Task.contact_id == contact_id)
                                 .where(models.Task.status == "open")):
        task.status = "done"
        task.completed_at = now
        uow.add(task)
        uow.emit(TaskChanged(task.id, contact_id))
    if note.strip():
        add_event(uow, contact_id, "note", note.strip(), now)


def set_do_not_contact(uow, contact_id: int, flag: bool, now: datetime, reason: str = "") -> None:
    contact = _contact(uow, contact_id)
    contact.do_not_contact = flag
    contact.dnc_reason = (reason or "").strip() or None if flag else None
    contact.updated_at = now
    if flag:
        contact.status = "do_not_contact"
        sequences.halt(uow, contact, "do-not-contact flag set", now, kind="dnc")
    else:
        if contact.status == "do_not_contact":
            contact.status = "open"
        if contact.halt_reason and "do-not-contact" in contact.halt_reason:
            contact.halt_reason = None
            contact.halted_at = None
        add_event(uow, contact_id, "dnc", "Do-not-contact flag cleared; resume the contact to plan "
                                          "the follow-up again", now)
    uow.add(contact)
    uow.emit(ContactChanged(contact_id))


def record_manual_opt_out(uow, ctx, contact_id: int, now: datetime, channel: str = "all",
                          note: str = "") -> None:
    from desktop_app.core.messaging import apply_opt_out  # noqa: PLC0415

    contact = _contact(uow, contact_id)
    apply_opt_out(uow, ctx, contact, source="manual", channel=channel, now=now,
                  text=note or "recorded by the coordinator", flagged=False, confirm=False)


def set_consent(uow, contact_id: int, channel: str, granted: bool | None, source: str,
                now: datetime) -> None:
    if channel not in ("sms", "voicemail", "email"):
        raise ContactError(f"unknown consent channel {channel!r}")
    contact = _contact(uow, contact_id)
    setattr(contact, f"consent_{channel}", granted)
    setattr(contact, f"consent_{channel}_source", source if granted is not None else None)
    setattr(contact, f"consent_{channel}_at", now if granted is not None else None)
    contact.updated_at = now
    uow.add(contact)
    words = {True: "given", False: "declined", None: "cleared"}[granted]
    add_event(uow, contact_id, "consent", f"{channel.upper() if channel == 'sms' else channel.capitalize()}"
                                          f" consent {words} ({source})", now)


def update_details(uow, contact_id: int, now: datetime, **fields) -> None:
    allowed = {"first_name", "last_name", "email", "loan_purpose", "notes", "time_zone"}
    contact = _contact(uow, contact_id)
    for key, value in fields.items():
        if key not in allowed:
            raise ContactError(f"{key} cannot be edited here")
        if isinstance(value, str):
            value = value.strip() or None
        if key == "loan_purpose" and value not in (None, "purchase", "refi"):
            raise ContactError("loan purpose must be purchase or refi")
        if key == "email" and value and not EMAIL.fullmatch(value):
            raise ContactError(f"{value!r} is not an email address")
        setattr(contact, key, value if key != "notes" else (value or ""))
    contact.updated_at = now
    uow.add(contact)
    uow.emit(ContactChanged(contact_id))


def delete_contact(uow, contact_id: int) -> None:
    """Delete a contact and its history. The opt-out ledger and DNC list keep the number."""
    session = uow.session
    if session.get(models.Contact, contact_id) is None:
        return
    session.exec(delete(models.TimelineEvent).where(models.TimelineEvent.contact_id == contact_id))
    session.exec(update(models.Message).where(models.Message.contact_id == contact_id)
                 .values(contact_id=None, step_id=None))
    session.exec(delete(models.Step).where(models.Step.contact_id == contact_id))
    session.exec(delete(models.Task).where(models.Task.contact_id == contact_id))
    session.exec(update(models.Call).where(models.Call.contact_id == contact_id)
                 .values(contact_id=None))
    session.exec(delete(models.Contact).where(models.Contact.id == contact_id))
    uow.emit(ContactChanged(contact_id))
