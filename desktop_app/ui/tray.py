"""The system tray: service state, notifications, closing to the tray and quitting."""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QSystemTrayIcon, QWidget

from sqlalchemy.exc import SQLAlchemyError

from desktop_app import APP_NAME
from desktop_app.core import pending
from desktop_app.core.db import StorageError
from desktop_app.core.paths import resources_dir
from desktop_app.ui.bridge import CoreBridge
from desktop_app.ui.workers import run_task

log = logging.getLogger(__name__)

BADGE_COLORS = {"ok": "#2E7D32", "warn": "#F9A825", "error": "#C62828"}
NOTICE_MSECS = 10000
HINT_TITLE = f"{APP_NAME} is still running"
HINT_TEXT = ("It keeps answering missed calls from the tray. To stop it, right-click this icon "
             "and choose Quit.")
# Core notification kinds that call for a warning icon rather than an information icon.
WARNING_KINDS = ("tunnel", "provider_error", "opt_out")


def badge_icon(state: str, size: int = 64) -> QIcon:
    """Draw the app icon with a colored state dot in its lower right corner."""
    base = QIcon(str(resources_dir() / "icons" / "app.svg"))
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    base.paint(painter, 0, 0, size, size)
    radius = size * 0.2
    center = QPointF(size - radius - 1, size - radius - 1)
    painter.setPen(QPen(QColor("white"), size * 0.06))
    painter.setBrush(QColor(BADGE_COLORS[state]))
    painter.drawEllipse(QRectF(center.x() - radius, center.y() - radius, 2 * radius, 2 * radius))
    painter.end()
    return QIcon(pixmap)


def ask_with_message_box(parent: QWidget | None, title: str, text: str) -> bool:
    """Ask a yes/no question in a modal message box; return True for yes."""
    answer = QMessageBox.question(parent, title, text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class Tray(QObject):
    """The tray icon of a running app, or the same behaviour without a tray.

    Signals: openContact(int) when the coordinator clicks a notification about a contact;
    openTunnelPanel() when they click a tunnel notification or choose Tunnel in the menu.

    The main window's closeEvent calls window_closing(event) first and stops only when it
    returns True. The Quit action calls request_quit(). `available` defaults to
    QSystemTrayIcon.isSystemTrayAvailable(); without a tray, closing the window quits after the
    same question about pending steps. `ask(parent, title, text) -> bool` shows that question
    and `quit_app()` ends the application (tests pass their own).
    """

    openContact = Signal(int)
    openTunnelPanel = Signal()

    def __init__(self, desk, window: QWidget, parent: QObject | None = None, *,
                 available: bool | None = None,
                 ask: Callable[[QWidget | None, str, str], bool] = ask_with_message_box,
                 quit_app: Callable[[], None] | None = None):
        super().__init__(parent if parent is not None else window)
        self.desk = desk
        self.window = window
        self.available = QSystemTrayIcon.isSystemTrayAvailable() if available is None else available
        self.ask = ask
        # exit() ends the event loop without close events, which would only hide the window.
        self.quit_app = quit_app or (lambda: QApplication.instance().exit(0))
        self.state = ""
        self.tooltip = ""
        # Every message shown, as (kind, title, text, contact id): the window's log and tests read it.
        self.shown: list[tuple[str, str, str, int]] = []
        self._clicked_contact = -1
        self._clicked_kind = ""
        self._icons = {state: badge_icon(state) for state in BADGE_COLORS}

        self.bridge = CoreBridge(desk.bus, self)
        self.bridge.notification.connect(self.notify)
        self.bridge.serviceState.connect(lambda *_: self.refresh())
        detach = self.bridge.detach
        self.destroyed.connect(lambda *_: detach())

        self.icon: QSystemTrayIcon | None = None
        if self.available:
            self.icon = QSystemTrayIcon(self)
            self.menu = self._build_menu()
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._on_activated)
            self.icon.messageClicked.connect(self._on_message_clicked)
            # Closing the window hides it; the app ends only through Quit.
            QApplication.instance().setQuitOnLastWindowClosed(False)
        self.refresh()
        if self.icon is not None:
            self.icon.show()

    def _build_menu(self) -> QMenu:
        menu = QMenu()
        self.open_action = QAction(f"Open {APP_NAME}", menu)
        self.open_action.triggered.connect(self.show_window)
        self.tunnel_action = QAction("Tunnel\u2026", menu)
        self.tunnel_action.triggered.connect(self.openTunnelPanel)
        self.quit_action = QAction("Quit", menu)
        self.quit_action.triggered.connect(self.request_quit)
        menu.addAction(self.open_action)
        menu.addAction(self.tunnel_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        return menu

    # -- state ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Set the icon and tooltip from the listener's and the tunnel's state."""
        ctx = self.desk.ctx
        listener = self.desk.listener
        tunnel = self.desk.tunnel
        problem = getattr(tunnel, "problem", None)
        public_url = ctx.public_url()
        lines = [APP_NAME]
        if listener is None or not listener.running:
            self.state = "error"
            lines.append("Not listening: calls are not answered")
        else:
            lines.append(f"Listening on 127.0.0.1:{ctx.listen_port}")
            if public_url:
                lines.append(f"Public URL: {public_url}")
            else:
                lines.append("No public URL: providers cannot reach this PC")
            self.state = "ok" if public_url and not problem else "warn"
        if problem:
            lines.append("Tunnel: " + _first_sentence(problem))
        self.tooltip = "\n".join(lines)
        if self.icon is not None:
            self.icon.setIcon(self._icons[self.state])
            self.icon.setToolTip(self.tooltip)

    # -- notifications --------------------------------------------------------------------------

    def notify(self, kind: str, title: str, text: str, contact_id: int = -1) -> None:
        """Show a core notification: a tray message, or without a tray the window's status bar."""
        self.shown.append((kind, title, text, contact_id))
        self._clicked_contact, self._clicked_kind = contact_id, kind
        if self.icon is not None:
            icon = (QSystemTrayIcon.MessageIcon.Warning if kind in WARNING_KINDS
                    else QSystemTrayIcon.MessageIcon.Information)
            self.icon.showMessage(title, text, icon, NOTICE_MSECS)
            return
        status_bar = getattr(self.window, "statusBar", None)
        if callable(status_bar):
            status_bar().showMessage(f"{title}: {text}", NOTICE_MSECS)
        QApplication.alert(self.window)

    def _on_message_clicked(self) -> None:
        self.show_window()
        if self._clicked_contact >= 0:
            self.openContact.emit(self._clicked_contact)
        elif self._clicked_kind == "tunnel":
            self.openTunnelPanel.emit()

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_window()

    def show_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    # -- closing and quitting -------------------------------------------------------------------

    def window_closing(self, event) -> bool:
        """Handle the main window's close event; return True when the app should quit now.

        With a tray the window only hides, and the first time a tray message tells that the
        app keeps running. Without one, closing quits after the question about pending steps.
        """
        if self.icon is not None:
            event.ignore()
            self.window.hide()
            self._show_hint_once()
            return False
        if not self._confirm_quit():
            event.ignore()
            return False
        event.accept()
        return True

    def request_quit(self) -> bool:
        """Quit the app (the Quit action), after the question about pending steps."""
        if not self._confirm_quit():
            return False
        if self.icon is not None:
            self.icon.hide()
        self.quit_app()
        return True

    def _confirm_quit(self) -> bool:
        ctx = self.desk.ctx
        try:
            # Runs on the GUI thread because the question needs the count, and a count over
            # the indexed status column is quick.
            work = pending.pending_work(ctx)
        except (StorageError, SQLAlchemyError) as exc:  # a failing store must not block quitting
            log.warning("Could not count the pending steps before quitting: %s", exc)
            return True
        warning = pending.quit_warning(ctx, work)
        if warning is None:
            return True
        return self.ask(self.window, f"Quit {APP_NAME}?", f"{warning}\n\nQuit anyway?")

    def _show_hint_once(self) -> None:
        settings = self.desk.ctx.settings
        if settings.get("ui.tray_hint_shown"):
            return
        self.icon.showMessage(HINT_TITLE, HINT_TEXT, QSystemTrayIcon.MessageIcon.Information,
                              NOTICE_MSECS)
        self.shown.append(("hint", HINT_TITLE, HINT_TEXT, -1))
        self._clicked_contact, self._clicked_kind = -1, "hint"
        run_task(lambda: settings.set("ui.tray_hint_shown", True), _log_failure)


def _first_sentence(text: str, limit: int = 90) -> str:
    sentence = text.split(": ", 1)[0].split(". ", 1)[0]
    return sentence if len(sentence) <= limit else sentence[:limit - 1] + "\u2026"


def _log_failure(_result, error) -> None:
    if error is not None:
        log.warning("Could not remember that the tray hint was shown: %s", error)
