"""The template editor: SMS and email texts with a placeholder palette, live preview and segment count."""

from __future__ import annotations

import logging

from PySide6.QtCore import QAbstractListModel, QEvent, QItemSelectionModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QDialog, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QListView, QPlainTextEdit, QPushButton, QSizePolicy, QTextEdit,
                               QVBoxLayout, QWidget)

from desktop_app.core.db import StorageError
from desktop_app.core.template_preview import Sample, build_preview, describe_segments, load_sample
from desktop_app.core.templates import (PLACEHOLDER_HELP, Template, TemplateError, check_template,
                                        placeholder_spans, replace_smart_characters, segment_info)
from desktop_app.ui.editor_widgets import (CANCEL, DISCARD, HINT_STYLE, SAVE, MessageLabel, alive,
                                           ask_unsaved, mark_invalid)
from desktop_app.ui.workers import run_task

log = logging.getLogger(__name__)

CHANNEL_LABELS = {"sms": "SMS", "email": "Email", "voicemail": "Voicemail drop"}
NameRole = Qt.ItemDataRole.UserRole + 1
ChannelRole = Qt.ItemDataRole.UserRole + 2
EditedRole = Qt.ItemDataRole.UserRole + 3


def _utf16_offset(text: str, index: int) -> int:
    """Qt text positions count UTF-16 units; Python indexes count code points."""
    return len(text[:index].encode("utf-16-le")) // 2


class TemplateListModel(QAbstractListModel):
    """The templates, one row each: display name with channel, description as tooltip."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[Template] = []

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        template = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            edited = "  (edited)" if template.edited else ""
            return f"{template.name}\n{CHANNEL_LABELS.get(template.channel, template.channel)}{edited}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return template.description or None
        if role == Qt.ItemDataRole.FontRole and template.edited:
            font = QFont()
            font.setBold(True)
            return font
        if role == NameRole:
            return template.name
        if role == ChannelRole:
            return template.channel
        if role == EditedRole:
            return template.edited
        return None

    def set_templates(self, templates: list[Template]) -> None:
        self.beginResetModel()
        self._rows = list(templates)
        self.endResetModel()

    def template(self, row: int) -> Template:
        return self._rows[row]

    def row_of(self, name: str) -> int:
        return next((i for i, t in enumerate(self._rows) if t.name == name), -1)

    def update_template(self, template: Template) -> None:
        row = self.row_of(template.name)
        if row < 0:
            return
        self._rows[row] = template
        index = self.index(row, 0)
        self.dataChanged.emit(index, index)


class TemplatesDialog(QDialog):
    """Edits the message templates.

    Signals:
    - loaded() once the templates and the sample borrower are read.
    - saved(str) with the template's name after it is stored.
    - saveFailed(str, str) with the name and the message shown.
    - resetDone(str) with the name after a template is back to its default.
    """

    loaded = Signal()
    saved = Signal(str)
    saveFailed = Signal(str, str)
    resetDone = Signal(str)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.sample: Sample | None = None
        self.current: Template | None = None
        self.dirty = False
        self._loading_text = False
        self._closing = False
        self._pending_row: int | None = None  # row to show once the prompt is answered
        self._insert_target: QWidget | None = None
        self.setWindowTitle("Message templates")
        self.resize(1180, 700)
        self._build()
        self._set_editing_enabled(False)
        self.status.setText("Loading templates\u2026")
        now = ctx.clock.now()
        run_task(lambda: (list(ctx.templates.all().values()), load_sample(ctx, now)), self._on_loaded)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 10)
        columns = QHBoxLayout()
        columns.setSpacing(12)
        outer.addLayout(columns, 1)

        self.model = TemplateListModel(self)
        self.list_view = QListView(self)
        self.list_view.setObjectName("templateList")
        self.list_view.setModel(self.model)
        self.list_view.setFixedWidth(230)
        self.list_view.setSpacing(2)
        self.list_view.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.list_view.selectionModel().currentChanged.connect(self._on_current_changed)
        columns.addWidget(self.list_view)

        columns.addLayout(self._build_editor(), 5)
        columns.addLayout(self._build_preview(), 4)

        buttons = QHBoxLayout()
        self.reset_button = QPushButton("Reset to default", self)
        self.reset_button.setToolTip("Put back the text this template came with")
        self.reset_button.clicked.connect(self.reset_current)
        buttons.addWidget(self.reset_button)
        self.status = QLabel(self)
        self.status.setStyleSheet(HINT_STYLE)
        buttons.addWidget(self.status, 1)
        self.save_button = QPushButton("Save", self)
        self.save_button.setObjectName("primary")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(lambda: self.save_current())
        buttons.addWidget(self.save_button)
        self.close_button = QPushButton("Close", self)
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.close_button)
        outer.addLayout(buttons)

    def _build_editor(self) -> QVBoxLayout:
        layout = QVBoxLayout()
        layout.setSpacing(6)
        self.title = QLabel(self)
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.2)
        title_font.setBold(True)
        self.title.setFont(title_font)
        layout.addWidget(self.title)
        self.description = QLabel(self)
        self.description.setWordWrap(True)
        self.description.setStyleSheet(HINT_STYLE)
        layout.addWidget(self.description)

        self.subject_label = QLabel("Subject", self)
        layout.addWidget(self.subject_label)
        self.subject = QLineEdit(self)
        self.subject.setObjectName("subject")
        self.subject.textChanged.connect(self._on_text_changed)
        self.subject.installEventFilter(self)
        self.subject.cursorPositionChanged.connect(lambda *_: self._note_target(self.subject))
        layout.addWidget(self.subject)

        self.body_label = QLabel("Text", self)
        layout.addWidget(self.body_label)
        self.body = QPlainTextEdit(self)
        self.body.setObjectName("body")
        self.body.setTabChangesFocus(True)
        self.body.textChanged.connect(self._on_text_changed)
        self.body.installEventFilter(self)
        self.body.cursorPositionChanged.connect(lambda: self._note_target(self.body))
        layout.addWidget(self.body, 1)
        self.error = MessageLabel(self, "templateError")
        layout.addWidget(self.error)

        palette = QGroupBox("Insert a placeholder at the cursor", self)
        grid = QGridLayout(palette)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        self.placeholder_buttons: dict[str, QPushButton] = {}
        for i, (name, help_text) in enumerate(PLACEHOLDER_HELP.items()):
            button = QPushButton("{" + name + "}", palette)
            button.setObjectName(f"insert_{name}")
            button.setToolTip(help_text)
            button.setAutoDefault(False)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keep the cursor in the text
            button.clicked.connect(lambda _checked=False, n=name: self.insert_placeholder(n))
            self.placeholder_buttons[name] = button
            help_label = QLabel(help_text, palette)
            help_label.setStyleSheet(HINT_STYLE)
            help_label.setWordWrap(True)
            grid.addWidget(button, i, 0)
            grid.addWidget(help_label, i, 1)
        grid.setColumnStretch(1, 1)
        layout.addWidget(palette)
        return layout

    def _build_preview(self) -> QVBoxLayout:
        layout = QVBoxLayout()
        layout.setSpacing(6)
        heading = QLabel("Preview", self)
        heading.setStyleSheet("font-weight: 600;")
        layout.addWidget(heading)
        self.sample_line = QLabel(self)
        self.sample_line.setWordWrap(True)
        self.sample_line.setStyleSheet(HINT_STYLE)
        layout.addWidget(self.sample_line)
        self.preview_subject = QLabel(self)
        self.preview_subject.setObjectName("previewSubject")
        self.preview_subject.setWordWrap(True)
        self.preview_subject.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.preview_subject)
        self.preview = QPlainTextEdit(self)
        self.preview.setObjectName("preview")
        self.preview.setReadOnly(True)
        self.preview.setFrameShape(QFrame.Shape.StyledPanel)
        self.preview.setStyleSheet("QPlainTextEdit#preview { background: #F7F9FB; }")
        layout.addWidget(self.preview, 1)

        self.segments = QLabel(self)
        self.segments.setObjectName("segments")
        self.segments.setWordWrap(True)
        layout.addWidget(self.segments)
        self.smart_hint = QLabel(self)
        self.smart_hint.setWordWrap(True)
        self.smart_hint.setStyleSheet("color: #7A5A00;")
        layout.addWidget(self.smart_hint)
        self.replace_button = QPushButton("Replace smart characters", self)
        self.replace_button.setObjectName("replaceSmart")
        self.replace_button.setAutoDefault(False)
        self.replace_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.replace_button.clicked.connect(self.replace_smart)
        layout.addWidget(self.replace_button)
        return layout

    # -- loading and switching ----------------------------------------------------------------

    def _on_loaded(self, result, error) -> None:
        if not alive(self):
            return
        if error is not None:
            self.status.setText(f"Could not read the templates: {error}")
            log.warning("Loading templates failed: %s", error)
            return
        templates, self.sample = result
        order = {"sms": 0, "email": 1, "voicemail": 2}
        templates.sort(key=lambda t: order.get(t.channel, 3))
        self.model.set_templates(templates)
        values = self.sample.values
        self.sample_line.setText(
            f"Sample borrower: {values.get('first_name')}, {values.get('loan_purpose')}, "
            f"LO {values.get('lo_name') or 'our team'}; brokerage "
            f"{values.get('broker_name') or '(not set in Settings)'}.")
        self.status.setText("")
        if templates:
            self.select_template(templates[0].name)
        self.loaded.emit()

    def select_template(self, name: str) -> None:
        row = self.model.row_of(name)
        if row >= 0:
            self.list_view.setCurrentIndex(self.model.index(row, 0))

    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid():
            return
        template = self.model.template(current.row())
        if self.current is not None and template.name == self.current.name:
            return
        if self.dirty:
            # Stay on the edited template until the prompt is answered.
            self._pending_row = current.row()
            self.list_view.selectionModel().setCurrentIndex(
                previous, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            ask_unsaved(self, f"The template {self.current.name!r}", self._after_switch_prompt)
            return
        self._show_template(template)

    def _after_switch_prompt(self, choice: str) -> None:
        row, self._pending_row = self._pending_row, None
        if choice == CANCEL or row is None:
            return
        if choice == DISCARD:
            self.dirty = False
            self.list_view.setCurrentIndex(self.model.index(row, 0))
        elif choice == SAVE:
            self.save_current(then=lambda: self.list_view.setCurrentIndex(self.model.index(row, 0)))

    def _show_template(self, template: Template) -> None:
        self.current = template
        self._loading_text = True
        email = template.channel == "email"
        self.subject.setText(template.subject if email else "")
        self.body.setPlainText(template.body)
        self._loading_text = False
        self.subject.setVisible(email)
        self.subject_label.setVisible(email)
        if email:
            label = "Body"
        elif template.channel == "voicemail":
            label = "Label"
        else:
            label = "Text"
        self.body_label.setText(label)
        self.title.setText(f"{template.name} \u2013 {CHANNEL_LABELS.get(template.channel, template.channel)}")
        self.description.setText(template.description)
        self.dirty = False
        self.error.clear_message()
        mark_invalid(self.subject, False)
        self._set_editing_enabled(True)
        self._refresh()
        self._insert_target = self.body

    def _set_editing_enabled(self, enabled: bool) -> None:
        for widget in (self.subject, self.body, self.save_button, self.reset_button,
                       *self.placeholder_buttons.values()):
            widget.setEnabled(enabled)

    # -- editing ----------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FocusIn and watched in (self.subject, self.body):
            self._insert_target = watched
        return super().eventFilter(watched, event)

    def _note_target(self, widget: QWidget) -> None:
        """Remember where the palette inserts: the field the user last typed or clicked in."""
        if not self._loading_text:
            self._insert_target = widget

    def _on_text_changed(self) -> None:
        if self._loading_text or self.current is None:
            return
        self.dirty = True
        self.status.setText("Unsaved changes")
        self._refresh()

    def insert_placeholder(self, name: str) -> None:
        """Insert {name} at the cursor of the subject or body, whichever had the focus last."""
        token = "{" + name + "}"
        if self._insert_target is self.subject and self.subject.isVisible():
            self.subject.insert(token)
            self.subject.setFocus()
        else:
            self.body.textCursor().insertText(token)
            self.body.setFocus()

    def replace_smart(self) -> None:
        """Replace smart quotes, dashes and other characters that force UCS-2, as one undo step."""
        fixed = replace_smart_characters(self.body.toPlainText())
        if fixed != self.body.toPlainText():
            cursor = QTextCursor(self.body.document())
            cursor.select(QTextCursor.SelectionType.Document)
            cursor.insertText(fixed)
        if self.subject.isVisible():
            subject = replace_smart_characters(self.subject.text())
            if subject != self.subject.text():
                self.subject.setText(subject)

    def _refresh(self) -> None:
        """Update the highlights, the preview and the segment line from the editor's text."""
        template = self.current
        if template is None:
            return
        body = self.body.toPlainText()
        subject = self.subject.text() if template.channel == "email" else ""
        self._highlight(body)
        bad_subject = any(not s.known for s in placeholder_spans(subject))
        mark_invalid(self.subject, bad_subject)

        if self.sample is None:
            return
        preview = build_preview(template, body, subject, self.sample)
        self.preview_subject.setVisible(template.channel == "email")
        if preview.error:
            self.preview.setPlainText(f"(The preview needs a valid template: {preview.error})")
            self.preview_subject.setText("")
        else:
            self.preview.setPlainText(preview.body)
            self.preview_subject.setText(f"<b>Subject:</b> {_escape(preview.subject)}")
        self._show_segments(template, body, preview)

    def _show_segments(self, template: Template, body: str, preview) -> None:
        if template.channel != "sms":
            self.segments.setText("Emails have no segment limit." if template.channel == "email"
                                  else "A voicemail drop plays the LO's recording; this text is a label.")
            self.smart_hint.hide()
            self.replace_button.hide()
            return
        if preview.segments is None:
            self.segments.setText("")
        else:
            info = preview.segments
            color = "#1B5E20" if info.encoding == "GSM-7" and info.segments <= 2 else "#7A5A00"
            self.segments.setStyleSheet(f"color: {color};")
            self.segments.setText(describe_segments(info))
        smart = segment_info(body).smart_characters + segment_info(self.subject.text()).smart_characters
        self.smart_hint.setVisible(bool(smart))
        self.replace_button.setVisible(bool(smart))
        if smart:
            shown = " ".join(dict.fromkeys(c if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}"
                                           for c in smart))
            self.smart_hint.setText(f"Smart characters force UCS-2 (70 characters per segment "
                                    f"instead of 160): {shown}")

    def _highlight(self, body: str) -> None:
        selections = []
        for span in placeholder_spans(body):
            if span.known:
                continue
            selection = QTextEdit.ExtraSelection()
            fmt = QTextCharFormat()
            fmt.setBackground(QColor("#FFCDD2"))
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            fmt.setUnderlineColor(QColor("#C62828"))
            selection.format = fmt
            cursor = QTextCursor(self.body.document())
            cursor.setPosition(_utf16_offset(body, span.start))
            cursor.setPosition(_utf16_offset(body, span.end), QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selections.append(selection)
        self.body.setExtraSelections(selections)

    def bad_placeholders(self) -> list[str]:
        """The marked placeholders and stray braces in the body, in order."""
        return [s.text for s in placeholder_spans(self.body.toPlainText()) if not s.known]

    # -- saving -----------------------------------------------------------------------------

    def save_current(self, then=None) -> None:
        """Check the text, then store it off the GUI thread; `then` runs after a successful save."""
        template = self.current
        if template is None:
            return
        body = self.body.toPlainText()
        subject = self.subject.text() if template.channel == "email" else ""
        problem = ""
        if not body.strip():
            problem = "The text is empty; write the message or use Reset to default."
        else:
            try:
                check_template(body)
                check_template(subject)
            except TemplateError as exc:
                problem = f"Not saved: {exc}"
        if problem:
            self.error.show_error(problem)
            self._select_first_bad(body)
            self.saveFailed.emit(template.name, problem)
            return
        self.error.clear_message()
        self.save_button.setEnabled(False)
        self.status.setText("Saving\u2026")
        name = template.name

        def work() -> Template:
            self.ctx.templates.save(name, body, subject)
            return self.ctx.templates.get(name)

        run_task(work, lambda result, error: self._on_saved(name, result, error, then))

    def _select_first_bad(self, body: str) -> None:
        bad = next((s for s in placeholder_spans(body) if not s.known), None)
        if bad is None:
            return
        cursor = self.body.textCursor()
        cursor.setPosition(_utf16_offset(body, bad.start))
        cursor.setPosition(_utf16_offset(body, bad.end), QTextCursor.MoveMode.KeepAnchor)
        self.body.setTextCursor(cursor)
        self.body.setFocus()

    def _on_saved(self, name: str, template: Template | None, error, then) -> None:
        if not alive(self):
            return
        self.save_button.setEnabled(True)
        if error is not None:
            message = f"Could not save {name}: {error}"
            if not isinstance(error, (TemplateError, StorageError)):
                log.error("Saving template %s failed", name, exc_info=error)
            self.error.show_error(message)
            self.status.setText("")
            self.saveFailed.emit(name, message)
            return
        self.model.update_template(template)
        if self.current is not None and self.current.name == name:
            self.current = template
            self.dirty = False
        self.status.setText(f"Saved {name}.")
        self.saved.emit(name)
        if then is not None:
            then()

    def reset_current(self) -> None:
        """Store the default text again (the edit is deleted) and show it."""
        template = self.current
        if template is None:
            return
        name = template.name
        self.status.setText("Resetting\u2026")

        def work() -> Template:
            self.ctx.templates.reset(name)
            return self.ctx.templates.get(name)

        def done(result, error) -> None:
            if not alive(self):
                return
            if error is not None:
                self.error.show_error(f"Could not reset {name}: {error}")
                self.status.setText("")
                return
            self.model.update_template(result)
            if self.current is not None and self.current.name == name:
                self._show_template(result)
            self.status.setText(f"{name} is back to its default text.")
            self.resetDone.emit(name)

        run_task(work, done)

    # -- closing ----------------------------------------------------------------------------

    def reject(self) -> None:
        """Close, asking first when the current template has unsaved changes."""
        if self.dirty and not self._closing:
            ask_unsaved(self, f"The template {self.current.name!r}", self._after_close_prompt)
            return
        super().reject()

    def _after_close_prompt(self, choice: str) -> None:
        if choice == DISCARD:
            self._closing = True
            self.reject()
        elif choice == SAVE:
            self.save_current(then=self._close_after_save)

    def _close_after_save(self) -> None:
        self._closing = True
        self.reject()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
