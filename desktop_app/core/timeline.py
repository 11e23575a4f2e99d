"""The contact's timeline: one row per thing that happened, for the contact detail view."""

from __future__ import annotations

from datetime import datetime

from desktop_app.core import models
from desktop_app.core.events import ContactChanged


def add_event(uow, contact_id: int | None, kind: str, summary: str, at: datetime, *,
              call_id: int | None = None, step_id: int | None = None,
              message_id: int | None = None) -> models.TimelineEvent | None:
    if contact_id is None:
        return None
    event = models.TimelineEvent(contact_id=contact_id, kind=kind, summary=summary, at=at,
                                 call_id=call_id, step_id=step_id, message_id=message_id)
    uow.add(event)
    uow.emit(ContactChanged(contact_id))
    return event
