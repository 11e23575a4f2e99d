"""The template editor, driven with pytest-qt: palette, preview, segments, saving and prompts."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop_app.core import directory
from desktop_app.core.app import open_context
from desktop_app.core.templates import TemplateStore
from desktop_app.ui.templates_dialog import TemplateListModel, TemplatesDialog

pytestmark = pytest.mark.gui


@pytest.fixture
def ctx(data_dir):
    context = open_context(data_dir, environ={})
    context.settings.set_many({"brokerage.name": "Harbor Point Mortgage",
                               "brokerage.callback_number": "+12125550199"})
    context.db.write(lambda uow: directory.save_lo(uow, directory.LoanOfficerInput("Dana Reyes")))
    yield context
    context.db.close()


@pytest.fixture
def dialog(qtbot, ctx):
    widget = TemplatesDialog(ctx)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.show()
    return widget


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def click_template(qtbot, dialog, name: str) -> None:
    index = dialog.model.index(dialog.model.row_of(name), 0)
    rect = dialog.list_view.visualRect(index)
    qtbot.mouseClick(dialog.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def answer_prompt(qtbot, dialog, button: QMessageBox.StandardButton) -> None:
    qtbot.waitUntil(lambda: dialog.findChild(QMessageBox, "unsavedPrompt") is not None
                    and dialog.findChild(QMessageBox, "unsavedPrompt").isVisible())
    box = dialog.findChild(QMessageBox, "unsavedPrompt")
    qtbot.mouseClick(box.button(button), Qt.MouseButton.LeftButton)


def replace_body(qtbot, dialog, text: str) -> None:
    """Type ASCII text; paste the rest, because QTest aborts on keys outside Latin-1."""
    dialog.body.selectAll()
    qtbot.keyClick(dialog.body, Qt.Key.Key_Delete)
    if text.isascii():
        qtbot.keyClicks(dialog.body, text)
    else:
        dialog.body.insertPlainText(text)


def test_list_model_passes_qtmodeltester(qtmodeltester, ctx):
    model = TemplateListModel()
    model.set_templates(list(ctx.templates.all().values()))
    qtmodeltester.check(model, force_py=True)
    template = model.template(0)
    model.update_template(template)
    qtmodeltester.check(model, force_py=True)


def test_lists_templates_with_channel(dialog):
    names = [dialog.model.template(row).name for row in range(dialog.model.rowCount())]
    assert names[0] == "first_text"
    assert {"email_4h", "nurture_7d", "voicemail_drop"} <= set(names)
    email = dialog.model.index(dialog.model.row_of("email_4h"), 0)
    assert "Email" in email.data()
    assert email.data(Qt.ItemDataRole.ToolTipRole) == "Email four hours after the call."


def test_preview_and_segments_follow_typing(qtbot, dialog):
    assert dialog.current.name == "first_text"
    assert not dialog.subject.isVisible()
    assert "Hi Maria, you just called Harbor Point Mortgage." in dialog.preview.toPlainText()
    assert dialog.preview.toPlainText().endswith("Reply STOP to opt out.")
    assert dialog.segments.text().startswith("GSM-7,")
    replace_body(qtbot, dialog, "Hi {first_name}, call {lo_name} back.")
    assert dialog.preview.toPlainText() == "Hi Maria, call Dana Reyes back. Reply STOP to opt out."
    assert dialog.segments.text() == "GSM-7, 54 characters, 1 segment (160 per segment)"
    assert dialog.dirty


def test_palette_inserts_at_cursor(qtbot, dialog):
    replace_body(qtbot, dialog, "Hi , thanks")
    cursor = dialog.body.textCursor()
    cursor.setPosition(3)
    dialog.body.setTextCursor(cursor)
    click(qtbot, dialog.placeholder_buttons["first_name"])
    assert dialog.body.toPlainText() == "Hi {first_name}, thanks"
    assert dialog.placeholder_buttons["first_name"].toolTip().startswith("Borrower's first name")


def test_palette_inserts_into_subject_of_email(qtbot, dialog):
    click_template(qtbot, dialog, "email_4h")
    assert dialog.subject.isVisible()
    dialog.subject.setFocus()
    dialog.subject.end(False)
    qtbot.keyClicks(dialog.subject, " for ")
    click(qtbot, dialog.placeholder_buttons["first_name"])
    assert dialog.subject.text().endswith("- {broker_name} for {first_name}")
    assert "for Maria" in dialog.preview_subject.text()


def test_smart_quotes_force_ucs2_and_one_click_fixes(qtbot, dialog):
    replace_body(qtbot, dialog, "We\u2019re here \u2013 \u201ccall us\u201d")
    assert dialog.segments.text().startswith("UCS-2,")
    assert dialog.replace_button.isVisible()
    click(qtbot, dialog.replace_button)
    assert dialog.body.toPlainText() == "We're here - \"call us\""
    assert dialog.segments.text().startswith("GSM-7,")
    assert not dialog.replace_button.isVisible()
    dialog.body.undo()
    assert dialog.body.toPlainText() == "We\u2019re here \u2013 \u201ccall us\u201d"


def test_long_ucs2_text_counts_67_per_part(qtbot, dialog):
    ctx = dialog.ctx
    ctx.settings.set("sms.opt_out_line", False)
    click_template(qtbot, dialog, "sms_24h")
    replace_body(qtbot, dialog, "\u00ea" * 71)
    assert dialog.segments.text().startswith("UCS-2, 71 UTF-16 units, 2 segments (67 per segment)")
    assert not dialog.replace_button.isVisible()  # ê has no plain replacement


def test_unknown_placeholder_refused_and_marked(qtbot, dialog, ctx):
    replace_body(qtbot, dialog, "Hi {frist_name}, call {callback_number}")
    assert dialog.bad_placeholders() == ["{frist_name}"]
    assert len(dialog.body.extraSelections()) == 1
    with qtbot.waitSignal(dialog.saveFailed) as failed:
        click(qtbot, dialog.save_button)
    assert "unknown placeholder {frist_name}" in failed.args[1]
    assert dialog.error.isVisible()
    assert "unknown placeholder {frist_name}; use one of" in dialog.error.text()
    assert dialog.body.textCursor().selectedText() == "{frist_name}"
    assert not TemplateStore(ctx.db).get("first_text").edited


def test_save_stores_edit(qtbot, dialog, ctx):
    replace_body(qtbot, dialog, "Hi {first_name}, we missed you. Call {callback_number}.")
    with qtbot.waitSignal(dialog.saved) as saved:
        click(qtbot, dialog.save_button)
    assert saved.args == ["first_text"]
    assert not dialog.dirty
    stored = TemplateStore(ctx.db).get("first_text")
    assert stored.edited
    assert stored.body == "Hi {first_name}, we missed you. Call {callback_number}."
    row = dialog.model.index(dialog.model.row_of("first_text"), 0)
    assert "(edited)" in row.data()


def test_reset_to_default(qtbot, dialog, ctx):
    default = ctx.templates.defaults["first_text"].body
    ctx.templates.save("first_text", "Hi {first_name}.")
    with qtbot.waitSignal(dialog.resetDone):
        click(qtbot, dialog.reset_button)
    assert dialog.body.toPlainText() == default
    assert not TemplateStore(ctx.db).get("first_text").edited
    assert not dialog.dirty


def test_switching_with_changes_prompts(qtbot, dialog, ctx):
    replace_body(qtbot, dialog, "Edited text for {first_name}")
    click_template(qtbot, dialog, "sms_24h")
    answer_prompt(qtbot, dialog, QMessageBox.StandardButton.Cancel)
    assert dialog.current.name == "first_text"
    assert dialog.body.toPlainText() == "Edited text for {first_name}"

    click_template(qtbot, dialog, "sms_24h")
    with qtbot.waitSignal(dialog.saved):
        answer_prompt(qtbot, dialog, QMessageBox.StandardButton.Save)
    qtbot.waitUntil(lambda: dialog.current.name == "sms_24h")
    assert TemplateStore(ctx.db).get("first_text").body == "Edited text for {first_name}"

    replace_body(qtbot, dialog, "Thrown away")
    click_template(qtbot, dialog, "nurture_3d")
    answer_prompt(qtbot, dialog, QMessageBox.StandardButton.Discard)
    assert dialog.current.name == "nurture_3d"
    assert not TemplateStore(ctx.db).get("sms_24h").edited


def test_closing_with_changes_prompts(qtbot, dialog):
    replace_body(qtbot, dialog, "Unsaved")
    dialog.close()
    answer_prompt(qtbot, dialog, QMessageBox.StandardButton.Cancel)
    assert dialog.isVisible()
    click(qtbot, dialog.close_button)
    answer_prompt(qtbot, dialog, QMessageBox.StandardButton.Discard)
    qtbot.waitUntil(lambda: not dialog.isVisible())
