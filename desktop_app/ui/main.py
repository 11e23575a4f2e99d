"""Start the window: QApplication, the core app, the main window; stop everything on quit."""

from __future__ import annotations

import logging
import signal
import sys

from PySide6.QtCore import QThreadPool, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_app import APP_ID, APP_NAME, __version__
from desktop_app.core.app import AppOptions, DeskApp
from desktop_app.core.db import StorageError
from desktop_app.core.paths import resources_dir
from desktop_app.core.server import ListenerError

log = logging.getLogger(__name__)


def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / "icons" / "app.svg"))


def apply_style(app: QApplication) -> None:
    style = resources_dir() / "styles" / "app.qss"
    if style.exists():
        app.setStyleSheet(style.read_text(encoding="utf-8"))


def ensure_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv or [sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Missed-Call Desk")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    apply_style(app)
    return app


def run_window(options: AppOptions) -> int:
    from desktop_app.ui.main_window import MainWindow  # noqa: PLC0415

    qt_app = ensure_application()
    install_signal_handlers(qt_app)
    try:
        desk = DeskApp(options)
        desk.start()
    except (ListenerError, StorageError) as exc:
        QMessageBox.critical(None, APP_NAME, f"{APP_NAME} could not start.\n\n{exc}")
        return 1
    window = MainWindow(desk)
    from desktop_app.ui.tray import Tray  # noqa: PLC0415

    window.attach_tray(Tray(desk, window))
    window.show()

    def shutdown() -> None:
        log.debug("Quit: stopping background work")
        QThreadPool.globalInstance().waitForDone(5000)
        desk.stop()

    qt_app.aboutToQuit.connect(shutdown)
    return qt_app.exec()


def install_signal_handlers(qt_app: QApplication) -> None:
    """Quit cleanly on SIGINT and SIGTERM. Python runs signal handlers only between bytecodes,
    so a timer wakes the interpreter regularly while Qt's loop runs."""
    def request_quit(signum, _frame):
        log.info("Received %s, quitting", signal.Signals(signum).name)
        # Queued, so a signal that arrives before the event loop starts still ends it; exit()
        # sends no close events, so no question about pending steps blocks a service stop.
        QTimer.singleShot(0, lambda: qt_app.exit(0))

    signal.signal(signal.SIGINT, request_quit)
    signal.signal(signal.SIGTERM, request_quit)
    timer = QTimer(qt_app)
    timer.setInterval(250)
    timer.timeout.connect(lambda: None)
    timer.start()
