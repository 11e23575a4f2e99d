"""The loan officers and the routing table: which LO and lead source each number dialed carries."""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTableView,
                               QTabWidget, QVBoxLayout, QWidget)

from desktop_app.core import directory, models, phones, twilio_numbers
from desktop_app.core.db import StorageError
from desktop_app.core.directory import COMMON_LEAD_SOURCES, DirectoryError
from desktop_app.core.providers.base import ProviderError
from desktop_app.ui.editor_widgets import HINT_STYLE, MessageLabel, alive, confirm
from desktop_app.ui.recorder_dialog import RecorderDialog
from desktop_app.ui.routing_models import (GENERAL_LINE, LO_ACTIVE, LO_EMAIL, LO_HUBSPOT, LO_NAME, LO_PHONE,
                                           LO_RECORD, LO_RECORDING, LO_SENIOR, PROVIDER_LABELS, ROUTE_DIALED,
                                           ROUTE_LABEL, ROUTE_LO, ROUTE_PROVIDER, ROUTE_SOURCE,
                                           LoanOfficerModel, LoRow, RouteModel, RouteRow, load_rows, lo_row)
from desktop_app.ui.workers import run_task

log = logging.getLogger(__name__)


def _table(parent: QWidget, model, name: str) -> QTableView:
    table = QTableView(parent)
    table.setObjectName(name)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(30)
    table.setShowGrid(False)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setHighlightSections(False)
    return table


def _phone_feedback(label: MessageLabel, text: str, required: bool = False) -> None:
    """Show the number in national format when it is valid, or why not."""
    if not text.strip():
        if required:
            label.show_hint("Required.")
        else:
            label.clear_message()
        return
    try:
        parsed = phones.parse_phone(text)
    except phones.InvalidPhoneNumber as exc:
        label.show_error(f"Not a valid number: {exc.reason}.")
        return
    extension = f"; the extension {parsed.extension} is not dialed" if parsed.extension else ""
    label.show_ok(f"\u2713 {parsed.national}{extension}")


class RoutingDialog(QDialog):
    """Edits loan officers and the numbers dialed.

    Signals:
    - loaded() once both tables are filled.
    - loSaved(int) and routeSaved(int) with the stored row's id.
    - loRemoved(int) and routeRemoved(int).
    - saveFailed(str) with the message shown next to the field (or under the form).
    - ownedNumbersLoaded(bool, str): whether the Twilio numbers could be listed, and the message shown.
    """

    loaded = Signal()
    loSaved = Signal(int)
    routeSaved = Signal(int)
    loRemoved = Signal(int)
    routeRemoved = Signal(int)
    saveFailed = Signal(str)
    ownedNumbersLoaded = Signal(bool, str)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.editing_lo: int | None = None
        self.editing_route: int | None = None
        # Builds the recorder; a test may set another factory on the instance.
        self.recorder_factory = RecorderDialog
        self.recorder: QDialog | None = None
        self.setWindowTitle("Loan officers and routing")
        self.resize(1180, 680)
        self.lo_model = LoanOfficerModel(self)
        self.route_model = RouteModel(self)
        self._build()
        run_task(lambda: load_rows(ctx), self._on_loaded)
        self.status.setText("Loading\u2026")
        self._load_owned_numbers()

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 10)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_lo_tab(), "Loan officers")
        self.tabs.addTab(self._build_route_tab(), "Numbers dialed")
        layout.addWidget(self.tabs, 1)
        bottom = QHBoxLayout()
        self.status = QLabel(self)
        self.status.setStyleSheet(HINT_STYLE)
        bottom.addWidget(self.status, 1)
        close = QPushButton("Close", self)
        close.setAutoDefault(False)
        close.clicked.connect(self.accept)
        bottom.addWidget(close)
        layout.addLayout(bottom)

    def _build_lo_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        self.lo_table = _table(page, self.lo_model, "loTable")
        header = self.lo_table.horizontalHeader()
        for column, width in {LO_NAME: 150, LO_PHONE: 190, LO_SENIOR: 70, LO_ACTIVE: 70,
                              LO_HUBSPOT: 150, LO_RECORDING: 150, LO_RECORD: 160}.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(LO_EMAIL, QHeaderView.ResizeMode.Stretch)
        self.lo_table.selectionModel().currentRowChanged.connect(self._on_lo_selected)
        self.lo_model.rowsInserted.connect(lambda _p, first, last: self._add_record_buttons(first, last))
        self.lo_model.modelReset.connect(lambda: self._add_record_buttons(0, self.lo_model.rowCount() - 1))
        layout.addWidget(self.lo_table, 1)

        box = QGroupBox("Loan officer", page)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.lo_name = QLineEdit(box)
        self.lo_name.setObjectName("loName")
        self.lo_name_error = MessageLabel(box, "loNameError")
        form.addRow("Name", _with_message(self.lo_name, self.lo_name_error))
        self.lo_phone = QLineEdit(box)
        self.lo_phone.setObjectName("loPhone")
        self.lo_phone.setPlaceholderText("The LO's cell or desk phone; calls ring here first")
        self.lo_phone_error = MessageLabel(box, "loPhoneError")
        self.lo_phone.textChanged.connect(lambda text: _phone_feedback(self.lo_phone_error, text))
        form.addRow("Forwarding phone", _with_message(self.lo_phone, self.lo_phone_error))
        self.lo_email = QLineEdit(box)
        self.lo_email.setObjectName("loEmail")
        self.lo_email_error = MessageLabel(box, "loEmailError")
        form.addRow("Email", _with_message(self.lo_email, self.lo_email_error))
        flags = QHBoxLayout()
        self.lo_senior = QCheckBox("Senior (gets hot calls)", box)
        self.lo_active = QCheckBox("Active (takes new calls)", box)
        self.lo_active.setChecked(True)
        flags.addWidget(self.lo_senior)
        flags.addWidget(self.lo_active)
        flags.addStretch(1)
        form.addRow("", flags)
        self.lo_hubspot = QLineEdit(box)
        self.lo_hubspot.setObjectName("loHubspot")
        self.lo_hubspot.setPlaceholderText("Optional: the LO's HubSpot user (owner) ID, so tasks are assigned to them")
        form.addRow("HubSpot owner ID", self.lo_hubspot)
        self.lo_error = MessageLabel(box, "loError")
        form.addRow(self.lo_error)
        buttons = QHBoxLayout()
        self.lo_new_button = QPushButton("New loan officer", box)
        self.lo_new_button.clicked.connect(self.new_lo)
        self.lo_remove_button = QPushButton("Remove", box)
        self.lo_remove_button.clicked.connect(self.remove_lo)
        self.lo_save_button = QPushButton("Save loan officer", box)
        self.lo_save_button.setObjectName("primary")
        self.lo_save_button.clicked.connect(self.save_lo)
        for button in (self.lo_new_button, self.lo_remove_button, self.lo_save_button):
            button.setAutoDefault(False)
        buttons.addWidget(self.lo_new_button)
        buttons.addWidget(self.lo_remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.lo_save_button)
        form.addRow(buttons)
        layout.addWidget(box)
        self.new_lo()
        return page

    def _build_route_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        self.route_table = _table(page, self.route_model, "routeTable")
        header = self.route_table.horizontalHeader()
        for column, width in {ROUTE_DIALED: 160, ROUTE_LO: 220, ROUTE_SOURCE: 230,
                              ROUTE_PROVIDER: 110}.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(ROUTE_LABEL, QHeaderView.ResizeMode.Stretch)
        self.route_table.selectionModel().currentRowChanged.connect(self._on_route_selected)
        layout.addWidget(self.route_table, 1)
        hint = QLabel("Calls to a number in this table ring its loan officer and carry its lead "
                      "source. Numbers not listed are general lines: their calls go round-robin "
                      "to the active loan officers.", page)
        hint.setWordWrap(True)
        hint.setStyleSheet(HINT_STYLE)
        layout.addWidget(hint)

        box = QGroupBox("Number dialed", page)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.route_dialed = QComboBox(box)
        self.route_dialed.setObjectName("routeDialed")
        self.route_dialed.setEditable(True)
        self.route_dialed.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.route_dialed.lineEdit().setPlaceholderText("The brokerage's number that borrowers call")
        self.route_dialed_error = MessageLabel(box, "routeDialedError")
        self.route_dialed.currentTextChanged.connect(
            lambda _text: _phone_feedback(self.route_dialed_error, self.dialed_value(), required=True))
        self.owned_status = QLabel(box)
        self.owned_status.setObjectName("ownedStatus")
        self.owned_status.setWordWrap(True)
        self.owned_status.setStyleSheet(HINT_STYLE)
        dialed = _with_message(self.route_dialed, self.route_dialed_error)
        dialed.layout().addWidget(self.owned_status)
        form.addRow("Number dialed", dialed)
        self.route_lo = QComboBox(box)
        self.route_lo.setObjectName("routeLo")
        self.route_lo_error = MessageLabel(box, "routeLoError")
        form.addRow("Loan officer", _with_message(self.route_lo, self.route_lo_error))
        self.route_source = QComboBox(box)
        self.route_source.setObjectName("routeSource")
        self.route_source.setEditable(True)
        self.route_source.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.route_source.addItems(COMMON_LEAD_SOURCES)
        self.route_source.lineEdit().setPlaceholderText("missed_call_inbound when empty")
        self.route_source_error = MessageLabel(box, "routeSourceError")
        form.addRow("Lead source", _with_message(self.route_source, self.route_source_error))
        self.route_provider = QComboBox(box)
        self.route_provider.setObjectName("routeProvider")
        for key, label in PROVIDER_LABELS.items():
            self.route_provider.addItem(label, key)
        form.addRow("Provider", self.route_provider)
        self.route_label = QLineEdit(box)
        self.route_label.setObjectName("routeLabel")
        self.route_label.setPlaceholderText("Optional: where this number is published, e.g. Zillow profile")
        form.addRow("Label", self.route_label)
        self.route_error = MessageLabel(box, "routeError")
        form.addRow(self.route_error)
        buttons = QHBoxLayout()
        self.route_new_button = QPushButton("New number", box)
        self.route_new_button.clicked.connect(self.new_route)
        self.route_remove_button = QPushButton("Remove", box)
        self.route_remove_button.clicked.connect(self.remove_route)
        self.route_save_button = QPushButton("Save number", box)
        self.route_save_button.setObjectName("primary")
        self.route_save_button.clicked.connect(self.save_route)
        for button in (self.route_new_button, self.route_remove_button, self.route_save_button):
            button.setAutoDefault(False)
        buttons.addWidget(self.route_new_button)
        buttons.addWidget(self.route_remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.route_save_button)
        form.addRow(buttons)
        layout.addWidget(box)
        self._fill_lo_choices()
        self.new_route()
        return page

    # -- loading ----------------------------------------------------------------------------

    def _on_loaded(self, result, error) -> None:
        if not alive(self):
            return
        if error is not None:
            self.status.setText(f"Could not read the loan officers and routes: {error}")
            log.warning("Loading the routing table failed: %s", error)
            return
        los, routes = result
        self.lo_model.set_rows(los)
        self.route_model.set_rows(routes)
        self._fill_lo_choices()
        self.status.setText(f"{len(los)} loan officers, {len(routes)} numbers dialed.")
        self.loaded.emit()

    def _load_owned_numbers(self) -> None:
        """List the Twilio account's numbers for the number-dialed field, off the GUI thread."""
        self.owned_status.setText("Reading the numbers on the Twilio account\u2026")
        run_task(lambda: twilio_numbers.list_owned(self.ctx), self._on_owned_numbers)

    def _on_owned_numbers(self, numbers, error) -> None:
        if not alive(self):
            return
        if isinstance(error, twilio_numbers.NotConfigured):
            message = ("No Twilio credentials are set, so the account's numbers cannot be listed. "
                       "Type the number; add the credentials in Settings to pick from a list.")
            ok = False
        elif isinstance(error, ProviderError):
            message = (f"Could not read the numbers on the Twilio account: {error.message}. Type "
                       "the number instead.")
            ok = False
        elif error is not None:
            log.error("Listing the Twilio numbers failed", exc_info=error)
            message = f"Could not read the numbers on the Twilio account: {error}. Type the number instead."
            ok = False
        else:
            typed = self.route_dialed.currentText()
            self.route_dialed.blockSignals(True)
            self.route_dialed.clear()
            for number in numbers:
                self.route_dialed.addItem(number.display, number.phone)
            self.route_dialed.setEditText(typed)
            self.route_dialed.blockSignals(False)
            message = (f"The Twilio account has {len(numbers)} number(s): pick one from the list "
                       "or type another." if numbers else "The Twilio account has no numbers yet.")
            ok = True
        self.owned_status.setText(message)
        self.ownedNumbersLoaded.emit(ok, message)

    def dialed_value(self) -> str:
        """Return the typed number, or the E.164 number behind a chosen list entry."""
        text = self.route_dialed.currentText()
        index = self.route_dialed.findText(text)
        if index >= 0 and self.route_dialed.itemData(index):
            return self.route_dialed.itemData(index)
        return text

    def _fill_lo_choices(self) -> None:
        current = self.route_lo.currentData()
        self.route_lo.clear()
        self.route_lo.addItem(GENERAL_LINE, None)
        for row in self.lo_model.rows:
            self.route_lo.addItem(row.name if row.active else f"{row.name} (inactive)", row.name)
        index = self.route_lo.findData(current)
        self.route_lo.setCurrentIndex(max(index, 0))

    def _add_record_buttons(self, first: int, last: int) -> None:
        for position in range(first, last + 1):
            button = QPushButton("Record voicemail\u2026", self.lo_table)
            button.setObjectName("recordVoicemail")
            button.setAutoDefault(False)
            lo_id = self.lo_model.rows[position].id
            button.clicked.connect(lambda _checked=False, i=lo_id: self.open_recorder(i))
            self.lo_table.setIndexWidget(self.lo_model.index(position, LO_RECORD), button)

    # -- loan officers ----------------------------------------------------------------------

    def _clear_lo_errors(self) -> None:
        for label in (self.lo_name_error, self.lo_email_error, self.lo_error):
            label.clear_message()

    def new_lo(self) -> None:
        self.editing_lo = None
        self.lo_table.clearSelection()
        for field in (self.lo_name, self.lo_phone, self.lo_email, self.lo_hubspot):
            field.clear()
        self.lo_senior.setChecked(False)
        self.lo_active.setChecked(True)
        self._clear_lo_errors()
        self.lo_remove_button.setEnabled(False)
        self.lo_save_button.setText("Add loan officer")
        self.lo_name.setFocus()

    def _on_lo_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        row: LoRow = self.lo_model.rows[current.row()]
        self.editing_lo = row.id
        self.lo_name.setText(row.name)
        self.lo_phone.setText(phones.format_national(row.phone) if row.phone else "")
        self.lo_email.setText(row.email or "")
        self.lo_senior.setChecked(row.senior)
        self.lo_active.setChecked(row.active)
        self.lo_hubspot.setText(row.hubspot_owner_id or "")
        self._clear_lo_errors()
        self.lo_remove_button.setEnabled(True)
        self.lo_save_button.setText("Save loan officer")

    def save_lo(self) -> None:
        data = directory.LoanOfficerInput(
            name=self.lo_name.text(), phone=self.lo_phone.text(), email=self.lo_email.text(),
            senior=self.lo_senior.isChecked(), active=self.lo_active.isChecked(),
            hubspot_owner_id=self.lo_hubspot.text())
        lo_id = self.editing_lo
        self._clear_lo_errors()
        self.lo_save_button.setEnabled(False)
        ctx = self.ctx

        def work() -> LoRow:
            lo = ctx.db.write(lambda uow: directory.save_lo(uow, data, lo_id))
            return lo_row(ctx, lo)

        run_task(work, self._on_lo_saved)

    def _on_lo_saved(self, row: LoRow | None, error) -> None:
        if not alive(self):
            return
        self.lo_save_button.setEnabled(True)
        if error is not None:
            self._show_save_error(error, {"name": self.lo_name_error, "phone": self.lo_phone_error,
                                          "email": self.lo_email_error}, self.lo_error)
            return
        position = self.lo_model.upsert(row)
        self._fill_lo_choices()
        self._refresh_route_names()
        self.lo_table.selectRow(position)
        self.status.setText(f"Saved {row.name}.")
        self.loSaved.emit(row.id)

    def remove_lo(self) -> None:
        lo_id = self.editing_lo
        if lo_id is None:
            return
        name = self.lo_model.rows[self.lo_model.row_of(lo_id)].name
        confirm(self, "Remove loan officer",
                f"Remove {name}? Their numbers become general lines and their contacts lose their "
                "LO. To keep the history tidy, untick Active instead.", "Remove",
                lambda: run_task(lambda: self.ctx.db.write(directory.delete_lo, lo_id),
                                 lambda _r, e: self._on_removed(e, lo_id, self.lo_model, self.loRemoved)))

    def _on_removed(self, error, row_id: int, model, signal) -> None:
        if not alive(self):
            return
        if error is not None:
            self.status.setText(f"Could not remove it: {error}")
            return
        model.remove(row_id)
        if model is self.lo_model:
            self._fill_lo_choices()
            self._refresh_route_names()
            self.new_lo()
        else:
            self.new_route()
        self.status.setText("Removed.")
        signal.emit(row_id)

    def _refresh_route_names(self) -> None:
        """Routes show LO names, which a rename or removal changes: reload them in place."""
        def work() -> list[RouteRow]:
            return load_rows(self.ctx)[1]

        def done(routes, error) -> None:
            if not alive(self) or error is not None:
                return
            for route in routes:
                self.route_model.upsert(route)

        run_task(work, done)

    def open_recorder(self, lo_id: int) -> None:
        """Open the voicemail recorder for one LO; its row shows the new recording afterwards."""
        self.recorder = self.recorder_factory(self.ctx, lo_id, self)
        self.recorder.finished.connect(lambda _result: self._refresh_lo(lo_id))
        self.recorder.open()

    def _refresh_lo(self, lo_id: int) -> None:
        def work() -> LoRow | None:
            with self.ctx.db.read() as session:
                lo = session.get(models.LoanOfficer, lo_id)
            return lo_row(self.ctx, lo) if lo is not None else None

        def done(row, error) -> None:
            if alive(self) and error is None and row is not None:
                self.lo_model.upsert(row)

        run_task(work, done)

    # -- routes -----------------------------------------------------------------------------

    def new_route(self) -> None:
        self.editing_route = None
        self.route_table.clearSelection()
        self.route_dialed.setEditText("")
        self.route_lo.setCurrentIndex(0)
        self.route_source.setEditText("")
        self.route_provider.setCurrentIndex(0)
        self.route_label.clear()
        for label in (self.route_lo_error, self.route_source_error, self.route_error):
            label.clear_message()
        _phone_feedback(self.route_dialed_error, "", required=True)
        self.route_remove_button.setEnabled(False)
        self.route_save_button.setText("Add number")

    def _on_route_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        row: RouteRow = self.route_model.rows[current.row()]
        self.editing_route = row.id
        self.route_dialed.setEditText(phones.format_national(row.dialed))
        self.route_lo.setCurrentIndex(max(self.route_lo.findData(row.lo_name), 0))
        self.route_source.setEditText(row.lead_source or "")
        self.route_provider.setCurrentIndex(max(self.route_provider.findData(row.provider), 0))
        self.route_label.setText(row.label or "")
        for label in (self.route_lo_error, self.route_source_error, self.route_error):
            label.clear_message()
        self.route_remove_button.setEnabled(True)
        self.route_save_button.setText("Save number")

    def save_route(self) -> None:
        data = directory.RouteInput(
            dialed=self.dialed_value(), lo_name=self.route_lo.currentData(),
            lead_source=self.route_source.currentText(), provider=self.route_provider.currentData(),
            label=self.route_label.text())
        route_id = self.editing_route
        for label in (self.route_lo_error, self.route_source_error, self.route_error):
            label.clear_message()
        self.route_save_button.setEnabled(False)
        ctx = self.ctx

        def work() -> RouteRow:
            route = ctx.db.write(lambda uow: directory.save_route(uow, data, route_id))
            return RouteRow(route.id, route.dialed, data.lo_name, route.lead_source, route.provider,
                            route.label)

        run_task(work, self._on_route_saved)

    def _on_route_saved(self, row: RouteRow | None, error) -> None:
        if not alive(self):
            return
        self.route_save_button.setEnabled(True)
        if error is not None:
            self._show_save_error(error, {"number dialed": self.route_dialed_error,
                                          "LO": self.route_lo_error,
                                          "lead source": self.route_source_error}, self.route_error)
            return
        position = self.route_model.upsert(row)
        self.route_table.selectRow(position)
        self.status.setText(f"Saved {phones.format_national(row.dialed)}.")
        self.routeSaved.emit(row.id)

    def remove_route(self) -> None:
        route_id = self.editing_route
        if route_id is None:
            return
        dialed = self.route_model.rows[self.route_model.row_of(route_id)].dialed
        confirm(self, "Remove number",
                f"Remove {phones.format_national(dialed)} from the routing table? Its calls then go "
                "round-robin as a general line.", "Remove",
                lambda: run_task(lambda: self.ctx.db.write(directory.delete_route, route_id),
                                 lambda _r, e: self._on_removed(e, route_id, self.route_model,
                                                                self.routeRemoved)))

    # -- errors -----------------------------------------------------------------------------

    def _show_save_error(self, error: BaseException, fields: dict[str, MessageLabel],
                         general: MessageLabel) -> None:
        if isinstance(error, DirectoryError):
            label = fields.get(error.field)
            if label is not None:
                label.show_error(error.reason[:1].upper() + error.reason[1:])
            else:
                general.show_error(str(error))
            message = str(error)
        elif isinstance(error, StorageError):
            message = f"Could not save: {error}"
            general.show_error(message)
        else:
            log.error("Saving to the routing table failed", exc_info=error)
            message = f"Could not save: {error}"
            general.show_error(message)
        self.status.setText("Not saved; see the message next to the field.")
        self.saveFailed.emit(message)


def _with_message(field: QWidget, message: QLabel) -> QWidget:
    """Stack a field over its validation message."""
    box = QWidget(field.parentWidget())
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(field)
    layout.addWidget(message)
    return box
