"""Choose the seconds on the line and the numbers for a test call."""

from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QLineEdit, QSpinBox, QVBoxLayout)
from sqlmodel import select

from desktop_app.core import models, phones
from desktop_app.core.simulate import DEFAULT_DIALED


class TestCallDialog(QDialog):
    """Accepted only with valid numbers; read the choice with seconds(), dialed(), caller()."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, ctx, parent=None, seconds: int = 12):
        super().__init__(parent)
        self.setWindowTitle("Test call")
        layout = QVBoxLayout(self)
        intro = QLabel("Sends a signed missed call through the local listener, exactly as "
                       "Twilio would. With no Twilio credentials the text is only recorded "
                       "(sandbox).", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.setMinimumWidth(460)
        form = QFormLayout()
        self.seconds_spin = QSpinBox(self)
        self.seconds_spin.setObjectName("seconds")
        self.seconds_spin.setRange(0, 600)
        self.seconds_spin.setSuffix(" s on the line")
        self.seconds_spin.setValue(seconds)
        self.intent_label = QLabel(self)
        self.seconds_spin.valueChanged.connect(self._show_intent)
        self.dialed_combo = QComboBox(self)
        self.dialed_combo.setObjectName("dialed")
        self.dialed_combo.setEditable(True)
        with ctx.db.read() as session:
            routes = list(session.exec(select(models.Route).order_by(models.Route.id)))
        for route in routes:
            label = phones.format_national(route.dialed)
            if route.label:
                label += f" ({route.label})"
            self.dialed_combo.addItem(label, route.dialed)
        if not routes:
            self.dialed_combo.addItem(phones.format_national(DEFAULT_DIALED), DEFAULT_DIALED)
        self.caller_edit = QLineEdit(self)
        self.caller_edit.setObjectName("caller")
        self.caller_edit.setPlaceholderText("a fictional 555-01xx number")
        self.error_label = QLabel(self)
        self.error_label.setStyleSheet("color: #B71C1C;")
        form.addRow("Seconds", self.seconds_spin)
        form.addRow("", self.intent_label)
        form.addRow("Number dialed", self.dialed_combo)
        form.addRow("Caller", self.caller_edit)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Send test call")
        self.buttons.accepted.connect(self._check_and_accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._thresholds = (ctx.settings.get("intent.accidental_max_seconds"),
                            ctx.settings.get("intent.inquiry_max_seconds"))
        self._show_intent(seconds)

    def _show_intent(self, seconds: int) -> None:
        accidental, inquiry = self._thresholds
        intent = "accidental (no text)" if seconds <= accidental else (
            "inquiry" if seconds <= inquiry else "hot")
        self.intent_label.setText(f"Counts as {intent}")

    def seconds(self) -> int:
        return self.seconds_spin.value()

    def dialed(self) -> str:
        index = self.dialed_combo.currentIndex()
        text = self.dialed_combo.currentText()
        if index >= 0 and self.dialed_combo.itemText(index) == text:
            return self.dialed_combo.itemData(index)
        return phones.normalize(text)

    def caller(self) -> str | None:
        text = self.caller_edit.text().strip()
        return phones.normalize(text) if text else None

    def _check_and_accept(self) -> None:
        try:
            self.dialed()
        except phones.InvalidPhoneNumber as exc:
            self.error_label.setText(f"Number dialed: {exc}")
            return
        try:
            self.caller()
        except phones.InvalidPhoneNumber as exc:
            self.error_label.setText(f"Caller: {exc}")
            return
        self.accept()
