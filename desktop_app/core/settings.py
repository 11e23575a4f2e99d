"""Typed settings with defaults and descriptions, stored as JSON in the settings table."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import select

from desktop_app.core import models
from desktop_app.core.events import SettingsChanged

CACHE_SECONDS = 5.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class SettingError(ValueError):
    """A setting value that fails validation; the message names the key and the fix."""


def _check_hhmm(key: str, value: Any) -> None:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise SettingError(f"{key}: {value!r} is not a time of day in HH:MM (24-hour) form")


def _check_zone(key: str, value: Any) -> None:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(
            f"{key}: {value!r} is not an IANA time zone such as America/New_York"
        ) from None


def _check_hours_map(key: str, value: Any) -> None:
    """Business hours: {"mon": "08:30-17:30", ..., "sun": ""} where "" means closed."""
    if not isinstance(value, dict):
        raise SettingError(f"{key}: expected a table of weekday = \"HH:MM-HH:MM\"")
    for day, span in value.items():
        if day not in WEEKDAYS:
            raise SettingError(f"{key}: {day!r} is not a weekday; use one of {', '.join(WEEKDAYS)}")
        if span in ("", None):
            continue
        parts = [part.strip() for part in str(span).split("-")]
        if len(parts) != 2:
            raise SettingError(f"{key}.{day}: {span!r} is not a range such as 08:30-17:30")
        _check_hhmm(f"{key}.{day}", parts[0])
        if parts[1] != "24:00":  # 24:00 closes at midnight, for a day open to the end
            _check_hhmm(f"{key}.{day}", parts[1])
        if parts[1] != "24:00" and parts[1] <= parts[0]:
            raise SettingError(f"{key}.{day}: {span!r} must open before it closes")


def _check_state_windows(key: str, value: Any) -> None:
    """Per-state quiet-hour windows: {"FL": ["08:00", "20:00"], ...}."""
    if not isinstance(value, dict):
        raise SettingError(f"{key}: expected a table of state = [\"HH:MM\", \"HH:MM\"]")
    from desktop_app.core.quiet_hours import US_STATES  # noqa: PLC0415

    codes = set(US_STATES.values())
    for state, window in value.items():
        if str(state) not in codes:
            raise SettingError(f"{key}: {state!r} is not a US state code such as FL or TX")
        if not isinstance(window, (list, tuple)) or len(window) != 2:
            raise SettingError(f"{key}.{state}: expected [start, end] such as [\"08:00\", \"20:00\"]")
        for part in window:
            _check_hhmm(f"{key}.{state}", part)


@dataclass(frozen=True)
class SettingDef:
    key: str
    type: type
    default: Any
    description: str
    env: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    check: Callable[[str, Any], None] | None = None

    def validate(self, value: Any) -> Any:
        """Return the value converted to this setting's type, or raise SettingError."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise SettingError(f"{self.key}: expected true or false, got {value!r}")
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise SettingError(f"{self.key}: expected a whole number, got {value!r}")
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SettingError(f"{self.key}: expected a number, got {value!r}")
            value = float(value)
        elif self.type is str:
            if not isinstance(value, str):
                raise SettingError(f"{self.key}: expected text, got {value!r}")
        elif self.type is list:
            if not isinstance(value, list):
                raise SettingError(f"{self.key}: expected a list, got {value!r}")
        elif self.type is dict:
            if not isinstance(value, dict):
                raise SettingError(f"{self.key}: expected a table, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise SettingError(f"{self.key}: {value!r} is below the minimum {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise SettingError(f"{self.key}: {value!r} is above the maximum {self.maximum:g}")
        if self.choices is not None and value not in self.choices:
            raise SettingError(f"{self.key}: {value!r} is not one of {', '.join(self.choices)}")
        if self.check is not None:
            self.check(self.key, value)
        return value


DEFAULT_BUSINESS_HOURS = {
    "mon": "08:30-17:30", "tue": "08:30-17:30", "wed": "08:30-17:30",
    "thu": "08:30-17:30", "fri": "08:30-17:30", "sat": "", "sun": "",
}

# Offsets are minutes after the missed call: a text now, a voicemail drop at +1 h, an email at
# +4 h, a text at +24 h, then a nurture text at +3 d and email at +7 d. Inquiry and hot calls
# start with the same steps; hot calls differ in who gets the task.
_STANDARD_SEQUENCE = [
    {"name": "first_text", "channel": "sms", "template": "first_text", "offset_minutes": 0},
    {"name": "voicemail_drop", "channel": "voicemail", "template": "voicemail_drop", "offset_minutes": 60},
    {"name": "email_4h", "channel": "email", "template": "email_4h", "offset_minutes": 240},
    {"name": "sms_24h", "channel": "sms", "template": "sms_24h", "offset_minutes": 1440},
    {"name": "nurture_3d", "channel": "sms", "template": "nurture_3d", "offset_minutes": 4320},
    {"name": "nurture_7d", "channel": "email", "template": "nurture_7d", "offset_minutes": 10080},
]
DEFAULT_SEQUENCES = {
    "inquiry": [dict(step) for step in _STANDARD_SEQUENCE],
    "hot": [dict(step) for step in _STANDARD_SEQUENCE],
    "accidental": [
        {"name": "email_4h", "channel": "email", "template": "email_4h", "offset_minutes": 240},
    ],
}


def _check_sequences(key: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise SettingError(f"{key}: expected a table with accidental, inquiry and hot")
    missing = [intent for intent in models.INTENTS if intent not in value]
    if missing:
        raise SettingError(f"{key}: missing {', '.join(missing)}; list the steps of all three "
                           "intents (an empty list means no follow-up for that intent)")
    for intent, steps in value.items():
        if intent not in models.INTENTS:
            raise SettingError(f"{key}: {intent!r} is not an intent; use accidental, inquiry or hot")
        if not isinstance(steps, list):
            raise SettingError(f"{key}.{intent}: expected a list of steps")
        names = set()
        for i, step in enumerate(steps):
            where = f"{key}.{intent}[{i}]"
            if not isinstance(step, dict):
                raise SettingError(f"{where}: expected a table with name, channel, template, offset_minutes")
            for field_name in ("name", "channel", "template", "offset_minutes"):
                if field_name not in step:
                    raise SettingError(f"{where}: missing {field_name}")
            if step["channel"] not in ("sms", "voicemail", "email"):
                raise SettingError(f"{where}.channel: {step['channel']!r} is not sms, voicemail or email")
            offset = step["offset_minutes"]
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise SettingError(f"{where}.offset_minutes: expected a whole number of minutes >= 0")
            if step["name"] in names:
                raise SettingError(f"{where}.name: {step['name']!r} appears twice")
            names.add(step["name"])


def _check_hubspot_property(key: str, value: Any) -> None:
    if value and not re.fullmatch(r"[a-z][a-z0-9_]*", str(value)):
        raise SettingError(f"{key}: {value!r} is not a HubSpot internal property name such as "
                           "lead_source (lowercase letters, digits and underscores)")


_DEFS = [
    SettingDef("brokerage.name", str, "", "Brokerage name used in texts and emails.",
               env="MCD_BROKERAGE_NAME"),
    SettingDef("brokerage.callback_number", str, "",
               "Number borrowers are asked to call back; empty means the number they dialed.",
               env="MCD_CALLBACK_NUMBER"),
    SettingDef("brokerage.time_zone", str, "America/New_York",
               "The office's IANA time zone; also the fallback for borrowers whose zone is unknown.",
               check=_check_zone),
    SettingDef("brokerage.business_hours", dict, DEFAULT_BUSINESS_HOURS,
               "Office hours per weekday as HH:MM-HH:MM, empty for closed; outside them the first "
               "text uses the after-hours template.", check=_check_hours_map),
    SettingDef("voice.dial_timeout_seconds", int, 20,
               "How long the LO's phone rings before the call counts as unanswered.",
               minimum=5, maximum=120),
    SettingDef("voice.screen_calls", bool, True,
               "Ask the LO to press 1 before a forwarded call connects, so a cell phone's own "
               "voicemail answering counts as a missed call instead of an answered one."),
    SettingDef("voice.after_no_answer", str, "voicemail",
               "What an unanswered caller hears: a voicemail prompt, or a hang-up.",
               choices=("voicemail", "hangup")),
    SettingDef("voice.voicemail_prompt", str,
               "Sorry we missed your call. Please leave a message after the tone, and we will "
               "text you right away.", "Words read to a caller before the voicemail beep."),
    SettingDef("voice.max_recording_seconds", int, 120, "Longest voicemail a caller may leave.",
               minimum=10, maximum=600),
    SettingDef("voice.transcribe", bool, False, "Ask Twilio to transcribe caller voicemails."),
    SettingDef("voice.final_status_wait_seconds", int, 120,
               "After an unanswered dial, how long to wait for the call's final status before "
               "acting on what is known.", minimum=10, maximum=900),
    SettingDef("intent.accidental_max_seconds", int, 3,
               "Calls this short or shorter are accidental.", minimum=0, maximum=60),
    SettingDef("intent.inquiry_max_seconds", int, 20,
               "Calls up to this long are inquiries; longer calls are hot.", minimum=1, maximum=600),
    SettingDef("intent.past_client_hot_from_seconds", int, 4,
               "A returning past client is hot from this many seconds on.", minimum=0, maximum=600),
    SettingDef("intent.past_client_sources", list, ["past_client"],
               "Lead sources that mark a caller as a past client."),
    SettingDef("tasks.due_minutes", int, 60, "Minutes after the call that the Call task is due.",
               minimum=1, maximum=7 * 24 * 60),
    SettingDef("sms.opt_out_line", bool, True,
               "Add the opt-out line to the first text a borrower gets."),
    SettingDef("sms.opt_out_line_text", str, "Reply STOP to opt out.",
               "The opt-out line appended to the first text."),
    SettingDef("sms.allowed_regions", list, ["US", "CA", "PR"],
               "Regions (ISO codes) whose numbers may get automated texts; others are skipped, "
               "which also blocks SMS-pumping fraud through foreign numbers."),
    SettingDef("sms.send_confirmation", bool, True,
               "Send one confirmation text after an opt-out the carrier did not already confirm."),
    SettingDef("sequence.steps", dict, DEFAULT_SEQUENCES,
               "Follow-up steps per intent: name, channel, template and minutes after the call.",
               check=_check_sequences),
    SettingDef("sequence.catch_up_minutes", int, 120,
               "A step that came due while the app was closed still runs if it is at most this "
               "late; later ones are skipped.", minimum=0, maximum=7 * 24 * 60),
    SettingDef("quiet_hours.start", str, "08:00",
               "Earliest local time for an automated message.", check=_check_hhmm),
    SettingDef("quiet_hours.end", str, "21:00",
               "Latest local time for an automated message.", check=_check_hhmm),
    SettingDef("quiet_hours.state_windows", dict, {},
               "Stricter windows per US state, e.g. FL = [\"08:00\", \"20:00\"].",
               check=_check_state_windows),
    SettingDef("quiet_hours.first_reply_immediate", bool, True,
               "The first text answering a call the borrower just made may go out during quiet hours."),
    SettingDef("caps.per_hour", int, 1, "Most automated texts per borrower in 60 minutes.",
               minimum=0, maximum=20),
    SettingDef("caps.per_day", int, 3, "Most automated texts per borrower in 24 hours.",
               minimum=0, maximum=50),
    SettingDef("consent.first_sms_without_consent", bool, True,
               "Allow the first text that answers a call the borrower just made without recorded consent."),
    SettingDef("hubspot.lead_status", str, "NEW_MISSED_CALL",
               "HubSpot lead status set on a contact after a missed call."),
    SettingDef("email.rate_snapshot", str, "",
               "Rate snapshot paragraph included in the 4-hour email; edit it as rates move."),
    SettingDef("tunnel.enabled", bool, True, "Open the ngrok tunnel when the app starts."),
    SettingDef("tunnel.region", str, "us", "ngrok region.",
               choices=("us", "eu", "ap", "au", "sa", "jp", "in")),
    SettingDef("ui.tray_hint_shown", bool, False,
               "Whether the hint about closing to the tray has been shown."),
    # Email and voicemail-drop channels
    SettingDef("email.postal_address", str, "",
               "The brokerage's postal address, shown in the footer of every automated email "
               "(US law requires one in commercial email)."),
    SettingDef("drops.dropcowboy_audio", str, "media",
               "How Drop Cowboy gets the LO's recording: media imports it once into the Drop "
               "Cowboy media library (works on every account); audio_url lets Drop Cowboy fetch "
               "it from the app on each drop (bring-your-own-carrier accounts with audio_url "
               "enabled by Drop Cowboy support).", choices=("media", "audio_url")),
    SettingDef("drops.dropcowboy_phone_line_id", str, "",
               "Drop Cowboy phone line to drop from; empty uses the account's default line."),
    # HubSpot
    SettingDef("hubspot.lead_source_property", str, "lead_source",
               "Internal name of the HubSpot contact property that gets the lead source when the "
               "app creates a contact; empty sends no lead source.", check=_check_hubspot_property),
    # RingCentral
    SettingDef("ringcentral.event_wait_seconds", float, 3.0,
               "Seconds to wait for a RingCentral call's earlier events when its missed-call "
               "event arrives first; after that the call is decided on the events received.",
               minimum=0, maximum=60),
    SettingDef("ringcentral.manage_subscription", bool, True,
               "Create and renew the RingCentral webhook subscription automatically."),
    # ngrok tunnel
    SettingDef("tunnel.ngrok_path", str, "",
               "Path of the ngrok agent executable; empty looks for ngrok on PATH, then where "
               "pyngrok installs it. The app never downloads the agent.", env="MCD_NGROK_PATH"),
    SettingDef("tunnel.rewire_twilio", bool, True,
               "When the tunnel's public URL changes, point the Twilio numbers the app serves at "
               "the new URL automatically."),
]

REGISTRY: dict[str, SettingDef] = {d.key: d for d in _DEFS}


@dataclass
class Settings:
    """Reads and writes settings through the database; env variables win over stored values."""

    db: Any
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        self._cache: dict[str, Any] | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        with self._lock:
            # Re-read now and then, so a `settings import` from the command line reaches a
            # running app within seconds.
            if self._cache is not None and time.monotonic() - self._loaded_at > CACHE_SECONDS:
                self._cache = None
            if self._cache is None:
                self._loaded_at = time.monotonic()
                with self.db.read() as session:
                    rows = session.exec(select(models.Setting)).all()
                self._cache = {}
                for row in rows:
                    try:
                        self._cache[row.key] = json.loads(row.value)
                    except json.JSONDecodeError:
                        continue
            return self._cache

    def invalidate(self) -> None:
        with self._lock:
            self._cache = None

    def get(self, key: str) -> Any:
        definition = REGISTRY[key]
        if definition.env and self.environ.get(definition.env):
            return definition.validate(self.environ[definition.env])
        stored = self._load()
        if key in stored:
            try:
                return definition.validate(stored[key])
            except SettingError:
                return definition.default
        return definition.default

    def is_overridden_by_env(self, key: str) -> bool:
        definition = REGISTRY[key]
        return bool(definition.env and self.environ.get(definition.env))

    def stored_values(self) -> dict[str, Any]:
        return dict(self._load())

    def set(self, key: str, value: Any) -> None:
        self.set_many({key: value})

    def set_many(self, values: dict[str, Any]) -> None:
        """Validate every value first, then store them all in one transaction."""
        checked = {}
        for key, value in values.items():
            if key not in REGISTRY:
                raise SettingError(f"{key}: unknown setting")
            checked[key] = REGISTRY[key].validate(value)

        def store(uow):
            now = datetime.now(timezone.utc)
            for key, value in checked.items():
                uow.session.merge(models.Setting(key=key, value=json.dumps(value), updated_at=now))

        self.db.write(store)
        self.invalidate()
        self.db.bus.publish(SettingsChanged(tuple(checked)))

    def reset(self, key: str) -> None:
        def delete(uow):
            row = uow.session.get(models.Setting, key)
            if row is not None:
                uow.session.delete(row)

        self.db.write(delete)
        self.invalidate()
