"""Table models for the sequence editor: one intent's follow-up steps, and per-state quiet-hour windows."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt

from desktop_app.core.sequence_form import describe_offset

STEP_WHEN, STEP_CHANNEL, STEP_TEMPLATE, STEP_NAME = range(4)
STEP_HEADERS = ("When", "Channel", "Template", "Step name")
CHANNEL_LABELS = {"sms": "SMS", "email": "Email", "voicemail": "Voicemail drop"}

STATE_CODE, STATE_START, STATE_END = range(3)
STATE_HEADERS = ("State", "From", "Until")


class StepsModel(QAbstractTableModel):
    """The steps of one intent, in the order they run; each step is a dict as stored in settings."""

    def __init__(self, steps: list[dict] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._steps = [dict(step) for step in steps or []]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._steps)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(STEP_HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(STEP_HEADERS):
            return STEP_HEADERS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._steps):
            return None
        step = self._steps[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                STEP_WHEN: describe_offset(int(step.get("offset_minutes", 0))),
                STEP_CHANNEL: CHANNEL_LABELS.get(step.get("channel"), step.get("channel")),
                STEP_TEMPLATE: step.get("template", ""),
                STEP_NAME: step.get("name", ""),
            }.get(index.column())
        if role == Qt.ItemDataRole.UserRole:
            return dict(step)
        return None

    def steps(self) -> list[dict]:
        return [dict(step) for step in self._steps]

    def step(self, row: int) -> dict:
        return dict(self._steps[row])

    def set_steps(self, steps: list[dict]) -> None:
        self.beginResetModel()
        self._steps = [dict(step) for step in steps]
        self.endResetModel()

    def update_step(self, row: int, step: dict) -> None:
        self._steps[row] = dict(step)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(STEP_HEADERS) - 1))

    def insert_step(self, row: int, step: dict) -> None:
        self.beginInsertRows(QModelIndex(), row, row)
        self._steps.insert(row, dict(step))
        self.endInsertRows()

    def remove_step(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._steps[row]
        self.endRemoveRows()

    def move_step(self, row: int, delta: int) -> int:
        """Move a step up (-1) or down (+1); return its new row, or the old one at an end."""
        target = row + delta
        if not 0 <= row < len(self._steps) or not 0 <= target < len(self._steps):
            return row
        # beginMoveRows names the row the moved one goes before, in the old numbering.
        destination = target + 1 if delta > 0 else target
        self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), destination)
        self._steps.insert(target, self._steps.pop(row))
        self.endMoveRows()
        return target


class StateWindowModel(QAbstractTableModel):
    """Stricter quiet-hour windows per US state, edited in place: [state, start, end] rows."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[list[str]] = []

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(STATE_HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(STATE_HEADERS):
            return STATE_HEADERS[section]
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return super().flags(index) | Qt.ItemFlag.ItemIsEditable

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows) \
                or not 0 <= index.column() < len(STATE_HEADERS):
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return self._rows[index.row()][index.column()]
        return None

    def setData(self, index: QModelIndex, value, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid() or not 0 <= index.row() < len(self._rows):
            return False
        text = str(value).strip()
        if index.column() == STATE_CODE:
            text = text.upper()
        self._rows[index.row()][index.column()] = text
        self.dataChanged.emit(index, index)
        return True

    def set_windows(self, windows: dict) -> None:
        self.beginResetModel()
        self._rows = [[state, start, end] for state, (start, end) in sorted(windows.items())]
        self.endResetModel()

    def add_window(self, state: str = "", start: str = "08:00", end: str = "20:00") -> int:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append([state, start, end])
        self.endInsertRows()
        return row

    def remove_window(self, row: int) -> None:
        if 0 <= row < len(self._rows):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

    def windows(self) -> dict:
        """Return the rows as the quiet_hours.state_windows setting (a repeated state keeps its last row)."""
        return {state: [start, end] for state, start, end in self._rows}

    def duplicate_states(self) -> list[str]:
        seen, repeated = set(), []
        for state, _start, _end in self._rows:
            if state in seen and state not in repeated:
                repeated.append(state)
            seen.add(state)
        return repeated
