"""Table models for the loan officers and the routing table, filled from rows read off the GUI thread."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QColor

from desktop_app.core import directory, lo_recording, models, phones

IdRole = Qt.ItemDataRole.UserRole + 1
ValueRole = Qt.ItemDataRole.UserRole + 2  # the stored value behind a display text

LO_NAME, LO_PHONE, LO_EMAIL, LO_SENIOR, LO_ACTIVE, LO_HUBSPOT, LO_RECORDING, LO_RECORD = range(8)
LO_HEADERS = ("Name", "Forwarding phone", "Email", "Senior", "Active", "HubSpot owner ID",
              "Voicemail recording", "")

ROUTE_DIALED, ROUTE_LO, ROUTE_SOURCE, ROUTE_PROVIDER, ROUTE_LABEL = range(5)
ROUTE_HEADERS = ("Number dialed", "Loan officer", "Lead source", "Provider", "Label")
PROVIDER_LABELS = {"twilio": "Twilio", "ringcentral": "RingCentral"}
GENERAL_LINE = "General line (round-robin)"
_GREY = QColor("#78909C")


@dataclass(frozen=True)
class LoRow:
    id: int
    name: str
    phone: str | None
    email: str | None
    senior: bool
    active: bool
    hubspot_owner_id: str | None
    recording_seconds: float | None  # None when no recording is saved


@dataclass(frozen=True)
class RouteRow:
    id: int
    dialed: str
    lo_name: str | None
    lead_source: str | None
    provider: str
    label: str | None


def lo_row(ctx, lo: models.LoanOfficer) -> LoRow:
    """Build a row for one LO; reads the recording's length from disk."""
    recording = lo_recording.current(ctx.db, ctx.data_dir, lo.id)
    seconds = recording.seconds if recording.path is not None else None
    return LoRow(lo.id, lo.name, lo.phone, lo.email, lo.senior, lo.active, lo.hubspot_owner_id,
                 seconds)


def load_rows(ctx) -> tuple[list[LoRow], list[RouteRow]]:
    """Read every LO and route. Touches the database and the disk: run it off the GUI thread."""
    with ctx.db.read() as session:
        los = directory.list_los(session)
        names = {lo.id: lo.name for lo in los}
        routes = [RouteRow(r.id, r.dialed, names.get(r.lo_id), r.lead_source, r.provider, r.label)
                  for r in directory.list_routes(session)]
    return [lo_row(ctx, lo) for lo in los], routes


class _RowsModel(QAbstractTableModel):
    """A read-only table of frozen rows keyed by id, updated in place."""

    headers: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.rows: list = []

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.headers):
            return self.headers[section]
        return None

    def set_rows(self, rows: list) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def row_of(self, row_id: int) -> int:
        return next((i for i, row in enumerate(self.rows) if row.id == row_id), -1)

    def upsert(self, row) -> int:
        """Replace the row with the same id (dataChanged) or append it; return its position."""
        position = self.row_of(row.id)
        if position >= 0:
            self.rows[position] = row
            self.dataChanged.emit(self.index(position, 0), self.index(position, self.columnCount() - 1))
            return position
        position = len(self.rows)
        self.beginInsertRows(QModelIndex(), position, position)
        self.rows.append(row)
        self.endInsertRows()
        return position

    def remove(self, row_id: int) -> None:
        position = self.row_of(row_id)
        if position < 0:
            return
        self.beginRemoveRows(QModelIndex(), position, position)
        del self.rows[position]
        self.endRemoveRows()

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows) \
                or not 0 <= index.column() < len(self.headers):
            return None
        row = self.rows[index.row()]
        if role == IdRole:
            return row.id
        return self.cell(row, index.column(), role)

    def cell(self, row, column: int, role: int):
        raise NotImplementedError


class LoanOfficerModel(_RowsModel):
    headers = LO_HEADERS

    def cell(self, row: LoRow, column: int, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            if column == LO_NAME:
                return row.name
            if column == LO_PHONE:
                return phones.format_national(row.phone) if row.phone else "No phone (voicemail only)"
            if column == LO_EMAIL:
                return row.email or ""
            if column == LO_SENIOR:
                return "Senior" if row.senior else ""
            if column == LO_ACTIVE:
                return "Active" if row.active else "Inactive"
            if column == LO_HUBSPOT:
                return row.hubspot_owner_id or ""
            if column == LO_RECORDING:
                return f"{row.recording_seconds:.1f} s recorded" if row.recording_seconds is not None \
                    else "None yet"
            return None
        if role == ValueRole:
            return {LO_NAME: row.name, LO_PHONE: row.phone, LO_EMAIL: row.email,
                    LO_SENIOR: row.senior, LO_ACTIVE: row.active, LO_HUBSPOT: row.hubspot_owner_id,
                    LO_RECORDING: row.recording_seconds}.get(column)
        if role == Qt.ItemDataRole.ForegroundRole:
            if (column == LO_ACTIVE and not row.active) or \
                    (column == LO_RECORDING and row.recording_seconds is None) or \
                    (column == LO_PHONE and not row.phone):
                return _GREY
        if role == Qt.ItemDataRole.ToolTipRole and column == LO_RECORDING and row.recording_seconds is None:
            return "Voicemail drops for this LO are skipped until a recording is saved."
        return None


class RouteModel(_RowsModel):
    headers = ROUTE_HEADERS

    def cell(self, row: RouteRow, column: int, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            if column == ROUTE_DIALED:
                return phones.format_national(row.dialed)
            if column == ROUTE_LO:
                return row.lo_name or GENERAL_LINE
            if column == ROUTE_SOURCE:
                return row.lead_source or "missed_call_inbound (default)"
            if column == ROUTE_PROVIDER:
                return PROVIDER_LABELS.get(row.provider, row.provider)
            if column == ROUTE_LABEL:
                return row.label or ""
            return None
        if role == ValueRole:
            return {ROUTE_DIALED: row.dialed, ROUTE_LO: row.lo_name, ROUTE_SOURCE: row.lead_source,
                    ROUTE_PROVIDER: row.provider, ROUTE_LABEL: row.label}.get(column)
        if role == Qt.ItemDataRole.ForegroundRole and (
                (column == ROUTE_LO and not row.lo_name) or (column == ROUTE_SOURCE and not row.lead_source)):
            return _GREY
        return None
