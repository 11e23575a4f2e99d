"""The main window: live board, filters, search, test call and the service status bar."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QButtonGroup, QDockWidget,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMainWindow,
                               QMessageBox, QPushButton, QSizePolicy, QTableView, QToolButton,
                               QVBoxLayout, QWidget)

from desktop_app import APP_NAME
from desktop_app.core import simulate
from desktop_app.core.board import calls_for_contact as board_calls_for
from desktop_app.ui.board_model import (COL_CALLER, COL_DIALED, COL_FIRST_TEXT, COL_INTENT, COL_LO,
                                        COL_NEXT, COL_SECONDS, COL_SOURCE, COL_STATUS, COL_WHEN,
                                        FILTER_LABELS, FILTERS, BoardModel, ContactIdRole)
from desktop_app.ui.bridge import CoreBridge
from desktop_app.ui.contact_panel import ContactPanel
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
    contactActivated(int) when a row is opened; dncImported(object, object) with
    (DncReport, error)."""

    testCallFinished = Signal(object, object)
    contactActivated = Signal(int)
    dncImported = Signal(object, object)

    def __init__(self, desk, parent=None):
        super().__init__(parent)
        self.desk = desk
        self.tray = None
        # The Test call button repeats the last choice made in Tools > Test call.
        self._last_test_call: tuple[int, str | None, str | None] = (12, None, None)
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
        self._build_contact_dock()
        self._build_actions()
        self._build_menus()

        self.bridge.callChanged.connect(self.model.call_changed)
        self.bridge.contactChanged.connect(self.model.contact_changed)
        self.bridge.stepChanged.connect(lambda _step, contact: self.model.contact_changed(contact))
        self.bridge.serviceState.connect(self._on_service_state)
        self.bridge.contactChanged.connect(self.contact_panel.contact_changed)
        self.bridge.settingsChanged.connect(self._on_settings_changed)
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
        self.test_call_button.clicked.connect(lambda: self.send_test_call(*self._last_test_call))
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
        widths = {COL_WHEN: 104, COL_CALLER: 200, COL_DIALED: 116, COL_LO: 104, COL_SECONDS: 70,
                  COL_INTENT: 82, COL_SOURCE: 108, COL_FIRST_TEXT: 150, COL_NEXT: 186}
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
        self.setup_pill = StatusPill(parent=self)
        self.count_label = QLabel(self)
        for widget in (self.setup_pill, self.listener_pill, self.tunnel_pill, self.mode_pill):
            bar.addPermanentWidget(widget)
        bar.addWidget(self.count_label)

    def _build_contact_dock(self) -> None:
        self.contact_panel = ContactPanel(self.desk.ctx, self)
        self.contact_dock = QDockWidget("Contact", self)
        self.contact_dock.setObjectName("contactDock")
        self.contact_dock.setWidget(self.contact_panel)
        self.contact_dock.setAllowedAreas(Qt.DockWidgetArea.RightDockWidgetArea
                                          | Qt.DockWidgetArea.BottomDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.contact_dock)
        self.contact_dock.hide()
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)

    def _on_current_row(self, current, _previous) -> None:
        if current.isValid():
            contact_id = current.data(ContactIdRole)
            self.contact_panel.show_contact(contact_id if contact_id is not None and contact_id >= 0 else None)

    def open_contact(self, contact_id: int) -> None:
        """Show the contact's detail (from a notification or a row), selecting its row if shown."""
        self.contact_dock.show()
        self.contact_panel.show_contact(contact_id)
        for call_id in board_calls_for(self.desk.ctx.db, contact_id):
            position = self.model.position_of(call_id)
            if position is not None:
                self.table.selectRow(position)
                break

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        export = file_menu.addAction("Export contacts…")
        export.triggered.connect(self.export_contacts)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.request_quit)
        self.quit_action = quit_action
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.contact_dock.toggleViewAction())
        numbers = view_menu.addAction("Numbers…")
        numbers.triggered.connect(self.open_numbers)
        self.settings_menu = bar.addMenu("&Settings")
        for label, opener in (("Templates…", self.open_templates),
                              ("Routing and loan officers…", self.open_routing),
                              ("Sequence, quiet hours and caps…", self.open_sequence),
                              ("Brokerage and credentials…", self.open_settings)):
            self.settings_menu.addAction(label).triggered.connect(opener)
        self.tools_menu = bar.addMenu("&Tools")
        test_call = self.tools_menu.addAction("Test call…")
        test_call.triggered.connect(self.open_test_call_dialog)
        tunnel = self.tools_menu.addAction("Tunnel and Twilio number…")
        tunnel.triggered.connect(self.open_tunnel_panel)
        dnc_import = self.tools_menu.addAction("Import do-not-contact list…")
        dnc_import.triggered.connect(self.import_dnc_list)

    def request_quit(self) -> None:
        if self.tray is not None:
            self.tray.request_quit()
        else:
            QApplication.instance().exit(0)

    def _open_dialog(self, attribute: str, factory) -> None:
        """Open a modeless editor, reusing it while it is still open."""
        dialog = getattr(self, attribute, None)
        if dialog is None or not dialog.isVisible():
            dialog = factory()
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.destroyed.connect(lambda *_: setattr(self, attribute, None))
            setattr(self, attribute, dialog)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    def open_templates(self) -> None:
        from desktop_app.ui.templates_dialog import TemplatesDialog  # noqa: PLC0415

        self._open_dialog("_templates_dialog", lambda: TemplatesDialog(self.desk.ctx, self))

    def open_routing(self) -> None:
        from desktop_app.ui.routing_dialog import RoutingDialog  # noqa: PLC0415

        self._open_dialog("_routing_dialog", lambda: RoutingDialog(self.desk.ctx, self))

    def open_sequence(self) -> None:
        from desktop_app.ui.sequence_dialog import SequenceDialog  # noqa: PLC0415

        self._open_dialog("_sequence_dialog", lambda: SequenceDialog(self.desk.ctx, self))

    def open_settings(self) -> None:
        from desktop_app.ui.settings_dialog import SettingsDialog  # noqa: PLC0415

        self._open_dialog("_settings_dialog", lambda: SettingsDialog(self.desk.ctx, self))

    def open_tunnel_panel(self) -> None:
        from PySide6.QtWidgets import QDialog  # noqa: PLC0415

        from desktop_app.ui.tunnel_panel import TunnelPanel  # noqa: PLC0415

        def build():
            dialog = QDialog(self)
            dialog.setWindowTitle("Tunnel and Twilio number")
            layout = QVBoxLayout(dialog)
            layout.addWidget(TunnelPanel(self.desk, dialog))
            dialog.resize(640, 520)
            return dialog

        self._open_dialog("_tunnel_dialog", build)

    def import_dnc_list(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # noqa: PLC0415

        path, _ = QFileDialog.getOpenFileName(self, "Import do-not-contact list", "",
                                              "CSV files (*.csv *.txt);;All files (*)")
        if path:
            self.import_dnc_file(Path(path))

    def import_dnc_file(self, path: Path) -> None:
        from desktop_app.core import dnc  # noqa: PLC0415

        ctx = self.desk.ctx

        def done(report, error):
            if error is not None:
                QMessageBox.warning(self, "Import failed", str(error))
                self.dncImported.emit(None, error)
                return
            shown = "\n".join(report.rejected[:20])
            more = f"\n…and {len(report.rejected) - 20} more" if len(report.rejected) > 20 else ""
            text = report.summary()
            if report.rejected:
                text += f"\n\nRejected rows:\n{shown}{more}"
            self.statusBar().showMessage(report.summary(), 10000)
            box = QMessageBox(QMessageBox.Icon.Information, "Do-not-contact list imported", text,
                              QMessageBox.StandardButton.Ok, self)
            box.open()
            self.dncImported.emit(report, None)

        run_task(lambda: dnc.import_csv(ctx, path, source=path.name), done)

    def open_numbers(self) -> None:
        from desktop_app.ui.numbers_window import NumbersWindow  # noqa: PLC0415

        if getattr(self, "_numbers", None) is None:
            self._numbers = NumbersWindow(self.desk.ctx, self)
        self._numbers.show()
        self._numbers.raise_()

    def open_test_call_dialog(self) -> None:
        from desktop_app.ui.test_call_dialog import TestCallDialog  # noqa: PLC0415

        dialog = TestCallDialog(self.desk.ctx, self, seconds=self._last_test_call[0])

        def send():
            self._last_test_call = (dialog.seconds(), dialog.dialed(), dialog.caller())
            self.send_test_call(*self._last_test_call)

        dialog.accepted.connect(send)
        dialog.open()

    def export_contacts(self) -> None:
        from PySide6.QtWidgets import QFileDialog  # noqa: PLC0415

        from desktop_app.core import export  # noqa: PLC0415

        path, selected = QFileDialog.getSaveFileName(self, "Export contacts", "contacts.csv",
                                                     "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        as_json = path.lower().endswith(".json") or (selected.startswith("JSON")
                                                     and not path.lower().endswith(".csv"))
        if as_json and not path.lower().endswith(".json"):
            path += ".json"
        ctx = self.desk.ctx

        def work():
            data = export.build(ctx)
            text = export.to_json(data) if as_json else export.to_csv(data)
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            return len(data)

        def done(count, error):
            if error is not None:
                QMessageBox.warning(self, "Export failed", str(error))
            else:
                self.statusBar().showMessage(f"Exported {count} contacts to {path}", 8000)

        run_task(work, done)

    def _build_actions(self) -> None:
        find = QAction("Find", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: (self.search.setFocus(), self.search.selectAll()))
        self.addAction(find)
        test = QAction("Test call", self)
        test.setShortcut(QKeySequence("Ctrl+T"))
        test.triggered.connect(lambda: self.send_test_call(*self._last_test_call))
        self.addAction(test)
        close_contact = QAction("Close contact", self)
        close_contact.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        close_contact.triggered.connect(self.contact_dock.hide)
        self.addAction(close_contact)

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
            self.contact_dock.show()
            self.contact_panel.show_contact(contact_id)
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
        if not ctx.settings.get("brokerage.name"):
            self.setup_pill.set_state("Set your brokerage name", "warn",
                                      "Texts say \u201cour office\u201d until the brokerage name is "
                                      "set in Settings > Brokerage and credentials.")
            self.setup_pill.show()
        else:
            self.setup_pill.hide()
        if ctx.sandbox("twilio"):
            self.mode_pill.set_state("Sandbox: texts are recorded, not sent", "warn",
                                     "No Twilio credentials are set. Add them in Settings.")
        else:
            self.mode_pill.set_state("Live", "ok")
        self._update_count()

    def _on_service_state(self, service: str, state: str, detail: str) -> None:
        self._refresh_status()

    def _on_settings_changed(self, keys: list) -> None:
        if "brokerage.time_zone" in keys:
            self.model.set_time_zone(self.desk.ctx.settings.get("brokerage.time_zone"))
            self.contact_panel.reload()
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

    def attach_tray(self, tray) -> None:
        """Let the tray decide what closing the window means and route its notifications."""
        self.tray = tray
        tray.openContact.connect(self._open_contact_from_tray)
        tray.openTunnelPanel.connect(self.open_tunnel_panel)

    def _open_contact_from_tray(self, contact_id: int) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()
        self.open_contact(contact_id)

    def closeEvent(self, event) -> None:
        if self.tray is not None and not self.tray.window_closing(event):
            return
        self.bridge.detach()
        super().closeEvent(event)
