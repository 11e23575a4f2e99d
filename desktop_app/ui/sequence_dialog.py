"""The follow-up sequence per intent, quiet hours, per-state windows, frequency caps and catch-up."""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex, QTime, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QFormLayout, QGridLayout,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QTabBar, QTableView, QTimeEdit, QVBoxLayout, QWidget)

from desktop_app.core import models
from desktop_app.core.sequence_form import KEYS, check_form, join_offset, split_offset
from desktop_app.core.settings import SettingError
from desktop_app.ui.editor_widgets import HINT_STYLE, MessageLabel, alive
from desktop_app.ui.sequence_models import (CHANNEL_LABELS, STATE_CODE, STEP_CHANNEL, STEP_NAME, STEP_TEMPLATE,
                                            STEP_WHEN, StateWindowModel, StepsModel)
from desktop_app.ui.workers import run_task

log = logging.getLogger(__name__)

INTENT_LABELS = {"inquiry": "Inquiry (4\u201320 s on the line)", "hot": "Hot (21 s or more)",
                 "accidental": "Accidental (0\u20133 s)"}
INTENT_ORDER = ("inquiry", "hot", "accidental")
# The message label (group) that reports on each setting key.
_ERROR_GROUPS = {"sequence.steps": "steps", "quiet_hours.start": "quiet", "quiet_hours.end": "quiet",
                 "quiet_hours.first_reply_immediate": "quiet", "quiet_hours.state_windows": "states",
                 "caps.per_hour": "caps", "caps.per_day": "caps", "sequence.catch_up_minutes": "caps"}


def _table(parent: QWidget, name: str) -> QTableView:
    table = QTableView(parent)
    table.setObjectName(name)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(28)
    table.setShowGrid(False)
    table.setAlternatingRowColors(True)
    return table


class SequenceDialog(QDialog):
    """Edits the follow-up steps, quiet hours and caps, and saves them in one set_many call.

    Signals:
    - loaded() once the settings and templates are read.
    - saved() after the values are stored.
    - saveFailed(str, str) with the setting key and the message shown.
    """

    loaded = Signal()
    saved = Signal()
    saveFailed = Signal(str, str)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.templates: dict = {}
        self.step_models = {intent: StepsModel(parent=self) for intent in INTENT_ORDER}
        self.intent = INTENT_ORDER[0]
        self._filling_form = False
        self.setWindowTitle("Follow-up sequence, quiet hours and caps")
        self.resize(1200, 700)
        self._build()
        self.status.setText("Loading\u2026")
        self.save_button.setEnabled(False)
        run_task(lambda: ({key: ctx.settings.get(key) for key in KEYS}, ctx.templates.all()),
                 self._on_loaded)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 10)
        columns = QHBoxLayout()
        columns.setSpacing(12)
        columns.addWidget(self._build_steps(), 3)
        right = QVBoxLayout()
        right.addWidget(self._build_quiet_hours())
        right.addWidget(self._build_caps())
        right.addStretch(1)
        columns.addLayout(right, 2)
        outer.addLayout(columns, 1)
        buttons = QHBoxLayout()
        self.status = QLabel(self)
        self.status.setStyleSheet(HINT_STYLE)
        buttons.addWidget(self.status, 1)
        self.save_button = QPushButton("Save", self)
        self.save_button.setObjectName("primary")
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        close = QPushButton("Close", self)
        close.setAutoDefault(False)
        close.clicked.connect(self.reject)
        buttons.addWidget(close)
        outer.addLayout(buttons)

    def _build_steps(self) -> QGroupBox:
        box = QGroupBox("Follow-up steps after a missed call", self)
        layout = QVBoxLayout(box)
        self.intent_tabs = QTabBar(box)
        self.intent_tabs.setObjectName("intentTabs")
        for intent in INTENT_ORDER:
            self.intent_tabs.addTab(INTENT_LABELS[intent])
        self.intent_tabs.currentChanged.connect(lambda index: self.show_intent(INTENT_ORDER[index]))
        layout.addWidget(self.intent_tabs)
        self.steps_table = _table(box, "stepsTable")
        self.steps_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        layout.addWidget(self.steps_table, 1)
        hint = QLabel("Each step runs at its time after the call. A reply, a call back, an "
                      "opt-out or a pause cancels the steps not yet sent; texts due in quiet hours "
                      "wait for the window to open.", box)
        hint.setWordWrap(True)
        hint.setStyleSheet(HINT_STYLE)
        layout.addWidget(hint)

        row = QHBoxLayout()
        self.add_step_button = QPushButton("Add step", box)
        self.add_step_button.clicked.connect(self.add_step)
        self.remove_step_button = QPushButton("Remove", box)
        self.remove_step_button.clicked.connect(self.remove_step)
        self.up_button = QPushButton("Move up", box)
        self.up_button.clicked.connect(lambda: self.move_step(-1))
        self.down_button = QPushButton("Move down", box)
        self.down_button.clicked.connect(lambda: self.move_step(1))
        for button in (self.add_step_button, self.remove_step_button, self.up_button, self.down_button):
            button.setAutoDefault(False)
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)

        form_box = QGroupBox("Selected step", box)
        form = QFormLayout(form_box)
        self.step_name = QLineEdit(form_box)
        self.step_name.setObjectName("stepName")
        self.step_name.textEdited.connect(lambda _text: self._apply_form())
        form.addRow("Name", self.step_name)
        self.step_channel = QComboBox(form_box)
        self.step_channel.setObjectName("stepChannel")
        for key, label in CHANNEL_LABELS.items():
            self.step_channel.addItem(label, key)
        self.step_channel.currentIndexChanged.connect(self._on_channel_changed)
        form.addRow("Channel", self.step_channel)
        self.step_template = QComboBox(form_box)
        self.step_template.setObjectName("stepTemplate")
        self.step_template.currentIndexChanged.connect(lambda _index: self._apply_form())
        form.addRow("Template", self.step_template)
        when = QHBoxLayout()
        self.step_amount = QSpinBox(form_box)
        self.step_amount.setObjectName("stepAmount")
        self.step_amount.setRange(0, 10000)
        self.step_amount.valueChanged.connect(lambda _value: self._apply_form())
        self.step_unit = QComboBox(form_box)
        self.step_unit.setObjectName("stepUnit")
        self.step_unit.addItems(["minutes", "hours", "days"])
        self.step_unit.currentIndexChanged.connect(lambda _index: self._apply_form())
        when.addWidget(self.step_amount)
        when.addWidget(self.step_unit)
        when.addWidget(QLabel("after the call", form_box))
        when.addStretch(1)
        form.addRow("When", when)
        layout.addWidget(form_box)
        self.steps_error = MessageLabel(box, "stepsError")
        layout.addWidget(self.steps_error)
        self.show_intent(self.intent)
        return box

    def _build_quiet_hours(self) -> QGroupBox:
        box = QGroupBox("Quiet hours (the borrower's local time)", self)
        layout = QVBoxLayout(box)
        window = QHBoxLayout()
        window.addWidget(QLabel("Automated messages only from", box))
        self.quiet_start = QTimeEdit(box)
        self.quiet_start.setObjectName("quietStart")
        self.quiet_start.setDisplayFormat("HH:mm")
        window.addWidget(self.quiet_start)
        window.addWidget(QLabel("until", box))
        self.quiet_end = QTimeEdit(box)
        self.quiet_end.setObjectName("quietEnd")
        self.quiet_end.setDisplayFormat("HH:mm")
        window.addWidget(self.quiet_end)
        window.addStretch(1)
        layout.addLayout(window)
        self.first_reply = QCheckBox("The first text answering a call the borrower just made may "
                                     "go out at once, even in quiet hours", box)
        self.first_reply.setObjectName("firstReplyImmediate")
        layout.addWidget(self.first_reply)
        self.quiet_error = MessageLabel(box, "quietError")
        layout.addWidget(self.quiet_error)

        states = QLabel("Stricter windows for some states (two-letter code, HH:MM):", box)
        layout.addWidget(states)
        self.state_model = StateWindowModel(self)
        self.states_table = _table(box, "statesTable")
        self.states_table.setModel(self.state_model)
        self.states_table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                          | QAbstractItemView.EditTrigger.SelectedClicked
                                          | QAbstractItemView.EditTrigger.EditKeyPressed
                                          | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.states_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.states_table.setMinimumHeight(130)
        layout.addWidget(self.states_table)
        row = QHBoxLayout()
        self.add_state_button = QPushButton("Add state", box)
        self.add_state_button.clicked.connect(self.add_state)
        self.remove_state_button = QPushButton("Remove state", box)
        self.remove_state_button.clicked.connect(self.remove_state)
        for button in (self.add_state_button, self.remove_state_button):
            button.setAutoDefault(False)
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        self.states_error = MessageLabel(box, "statesError")
        layout.addWidget(self.states_error)
        return box

    def _build_caps(self) -> QGroupBox:
        box = QGroupBox("Frequency caps and catch-up", self)
        grid = QGridLayout(box)
        grid.addWidget(QLabel("Most automated texts per borrower in 60 minutes", box), 0, 0)
        self.cap_hour = QSpinBox(box)
        self.cap_hour.setObjectName("capHour")
        self.cap_hour.setRange(0, 1000)  # the setting's own range is checked on save
        grid.addWidget(self.cap_hour, 0, 1)
        grid.addWidget(QLabel("Most automated texts per borrower in 24 hours", box), 1, 0)
        self.cap_day = QSpinBox(box)
        self.cap_day.setObjectName("capDay")
        self.cap_day.setRange(0, 1000)
        grid.addWidget(self.cap_day, 1, 1)
        grid.addWidget(QLabel("A step that came due while the app was closed still runs if it "
                              "is at most this late", box), 2, 0)
        catch_up = QHBoxLayout()
        self.catch_up_amount = QSpinBox(box)
        self.catch_up_amount.setObjectName("catchUpAmount")
        self.catch_up_amount.setRange(0, 100000)
        self.catch_up_unit = QComboBox(box)
        self.catch_up_unit.setObjectName("catchUpUnit")
        self.catch_up_unit.addItems(["minutes", "hours", "days"])
        catch_up.addWidget(self.catch_up_amount)
        catch_up.addWidget(self.catch_up_unit)
        grid.addLayout(catch_up, 2, 1)
        for row in range(3):
            label = grid.itemAtPosition(row, 0).widget()
            label.setWordWrap(True)
        grid.setColumnStretch(0, 1)
        self.caps_error = MessageLabel(box, "capsError")
        grid.addWidget(self.caps_error, 3, 0, 1, 2)
        return box

    # -- loading ----------------------------------------------------------------------------

    def _on_loaded(self, result, error) -> None:
        if not alive(self):
            return
        if error is not None:
            self.status.setText(f"Could not read the settings: {error}")
            log.warning("Loading the sequence settings failed: %s", error)
            return
        values, self.templates = result
        steps = values["sequence.steps"]
        for intent in INTENT_ORDER:
            self.step_models[intent].set_steps(steps.get(intent, []))
        self.quiet_start.setTime(QTime.fromString(values["quiet_hours.start"], "HH:mm"))
        self.quiet_end.setTime(QTime.fromString(values["quiet_hours.end"], "HH:mm"))
        self.first_reply.setChecked(bool(values["quiet_hours.first_reply_immediate"]))
        self.state_model.set_windows(values["quiet_hours.state_windows"])
        self.cap_hour.setValue(values["caps.per_hour"])
        self.cap_day.setValue(values["caps.per_day"])
        amount, unit = split_offset(values["sequence.catch_up_minutes"])
        self.catch_up_amount.setValue(amount)
        self.catch_up_unit.setCurrentText(unit)
        self.show_intent(self.intent)
        self.status.setText("")
        self.save_button.setEnabled(True)
        self.loaded.emit()

    # -- steps ------------------------------------------------------------------------------

    @property
    def step_model(self) -> StepsModel:
        return self.step_models[self.intent]

    def show_intent(self, intent: str) -> None:
        self.intent = intent
        if self.intent_tabs.currentIndex() != INTENT_ORDER.index(intent):
            self.intent_tabs.setCurrentIndex(INTENT_ORDER.index(intent))
        self.steps_table.setModel(self.step_model)
        header = self.steps_table.horizontalHeader()
        header.resizeSection(STEP_WHEN, 110)
        header.resizeSection(STEP_CHANNEL, 120)
        header.resizeSection(STEP_TEMPLATE, 190)
        header.setSectionResizeMode(STEP_NAME, QHeaderView.ResizeMode.Stretch)
        self.steps_table.selectionModel().currentRowChanged.connect(self._on_step_selected)
        if self.step_model.rowCount():
            self.steps_table.selectRow(0)
        else:
            self._fill_form(None)

    def selected_row(self) -> int:
        index = self.steps_table.currentIndex()
        return index.row() if index.isValid() else -1

    def _on_step_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._fill_form(self.step_model.step(current.row()) if current.isValid() else None)

    def _fill_form(self, step: dict | None) -> None:
        self._filling_form = True
        enabled = step is not None
        for widget in (self.step_name, self.step_channel, self.step_template, self.step_amount,
                       self.step_unit, self.remove_step_button, self.up_button, self.down_button):
            widget.setEnabled(enabled)
        step = step or {"name": "", "channel": "sms", "template": "", "offset_minutes": 0}
        self.step_name.setText(step["name"])
        self.step_channel.setCurrentIndex(max(self.step_channel.findData(step["channel"]), 0))
        self._fill_templates(step["channel"], step["template"])
        amount, unit = split_offset(int(step["offset_minutes"]))
        self.step_amount.setValue(amount)
        self.step_unit.setCurrentText(unit)
        self._filling_form = False

    def _fill_templates(self, channel: str, chosen: str) -> None:
        """Offer only the templates of the step's channel."""
        self.step_template.blockSignals(True)
        self.step_template.clear()
        for name, template in self.templates.items():
            if template.channel == channel:
                self.step_template.addItem(name, name)
        index = self.step_template.findData(chosen)
        if index < 0 and chosen:
            # A stored step whose template no longer matches stays visible, so saving can report why.
            self.step_template.addItem(f"{chosen} (not a {CHANNEL_LABELS[channel]} template)", chosen)
            index = self.step_template.count() - 1
        self.step_template.setCurrentIndex(max(index, 0))
        self.step_template.blockSignals(False)

    def _on_channel_changed(self, _index: int) -> None:
        if self._filling_form:
            return
        channel = self.step_channel.currentData()
        self._fill_templates(channel, "")
        self._apply_form()

    def _apply_form(self) -> None:
        """Copy the form into the selected step (the table row updates in place)."""
        row = self.selected_row()
        if self._filling_form or row < 0:
            return
        step = {"name": self.step_name.text().strip(), "channel": self.step_channel.currentData(),
                "template": self.step_template.currentData() or "",
                "offset_minutes": join_offset(self.step_amount.value(), self.step_unit.currentText())}
        self.step_model.update_step(row, step)

    def add_step(self) -> None:
        existing = {step["name"] for step in self.step_model.steps()}
        number = len(existing) + 1
        while f"step_{number}" in existing:
            number += 1
        last = self.step_model.steps()[-1]["offset_minutes"] if self.step_model.rowCount() else 0
        template = next((name for name, t in self.templates.items() if t.channel == "sms"), "")
        row = self.step_model.rowCount()
        self.step_model.insert_step(row, {"name": f"step_{number}", "channel": "sms",
                                          "template": template, "offset_minutes": last + 24 * 60})
        self.steps_table.selectRow(row)
        self.step_name.setFocus()
        self.step_name.selectAll()

    def remove_step(self) -> None:
        row = self.selected_row()
        if row < 0:
            return
        self.step_model.remove_step(row)
        if self.step_model.rowCount():
            self.steps_table.selectRow(min(row, self.step_model.rowCount() - 1))
        else:
            self._fill_form(None)

    def move_step(self, delta: int) -> None:
        row = self.selected_row()
        if row < 0:
            return
        self.steps_table.selectRow(self.step_model.move_step(row, delta))

    # -- state windows ----------------------------------------------------------------------

    def add_state(self) -> None:
        row = self.state_model.add_window()
        index = self.state_model.index(row, STATE_CODE)
        self.states_table.setCurrentIndex(index)
        self.states_table.edit(index)

    def remove_state(self) -> None:
        index = self.states_table.currentIndex()
        if index.isValid():
            self.state_model.remove_window(index.row())

    # -- saving -----------------------------------------------------------------------------

    def values(self) -> dict:
        """Return the editor's values, keyed by setting."""
        return {
            "sequence.steps": {intent: self.step_models[intent].steps() for intent in models.INTENTS},
            "sequence.catch_up_minutes": join_offset(self.catch_up_amount.value(),
                                                     self.catch_up_unit.currentText()),
            "quiet_hours.start": self.quiet_start.time().toString("HH:mm"),
            "quiet_hours.end": self.quiet_end.time().toString("HH:mm"),
            "quiet_hours.state_windows": self.state_model.windows(),
            "quiet_hours.first_reply_immediate": self.first_reply.isChecked(),
            "caps.per_hour": self.cap_hour.value(),
            "caps.per_day": self.cap_day.value(),
        }

    def _labels(self) -> dict[str, MessageLabel]:
        return {"steps": self.steps_error, "quiet": self.quiet_error, "states": self.states_error,
                "caps": self.caps_error}

    def save(self) -> None:
        """Validate every value with its setting's rules, then store them together."""
        for label in self._labels().values():
            label.clear_message()
        repeated = self.state_model.duplicate_states()
        if repeated:
            self._show_error("quiet_hours.state_windows",
                             f"{', '.join(repeated)} appears more than once; keep one row per state")
            return
        values = self.values()
        problem = check_form(values, self.templates)
        if problem is not None:
            self._show_error(problem.key, problem.message)
            return
        self.save_button.setEnabled(False)
        self.status.setText("Saving\u2026")
        run_task(lambda: self.ctx.settings.set_many(values), self._on_saved)

    def _show_error(self, key: str, message: str) -> None:
        label = self._labels()[_ERROR_GROUPS.get(key, "steps")]
        label.show_error(message)
        self.status.setText("Not saved; see the message in red.")
        self.saveFailed.emit(key, message)

    def _on_saved(self, _result, error) -> None:
        if not alive(self):
            return
        self.save_button.setEnabled(True)
        if error is not None:
            if isinstance(error, SettingError):
                self._show_error(str(error).split(":", 1)[0], str(error))
            else:
                log.warning("Saving the sequence settings failed: %s", error)
                self._show_error("sequence.steps", f"Could not save: {error}")
            return
        self.status.setText("Saved. New calls use these steps; sequences already running keep theirs.")
        self.saved.emit()
