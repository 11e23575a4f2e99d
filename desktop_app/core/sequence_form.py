"""The sequence editor's rules: step offsets in minutes, hours or days, and checks across settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from desktop_app.core.settings import REGISTRY, SettingError
from desktop_app.core.templates import Template

UNITS = {"minutes": 1, "hours": 60, "days": 24 * 60}
# Settings the sequence editor reads and writes, saved together with set_many.
KEYS = ("sequence.steps", "sequence.catch_up_minutes", "quiet_hours.start", "quiet_hours.end",
        "quiet_hours.state_windows", "quiet_hours.first_reply_immediate", "caps.per_hour",
        "caps.per_day")


def split_offset(minutes: int) -> tuple[int, str]:
    """Return (amount, unit) in the largest unit that divides `minutes` exactly."""
    for unit in ("days", "hours"):
        size = UNITS[unit]
        if minutes and minutes % size == 0:
            return minutes // size, unit
    return minutes, "minutes"


def join_offset(amount: int, unit: str) -> int:
    if unit not in UNITS:
        raise ValueError(f"{unit!r} is not minutes, hours or days")
    return int(amount) * UNITS[unit]


def describe_offset(minutes: int) -> str:
    """"at once", "45 minutes", "1 hour", "3 days"."""
    if minutes == 0:
        return "at once"
    amount, unit = split_offset(minutes)
    return f"{amount} {unit[:-1] if amount == 1 else unit}"


@dataclass(frozen=True)
class FormError:
    """A value the editor cannot save: the setting key it belongs to, and why."""

    key: str
    message: str


def check_steps(steps: Mapping[str, list[dict]], templates: Mapping[str, Template]) -> FormError | None:
    """Check every step's template exists and has the step's channel."""
    for intent, intent_steps in steps.items():
        for index, step in enumerate(intent_steps):
            where = f"{intent} step {index + 1} ({step.get('name') or 'unnamed'})"
            if not str(step.get("name") or "").strip():
                return FormError("sequence.steps", f"{where}: the step needs a name")
            template = templates.get(step.get("template", ""))
            if template is None:
                return FormError("sequence.steps", f"{where}: no template named "
                                                   f"{step.get('template')!r}; pick one from the list")
            if template.channel != step.get("channel"):
                return FormError("sequence.steps", f"{where}: {template.name!r} is a "
                                                   f"{template.channel} template, but the step "
                                                   f"sends {step.get('channel')}")
    return None


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def check_form(values: Mapping[str, Any], templates: Mapping[str, Template]) -> FormError | None:
    """Validate the editor's values with each setting's own rules, then the rules across them.

    Returns the first problem, or None when set_many can store the values.
    """
    for key, value in values.items():
        try:
            REGISTRY[key].validate(value)
        except SettingError as exc:
            return FormError(key, str(exc))
    problem = check_steps(values.get("sequence.steps", {}), templates)
    if problem is not None:
        return problem
    start, end = values.get("quiet_hours.start"), values.get("quiet_hours.end")
    if start and end and _minutes(start) >= _minutes(end):
        return FormError("quiet_hours.start", f"quiet hours: messages may go out from {start} "
                                              f"to {end}, so the start must be before the end")
    for state, (state_start, state_end) in (values.get("quiet_hours.state_windows") or {}).items():
        if _minutes(state_start) >= _minutes(state_end):
            return FormError("quiet_hours.state_windows", f"{state}: the window {state_start}-"
                                                          f"{state_end} must start before it ends")
    per_hour, per_day = values.get("caps.per_hour"), values.get("caps.per_day")
    if per_hour is not None and per_day is not None and per_hour > per_day:
        return FormError("caps.per_hour", f"caps: {per_hour} texts per hour is more than the "
                                          f"{per_day} allowed per 24 hours")
    return None
