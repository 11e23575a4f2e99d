"""Screenshots of the main window with the generated demo brokerage (board and contact panel)."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtWidgets import QApplication

from desktop_app.core import demo
from desktop_app.core.app import AppOptions, DeskApp
from desktop_app.core.board import R_CONTACT, R_INTENT, R_STATUS
from desktop_app.core.clock import ManualClock
from tests.ui.screenshots import settle

# Tuesday 3 March 2026, 10:20 a.m. in New York: mid-morning, after the Monday rush.
SHOT_TIME = datetime(2026, 3, 3, 15, 20, tzinfo=timezone.utc)


def _desk(contacts: int) -> DeskApp:
    data_dir = Path(tempfile.mkdtemp(prefix="mcd-shot-"))
    clock = ManualClock(SHOT_TIME)
    desk = DeskApp(AppOptions(data_dir=data_dir, port=0, tunnel=False, start_scheduler=False),
                   clock=clock, environ={})
    demo.fill(desk.ctx, contacts, now=SHOT_TIME)
    desk.start()
    return desk


def board(out_dir: Path, app: QApplication) -> None:
    from desktop_app.ui.main_window import MainWindow

    desk = _desk(320)
    window = MainWindow(desk)
    window.resize(1366, 768)
    window.show()
    settle(app, 500)
    window.grab().save(str(out_dir / "board.png"))

    # The contact panel, on a hot caller who replied.
    for row in range(window.model.rowCount()):
        data = window.model.row_at(row)
        if data[R_INTENT] == "hot" and data[R_STATUS] == "replied" and data[R_CONTACT]:
            window.table.selectRow(row)
            window.open_contact(data[R_CONTACT])
            break
    settle(app, 500)
    window.grab().save(str(out_dir / "contact.png"))
    window.close()
    desk.stop()


def test_call_dialog(out_dir: Path, app: QApplication) -> None:
    from desktop_app.ui.test_call_dialog import TestCallDialog

    desk = _desk(20)
    dialog = TestCallDialog(desk.ctx, seconds=27)
    dialog.caller_edit.setText("(303) 555-0147")
    dialog.show()
    settle(app, 300)
    dialog.grab().save(str(out_dir / "test-call.png"))
    dialog.close()
    desk.stop()
