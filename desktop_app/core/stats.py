"""The Numbers window's figures: speed to first text, same-day contact, replies, opt-outs, call times."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from desktop_app.core import compliance

log = logging.getLogger(__name__)

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PRESET_DAYS = (7, 30, 90)
UNKNOWN_SOURCE = "unknown"


@dataclass(frozen=True)
class Period:
    """A half-open time range [start, end) of aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Period needs aware datetimes")
        if self.end <= self.start:
            raise ValueError(f"Period end {self.end.isoformat()} is not after its start "
                             f"{self.start.isoformat()}")

    @classmethod
    def last_days(cls, days: int, now: datetime, zone: ZoneInfo) -> Period:
        """Today and the days - 1 local days before it, up to now."""
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        today = now.astimezone(zone).date()
        return cls(_local_midnight(today - timedelta(days=days - 1), zone), now)

    @classmethod
    def dates(cls, first: date, last: date, zone: ZoneInfo) -> Period:
        """Whole local days from first to last, both included."""
        if last < first:
            raise ValueError(f"the range ends ({last.isoformat()}) before it starts "
                             f"({first.isoformat()}); swap the dates")
        return cls(_local_midnight(first, zone), _local_midnight(last + timedelta(days=1), zone))


@dataclass(frozen=True)
class SourceRate:
    """Replies among texted callers from one lead source."""

    source: str
    texted: int
    replied: int

    @property
    def rate(self) -> float | None:
        return self.replied / self.texted if self.texted else None


@dataclass
class Numbers:
    """Every figure for one period. Rates are fractions in [0, 1], None when nothing to divide by."""

    period: Period
    time_zone: str
    missed_calls: int = 0
    callers: int = 0  # distinct contacts with a missed call in the period
    texted_calls: int = 0  # missed calls whose own first text was sent
    first_text_median_seconds: float | None = None
    first_text_p95_seconds: float | None = None
    contacted_same_day: int = 0
    texted_callers: int = 0
    replied_callers: int = 0
    opted_out_callers: int = 0
    reply_by_source: list[SourceRate] = field(default_factory=list)
    # hour_of_week[weekday][hour]: missed calls, Monday = 0, in the brokerage's time zone.
    hour_of_week: list[list[int]] = field(default_factory=lambda: [[0] * 24 for _ in range(7)])
    compute_seconds: float = 0.0

    @property
    def same_day_share(self) -> float | None:
        return self.contacted_same_day / self.callers if self.callers else None

    @property
    def reply_rate(self) -> float | None:
        return self.replied_callers / self.texted_callers if self.texted_callers else None

    @property
    def opt_out_rate(self) -> float | None:
        return self.opted_out_callers / self.texted_callers if self.texted_callers else None


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, dtime(0, 0), tzinfo=zone).astimezone(timezone.utc)


def _db_time(value: datetime) -> str:
    # The text SQLAlchemy's SQLite DateTime stores, so string comparison orders correctly.
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse(value) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    weight = position - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * weight


def duration_text(seconds: float | None) -> str:
    """Format seconds for a person: "42 s", "3 min 05 s", "2 h 10 min", or an em dash for None."""
    if seconds is None:
        return "\u2014"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def percent_text(fraction: float | None, digits: int = 0) -> str:
    return "\u2014" if fraction is None else f"{fraction * 100:.{digits}f}%"


# -- queries ---------------------------------------------------------------------------------

_MISSED = ("c.direction = 'inbound' AND c.outcome = 'missed' "
           "AND c.started_at >= :start AND c.started_at < :end")

# Seconds from each missed call's start to the moment its own first text was handed to the
# provider. Calls with no sent first text (accidental, blocked, failed, still queued) drop out.
_FIRST_TEXT_SQL = f"""
SELECT (julianday(s.sent_at) - julianday(c.started_at)) * 86400.0 AS seconds
FROM call c JOIN step s ON s.call_id = c.id
WHERE {_MISSED} AND s.name = 'first_text' AND s.status = 'sent' AND s.sent_at IS NOT NULL
ORDER BY seconds
"""

# Missed calls per UTC quarter hour. Every time zone's offset is a multiple of 15 minutes,
# so each quarter hour falls in exactly one local hour.
_QUARTERS_SQL = f"""
SELECT strftime('%Y-%m-%d %H', c.started_at) AS hour,
       CAST(strftime('%M', c.started_at) AS INTEGER) / 15 AS quarter, COUNT(*)
FROM call c WHERE {_MISSED}
GROUP BY hour, quarter
"""

# One row per caller: the first missed call in the period (its time and lead source), the
# earliest moment the caller was contacted at or after it, whether any text went out, and
# the first opt-out. SQLite returns a bare column (lead_source) from the row that MIN()
# picked, which is documented behaviour. The unary + keeps SQLite off ix_step_status, which
# it otherwise prefers to ix_step_contact_id and then scans every sent step per caller.
_CALLERS_SQL = f"""
WITH anchor AS (
    SELECT c.contact_id AS contact_id, MIN(c.started_at) AS at, c.lead_source AS call_source
    FROM call c WHERE {_MISSED} AND c.contact_id IS NOT NULL
    GROUP BY c.contact_id
)
SELECT a.contact_id, a.at, COALESCE(a.call_source, ct.lead_source, '{UNKNOWN_SOURCE}'),
    (SELECT MIN(s.sent_at) FROM step s WHERE s.contact_id = a.contact_id AND s.channel = 'sms'
        AND +s.status = 'sent' AND s.sent_at >= a.at) AS first_sms,
    (SELECT MIN(m.created_at) FROM message m WHERE m.contact_id = a.contact_id
        AND m.direction = 'out' AND m.kind = 'manual' AND m.status NOT IN ('failed', 'undelivered')
        AND m.created_at >= a.at) AS manual_sms,
    (SELECT MIN(m.created_at) FROM message m WHERE m.contact_id = a.contact_id
        AND m.direction = 'in' AND m.created_at >= a.at) AS inbound_sms,
    (SELECT MIN(t.completed_at) FROM task t WHERE t.contact_id = a.contact_id
        AND t.status = 'done' AND t.completed_at >= a.at) AS task_done,
    (SELECT MIN(k.started_at) FROM call k WHERE k.contact_id = a.contact_id
        AND k.outcome = 'answered' AND k.started_at >= a.at) AS answered_call,
    (SELECT MIN(e.at) FROM timeline_event e WHERE e.contact_id = a.contact_id
        AND e.kind = 'contacted' AND e.at >= a.at) AS marked_contacted,
    (SELECT MIN(o.at) FROM opt_out_entry o WHERE o.phone = ct.phone AND o.action = 'opt_out'
        AND o.at >= a.at) AS opted_out
FROM anchor a JOIN contact ct ON ct.id = a.contact_id
"""

_INBOUND_SQL = f"""
WITH anchor AS (
    SELECT c.contact_id AS contact_id, MIN(c.started_at) AS at
    FROM call c WHERE {_MISSED} AND c.contact_id IS NOT NULL
    GROUP BY c.contact_id
)
SELECT m.contact_id, m.body FROM anchor a
JOIN message m ON m.contact_id = a.contact_id AND m.direction = 'in' AND m.created_at >= a.at
"""


def compute(db, period: Period, time_zone: str) -> Numbers:
    """Compute every figure for missed inbound calls that started within the period.

    Definitions, all over missed inbound calls with started_at in [period.start, period.end):
    - Time to first text: per call, from the call's start to the sent_at of that call's own
      `first_text` step (sandbox sends count). Median and 95th percentile, interpolated.
    - Callers: distinct contacts with such a call. Each is judged from their first missed
      call in the period (the anchor). Calls whose number was unusable have no contact and
      count only in missed_calls and the hour-of-week grid.
    - Contacted the same day: at or after the anchor and before the next midnight in the
      brokerage's time zone, the caller was sent an SMS step or a manual text, texted in,
      had their Call task completed, had a call answered, or was marked contacted.
    - Reply rate: of callers sent at least one SMS step or manual text at or after the
      anchor (texted callers), those who texted in at or after the anchor with something
      other than an opt-out, opt-in or HELP keyword.
      Grouped by the anchor call's lead source (the contact's when the call has none).
    - Opt-out rate: of texted callers, those with an opt-out recorded at or after the anchor.
    - Hour of week: missed calls by local weekday and hour in the brokerage's time zone.
    Replies and opt-outs after the period's end still count, because a caller late in the
    period has had less time to answer.
    """
    began = time.perf_counter()
    zone = ZoneInfo(time_zone)
    numbers = Numbers(period=period, time_zone=time_zone)
    params = {"start": _db_time(period.start), "end": _db_time(period.end)}
    with db.engine.connect() as conn:
        delays = [row[0] for row in conn.execute(sa.text(_FIRST_TEXT_SQL), params)]
        quarters = conn.execute(sa.text(_QUARTERS_SQL), params).all()
        callers = conn.execute(sa.text(_CALLERS_SQL), params).all()
        inbound = conn.execute(sa.text(_INBOUND_SQL), params).all()

    delays = [max(0.0, value) for value in delays]
    numbers.texted_calls = len(delays)
    numbers.first_text_median_seconds = percentile(delays, 0.5)
    numbers.first_text_p95_seconds = percentile(delays, 0.95)
    _fill_hour_of_week(numbers, quarters, zone)
    _fill_callers(numbers, callers, _replied_contacts(inbound), zone)
    numbers.compute_seconds = time.perf_counter() - began
    log.debug("Computed numbers for %s to %s in %.3f s (%d missed calls)",
              period.start.isoformat(), period.end.isoformat(), numbers.compute_seconds,
              numbers.missed_calls)
    return numbers


def _fill_hour_of_week(numbers: Numbers, quarters, zone: ZoneInfo) -> None:
    for hour_text, quarter, count in quarters:
        utc = datetime.fromisoformat(f"{hour_text}:00").replace(
            minute=int(quarter) * 15, tzinfo=timezone.utc)
        local = utc.astimezone(zone)
        numbers.hour_of_week[local.weekday()][local.hour] += count
        numbers.missed_calls += count


def _replied_contacts(inbound) -> set[int]:
    replied: set[int] = set()
    for contact_id, body in inbound:
        if contact_id in replied:
            continue
        if compliance.classify_inbound(body or "").kind == "reply":
            replied.add(contact_id)
    return replied


def _fill_callers(numbers: Numbers, rows, replied: set[int], zone: ZoneInfo) -> None:
    # Times stay as the stored UTC text, which sorts like the times themselves, so only the
    # end of each anchor's local day needs a conversion, cached per UTC quarter hour.
    day_ends: dict[tuple[str, int], str] = {}
    by_source: dict[str, list[int]] = {}
    for (contact_id, anchor, source, first_sms, manual_sms, inbound_sms, task_done,
         answered_call, marked_contacted, opted_out) in rows:
        numbers.callers += 1
        anchor = str(anchor)
        key = (anchor[:13], int(anchor[14:16]) // 15)
        day_end = day_ends.get(key)
        if day_end is None:
            local_day = _parse(anchor).astimezone(zone).date()
            day_end = _db_time(_local_midnight(local_day + timedelta(days=1), zone))
            day_ends[key] = day_end
        reached = [str(value) for value in (first_sms, manual_sms, inbound_sms, task_done,
                                            answered_call, marked_contacted) if value]
        if reached and min(reached) < day_end:
            numbers.contacted_same_day += 1

        if first_sms is None and manual_sms is None:
            continue
        numbers.texted_callers += 1
        counts = by_source.setdefault(source, [0, 0])
        counts[0] += 1
        if contact_id in replied:
            numbers.replied_callers += 1
            counts[1] += 1
        if opted_out is not None:
            numbers.opted_out_callers += 1

    numbers.reply_by_source = sorted(
        (SourceRate(source, texted, replied_count)
         for source, (texted, replied_count) in by_source.items()),
        key=lambda item: (-item.texted, item.source))
