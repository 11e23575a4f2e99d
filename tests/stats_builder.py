"""Known calls, contacts, texts, tasks and opt-outs written straight into a store, for the Numbers tests."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from desktop_app.core import models
from desktop_app.core.stats import Period

ZONE = "America/New_York"
NEW_YORK = ZoneInfo(ZONE)
# Monday 2 March to Sunday 8 March 2026; US daylight saving starts on Sunday 8 March at 2 a.m.
WEEK = Period.dates(date(2026, 3, 2), date(2026, 3, 8), NEW_YORK)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


class Builder:
    """Writes contacts, calls, steps, messages, tasks and opt-outs straight into the store."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.numbers = iter(range(100, 200))

    def contact(self, source: str) -> int:
        phone = f"+1212555{next(self.numbers):04d}"
        now = utc("2026-03-01 00:00")

        def add(uow):
            contact = uow.add(models.Contact(phone=phone, lead_source=source, created_at=now,
                                             updated_at=now))
            uow.flush()
            return contact.id

        return self.ctx.db.write(add)

    def call(self, contact_id: int | None, at: str, outcome: str = "missed",
             first_text_after: float | None = None, first_text_status: str = "sent") -> int:
        started = utc(at)

        def add(uow):
            source = None
            if contact_id is not None:
                source = uow.session.get(models.Contact, contact_id).lead_source
            call = uow.add(models.Call(
                provider="twilio", call_id="CA" + secrets.token_hex(16), contact_id=contact_id,
                caller=None, dialed="+12125550100", started_at=started, outcome=outcome,
                lead_source=source, updated_at=started))
            uow.flush()
            if first_text_after is not None:
                sent = started + timedelta(seconds=first_text_after)
                uow.add(models.Step(
                    contact_id=contact_id, call_id=call.id, name="first_text", channel="sms",
                    due_at=started, status=first_text_status,
                    sent_at=sent if first_text_status == "sent" else None,
                    created_at=started, updated_at=sent))
            return call.id

        return self.ctx.db.write(add)

    def message(self, contact_id: int, at: str, body: str, direction: str = "in",
                kind: str = "reply", status: str = "received") -> None:
        when = utc(at)
        self.ctx.db.write(lambda uow: uow.add(models.Message(
            contact_id=contact_id, direction=direction, kind=kind, body=body, status=status,
            created_at=when, updated_at=when)))

    def task_done(self, contact_id: int, at: str) -> None:
        when = utc(at)
        self.ctx.db.write(lambda uow: uow.add(models.Task(
            contact_id=contact_id, due_at=when, status="done", created_at=when,
            completed_at=when)))

    def marked_contacted(self, contact_id: int, at: str) -> None:
        self.ctx.db.write(lambda uow: uow.add(models.TimelineEvent(
            contact_id=contact_id, at=utc(at), kind="contacted", summary="Marked contacted")))

    def opt_out(self, contact_id: int, at: str) -> None:
        def add(uow):
            phone = uow.session.get(models.Contact, contact_id).phone
            uow.add(models.OptOutEntry(phone=phone, source="keyword", text="STOP", at=utc(at)))

        self.ctx.db.write(add)


def fill_week(ctx) -> dict[str, int]:
    """Write nine missed calls from seven callers in WEEK, plus calls that must not count."""
    b = Builder(ctx)
    a = b.contact("zillow")  # Monday 9:00, texted in 20 s, replied
    b.call(a, "2026-03-02 14:00", first_text_after=20)
    b.message(a, "2026-03-02 14:10", "Yes please call me at 4")
    b.call(a, "2026-03-02 19:00", outcome="answered")

    p = b.contact("past_client")  # Monday 17:30, texted in 30 s, then STOP
    b.call(p, "2026-03-02 22:30", first_text_after=30)
    b.message(p, "2026-03-02 23:30", "STOP")
    b.opt_out(p, "2026-03-02 23:30")

    c = b.contact("zillow")  # Monday 23:50, first text at 00:10 the next local day
    b.call(c, "2026-03-03 04:50", first_text_after=1200)

    d = b.contact("google_ads")  # Wednesday 10:00 accidental, task done; Thursday texted
    b.call(d, "2026-03-04 15:00")
    b.task_done(d, "2026-03-04 15:40")
    b.call(d, "2026-03-05 16:00", first_text_after=15)

    b.call(None, "2026-03-06 13:00")  # Friday 8:00, caller number unusable

    e = b.contact("client_referral")  # Sunday 3:30 EDT, just after the clocks changed
    b.call(e, "2026-03-08 07:30", first_text_after=10)
    b.message(e, "2026-03-08 12:00", "Thanks, what rates do you have?")

    g = b.contact("website")  # Tuesday 10:00, first text failed, marked contacted
    b.call(g, "2026-03-03 15:00", first_text_after=5, first_text_status="failed")
    b.marked_contacted(g, "2026-03-03 20:00")

    h = b.contact("website")  # Wednesday 15:00, a manual text from the LO
    b.call(h, "2026-03-04 20:00")
    b.message(h, "2026-03-04 21:00", "Hi, this is Dana", direction="out", kind="manual",
              status="delivered")

    f = b.contact("zillow")  # outside the week on both sides
    b.call(f, "2026-03-01 23:00", first_text_after=5)  # Sunday 18:00 the week before
    b.call(f, "2026-03-09 14:00", first_text_after=5)
    return {"a": a, "p": p, "c": c, "d": d, "e": e, "g": g, "h": h, "f": f}
