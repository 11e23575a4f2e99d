"""The sequence editor, driven with pytest-qt: steps per intent, quiet hours, caps and validation."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTime, Qt
from PySide6.QtWidgets import QLineEdit

from desktop_app.core.app import open_context
from desktop_app.core.settings import DEFAULT_SEQUENCES
from desktop_app.ui.sequence_dialog import SequenceDialog
from desktop_app.ui.sequence_models import (STATE_CODE, STATE_END, STEP_CHANNEL, STEP_WHEN, StateWindowModel,
                                            StepsModel)

pytestmark = pytest.mark.gui


@pytest.fixture
def ctx(data_dir):
    context = open_context(data_dir, environ={})
    yield context
    context.db.close()


@pytest.fixture
def dialog(qtbot, ctx):
    widget = SequenceDialog(ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.show()
    return widget


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def save(qtbot, dialog) -> None:
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        click(qtbot, dialog.save_button)


def test_models_pass_qtmodeltester(qtmodeltester):
    steps = StepsModel([dict(s) for s in DEFAULT_SEQUENCES["inquiry"]])
    qtmodeltester.check(steps, force_py=True)
    steps.move_step(0, 1)
    steps.move_step(3, -1)
    steps.insert_step(1, {"name": "x", "channel": "sms", "template": "sms_24h", "offset_minutes": 30})
    steps.remove_step(0)
    qtmodeltester.check(steps, force_py=True)
    windows = StateWindowModel()
    windows.set_windows({"FL": ["08:00", "20:00"]})
    windows.add_window("ok", "09:00", "20:00")
    qtmodeltester.check(windows, force_py=True)
    assert windows.setData(windows.index(1, STATE_CODE), "ok")
    assert windows.windows() == {"FL": ["08:00", "20:00"], "OK": ["09:00", "20:00"]}


def test_shows_defaults_per_intent(qtbot, dialog):
    model = dialog.steps_table.model()
    assert [model.index(r, STEP_WHEN).data() for r in range(model.rowCount())] == [
        "at once", "1 hour", "4 hours", "1 day", "3 days", "7 days"]
    assert model.index(1, STEP_CHANNEL).data() == "Voicemail drop"
    dialog.intent_tabs.setCurrentIndex(2)
    assert dialog.intent == "accidental"
    assert dialog.steps_table.model().rowCount() == 1
    assert dialog.step_unit.currentText() == "hours"
    assert dialog.step_amount.value() == 4
    assert dialog.quiet_start.time() == QTime(8, 0)
    assert dialog.cap_day.value() == 3
    assert (dialog.catch_up_amount.value(), dialog.catch_up_unit.currentText()) == (2, "hours")


def test_template_choices_follow_channel(qtbot, dialog):
    dialog.steps_table.selectRow(0)
    offered = [dialog.step_template.itemText(i) for i in range(dialog.step_template.count())]
    assert "first_text" in offered
    assert "email_4h" not in offered
    assert "voicemail_drop" not in offered
    dialog.step_channel.setCurrentIndex(dialog.step_channel.findData("email"))
    offered = [dialog.step_template.itemText(i) for i in range(dialog.step_template.count())]
    assert offered == ["email_4h", "nurture_7d"]
    assert dialog.step_model.step(0)["template"] == "email_4h"
    assert dialog.step_model.step(0)["channel"] == "email"


def test_edit_reorder_add_remove_and_save(qtbot, dialog, ctx):
    dialog.steps_table.selectRow(3)  # sms_24h at 1 day
    dialog.step_unit.setCurrentText("hours")
    assert dialog.step_model.index(3, STEP_WHEN).data() == "1 hour"
    dialog.step_amount.setValue(20)
    assert dialog.step_model.index(3, STEP_WHEN).data() == "20 hours"
    click(qtbot, dialog.up_button)
    assert dialog.selected_row() == 2
    assert dialog.step_model.step(2)["name"] == "sms_24h"
    click(qtbot, dialog.add_step_button)
    dialog.step_name.clear()
    qtbot.keyClicks(dialog.step_name, "nurture_14d")
    dialog.step_amount.setValue(14)
    dialog.step_unit.setCurrentText("days")
    dialog.steps_table.selectRow(0)
    click(qtbot, dialog.remove_step_button)
    save(qtbot, dialog)
    stored = ctx.settings.get("sequence.steps")["inquiry"]
    assert [s["name"] for s in stored] == ["voicemail_drop", "sms_24h", "email_4h", "nurture_3d",
                                           "nurture_7d", "nurture_14d"]
    assert stored[1]["offset_minutes"] == 20 * 60
    assert stored[-1] == {"name": "nurture_14d", "channel": "sms", "template": "first_text",
                          "offset_minutes": 14 * 24 * 60}
    assert ctx.settings.get("sequence.steps")["hot"] == DEFAULT_SEQUENCES["hot"]


def test_quiet_hours_states_and_caps_saved_together(qtbot, dialog, ctx):
    dialog.quiet_start.setTime(QTime(9, 0))
    dialog.quiet_end.setTime(QTime(20, 0))
    dialog.first_reply.setChecked(False)
    click(qtbot, dialog.add_state_button)
    editor = dialog.states_table.viewport().findChild(QLineEdit)
    assert editor is not None, "the new row's state cell opens for typing"
    qtbot.keyClicks(editor, "fl")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    # The delegate commits the typed text on Return through a queued call.
    qtbot.waitUntil(lambda: dialog.state_model.windows() == {"FL": ["08:00", "20:00"]})
    dialog.cap_hour.setValue(2)
    dialog.cap_day.setValue(4)
    dialog.catch_up_amount.setValue(45)
    dialog.catch_up_unit.setCurrentText("minutes")
    save(qtbot, dialog)
    assert ctx.settings.get("quiet_hours.start") == "09:00"
    assert ctx.settings.get("quiet_hours.end") == "20:00"
    assert ctx.settings.get("quiet_hours.first_reply_immediate") is False
    assert ctx.settings.get("quiet_hours.state_windows") == {"FL": ["08:00", "20:00"]}
    assert (ctx.settings.get("caps.per_hour"), ctx.settings.get("caps.per_day")) == (2, 4)
    assert ctx.settings.get("sequence.catch_up_minutes") == 45


@pytest.mark.parametrize("change, label, words", [
    (lambda d: (d.quiet_start.setTime(QTime(22, 0))), "quiet_error", "the start must be before the end"),
    (lambda d: d.cap_day.setValue(60), "caps_error", "caps.per_day: 60 is above the maximum 50"),
    (lambda d: (d.cap_hour.setValue(5), d.cap_day.setValue(4)), "caps_error", "5 texts per hour is more"),
    (lambda d: (d.add_state(), d.state_model.setData(d.state_model.index(0, STATE_CODE), "Florida")),
     "states_error", "'FLORIDA' is not a US state code"),
    (lambda d: (d.add_state(), d.state_model.setData(d.state_model.index(0, STATE_CODE), "TX"),
                d.state_model.setData(d.state_model.index(0, STATE_END), "7pm")),
     "states_error", "'7pm' is not a time of day"),
    (lambda d: (d.add_state(), d.add_state(),
                d.state_model.setData(d.state_model.index(0, STATE_CODE), "TX"),
                d.state_model.setData(d.state_model.index(1, STATE_CODE), "TX")),
     "states_error", "TX appears more than once"),
    (lambda d: (d.steps_table.selectRow(0), d.step_name.clear(), d._apply_form()),
     "steps_error", "the step needs a name"),
])
def test_invalid_values_refused_with_message(qtbot, dialog, ctx, change, label, words):
    change(dialog)
    with qtbot.waitSignal(dialog.saveFailed) as failed:
        click(qtbot, dialog.save_button)
    assert words in failed.args[1]
    message = getattr(dialog, label)
    assert message.isVisible()
    assert words in message.text()
    assert ctx.settings.stored_values() == {}


def test_duplicate_step_name_uses_setting_message(qtbot, dialog):
    dialog.steps_table.selectRow(1)
    dialog.step_name.setText("first_text")
    dialog._apply_form()
    with qtbot.waitSignal(dialog.saveFailed) as failed:
        click(qtbot, dialog.save_button)
    assert failed.args[0] == "sequence.steps"
    assert "'first_text' appears twice" in dialog.steps_error.text()
