"""Import do-not-contact lists from CSV; flagged numbers never get automated messages."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlmodel import select

from desktop_app.core import models, phones, sequences

# Column names that hold the number, in the order they are tried.
PHONE_COLUMNS = ("phone", "phone number", "phone_number", "number", "mobile", "mobilephone",
                 "telephone", "tel", "cell")
REASON_COLUMNS = ("reason", "note", "notes", "comment")
MAX_BYTES = 50 * 1024 * 1024


class DncImportError(ValueError):
    """The file as a whole cannot be read (not CSV, no phone column, too large)."""


@dataclass
class DncReport:
    added: int = 0
    already: int = 0
    contacts_flagged: int = 0
    rejected: list[str] = field(default_factory=list)  # "line N: value: reason"

    def summary(self) -> str:
        return (f"{self.added} number(s) added, {self.already} already on the list, "
                f"{self.contacts_flagged} contact(s) flagged, {len(self.rejected)} row(s) rejected")


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_BYTES:
        raise DncImportError(f"larger than {MAX_BYTES // (1024 * 1024)} MB; split the file")
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DncImportError("not a text file (neither UTF-8 nor Windows-1252)")


def parse(text: str) -> tuple[list[tuple[int, str, str | None]], list[str]]:
    """Return ([(line, raw number, reason)], [rejected rows]) from CSV text.

    A header row with a phone-like column name is used when present; otherwise the first
    column of every row is the number.
    """
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows:
        raise DncImportError("the file is empty")
    header = [cell.strip().lower() for cell in rows[0]]
    phone_index = next((header.index(name) for name in PHONE_COLUMNS if name in header), None)
    reason_index = next((header.index(name) for name in REASON_COLUMNS if name in header), None)
    start = 1
    if phone_index is None:
        if any(cell and not any(ch.isdigit() for ch in cell) for cell in rows[0][:1]):
            raise DncImportError(
                f"no phone column found in the header ({', '.join(rows[0])}); name it one of "
                + ", ".join(PHONE_COLUMNS))
        phone_index, start = 0, 0
    entries, rejected = [], []
    for line, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        if phone_index >= len(row):
            rejected.append(f"line {line}: no value in the phone column")
            continue
        reason = row[reason_index].strip() if reason_index is not None and reason_index < len(row) else None
        entries.append((line, row[phone_index].strip(), reason or None))
    return entries, rejected


def import_csv(ctx, path: Path, source: str) -> DncReport:
    path = Path(path)
    if not path.exists():
        raise DncImportError("file not found")
    entries, rejected = parse(_read_text(path))
    report = DncReport(rejected=list(rejected))
    numbers: list[tuple[str, str | None]] = []
    seen = set()
    for line, raw, reason in entries:
        try:
            number = phones.normalize(raw)
        except phones.InvalidPhoneNumber as exc:
            report.rejected.append(f"line {line}: {raw!r}: {exc.reason}")
            continue
        if number in seen:
            report.already += 1
            continue
        seen.add(number)
        numbers.append((number, reason))
    now = datetime.now(timezone.utc)

    def apply(uow) -> None:
        session = uow.session
        for number, reason in numbers:
            if session.exec(select(models.DncEntry).where(models.DncEntry.phone == number)).first():
                report.already += 1
                continue
            uow.add(models.DncEntry(phone=number, source=source, reason=reason, added_at=now))
            report.added += 1
            contact = session.exec(select(models.Contact).where(models.Contact.phone == number)).first()
            if contact is not None:
                contact.do_not_contact = True
                contact.dnc_reason = f"on the imported list {source}"
                contact.status = "do_not_contact"
                uow.add(contact)
                sequences.halt(uow, contact, f"on the do-not-contact list ({source})", now, kind="dnc")
                report.contacts_flagged += 1

    ctx.db.write(apply)
    return report
