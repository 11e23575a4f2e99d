"""The main window's menus, the tray hand-over and the DNC import, against a running app."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog

from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.tray import Tray
from tests.helpers import GENERAL_LINE, call_sid, contact_by_phone, status_params

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, app):
    win = MainWindow(app)
    qtbot.addWidget(win)
    win.show()
    return win


@pytest.mark.parametrize("opener, title_word", [
    ("open_templates", "Templates"), ("open_routing", "Routing"), ("open_sequence", "Sequence"),
    ("open_settings", "Settings"), ("open_tunnel_panel", "Tunnel"),
])
def test_menu_opens_each_editor_once(qtbot, window, opener, title_word):
    getattr(window, opener)()
    attribute = {"open_templates": "_templates_dialog", "open_routing": "_routing_dialog",
                 "open_sequence": "_sequence_dialog", "open_settings": "_settings_dialog",
                 "open_tunnel_panel": "_tunnel_dialog"}[opener]
    dialog = getattr(window, attribute)
    assert isinstance(dialog, QDialog)
    qtbot.waitUntil(dialog.isVisible, timeout=3000)
    getattr(window, opener)()
    assert getattr(window, attribute) is dialog  # reused, not a second copy
    dialog.close()


def test_settings_menu_lists_every_editor(window):
    labels = [a.text() for a in window.settings_menu.actions()]
    assert labels == ["Templates\u2026", "Routing and loan officers\u2026",
                      "Sequence, quiet hours and caps\u2026", "Brokerage and credentials\u2026"]


def test_dnc_import_from_the_window(qtbot, window, app, client, tmp_path):
    client.post("/twilio/call-status", status_params(call_sid(), "+12125550143", GENERAL_LINE,
                                                     status="no-answer", duration=15))
    path = tmp_path / "dnc.csv"
    path.write_text("phone\n(212) 555-0143\nnot a number\n")
    with qtbot.waitSignal(window.dncImported, timeout=5000) as blocker:
        window.import_dnc_file(path)
    report, error = blocker.args
    assert error is None
    assert report.added == 1
    assert len(report.rejected) == 1
    assert contact_by_phone(app.ctx, "+12125550143").do_not_contact
    assert "1 number(s) added" in window.statusBar().currentMessage()


def test_close_without_pending_steps_quits_without_asking(qtbot, window, app):
    questions = []
    tray = Tray(app, window, available=False,
                ask=lambda _parent, title, text: questions.append(text) or True,
                quit_app=lambda: None)
    window.attach_tray(tray)
    window.close()
    assert not window.isVisible()
    assert questions == []


def test_close_without_tray_asks_when_steps_are_pending(qtbot, window, app, client):
    client.post("/twilio/call-status", status_params(call_sid(), "+12125550143", GENERAL_LINE,
                                                     status="no-answer", duration=15))
    questions = []
    tray = Tray(app, window, available=False,
                ask=lambda _parent, title, text: questions.append(text) or False,
                quit_app=lambda: None)
    window.attach_tray(tray)
    window.close()
    assert window.isVisible()  # the answer was no
    assert questions and "step" in questions[0]
