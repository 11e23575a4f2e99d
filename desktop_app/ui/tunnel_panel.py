"""The tunnel panel: ngrok's state, the public URL, start and stop, and wiring the Twilio numbers."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from desktop_app.core import twilio_numbers
from desktop_app.core.providers.base import ProviderError
from desktop_app.ui.bridge import CoreBridge
from desktop_app.ui.workers import run_task

log = logging.getLogger(__name__)

# State of the tunnel -> (pill text, pill style).
_STATE_TEXT = {
    "up": ("Up", "ok"),
    "starting": ("Starting\u2026", "warn"),
    "reconnecting": ("Reconnecting\u2026", "warn"),
    "down": ("Down", "error"),
    "stopped": ("Stopped", "warn"),
    "off": ("Off", "warn"),
}
_PROBLEM_STYLE = ("QFrame#problem { background: #FDECEA; border: 1px solid #F5C2BE; "
                  "border-radius: 6px; } QLabel#problemTitle { color: #8E1C16; font-weight: 600; }")
_RESULT_STYLE = {"ok": "color: #1B5E20;", "error": "color: #8E1C16;", "": ""}


def wire_error_text(error: BaseException) -> str:
    """Describe why wiring the Twilio numbers failed and what to do."""
    if isinstance(error, twilio_numbers.NotConfigured):
        return (f"{error}: add them in Settings > Twilio, then press Configure my Twilio number "
                "again.")
    if isinstance(error, ProviderError):
        return f"Twilio rejected the change: {error}"
    if isinstance(error, ValueError):
        return str(error)
    return f"Configuring the Twilio numbers failed: {error}"


class TunnelPanel(QWidget):
    """Shows the ngrok tunnel and lets the coordinator start it, stop it and wire Twilio to it.

    Signals: wireFinished(object, str) with the list of twilio_numbers.Change made and an
    error text ("" on success); stopFinished() once a stop requested here has completed.
    """

    wireFinished = Signal(object, str)
    stopFinished = Signal()

    def __init__(self, desk, parent: QWidget | None = None):
        super().__init__(parent)
        self.desk = desk
        self.setObjectName("tunnelPanel")
        self.setWindowTitle("ngrok tunnel")
        self.setStyleSheet(_PROBLEM_STYLE)
        self._busy = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(12)
        layout.addLayout(self._build_header())
        layout.addLayout(self._build_details())
        layout.addWidget(self._build_problem())
        layout.addWidget(self._build_twilio())
        layout.addStretch(1)

        self.bridge = CoreBridge(desk.bus, self)
        self.bridge.serviceState.connect(self._on_service_state)
        detach = self.bridge.detach
        self.destroyed.connect(lambda *_: detach())
        self.refresh()

    # -- layout ---------------------------------------------------------------------------------

    def _build_header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        title = QLabel("ngrok tunnel", self)
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        title.setFont(font)
        row.addWidget(title)
        self.state_pill = QLabel(self)
        self.state_pill.setObjectName("statusPill")
        row.addWidget(self.state_pill)
        row.addStretch(1)
        self.start_button = QPushButton("Start", self)
        self.start_button.setObjectName("startTunnel")
        self.start_button.clicked.connect(self.start_tunnel)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("stopTunnel")
        self.stop_button.clicked.connect(self.stop_tunnel)
        row.addWidget(self.start_button)
        row.addWidget(self.stop_button)
        return row

    def _build_details(self) -> QFormLayout:
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(12)
        url_row = QHBoxLayout()
        self.url_field = QLineEdit(self)
        self.url_field.setObjectName("publicUrl")
        self.url_field.setReadOnly(True)
        self.url_field.setMinimumWidth(380)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setObjectName("copyUrl")
        self.copy_button.setToolTip("Copy the public URL to the clipboard")
        self.copy_button.clicked.connect(self.copy_url)
        url_row.addWidget(self.url_field, 1)
        url_row.addWidget(self.copy_button)
        form.addRow("Public URL", url_row)
        self.target_label = QLabel(self)
        form.addRow("Forwards to", self.target_label)
        self.agent_label = QLabel(self)
        self.agent_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("ngrok agent", self.agent_label)
        self.webhooks_label = QLabel(self)
        self.webhooks_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Twilio webhooks", self.webhooks_label)
        return form

    def _build_problem(self) -> QFrame:
        self.problem_box = QFrame(self)
        self.problem_box.setObjectName("problem")
        box = QVBoxLayout(self.problem_box)
        box.setContentsMargins(12, 8, 12, 10)
        title = QLabel("What is wrong and how to fix it", self.problem_box)
        title.setObjectName("problemTitle")
        self.problem_label = QLabel(self.problem_box)
        self.problem_label.setObjectName("problemText")
        self.problem_label.setWordWrap(True)
        self.problem_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.addWidget(title)
        box.addWidget(self.problem_label)
        return self.problem_box

    def _build_twilio(self) -> QGroupBox:
        group = QGroupBox("Twilio numbers", self)
        box = QVBoxLayout(group)
        note = QLabel("Points the voice URL, call status callback and messaging URL of your "
                      "Twilio numbers at the public URL: the numbers in the routing table, or "
                      "every number on the account when the table is empty.", group)
        note.setWordWrap(True)
        row = QHBoxLayout()
        self.wire_button = QPushButton("Configure my Twilio number", group)
        self.wire_button.setObjectName("primary")
        self.wire_button.clicked.connect(self.configure_twilio)
        row.addWidget(self.wire_button)
        self.wire_hint = QLabel("Needs a public URL: start the tunnel, or set MCD_PUBLIC_URL.",
                                group)
        self.wire_hint.setStyleSheet("color: #607D8B;")
        row.addWidget(self.wire_hint)
        row.addStretch(1)
        self.wire_result = QLabel(group)
        self.wire_result.setObjectName("wireResult")
        self.wire_result.setWordWrap(True)
        self.wire_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.wire_result.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        # One line per change, unwrapped: the URLs are long and read best whole.
        self.wire_changes = QPlainTextEdit(group)
        self.wire_changes.setObjectName("wireChanges")
        self.wire_changes.setReadOnly(True)
        self.wire_changes.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.wire_changes.setFixedHeight(self.fontMetrics().lineSpacing() * 7)
        self.wire_changes.hide()
        box.addWidget(note)
        box.addLayout(row)
        box.addWidget(self.wire_result)
        box.addWidget(self.wire_changes)
        return group

    # -- state ----------------------------------------------------------------------------------

    def _on_service_state(self, service: str, _state: str, _detail: str) -> None:
        if service in ("tunnel", "listener"):
            self.refresh()

    def refresh(self) -> None:
        """Show the tunnel's current state (called on every tunnel or listener event)."""
        ctx = self.desk.ctx
        tunnel = self.desk.tunnel
        status = tunnel.status() if tunnel is not None else None
        state = status.state if status is not None else "stopped"
        text, style = _STATE_TEXT.get(state, (state.capitalize(), "warn"))
        public_url = ctx.public_url()
        if public_url and (status is None or status.public_url != public_url):
            text, style = "Not needed: MCD_PUBLIC_URL is set", "ok"
        self.state_pill.setText(text)
        self.state_pill.setProperty("state", style)
        self.state_pill.style().unpolish(self.state_pill)
        self.state_pill.style().polish(self.state_pill)

        self.url_field.setText(public_url or "")
        self.url_field.setPlaceholderText("No public URL: providers cannot reach this PC")
        self.copy_button.setEnabled(bool(public_url))
        port = ctx.listen_port
        self.target_label.setText(f"http://127.0.0.1:{port}" if port else "The listener is stopped")
        agent = status.agent_path if status is not None and status.agent_path else None
        self.agent_label.setText(f"{agent}, region {ctx.settings.get('tunnel.region')}" if agent
                                 else "Found when the tunnel starts")
        if public_url:
            urls = twilio_numbers.wanted_urls(public_url)
            self.webhooks_label.setText("\n".join((f"Voice: {urls['voice_url']}",
                                                   f"Call status: {urls['status_callback']}",
                                                   f"Messaging: {urls['sms_url']}")))
        else:
            self.webhooks_label.setText("Available once there is a public URL")

        problem = status.problem if status is not None else None
        self.problem_label.setText(problem or "")
        self.problem_box.setVisible(bool(problem))

        running = tunnel is not None and tunnel.running
        self.start_button.setEnabled(not running and not self._busy
                                     and not ctx.environ.get("MCD_PUBLIC_URL"))
        self.stop_button.setEnabled(running and not self._busy)
        can_wire = bool(public_url) and public_url.startswith("https://")
        self.wire_button.setEnabled(can_wire and not self._busy)
        self.wire_button.setToolTip("" if can_wire else
                                    "No public https URL yet: start the tunnel, or set "
                                    "MCD_PUBLIC_URL")
        self.wire_hint.setVisible(not can_wire)

    # -- actions --------------------------------------------------------------------------------

    def copy_url(self) -> None:
        url = self.desk.ctx.public_url()
        if url:
            QGuiApplication.clipboard().setText(url)

    def start_tunnel(self) -> None:
        if self.desk.tunnel is None:
            from desktop_app.core.tunnel import Tunnel  # noqa: PLC0415

            self.desk.tunnel = Tunnel(self.desk.ctx)
        self.desk.tunnel.start_in_background(manual=True)
        self.refresh()

    def stop_tunnel(self) -> None:
        tunnel = self.desk.tunnel
        if tunnel is None:
            return
        self._busy = True
        self.refresh()
        run_task(tunnel.stop, self._stopped)

    def _stopped(self, _result, error) -> None:
        self._busy = False
        if error is not None:
            log.error("Stopping the tunnel failed: %r", error)
        self.refresh()
        self.stopFinished.emit()

    def configure_twilio(self) -> None:
        ctx = self.desk.ctx
        url = ctx.public_url()
        if not url:
            return
        self._busy = True
        self._show_result("Configuring the Twilio numbers\u2026", "")
        self.refresh()
        run_task(lambda: twilio_numbers.wire(ctx, url), self._wired)

    def _wired(self, changes, error) -> None:
        self._busy = False
        if error is not None:
            message = wire_error_text(error)
            log.warning("Configuring the Twilio numbers failed: %s", error)
            self._show_result(message, "error")
            self.refresh()
            self.wireFinished.emit([], message)
            return
        if changes:
            numbers = len({change.phone for change in changes})
            self._show_result(f"Updated {numbers} number{'s' if numbers != 1 else ''}:", "ok",
                              [change.describe() for change in changes])
        else:
            self._show_result("No change needed: the numbers already point at "
                              f"{self.desk.ctx.public_url()}.", "ok")
        if self.desk.tunnel is not None:
            self.desk.tunnel.note_wired(changes)
        self.refresh()
        self.wireFinished.emit(list(changes), "")

    def _show_result(self, text: str, kind: str, lines: list[str] | None = None) -> None:
        self.wire_result.setText(text)
        self.wire_result.setStyleSheet(_RESULT_STYLE[kind])
        self.wire_changes.setPlainText("\n".join(lines or []))
        self.wire_changes.setVisible(bool(lines))
