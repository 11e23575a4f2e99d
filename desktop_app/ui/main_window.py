"""The main window: live board, filters, search, test call and the service status bar."""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QMainWindow, QMessageBox, QPushButton, QSizePolicy,
                               QTableView, QToolButton, QVBoxLayout, QWidget)

from desktop_app import APP_NAME
from desktop_app.core import simulate
from desktop_app.ui.board_model import (COL_CALLER, COL_DIALED, COL_FIRST_TEXT, COL_INTENT, COL_LO,
                                        COL_NEXT, COL_SECONDS, COL_SOURCE, COL_STATUS, COL_WHEN,
                                        FILTER_LABELS, FILTERS, BoardModel, ContactIdRole)
from desktop_app.ui.bridge import CoreBridge
from desktop_app.ui.workers import run_task

log = logging.getLogger(__name__)


class StatusPill(QLabel):
    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setObjectName("statusPill")

    def set_state(self, text: str, state: str = "ok", tooltip: str = "") -> None:
        self.setText(text)
        self.setToolTip(tooltip)
        self.setProperty("state", state)
        self.style().unpolish(self)
        self.style().polish(self)


class MainWindow(QMainWindow):
    """Signals: testCallFinished(object, object) with (SimulationResult, error);
    contactActivated(int) when a row is opened."""

    testCallFinished = Signal(object, object)
    contactActivated = Signal(int)

    def __init__(self, desk, parent=None):
        super().__init__(parent)
        self.desk = desk
        ctx = desk.ctx
        self.setWindowTitle(APP_NAME)
        self.resize(1366, 768)

        self.bridge = CoreBridge(ctx.bus, self)
        self.model = BoardModel(ctx.db, ctx.settings.get("brokerage.time_zone"), ctx.clock, self)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.setSpacing(6)
        layout.addLayout(self._build_top_bar())
        layout.addWidget(self._build_table(), 1)
        self.setCentralWidget(central)
        self._build_status_bar()
        self._build_actions()

        self.bridge.callChanged.connect(self.model.call_changed)
        self.bridge.contactChanged.connect(self.model.contact_changed)
        self.bridge.stepChanged.connect(lambda _step, contact: self.model.contact_changed(contact))
        self.bridge.serviceState.connect(self._on_service_state)
        self.model.rowsInserted.connect(self._update_count)
        self.model.rowsRemoved.connect(self._update_count)
        self.model.modelReset.connect(self._update_count)

        self.model.reload()
        self._refresh_status()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(5000)
        self._status_timer.timeout.connect(self._refresh_status)
        self._status_timer.start()

    # -- layout -----------------------------------------------------------------------------

    def _build_top_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(4)
        self.filter_group = QButtonGroup(self)
        self.filter_group.setExclusive(True)
        self.filter_buttons: dict[str, QToolButton] = {}
        for mode in FILTERS:
            button = QToolButton(self)
            button.setText(FILTER_LABELS[mode])
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setObjectName(f"filter_{mode}")
            self.filter_group.addButton(button)
            self.filter_buttons[mode] = button
            button.clicked.connect(lambda _checked=False, m=mode: self.set_filter(m))
            bar.addWidget(button)
        self.filter_buttons["all"].setChecked(True)
        bar.addSpacing(12)
        self.search = QLineEdit(self)
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search name or number")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(240)
        self.search.textChanged.connect(self._on_search)
        bar.addWidget(self.search)
        spacer = QWidget(self)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        self.test_call_button = QPushButton("Test call", self)
        self.test_call_button.setObjectName("primary")
        self.test_call_button.setToolTip("Send a signed missed-call webhook through the local "
                                         "listener, exactly as Twilio would")
        self.test_call_button.clicked.connect(lambda: self.send_test_call())
        bar.addWidget(self.test_call_button)
        return bar

    def _build_table(self) -> QTableView:
        self.table = QTableView(self)
        self.table.setObjectName("board")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # Set the indicator first: enabling sorting sorts once, while the model is still empty.
        self.table.horizontalHeader().setSortIndicator(COL_WHEN, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(False)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        widths = {COL_WHEN: 96, COL_CALLER: 190, COL_DIALED: 118, COL_LO: 110, COL_SECONDS: 62,
                  COL_INTENT: 84, COL_SOURCE: 112, COL_FIRST_TEXT: 186, COL_NEXT: 168}
        for column, width in widths.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(COL_STATUS, QHeaderView.ResizeMode.Stretch)
        self.table.activated.connect(self._on_activated)
        return self.table

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.listener_pill = StatusPill(parent=self)
        self.tunnel_pill = StatusPill(parent=self)
        self.mode_pill = StatusPill(parent=self)
        self.count_label = QLabel(self)
        for widget in (self.listener_pill, self.tunnel_pill, self.mode_pill):
            bar.addPermanentWidget(widget)
        bar.addWidget(self.count_label)

    def _build_actions(self) -> None:
        find = QAction("Find", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: (self.search.setFocus(), self.search.selectAll()))
        self.addAction(find)
        test = QAction("Test call", self)
        test.setShortcut(QKeySequence("Ctrl+T"))
        test.triggered.connect(lambda: self.send_test_call())
        self.addAction(test)

    # -- behaviour --------------------------------------------------------------------------

    def set_filter(self, mode: str) -> None:
        self.filter_buttons[mode].setChecked(True)
        self.model.set_mode(mode)

    def _on_search(self, text: str) -> None:
        self.model.set_search(text)

    def _update_count(self, *_args) -> None:
        shown, total = self.model.shown_count(), self.model.total_count()
        self.count_label.setText(f"{shown} of {total} missed calls" if shown != total
                                 else f"{total} missed calls")

    def _on_activated(self, index: QModelIndex) -> None:
        contact_id = index.data(ContactIdRole)
        if contact_id is not None and contact_id >= 0:
            self.contactActivated.emit(contact_id)

    def _refresh_status(self) -> None:
        ctx = self.desk.ctx
        if self.desk.listener is not None and self.desk.listener.running:
            self.listener_pill.set_state(f"Listening on 127.0.0.1:{ctx.listen_port}", "ok")
        else:
            self.listener_pill.set_state("Listener stopped", "error")
        tunnel = self.desk.tunnel
        if tunnel is not None and getattr(tunnel, "public_url", None):
            self.tunnel_pill.set_state(f"Tunnel: {tunnel.public_url}", "ok")
        elif ctx.public_url():
            self.tunnel_pill.set_state(f"Public URL: {ctx.public_url()}", "ok")
        else:
            reason = getattr(tunnel, "problem", None) or "not started"
            self.tunnel_pill.set_state("Tunnel off", "warn", reason)
        if ctx.sandbox("twilio"):
            self.mode_pill.set_state("Sandbox: texts are recorded, not sent", "warn",
                                     "No Twilio credentials are set. Add them in Settings.")
        else:
            self.mode_pill.set_state("Live", "ok")
        self._update_count()

    def _on_service_state(self, service: str, state: str, detail: str) -> None:
        self._refresh_status()

    def send_test_call(self, seconds: int = 12, dialed: str | None = None,
                       caller: str | None = None) -> None:
        ctx = self.desk.ctx
        port = ctx.listen_port
        key = ctx.twilio_signing_key()
        creds = ctx.twilio_credentials()
        base = ctx.public_url() or f"http://127.0.0.1:{port}"
        if dialed is None:
            from sqlmodel import select  # noqa: PLC0415

            from desktop_app.core import models  # noqa: PLC0415

            with ctx.db.read() as session:
                route = session.exec(select(models.Route).order_by(models.Route.id)).first()
                dialed = route.dialed if route else None
        self.test_call_button.setEnabled(False)
        self.statusBar().showMessage("Sending a test call\u2026")

        def work():
            return simulate.send_test_call(port=port, signing_key=key, caller=caller,
                                           dialed=dialed, seconds=seconds,
                                           account_sid=creds[0] if creds else None, base_url=base)

        run_task(work, self._test_call_done)

    def _test_call_done(self, result, error) -> None:
        self.test_call_button.setEnabled(True)
        if error is not None:
            self.statusBar().showMessage(f"Test call failed: {error}", 10000)
            QMessageBox.warning(self, "Test call failed", str(error))
        else:
            codes = ", ".join(f"{path.rsplit('/', 1)[-1]} {status}" for path, status in result.steps)
            self.statusBar().showMessage(f"Test call sent ({codes})", 8000)
            self.model.apply_now()
            position = self.model.position_of_call_sid(result.call_sid)
            if position is not None:
                self.table.selectRow(position)
        self.testCallFinished.emit(result, error)

    def closeEvent(self, event) -> None:
        self.bridge.detach()
        super().closeEvent(event)
