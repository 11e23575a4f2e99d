"""The live board's table model and its filter proxy."""

from __future__ import annotations

import bisect
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt, QTimer)
from PySide6.QtGui import QBrush, QColor

from desktop_app.core import board

COL_WHEN, COL_CALLER, COL_DIALED, COL_LO, COL_SECONDS, COL_INTENT, COL_SOURCE, COL_STATUS, \
    COL_FIRST_TEXT, COL_NEXT = range(10)
HEADERS = ["When", "Caller", "Number dialed", "LO", "Seconds", "Intent", "Source", "Status",
           "First text", "Next step"]

CallIdRole = Qt.ItemDataRole.UserRole + 1
ContactIdRole = Qt.ItemDataRole.UserRole + 2
IntentRole = Qt.ItemDataRole.UserRole + 3
SortRole = Qt.ItemDataRole.UserRole + 4
RowRole = Qt.ItemDataRole.UserRole + 5

INTENT_COLORS = {"accidental": "#9E9E9E", "inquiry": "#F5A623", "hot": "#E53935"}
INTENT_TINTS = {"accidental": "#F4F4F4", "inquiry": "#FFF6E5", "hot": "#FDECEC"}
FILTERS = ("all", "today", "hot", "open", "replied", "opted_out", "needs_review")
FILTER_LABELS = {"all": "All calls", "today": "Today", "hot": "Hot", "open": "Open",
                 "replied": "Replied", "opted_out": "Opted out", "needs_review": "Needs review"}


def _sort_key(row: board.BoardRow) -> tuple:
    # Newest first: negate the timestamp so bisect can keep the list in display order.
    return (-row.started_at.timestamp(), -row.call_id)


class BoardModel(QAbstractTableModel):
    """One row per missed call, newest first. Updates arrive by call or contact id and change
    rows in place (dataChanged or a single-row insert), never with a full reset."""

    def __init__(self, db, time_zone: str = "America/New_York", clock=None, parent=None):
        super().__init__(parent)
        self._db = db
        self._zone = ZoneInfo(time_zone)
        self._clock = clock
        self._rows: list[board.BoardRow] = []
        self._keys: list[tuple] = []
        self._index_of: dict[int, int] = {}
        self._by_contact: dict[int, set[int]] = {}
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
        rows = board.load_rows(self._db)
        self.beginResetModel()
        self._rows = rows
        self._keys = [_sort_key(r) for r in rows]
        self._reindex()
        self.endResetModel()

    def set_time_zone(self, name: str) -> None:
        self._zone = ZoneInfo(name)
        if self._rows:
            self.dataChanged.emit(self.index(0, COL_WHEN), self.index(len(self._rows) - 1, COL_WHEN))

    def _reindex(self) -> None:
        self._index_of = {row.call_id: i for i, row in enumerate(self._rows)}
        self._by_contact = {}
        for row in self._rows:
            if row.contact_id is not None:
                self._by_contact.setdefault(row.contact_id, set()).add(row.call_id)

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
        self._pending_calls.clear()
        for contact_id in self._pending_contacts:
            known = self._by_contact.get(contact_id)
            if known:
                call_ids |= known
            else:
                call_ids |= set(board.calls_for_contact(self._db, contact_id))
        self._pending_contacts.clear()
        if not call_ids:
            return
        fresh = {row.call_id: row for row in board.load_rows(self._db, sorted(call_ids))}
        for call_id in sorted(call_ids):
            row = fresh.get(call_id)
            position = self._index_of.get(call_id)
            if row is None:
                if position is not None:
                    self._remove(position)
                continue
            if position is None:
                self._insert(row)
            else:
                self._rows[position] = row
                if row.contact_id is not None:
                    self._by_contact.setdefault(row.contact_id, set()).add(call_id)
                self.dataChanged.emit(self.index(position, 0),
                                      self.index(position, len(HEADERS) - 1))

    def _insert(self, row: board.BoardRow) -> None:
        key = _sort_key(row)
        position = bisect.bisect_left(self._keys, key)
        self.beginInsertRows(QModelIndex(), position, position)
        self._rows.insert(position, row)
        self._keys.insert(position, key)
        if position == len(self._rows) - 1:
            self._index_of[row.call_id] = position
            if row.contact_id is not None:
                self._by_contact.setdefault(row.contact_id, set()).add(row.call_id)
        else:
            self._reindex()
        self.endInsertRows()

    def _remove(self, position: int) -> None:
        self.beginRemoveRows(QModelIndex(), position, position)
        del self._rows[position]
        del self._keys[position]
        self._reindex()
        self.endRemoveRows()

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

    def row_at(self, position: int) -> board.BoardRow:
        return self._rows[position]

    def position_of(self, call_id: int) -> int | None:
        return self._index_of.get(call_id)

    def position_of_call_sid(self, call_sid: str) -> int | None:
        for position, row in enumerate(self._rows):
            if row.call_sid == call_sid:
                return position
        return None

    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(timezone.utc)

    def _when(self, row: board.BoardRow) -> str:
        local = row.started_at.astimezone(self._zone)
        today = self._now().astimezone(self._zone).date()
        clock = local.strftime("%I:%M %p").lstrip("0")
        if local.date() == today:
            return clock
        if local.date() == today - timedelta(days=1):
            return f"Yesterday {clock}"
        return f"{local.strftime('%b')} {local.day}, {clock}"

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.BackgroundRole:
            if column == COL_INTENT and row.intent:
                return QBrush(QColor(INTENT_COLORS[row.intent]))
            if row.intent:
                return QBrush(QColor(INTENT_TINTS[row.intent]))
            return None
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_INTENT and row.intent:
            return QBrush(QColor("#FFFFFF" if row.intent != "inquiry" else "#3A2A00"))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COL_SECONDS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == CallIdRole:
            return row.call_id
        if role == ContactIdRole:
            return row.contact_id if row.contact_id is not None else -1
        if role == IntentRole:
            return row.intent or ""
        if role == SortRole:
            return self._sort_value(row, column)
        if role == RowRole:
            return row
        return None

    def _display(self, row: board.BoardRow, column: int):
        if column == COL_WHEN:
            return self._when(row)
        if column == COL_CALLER:
            return row.caller_display
        if column == COL_DIALED:
            return row.dialed_display
        if column == COL_LO:
            return row.lo_name
        if column == COL_SECONDS:
            return "" if row.seconds is None else str(row.seconds)
        if column == COL_INTENT:
            return (row.intent or "").capitalize()
        if column == COL_SOURCE:
            return board.source_text(row.lead_source)
        if column == COL_STATUS:
            return row.status_text
        if column == COL_FIRST_TEXT:
            return row.first_text_text
        if column == COL_NEXT:
            return row.next_step_text(self._now())
        return None

    def _tooltip(self, row: board.BoardRow, column: int):
        if column == COL_STATUS:
            return row.status_text
        if column == COL_FIRST_TEXT and row.first_text_detail:
            return row.first_text_detail
        if column == COL_NEXT and row.next_step_due is not None:
            return row.next_step_due.astimezone(self._zone).strftime("%a %b %d, %I:%M %p %Z")
        if column == COL_CALLER and row.voicemail:
            return "The caller left a voicemail"
        return None

    def _sort_value(self, row: board.BoardRow, column: int):
        if column == COL_WHEN:
            return row.started_at.timestamp()
        if column == COL_SECONDS:
            return row.seconds if row.seconds is not None else -1
        if column == COL_INTENT:
            return {"accidental": 0, "inquiry": 1, "hot": 2}.get(row.intent or "", -1)
        if column == COL_NEXT:
            return row.next_step_due.timestamp() if row.next_step_due else float("inf")
        return (self._display(row, column) or "").lower()


class BoardFilter(QSortFilterProxyModel):
    """Filters (today, hot, open, replied, opted out, needs review) and search by name or number."""

    def __init__(self, clock=None, time_zone: str = "America/New_York", parent=None):
        super().__init__(parent)
        self._mode = "all"
        self._needle = ""
        self._digits = ""
        self._clock = clock
        self._zone = ZoneInfo(time_zone)
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(False)

    def set_mode(self, mode: str) -> None:
        if mode not in FILTERS:
            raise ValueError(f"unknown filter {mode!r}")
        self.beginFilterChange()
        self._mode = mode
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_search(self, text: str) -> None:
        self.beginFilterChange()
        self._needle = text.strip().lower()
        digits = re.sub(r"\D", "", text)
        self._digits = digits if len(digits) >= 3 else ""
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:
        model = self.sourceModel()
        row: board.BoardRow = model.row_at(source_row)
        mode = self._mode
        if mode == "today":
            now = self._clock.now() if self._clock else datetime.now(timezone.utc)
            if row.started_at.astimezone(self._zone).date() != now.astimezone(self._zone).date():
                return False
        elif mode == "hot" and row.intent != "hot":
            return False
        elif mode == "open" and (row.contact_status not in ("open", "") or row.outcome != "missed"
                                 or row.contact_id is None):
            return False
        elif mode == "replied" and row.contact_status != "replied":
            return False
        elif mode == "opted_out" and not row.opted_out:
            return False
        elif mode == "needs_review" and not row.needs_review:
            return False
        if self._needle:
            if self._digits:
                caller_digits = re.sub(r"\D", "", row.caller)
                if self._digits in caller_digits or self._digits in re.sub(r"\D", "", row.dialed):
                    return True
            return self._needle in row.caller_name.lower()
        return True


def persistent(index) -> QPersistentModelIndex:
    return QPersistentModelIndex(index)
