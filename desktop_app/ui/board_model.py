"""The live board's table model: filtering, search and sorting done inside, on plain tuples.

A QSortFilterProxyModel calls into Python for every row and every comparison, which takes
seconds at 100,000 rows. List comprehensions and key sorts over the row tuples take tens of
milliseconds. Live updates change single rows in place (dataChanged, or a one-row insert or
remove); only a new filter, search or sort order resets the model.
"""

from __future__ import annotations

import bisect
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QBrush, QColor

from desktop_app.core import board
from desktop_app.core.board import (R_CALLER, R_CONTACT, R_DIALED, R_FIRST, R_ID, R_INTENT,
                                    R_LAST, R_LO, R_OPTED_OUT, R_OUTCOME, R_SECONDS, R_SOURCE,
                                    R_STARTED, R_STATUS, R_TEXT_DETAIL, R_VOICEMAIL)

COL_WHEN, COL_CALLER, COL_DIALED, COL_LO, COL_SECONDS, COL_INTENT, COL_SOURCE, COL_STATUS, \
    COL_FIRST_TEXT, COL_NEXT = range(10)
HEADERS = ["When", "Caller", "Number dialed", "LO", "Seconds", "Intent", "Source", "Status",
           "First text", "Next step"]

CallIdRole = Qt.ItemDataRole.UserRole + 1
ContactIdRole = Qt.ItemDataRole.UserRole + 2
IntentRole = Qt.ItemDataRole.UserRole + 3
RowRole = Qt.ItemDataRole.UserRole + 5

INTENT_COLORS = {"accidental": "#9E9E9E", "inquiry": "#F5A623", "hot": "#E53935"}
INTENT_TINTS = {"accidental": "#F4F4F4", "inquiry": "#FFF6E5", "hot": "#FDECEC"}
INTENT_RANK = {"accidental": 0, "inquiry": 1, "hot": 2}
FILTERS = ("all", "today", "hot", "open", "replied", "opted_out", "needs_review")
FILTER_LABELS = {"all": "All calls", "today": "Today", "hot": "Hot", "open": "Open",
                 "replied": "Replied", "opted_out": "Opted out", "needs_review": "Needs review"}


class BoardModel(QAbstractTableModel):
    """One row per missed call; shown_count() and total_count() give the counts."""

    def __init__(self, db, time_zone: str = "America/New_York", clock=None, parent=None):
        super().__init__(parent)
        self._db = db
        self._zone = ZoneInfo(time_zone)
        self._clock = clock
        self._all: dict[int, tuple] = {}  # call id -> row
        self._next: dict[int, tuple[str, str]] = {}  # contact id -> (step name, due text)
        self._review: set[int] = set()
        self._by_contact: dict[int, set[int]] = {}
        self._rows: list[tuple] = []  # shown rows, ascending by the sort key
        self._keys: list[tuple] = []
        self._sort_column = COL_WHEN
        self._sort_order = Qt.SortOrder.DescendingOrder
        self._mode = "all"
        self._needle = ""
        self._digits = ""
        self._pending_calls: set[int] = set()
        self._pending_contacts: set[int] = set()
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(30)
        self._flush.timeout.connect(self._apply_pending)
        self._tick = QTimer(self)
        self._tick.setInterval(15_000)
        self._tick.timeout.connect(self._refresh_countdowns)
        self._tick.start()

    # -- loading ------------------------------------------------------------------------------

    def reload(self) -> None:
        data = board.load(self._db)
        self.beginResetModel()
        self._all = {row[R_ID]: row for row in data.rows}
        self._next = data.next_steps
        self._review = data.review
        self._by_contact = {}
        for row in data.rows:
            if row[R_CONTACT] is not None:
                self._by_contact.setdefault(row[R_CONTACT], set()).add(row[R_ID])
        self._rebuild()
        self.endResetModel()

    def set_time_zone(self, name: str) -> None:
        self._zone = ZoneInfo(name)
        if self._rows:
            self.dataChanged.emit(self.index(0, COL_WHEN), self.index(len(self._rows) - 1, COL_WHEN))

    def shown_count(self) -> int:
        return len(self._rows)

    def total_count(self) -> int:
        return len(self._all)

    # -- filtering, search and sorting ---------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        if mode not in FILTERS:
            raise ValueError(f"unknown filter {mode!r}")
        if mode != self._mode:
            self._mode = mode
            self._reset_view()

    def set_search(self, text: str) -> None:
        needle = text.strip().lower()
        digits = re.sub(r"\D", "", text)
        digits = digits if len(digits) >= 3 else ""
        if (needle, digits) != (self._needle, self._digits):
            self._needle, self._digits = needle, digits
            self._reset_view()

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self._sort_column, self._sort_order = column, order
        self._reset_view()

    def _reset_view(self) -> None:
        self.beginResetModel()
        self._rebuild()
        self.endResetModel()

    def _predicate(self):
        """A function row -> bool for the current filter and search."""
        mode = self._mode
        checks = []
        if mode == "today":
            now = self._now().astimezone(self._zone)
            start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            low, high = board.time_key(start), board.time_key(start + timedelta(days=1))
            checks.append(lambda r: low <= r[R_STARTED] < high)
        elif mode == "hot":
            checks.append(lambda r: r[R_INTENT] == "hot")
        elif mode == "open":
            checks.append(lambda r: r[R_OUTCOME] == "missed" and r[R_CONTACT] is not None
                          and r[R_STATUS] == "open")
        elif mode == "replied":
            checks.append(lambda r: r[R_STATUS] == "replied")
        elif mode == "opted_out":
            checks.append(lambda r: bool(r[R_OPTED_OUT]))
        elif mode == "needs_review":
            review = self._review
            checks.append(lambda r: r[R_CONTACT] in review)
        needle, digits = self._needle, self._digits
        if needle:
            def matches(r, needle=needle, digits=digits):
                if digits and (digits in r[R_CALLER] or digits in r[R_DIALED]):
                    return True
                return needle in f"{r[R_FIRST]} {r[R_LAST]}".lower()
            checks.append(matches)
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]
        return lambda r: all(check(r) for check in checks)

    def _sort_key_function(self):
        column = self._sort_column
        if column == COL_WHEN:
            return lambda r: (r[R_STARTED], r[R_ID])
        if column == COL_SECONDS:
            return lambda r: (r[R_SECONDS] if r[R_SECONDS] is not None else -1, r[R_STARTED], r[R_ID])
        if column == COL_INTENT:
            return lambda r: (INTENT_RANK.get(r[R_INTENT] or "", -1), r[R_STARTED], r[R_ID])
        if column == COL_NEXT:
            far = "9999"
            return lambda r: (self._next.get(r[R_CONTACT], ("", far))[1] or far, r[R_STARTED], r[R_ID])
        if column == COL_CALLER:
            return lambda r: (f"{r[R_FIRST]} {r[R_LAST]}".strip().lower() or "~" + r[R_CALLER],
                              r[R_STARTED], r[R_ID])
        if column == COL_STATUS:
            return lambda r: (r[R_STATUS], r[R_STARTED], r[R_ID])
        if column == COL_FIRST_TEXT:
            return lambda r: (board.first_text_text(r), r[R_STARTED], r[R_ID])
        index = {COL_DIALED: R_DIALED, COL_LO: R_LO, COL_SOURCE: R_SOURCE}[column]
        return lambda r: ((r[index] or "").lower(), r[R_STARTED], r[R_ID])

    def _rebuild(self) -> None:
        """Recompute the shown rows. Internally they are kept in ascending key order; a
        descending view maps Qt row r to internal index n - 1 - r."""
        predicate = self._predicate()
        key = self._sort_key_function()
        source = self._all.values()
        rows = list(source) if predicate is None else [r for r in source if predicate(r)]
        rows.sort(key=key)
        self._rows = rows
        self._keys = [key(r) for r in rows]

    def _descending(self) -> bool:
        return self._sort_order == Qt.SortOrder.DescendingOrder

    def _qt_row(self, internal: int) -> int:
        return len(self._rows) - 1 - internal if self._descending() else internal

    def _internal(self, qt_row: int) -> int:
        return len(self._rows) - 1 - qt_row if self._descending() else qt_row

    # -- live updates ---------------------------------------------------------------------------

    def call_changed(self, call_id: int) -> None:
        self._pending_calls.add(call_id)
        self._flush.start()

    def contact_changed(self, contact_id: int) -> None:
        self._pending_contacts.add(contact_id)
        self._flush.start()

    def apply_now(self) -> None:
        """Apply queued updates at once (tests, and before a screenshot)."""
        self._flush.stop()
        self._apply_pending()

    def _apply_pending(self) -> None:
        call_ids = set(self._pending_calls)
        contact_ids = set(self._pending_contacts)
        self._pending_calls.clear()
        self._pending_contacts.clear()
        for contact_id in contact_ids:
            known = self._by_contact.get(contact_id)
            call_ids |= known if known else set(board.calls_for_contact(self._db, contact_id))
        if not call_ids:
            return
        data = board.load(self._db, sorted(call_ids))
        fresh = {row[R_ID]: row for row in data.rows}
        for row in data.rows:
            contact = row[R_CONTACT]
            if contact is None:
                continue
            if contact in data.next_steps:
                self._next[contact] = data.next_steps[contact]
            else:
                self._next.pop(contact, None)
            if contact in data.review:
                self._review.add(contact)
            else:
                self._review.discard(contact)
        predicate = self._predicate()
        key_of = self._sort_key_function()
        for call_id in sorted(call_ids):
            old = self._all.get(call_id)
            new = fresh.get(call_id)
            position = self._find(old) if old is not None else None
            if new is None:
                self._all.pop(call_id, None)
                if position is not None:
                    self._remove_at(position)
                continue
            self._all[call_id] = new
            if new[R_CONTACT] is not None:
                self._by_contact.setdefault(new[R_CONTACT], set()).add(call_id)
            shown = predicate is None or predicate(new)
            key = key_of(new)
            if position is not None and shown and self._fits(position, key):
                self._rows[position] = new
                self._keys[position] = key
                qt_row = self._qt_row(position)
                self.dataChanged.emit(self.index(qt_row, 0), self.index(qt_row, len(HEADERS) - 1))
                continue
            if position is not None:
                self._remove_at(position)
            if shown:
                self._insert(new, key)

    def _find(self, row: tuple) -> int | None:
        position = bisect.bisect_left(self._keys, self._sort_key_function()(row))
        if position < len(self._rows) and self._rows[position][R_ID] == row[R_ID]:
            return position
        for index, candidate in enumerate(self._rows):  # the key moved (e.g. next-step time)
            if candidate[R_ID] == row[R_ID]:
                return index
        return None

    def _fits(self, position: int, key: tuple) -> bool:
        before = self._keys[position - 1] if position > 0 else None
        after = self._keys[position + 1] if position + 1 < len(self._keys) else None
        return (before is None or before <= key) and (after is None or key <= after)

    def _remove_at(self, position: int) -> None:
        qt_row = self._qt_row(position)
        self.beginRemoveRows(QModelIndex(), qt_row, qt_row)
        del self._rows[position]
        del self._keys[position]
        self.endRemoveRows()

    def _insert(self, row: tuple, key: tuple) -> None:
        position = bisect.bisect_left(self._keys, key)
        qt_row = len(self._rows) - position if self._descending() else position
        self.beginInsertRows(QModelIndex(), qt_row, qt_row)
        self._rows.insert(position, row)
        self._keys.insert(position, key)
        self.endInsertRows()

    def _refresh_countdowns(self) -> None:
        if self._rows:
            self.dataChanged.emit(self.index(0, COL_NEXT), self.index(len(self._rows) - 1, COL_NEXT),
                                  [Qt.ItemDataRole.DisplayRole])

    # -- Qt model interface -------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section] if 0 <= section < len(HEADERS) else None
        return None

    def row_at(self, qt_row: int) -> tuple:
        return self._rows[self._internal(qt_row)]

    def position_of(self, call_id: int) -> int | None:
        """Return the Qt row showing this call, or None when it is filtered out."""
        row = self._all.get(call_id)
        position = self._find(row) if row is not None else None
        return self._qt_row(position) if position is not None else None

    def position_of_call_sid(self, call_sid: str) -> int | None:
        call_id = board.call_id_for(self._db, call_sid)
        return self.position_of(call_id) if call_id is not None else None

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(timezone.utc)

    def _when(self, row: tuple) -> str:
        local = board.parse_time(row[R_STARTED]).astimezone(self._zone)
        today = self._now().astimezone(self._zone).date()
        clock = local.strftime("%I:%M %p").lstrip("0")
        if local.date() == today:
            return clock
        if today - timedelta(days=6) <= local.date() < today:
            return f"{local.strftime('%a')} {clock}"
        if local.year != today.year:
            return f"{local.strftime('%b')} {local.day} {local.year}, {clock}"
        return f"{local.strftime('%b')} {local.day}, {clock}"

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row = self._rows[self._internal(index.row())]
        column = index.column()
        intent = row[R_INTENT]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.BackgroundRole:
            if column == COL_INTENT and intent:
                return QBrush(QColor(INTENT_COLORS[intent]))
            return QBrush(QColor(INTENT_TINTS[intent])) if intent else None
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_INTENT and intent:
            return QBrush(QColor("#FFFFFF" if intent != "inquiry" else "#3A2A00"))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COL_SECONDS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == CallIdRole:
            return row[R_ID]
        if role == ContactIdRole:
            return row[R_CONTACT] if row[R_CONTACT] is not None else -1
        if role == IntentRole:
            return intent or ""
        if role == RowRole:
            return row
        return None

    def _display(self, row: tuple, column: int):
        if column == COL_WHEN:
            return self._when(row)
        if column == COL_CALLER:
            return board.caller_text(row)
        if column == COL_DIALED:
            return board.dialed_text(row)
        if column == COL_LO:
            return row[R_LO]
        if column == COL_SECONDS:
            return "" if row[R_SECONDS] is None else str(row[R_SECONDS])
        if column == COL_INTENT:
            return (row[R_INTENT] or "").capitalize()
        if column == COL_SOURCE:
            return board.source_text(row[R_SOURCE])
        if column == COL_STATUS:
            return board.status_text(row, row[R_CONTACT] in self._review)
        if column == COL_FIRST_TEXT:
            return board.first_text_text(row)
        if column == COL_NEXT:
            step = self._next.get(row[R_CONTACT])
            if step is None:
                return ""
            return board.next_step_text(step[0], board.parse_time(step[1]), self._now())
        return None

    def _tooltip(self, row: tuple, column: int):
        if column == COL_STATUS:
            return board.status_tooltip(row, row[R_CONTACT] in self._review)
        if column == COL_CALLER:
            text = board.caller_text(row)
            return text + (" — left a voicemail" if row[R_VOICEMAIL] else "")
        if column == COL_WHEN:
            return board.parse_time(row[R_STARTED]).astimezone(self._zone).strftime(
                "%a %b %d %Y, %I:%M %p %Z")
        if column == COL_FIRST_TEXT and row[R_TEXT_DETAIL]:
            return row[R_TEXT_DETAIL]
        if column == COL_NEXT:
            step = self._next.get(row[R_CONTACT])
            if step is not None:
                return board.parse_time(step[1]).astimezone(self._zone).strftime("%a %b %d, %I:%M %p %Z")
        return None
