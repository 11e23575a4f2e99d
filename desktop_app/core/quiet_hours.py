"""Quiet hours in the borrower's local time, per-state windows, and DST-safe due times."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from desktop_app.core import phones
from desktop_app.core.paths import resources_dir

# A number whose area code spans more zones than this (toll-free, non-geographic) is
# treated as being in the brokerage's zone instead.
MAX_ZONES_FOR_AREA = 3

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "Washington D.C.": "DC", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY", "Puerto Rico": "PR",
}


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@lru_cache(maxsize=1)
def _area_code_states() -> dict[str, str]:
    path = resources_dir() / "data" / "us_area_codes.json"
    return json.loads(path.read_text(encoding="utf-8"))


def state_of(e164: str) -> str | None:
    """Two-letter US state for a number's area code.

    The table is generated from phonenumbers' geocoder (installer/tools/make_area_codes.py);
    importing the geocoder itself at run time would load about 100 MB of place names.
    """
    if not e164.startswith("+1") or len(e164) != 12:
        return None
    return _area_code_states().get(e164[2:5])


def borrower_zones(e164: str, fallback_zone: str, override: str | None = None) -> tuple[ZoneInfo, ...]:
    """Return the zones a borrower may be in: a stored override, the area code's zones, else the office's."""
    if override:
        return (ZoneInfo(override),)
    names = phones.time_zones(e164)
    if 1 <= len(names) <= MAX_ZONES_FOR_AREA:
        return tuple(ZoneInfo(name) for name in names)
    return (ZoneInfo(fallback_zone),)


@dataclass(frozen=True)
class QuietHours:
    """The allowed window [start, end) in local time, and stricter windows per state."""

    start: time = time(8, 0)
    end: time = time(21, 0)
    state_windows: tuple[tuple[str, time, time], ...] = ()
    fallback_zone: str = "America/New_York"

    @classmethod
    def from_settings(cls, settings) -> "QuietHours":
        windows = tuple(
            (state, _hhmm(pair[0]), _hhmm(pair[1]))
            for state, pair in sorted(settings.get("quiet_hours.state_windows").items())
        )
        return cls(
            start=_hhmm(settings.get("quiet_hours.start")),
            end=_hhmm(settings.get("quiet_hours.end")),
            state_windows=windows,
            fallback_zone=settings.get("brokerage.time_zone"),
        )

    def window_for(self, e164: str) -> tuple[time, time]:
        state = state_of(e164)
        for code, start, end in self.state_windows:
            if code == state:
                # A state window only ever narrows the general one.
                return max(start, self.start), min(end, self.end)
        return self.start, self.end

    def allowed(self, when: datetime, e164: str, zone_override: str | None = None) -> bool:
        start, end = self.window_for(e164)
        for zone in borrower_zones(e164, self.fallback_zone, zone_override):
            local = when.astimezone(zone).time()
            if not (start <= local < end):
                return False
        return True

    def next_allowed(self, when: datetime, e164: str, zone_override: str | None = None) -> datetime:
        """Return the earliest instant at or after `when` that is inside the window in every zone."""
        start, end = self.window_for(e164)
        zones = borrower_zones(e164, self.fallback_zone, zone_override)
        candidate = when
        for _ in range(8):
            if self.allowed(candidate, e164, zone_override):
                return candidate
            later = candidate
            for zone in zones:
                local = candidate.astimezone(zone)
                if start <= local.time() < end:
                    continue
                day = local.date() if local.time() < start else local.date() + timedelta(days=1)
                opening = _local_instant(day, start, zone)
                if opening > later:
                    later = opening
            if later == candidate:
                break
            candidate = later
        # The zones never share an open minute (the window is narrower than their spread).
        # Fall back to the office's zone alone, so the step still runs once.
        office = ZoneInfo(self.fallback_zone)
        local = when.astimezone(office)
        if start <= local.time() < end:
            return when
        day = local.date() if local.time() < start else local.date() + timedelta(days=1)
        return _local_instant(day, start, office)


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a local wall time.

    A time skipped by DST moves forward by the gap. A repeated time takes its first
    occurrence, so it maps to one instant and runs once.
    """
    # fold=0 reads a skipped wall time (spring forward) with the old offset, which lands
    # after the gap: 02:30 becomes 03:30 the new way.
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(timezone.utc)


def add_offset(start: datetime, minutes: int, zone: ZoneInfo) -> datetime:
    """Return the due time of a step `minutes` after `start`.

    Whole days are calendar days at the same local wall time in `zone`, so a day-later text
    keeps its hour across a DST change. Other offsets are exact durations.
    """
    if minutes >= 1440 and minutes % 1440 == 0:
        local = start.astimezone(zone)
        day = local.date() + timedelta(days=minutes // 1440)
        wall = local.time().replace(tzinfo=None)
        return _local_instant(day, wall, zone)
    return start + timedelta(minutes=minutes)


def next_opening(when: datetime, hours: dict, zone_name: str) -> tuple[bool, datetime | None]:
    """Return whether the office is open at `when`, and when it opens next (None if never)."""
    zone = ZoneInfo(zone_name)
    local = when.astimezone(zone)
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        span = hours.get(days[day.weekday()], "")
        if not span:
            continue
        open_text, close_text = (part.strip() for part in span.split("-"))
        opens = _local_instant(day, _hhmm(open_text), zone)
        if close_text == "24:00":
            closes = _local_instant(day + timedelta(days=1), time(0, 0), zone)
        else:
            closes = _local_instant(day, _hhmm(close_text), zone)
        if offset == 0 and opens <= when < closes:
            return True, None
        if opens > when:
            return False, opens
    return False, None
