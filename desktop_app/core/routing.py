"""Intent from seconds on the line, and which loan officer gets the call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from desktop_app.core import models

COORDINATOR = "Coordinator"
DEFAULT_LEAD_SOURCE = "missed_call_inbound"
INTENT_RANK = {"accidental": 0, "inquiry": 1, "hot": 2}


@dataclass(frozen=True)
class Thresholds:
    accidental_max: int = 3
    inquiry_max: int = 20
    past_client_hot_from: int = 4
    past_client_sources: tuple[str, ...] = ("past_client",)

    @classmethod
    def from_settings(cls, settings) -> "Thresholds":
        return cls(
            accidental_max=settings.get("intent.accidental_max_seconds"),
            inquiry_max=settings.get("intent.inquiry_max_seconds"),
            past_client_hot_from=settings.get("intent.past_client_hot_from_seconds"),
            past_client_sources=tuple(settings.get("intent.past_client_sources")),
        )


def classify(seconds: int | None, thresholds: Thresholds, lead_source: str | None = None) -> str:
    """Map seconds on the line to accidental, inquiry or hot. Missing seconds count as 0."""
    seconds = max(0, int(seconds or 0))
    if seconds <= thresholds.accidental_max:
        return "accidental"
    if lead_source in thresholds.past_client_sources and seconds >= thresholds.past_client_hot_from:
        return "hot"
    if seconds <= thresholds.inquiry_max:
        return "inquiry"
    return "hot"


def higher_intent(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if INTENT_RANK[a] >= INTENT_RANK[b] else b


@dataclass(frozen=True)
class Assignment:
    lo_id: int | None
    name: str
    phone: str | None
    reason: str


def route_for(session: Session, dialed: str) -> models.Route | None:
    return session.exec(select(models.Route).where(models.Route.dialed == dialed)).first()


def lead_source_for(session: Session, dialed: str) -> str:
    route = route_for(session, dialed)
    if route is not None and route.lead_source:
        return route.lead_source
    return DEFAULT_LEAD_SOURCE


def _round_robin(candidates: list[models.LoanOfficer]) -> models.LoanOfficer:
    """The LO assigned least recently (never-assigned first, then by id)."""
    return min(candidates, key=lambda lo: (lo.last_assigned_at is not None,
                                           lo.last_assigned_at or datetime.min, lo.id))


def pick_lo(session: Session, dialed: str, intent: str | None, now: datetime,
            remember: bool = True) -> Assignment:
    """Choose the LO for a call to `dialed`.

    The routing table's LO for the number wins; general numbers rotate among active LOs;
    hot calls go to a senior LO (the number's own LO when senior). With no active LO the
    work goes to the coordinator.
    """
    active = list(session.exec(select(models.LoanOfficer).where(models.LoanOfficer.active)))
    if not active:
        return Assignment(None, COORDINATOR, None, "no loan officers are set up")

    route = route_for(session, dialed)
    routed = None
    if route is not None and route.lo_id is not None:
        routed = next((lo for lo in active if lo.id == route.lo_id), None)

    chosen: models.LoanOfficer
    reason: str
    if intent == "hot":
        seniors = [lo for lo in active if lo.senior]
        if routed is not None and routed.senior:
            chosen, reason = routed, "hot call: the number's own LO is senior"
        elif seniors:
            chosen, reason = _round_robin(seniors), "hot call: next senior LO in rotation"
        elif routed is not None:
            chosen, reason = routed, "hot call, but no senior LO is set up: the number's LO"
        else:
            chosen, reason = _round_robin(active), "hot call, no senior LO: next LO in rotation"
    elif routed is not None:
        chosen, reason = routed, "the routing table's LO for the number dialed"
    else:
        if route is not None and route.lo_id is not None:
            reason = "the number's LO is inactive: next LO in rotation"
        else:
            reason = "general number: next LO in rotation"
        chosen = _round_robin(active)

    if remember:
        chosen.last_assigned_at = now
        session.add(chosen)
    return Assignment(chosen.id, chosen.name, chosen.phone, reason)


def forwarding_phone(session: Session, dialed: str, now: datetime) -> Assignment:
    """The LO whose phone the voice webhook rings for `dialed`, before the intent is known.

    The rotation does not advance here; it advances when a missed call is assigned.
    """
    return pick_lo(session, dialed, None, now, remember=False)
