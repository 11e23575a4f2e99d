"""Message templates: defaults, stored edits, rendering with fallbacks, and SMS segment counts."""

from __future__ import annotations

import json
import string
import threading
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from sqlmodel import select

from desktop_app.core import models
from desktop_app.core.paths import resources_dir

PLACEHOLDERS: dict[str, str] = {
    "first_name": "there",
    "broker_name": "our office",
    "callback_number": "this number",
    "lo_name": "our team",
    "loan_purpose": "mortgage",
    "office_opens": "on the next business day",
    "rate_snapshot": "",
}
PLACEHOLDER_HELP = {
    "first_name": "Borrower's first name (\"there\" when unknown)",
    "broker_name": "Brokerage name from the settings",
    "callback_number": "Number to call back (the number dialed unless set)",
    "lo_name": "Name of the assigned loan officer",
    "loan_purpose": "purchase or refi (\"mortgage\" when unknown)",
    "office_opens": "When the office opens next, for after-hours texts",
    "rate_snapshot": "Rate snapshot paragraph from the settings (emails)",
}
_SETTING_PREFIX = "template."
CACHE_SECONDS = 5.0


class TemplateError(ValueError):
    """A template that cannot be saved: unknown placeholder or bad braces."""


@dataclass(frozen=True)
class Template:
    name: str
    channel: str
    body: str
    subject: str = ""
    description: str = ""
    edited: bool = False


def check_template(text: str) -> list[str]:
    """Return the placeholders used; raise TemplateError for unknown ones or broken braces."""
    used: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"broken braces: {exc}. Write {{{{ and }}}} for a literal brace.") from None
    unknown = []
    for _literal, field_name, format_spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in PLACEHOLDERS or format_spec or conversion:
            unknown.append("{" + field_name + (f"!{conversion}" if conversion else "")
                           + (f":{format_spec}" if format_spec else "") + "}")
        elif field_name not in used:
            used.append(field_name)
    if unknown:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise TemplateError(f"unknown placeholder {', '.join(unknown)}; use one of {known}")
    return used


@dataclass(frozen=True)
class PlaceholderSpan:
    """A placeholder or a stray brace in template text: [start, end) in Python string indexes."""

    start: int
    end: int
    text: str
    known: bool


def placeholder_spans(text: str) -> list[PlaceholderSpan]:
    """Find every {placeholder} and every unmatched brace, so an editor can mark the bad ones.

    Doubled braces ({{ and }}) are literal and not reported. The rules match check_template.
    """
    spans: list[PlaceholderSpan] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i + 1:i + 2] == char:
            i += 2
            continue
        if char == "}":
            spans.append(PlaceholderSpan(i, i + 1, "}", False))
            i += 1
            continue
        if char != "{":
            i += 1
            continue
        close = text.find("}", i + 1)
        opener = text.find("{", i + 1)
        if close == -1 or (opener != -1 and opener < close):
            spans.append(PlaceholderSpan(i, i + 1, "{", False))
            i += 1
            continue
        field = text[i + 1:close]
        spans.append(PlaceholderSpan(i, close + 1, text[i:close + 1], field in PLACEHOLDERS))
        i = close + 1
    return spans


def render(text: str, values: Mapping[str, Any]) -> str:
    """Fill placeholders; missing or empty values fall back to friendly defaults."""
    filled = {}
    for key, fallback in PLACEHOLDERS.items():
        value = values.get(key)
        filled[key] = str(value).strip() if value not in (None, "") else fallback
    return string.Formatter().vformat(text, (), filled)


def load_defaults(path: Path | None = None) -> dict[str, Template]:
    source = path or (resources_dir() / "templates" / "default.toml")
    with open(source, "rb") as handle:
        data = tomllib.load(handle)
    result = {}
    for name, entry in data.items():
        result[name] = Template(
            name=name,
            channel=entry.get("channel", "sms"),
            body=entry["body"],
            subject=entry.get("subject", ""),
            description=entry.get("description", ""),
        )
    return result


class TemplateStore:
    """Defaults from resources/templates, with the coordinator's edits from the database."""

    def __init__(self, db, defaults: dict[str, Template] | None = None):
        self.db = db
        self.defaults = defaults or load_defaults()
        self._lock = threading.Lock()
        self._cache: dict[str, Template] | None = None
        self._loaded_at = 0.0

    def _load(self) -> dict[str, Template]:
        with self._lock:
            # Re-read now and then, so edits made by another process (settings import) show.
            if self._cache is not None and time.monotonic() - self._loaded_at < CACHE_SECONDS:
                return self._cache
        with self.db.read() as session:
            rows = session.exec(select(models.Setting).where(
                models.Setting.key.startswith(_SETTING_PREFIX))).all()
        edits = {}
        for row in rows:
            try:
                edits[row.key[len(_SETTING_PREFIX):]] = json.loads(row.value)
            except json.JSONDecodeError:
                continue
        merged = {}
        for name, default in self.defaults.items():
            edit = edits.get(name)
            if edit:
                merged[name] = Template(name, default.channel, edit.get("body", default.body),
                                        edit.get("subject", default.subject), default.description,
                                        edited=True)
            else:
                merged[name] = default
        with self._lock:
            self._cache = merged
            self._loaded_at = time.monotonic()
        return merged

    def get(self, name: str) -> Template:
        templates = self._load()
        if name not in templates:
            raise KeyError(f"no template named {name!r}")
        return templates[name]

    def all(self) -> dict[str, Template]:
        return dict(self._load())

    def save(self, name: str, body: str, subject: str = "") -> None:
        if name not in self.defaults:
            raise TemplateError(f"no template named {name!r}")
        if not body.strip():
            raise TemplateError(f"{name}: the text is empty")
        check_template(body)
        check_template(subject)
        value = json.dumps({"body": body, "subject": subject})

        def store(uow):
            uow.session.merge(models.Setting(key=_SETTING_PREFIX + name, value=value,
                                             updated_at=datetime.now(timezone.utc)))

        self.db.write(store)
        self.invalidate()

    def reset(self, name: str) -> None:
        def delete(uow):
            row = uow.session.get(models.Setting, _SETTING_PREFIX + name)
            if row is not None:
                uow.session.delete(row)

        self.db.write(delete)
        self.invalidate()

    def invalidate(self) -> None:
        with self._lock:
            self._cache = None


# -- SMS encoding -------------------------------------------------------------------------

# GSM 03.38 basic character set and the extension table (each extension character takes
# two septets: an escape plus the character).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = set("^{}\\[~]|€\f")
# Characters that word processors and phones put in text and that force UCS-2, each with a
# GSM-7 stand-in. An empty replacement drops an invisible character.
SMART_REPLACEMENTS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ",
    "\u2032": "'", "\u2033": '"',
    "\u00b4": "'", "\u02bc": "'", "\u2039": "'", "\u203a": "'",
    "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2015": "-", "\u2212": "-",
    "\u2022": "-",
    "\u2002": " ", "\u2003": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ",
    "\u200b": "", "\u00ad": "", "\ufeff": "",
    "\t": " ",
}


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # GSM-7 or UCS-2
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    per_segment: int
    non_gsm: tuple[str, ...]  # characters that forced UCS-2
    smart_characters: tuple[str, ...]  # of those, ones with a plain replacement


def segment_info(text: str) -> SegmentInfo:
    non_gsm = []
    septets = 0
    for char in text:
        if char in _GSM_BASIC:
            septets += 1
        elif char in _GSM_EXTENSION:
            septets += 2
        else:
            if char not in non_gsm:
                non_gsm.append(char)
    smart = tuple(c for c in non_gsm if c in SMART_REPLACEMENTS)
    if not non_gsm:
        single, multi, units = 160, 153, septets
        encoding = "GSM-7"
    else:
        single, multi = 70, 67
        units = len(text.encode("utf-16-le")) // 2
        encoding = "UCS-2"
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments = _count_parts(text, multi, gsm=encoding == "GSM-7")
    per = single if segments <= 1 else multi
    return SegmentInfo(encoding, units, segments, per, tuple(non_gsm), smart)


def _count_parts(text: str, per_part: int, gsm: bool) -> int:
    """Count concatenated parts; an escape pair or a surrogate pair never straddles two parts."""
    parts, used = 1, 0
    for char in text:
        if gsm:
            size = 2 if char in _GSM_EXTENSION else 1
        else:
            size = 2 if ord(char) > 0xFFFF else 1
        if used + size > per_part:
            parts += 1
            used = 0
        used += size
    return parts


def replace_smart_characters(text: str) -> str:
    return "".join(SMART_REPLACEMENTS.get(c, c) for c in text)
