"""Follow-up steps that are still to be sent, counted for the question asked before quitting."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import select

from desktop_app.core import models

WAITING = ("scheduled",)
IN_FLIGHT = ("queued", "sending")


@dataclass(frozen=True)
class PendingWork:
    scheduled: int  # steps waiting for their due time
    in_flight: int  # steps handed to the sending queue and not finished yet

    @property
    def total(self) -> int:
        return self.scheduled + self.in_flight


def pending_work(ctx) -> PendingWork:
    """Count the steps not sent yet, from the store and the sending queue."""
    with ctx.db.read() as session:
        rows = session.exec(select(models.Step.status, func.count(models.Step.id))
                            .where(models.Step.status.in_(WAITING + IN_FLIGHT))
                            .group_by(models.Step.status)).all()
    counts = dict(rows)
    in_flight = sum(counts.get(status, 0) for status in IN_FLIGHT)
    outbox = getattr(ctx, "outbox", None)
    if outbox is not None:
        in_flight = max(in_flight, outbox.pending())
    return PendingWork(scheduled=sum(counts.get(s, 0) for s in WAITING), in_flight=in_flight)


def quit_warning(ctx, work: PendingWork) -> str | None:
    """Describe what quitting does to the pending steps, or return None when nothing is pending."""
    if work.total == 0:
        return None
    parts = []
    if work.scheduled:
        parts.append(f"{work.scheduled} follow-up step{'s are' if work.scheduled != 1 else ' is'} "
                     "scheduled")
    if work.in_flight:
        parts.append(f"{work.in_flight} {'are' if work.in_flight != 1 else 'is'} being sent now")
    catch_up = ctx.settings.get("sequence.catch_up_minutes")
    return (f"{' and '.join(parts).capitalize()}. Nothing is sent while the app is closed. When it "
            f"starts again, steps that came due meanwhile are sent if they are at most "
            f"{catch_up} minutes late (Settings: sequence.catch_up_minutes); later ones are "
            "skipped, and a step caught mid-send is flagged for review instead of being sent "
            "twice. Webhooks for calls missed while it is closed cannot reach it.")
