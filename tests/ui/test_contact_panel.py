"""The contact detail panel and the test-call dialog, driven through the main window."""

from __future__ import annotations

import lameenc
import pytest
from PySide6.QtCore import Qt
from sqlmodel import select

from desktop_app.core import models
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.test_call_dialog import TestCallDialog
from tests.helpers import (GENERAL_LINE, add_team, call_sid, contact_by_phone, message_sid,
                           sms_params, status_params, steps_for)

pytestmark = pytest.mark.gui
CALLER = "+12125550143"


@pytest.fixture
def window(qtbot, app, client):
    client.post("/twilio/call-status", status_params(call_sid(), CALLER, GENERAL_LINE,
                                                     status="no-answer", duration=15))
    app.outbox.wait_idle()
    win = MainWindow(app)
    qtbot.addWidget(win)
    win.show()
    win.table.setFocus()
    win.table.selectRow(0)
    qtbot.keyClick(win.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: win.contact_panel.detail is not None, timeout=3000)
    return win


def click_and_wait(qtbot, panel, button, action):
    with qtbot.waitSignal(panel.actionFinished, timeout=5000) as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == action
    assert blocker.args[1] is None


def test_enter_opens_the_contact(window):
    panel = window.contact_panel
    assert window.contact_dock.isVisible()
    assert "(212) 555-0143" in panel.number_label.text()
    assert len(panel.timeline_entries) >= 2
    assert any(summary.startswith("Missed call") for _when, summary in panel.timeline_entries)
    assert "Missed call" in panel.timeline.toPlainText()
    assert len(panel.step_entries) == 6
    assert "Voicemail drop" in panel.steps.toPlainText()


def test_pause_then_resume(qtbot, window, app):
    panel = window.contact_panel
    click_and_wait(qtbot, panel, panel.pause_button, "pause")
    contact = contact_by_phone(app.ctx, CALLER)
    assert contact.paused
    assert all(s.status in ("sent", "cancelled") for s in steps_for(app.ctx, contact.id))
    assert panel.pause_button.text() == "Resume"
    click_and_wait(qtbot, panel, panel.pause_button, "resume")
    contact = contact_by_phone(app.ctx, CALLER)
    assert not contact.paused
    assert any(s.status == "scheduled" for s in steps_for(app.ctx, contact.id))
    assert "Earlier plan" in panel.steps.toPlainText()
    assert panel.step_entries[-1][2] == "cancelled"  # the replaced steps come last


def test_mark_contacted_closes_task(qtbot, window, app):
    panel = window.contact_panel
    click_and_wait(qtbot, panel, panel.contacted_button, "contacted")
    with app.ctx.db.read() as session:
        task = session.exec(select(models.Task)).one()
    assert task.status == "done"
    assert "Contacted" in panel.status_label.text()


def test_do_not_contact_toggle(qtbot, window, app):
    panel = window.contact_panel
    click_and_wait(qtbot, panel, panel.dnc_button, "do_not_contact")
    assert contact_by_phone(app.ctx, CALLER).do_not_contact
    assert panel.dnc_button.text() == "Allow contact"
    assert "do-not-contact" in panel.optout_label.text()


def test_invalid_email_is_refused_in_place(qtbot, window, app):
    panel = window.contact_panel
    panel.tabs.setCurrentIndex(2)
    panel.email_edit.clear()
    qtbot.keyClicks(panel.email_edit, "not-an-email")
    with qtbot.waitSignal(panel.actionFinished, timeout=5000) as blocker:
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert blocker.args[1] is not None
    assert "not an email address" in panel.details_error.text()
    panel.email_edit.clear()
    qtbot.keyClicks(panel.email_edit, "maria@example.com")
    qtbot.keyClicks(panel.first_edit, "Maria")
    with qtbot.waitSignal(panel.actionFinished, timeout=5000):
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    contact = contact_by_phone(app.ctx, CALLER)
    assert contact.email == "maria@example.com"
    assert contact.first_name == "Maria"
    qtbot.waitUntil(lambda: window.model.index(0, 1).data().startswith("Maria"), timeout=3000)


def test_flagged_reply_shows_banner(qtbot, window, client):
    client.post("/twilio/sms", sms_params(message_sid(), CALLER, GENERAL_LINE,
                                          body="don't stop calling me"))
    panel = window.contact_panel
    qtbot.waitUntil(lambda: panel.flag_banner.isVisible(), timeout=3000)
    assert "Needs a person" in panel.flag_banner.text()


def test_voicemail_is_fetched_with_twilio_auth(qtbot, app, client, twilio_api, window):
    encoder = lameenc.Encoder()
    encoder.set_channels(1)
    encoder.set_in_sample_rate(8000)
    encoder.set_bit_rate(32)
    audio = encoder.encode(b"\x00\x00" * 8000) + encoder.flush()
    twilio_api.recordings["RE" + "a" * 32] = audio
    with app.ctx.db.read() as session:
        call = session.exec(select(models.Call)).one()
    client.post("/twilio/recording", {
        "AccountSid": twilio_api.account_sid, "CallSid": call.call_id, "RecordingSid": "RE" + "a" * 32,
        "RecordingUrl": f"{twilio_api.url}/2010-04-01/Accounts/{twilio_api.account_sid}/Recordings/{'RE' + 'a' * 32}",
        "RecordingDuration": "7", "RecordingStatus": "completed"})
    panel = window.contact_panel
    qtbot.waitUntil(lambda: panel.voicemail_row.isVisible(), timeout=3000)
    assert "7 s" in panel.voicemail_label.text()
    with qtbot.waitSignal(panel.actionFinished, timeout=10000) as blocker:
        qtbot.mouseClick(panel.play_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["voicemail", None]
    saved = app.ctx.data_dir / "voicemails" / ("RE" + "a" * 32 + ".mp3")
    assert saved.read_bytes() == audio
    request = [r for r in twilio_api.requests if r.path.endswith(".mp3")][0]
    assert request.auth == (twilio_api.account_sid, twilio_api.auth_token)


def test_test_call_dialog_checks_numbers(qtbot, app):
    add_team(app.ctx)
    dialog = TestCallDialog(app.ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.seconds_spin.setValue(45)
    assert "hot" in dialog.intent_label.text()
    qtbot.keyClicks(dialog.caller_edit, "12345")
    dialog.buttons.accepted.emit()
    assert "Caller" in dialog.error_label.text()
    assert dialog.result() == 0
    dialog.caller_edit.clear()
    qtbot.keyClicks(dialog.caller_edit, "(303) 555-0147")
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        dialog.buttons.accepted.emit()
    assert dialog.caller() == "+13035550147"
    assert dialog.dialed() == "+12125550100"
    assert dialog.seconds() == 45
