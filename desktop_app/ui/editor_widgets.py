"""Small pieces the editor dialogs share: inline error labels, banners and the unsaved-changes prompt."""

from __future__ import annotations

from typing import Callable

import shiboken6
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

ERROR_STYLE = "color: #B71C1C;"
OK_STYLE = "color: #1B5E20;"
HINT_STYLE = "color: #546E7A;"
BANNER_STYLE = ("QLabel { background: #FFF8E1; color: #5D4300; border: 1px solid #F3D98B;"
                " border-radius: 4px; padding: 6px 8px; }")
INVALID_FIELD_STYLE = "border: 1px solid #C62828; border-radius: 3px;"

# Choices the unsaved-changes prompt passes to its callback.
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


class MessageLabel(QLabel):
    """A word-wrapped line under a field or a group: hidden when empty, red for errors."""

    def __init__(self, parent: QWidget | None = None, object_name: str = ""):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setObjectName(object_name)
        self.kind = ""
        self.hide()

    def show_error(self, text: str) -> None:
        self._show(text, "error", ERROR_STYLE)

    def show_ok(self, text: str) -> None:
        self._show(text, "ok", OK_STYLE)

    def show_hint(self, text: str) -> None:
        self._show(text, "hint", HINT_STYLE)

    def clear_message(self) -> None:
        self.kind = ""
        self.setText("")
        self.hide()

    def _show(self, text: str, kind: str, style: str) -> None:
        self.kind = kind
        self.setStyleSheet(style)
        self.setText(text)
        self.setVisible(bool(text))


def alive(widget: QWidget) -> bool:
    """Whether a widget still exists: a background task may finish after its dialog is gone."""
    return shiboken6.isValid(widget)


def banner(text: str, parent: QWidget | None = None, object_name: str = "banner") -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setStyleSheet(BANNER_STYLE)
    return label


def mark_invalid(widget: QWidget, invalid: bool) -> None:
    widget.setStyleSheet(INVALID_FIELD_STYLE if invalid else "")
    widget.setProperty("invalid", invalid)


def ask_unsaved(parent: QWidget, what: str, on_choice: Callable[[str], None]) -> QMessageBox:
    """Ask whether to save unsaved changes; call on_choice(SAVE, DISCARD or CANCEL) afterwards.

    The box is window-modal and opened with open(), so the event loop keeps running (tests
    click its buttons instead of waiting on exec()).
    """
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                      f"{what} has changes that are not saved.", parent=parent)
    box.setObjectName("unsavedPrompt")
    box.setInformativeText("Save them, or discard them?")
    box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                           | QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    choices = {QMessageBox.StandardButton.Save: SAVE, QMessageBox.StandardButton.Discard: DISCARD}

    def finished() -> None:
        clicked = box.standardButton(box.clickedButton()) if box.clickedButton() else None
        box.deleteLater()
        on_choice(choices.get(clicked, CANCEL))

    box.finished.connect(finished)
    box.open()
    return box


def confirm(parent: QWidget, title: str, text: str, action: str,
            on_yes: Callable[[], None]) -> QMessageBox:
    """Ask before a destructive action; call on_yes() if the user picks `action`.

    Opened with open() like ask_unsaved, so tests can click its buttons.
    """
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    box.setObjectName("confirmPrompt")
    yes = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)

    def finished() -> None:
        chosen = box.clickedButton() is yes
        box.deleteLater()
        if chosen:
            on_yes()

    box.finished.connect(finished)
    box.open()
    return box
