"""The contact detail panel: timeline, steps, consent and opt-out state, and the coordinator's actions."""

from __future__ import annotations

import html
import logging
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMenu,
                               QMessageBox, QPlainTextEdit, QPushButton, QSizePolicy, QTabWidget,
                               QTextBrowser, QToolButton, QVBoxLayout, QWidget)

from desktop_app.core import board, contact_view, contacts, phones, recordings
from desktop_app.ui.workers import run_task

log = logging.getLogger(__name__)

INTENT_STYLE = {"accidental": ("#9E9E9E", "#FFFFFF"), "inquiry": ("#F5A623", "#3A2A00"),
                "hot": ("#E53935", "#FFFFFF")}
STATUS_STYLE = {"sent": "#1B5E20", "failed": "#B71C1C", "needs_review": "#B71C1C",
                "cancelled": "#616161", "skipped": "#616161", "scheduled": "#0D47A1",
                "queued": "#0D47A1", "sending": "#0D47A1"}


class ContactPanel(QWidget):
    """Shows one contact. Signals: actionFinished(str, object) with (action, error or None)
    after each coordinator action; contactLoaded(int) after every (re)load."""

    actionFinished = Signal(str, object)
    contactLoaded = Signal(int)

    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.contact_id: int | None = None
        self.detail: contact_view.ContactDetail | None = None
        self.timeline_entries: list[tuple[str, str]] = []
        self.step_entries: list[tuple[str, str, str, str]] = []
        self._player = None
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(150)
        self._reload_timer.timeout.connect(self.reload)
        self.setMinimumWidth(400)
        self._build()
        self.show_contact(None)

    # -- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)

        self.name_label = QLabel(self)
        self.name_label.setObjectName("contactName")
        font = self.name_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.name_label.setFont(font)
        self.name_label.setWordWrap(True)
        layout.addWidget(self.name_label)

        line = QHBoxLayout()
        self.number_label = QLabel(self)
        self.number_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.intent_chip = QLabel(self)
        self.intent_chip.setObjectName("intentChip")
        line.addWidget(self.number_label)
        line.addWidget(self.intent_chip)
        line.addStretch(1)
        layout.addLayout(line)

        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.facts_label = QLabel(self)
        self.facts_label.setWordWrap(True)
        self.facts_label.setStyleSheet("color: #4A5560;")
        layout.addWidget(self.facts_label)

        self.flag_banner = QLabel(self)
        self.flag_banner.setWordWrap(True)
        self.flag_banner.setStyleSheet("background: #FFF8E1; color: #5D4300; padding: 6px; "
                                       "border-radius: 4px;")
        layout.addWidget(self.flag_banner)

        actions = QHBoxLayout()
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.clicked.connect(self._toggle_pause)
        self.contacted_button = QPushButton("Mark contacted", self)
        self.contacted_button.setObjectName("contactedButton")
        self.contacted_button.clicked.connect(self._mark_contacted)
        self.dnc_button = QPushButton("Do not contact", self)
        self.dnc_button.setObjectName("dncButton")
        self.dnc_button.clicked.connect(self._toggle_dnc)
        self.more_button = QToolButton(self)
        self.more_button.setText("More")
        self.more_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.more_menu = QMenu(self)
        self.more_button.setMenu(self.more_menu)
        for widget in (self.pause_button, self.contacted_button, self.dnc_button, self.more_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        layout.addLayout(actions)
        self._build_more_menu()

        self.voicemail_row = QWidget(self)
        voicemail = QHBoxLayout(self.voicemail_row)
        voicemail.setContentsMargins(0, 0, 0, 0)
        self.play_button = QPushButton("Play voicemail", self.voicemail_row)
        self.play_button.setObjectName("playVoicemail")
        self.play_button.clicked.connect(self._play_voicemail)
        self.voicemail_label = QLabel(self.voicemail_row)
        self.voicemail_label.setWordWrap(True)
        voicemail.addWidget(self.play_button)
        voicemail.addWidget(self.voicemail_label, 1)
        layout.addWidget(self.voicemail_row)

        self.tabs = QTabWidget(self)
        self.timeline = self._text_view("timeline")
        self.steps = self._text_view("steps")
        self.tabs.addTab(self.timeline, "Timeline")
        self.tabs.addTab(self.steps, "Steps")
        self.tabs.addTab(self._build_details(), "Details")
        self.tabs.addTab(self._build_compliance(), "Consent")
        layout.addWidget(self.tabs, 1)

        self.empty_label = QLabel("Select a missed call to see the borrower's history.", self)
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("color: #6B7680;")
        layout.addWidget(self.empty_label)

    def _text_view(self, name: str) -> QTextBrowser:
        view = QTextBrowser(self)
        view.setObjectName(name)
        view.setOpenLinks(False)
        view.setFrameShape(QTextBrowser.Shape.NoFrame)
        return view

    def _build_details(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.first_edit = QLineEdit(page)
        self.first_edit.setObjectName("firstName")
        self.last_edit = QLineEdit(page)
        self.last_edit.setObjectName("lastName")
        self.email_edit = QLineEdit(page)
        self.email_edit.setObjectName("email")
        self.purpose_combo = QComboBox(page)
        self.purpose_combo.addItem("Unknown", None)
        self.purpose_combo.addItem("Purchase", "purchase")
        self.purpose_combo.addItem("Refinance", "refi")
        self.notes_edit = QPlainTextEdit(page)
        self.notes_edit.setObjectName("notes")
        self.notes_edit.setPlaceholderText("Notes for the team")
        self.notes_edit.setMinimumHeight(70)
        self.save_button = QPushButton("Save details", page)
        self.save_button.setObjectName("saveDetails")
        self.save_button.clicked.connect(self._save_details)
        self.details_error = QLabel(page)
        self.details_error.setStyleSheet("color: #B71C1C;")
        self.details_error.setWordWrap(True)
        self.tasks_label = QLabel(page)
        self.tasks_label.setWordWrap(True)
        form.addRow("First name", self.first_edit)
        form.addRow("Last name", self.last_edit)
        form.addRow("Email", self.email_edit)
        form.addRow("Loan purpose", self.purpose_combo)
        form.addRow("Notes", self.notes_edit)
        form.addRow("", self.save_button)
        form.addRow("", self.details_error)
        form.addRow("Tasks", self.tasks_label)
        return page

    def _build_compliance(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.consent_labels: dict[str, QLabel] = {}
        for channel, label in (("sms", "Texts"), ("voicemail", "Voicemail drops"), ("email", "Email")):
            row = QWidget(page)
            box = QHBoxLayout(row)
            box.setContentsMargins(0, 0, 0, 0)
            text = QLabel(row)
            text.setWordWrap(True)
            text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            button = QToolButton(row)
            button.setText("Change")
            button.setObjectName(f"consent_{channel}")
            button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            menu = QMenu(button)
            menu.addAction("Consent given (recorded by the coordinator)",
                           lambda c=channel: self._set_consent(c, True))
            menu.addAction("Consent declined", lambda c=channel: self._set_consent(c, False))
            menu.addAction("Clear", lambda c=channel: self._set_consent(c, None))
            button.setMenu(menu)
            box.addWidget(text, 1)
            box.addWidget(button)
            self.consent_labels[channel] = text
            form.addRow(label, row)
        self.optout_label = QLabel(page)
        self.optout_label.setWordWrap(True)
        form.addRow("Opt-out", self.optout_label)
        self.ledger_label = QLabel(page)
        self.ledger_label.setWordWrap(True)
        form.addRow("Ledger", self.ledger_label)
        return page

    def _build_more_menu(self) -> None:
        menu = self.more_menu
        menu.clear()
        menu.addAction("Record an opt-out (all channels)", self._manual_opt_out)
        menu.addSeparator()
        menu.addAction("Delete contact\u2026", self._delete_contact)

    # -- loading ----------------------------------------------------------------------------------

    def show_contact(self, contact_id: int | None) -> None:
        self.contact_id = contact_id
        self.reload()

    def contact_changed(self, contact_id: int) -> None:
        if contact_id == self.contact_id:
            self._reload_timer.start()

    def reload(self) -> None:
        if self.contact_id is None:
            self.detail = None
            self._render()
            return
        self.detail = contact_view.load(self.ctx.db, self.contact_id)
        self._render()
        self.contactLoaded.emit(self.contact_id)

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.ctx.settings.get("brokerage.time_zone"))

    def _when(self, moment) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(self._zone())
        return f"{local.strftime('%b')} {local.day}, {local.strftime('%I:%M %p').lstrip('0')}"

    def _render(self) -> None:
        detail = self.detail
        shown = detail is not None
        for widget in (self.name_label, self.number_label, self.intent_chip, self.status_label,
                       self.facts_label, self.tabs, self.pause_button, self.contacted_button,
                       self.dnc_button, self.more_button):
            widget.setVisible(shown)
        self.empty_label.setVisible(not shown)
        if not shown:
            self.flag_banner.hide()
            self.voicemail_row.hide()
            return
        contact = detail.contact
        self.name_label.setText(contact.name or "Name unknown")
        number = phones.format_national(contact.phone)
        if contact.phone_extension:
            number += f" ext. {contact.phone_extension}"
        self.number_label.setText(number)
        intent = contact.intent or ""
        if intent:
            background, foreground = INTENT_STYLE[intent]
            self.intent_chip.setText(intent.capitalize())
            self.intent_chip.setStyleSheet(f"background: {background}; color: {foreground}; "
                                           "padding: 1px 8px; border-radius: 8px;")
        self.intent_chip.setVisible(bool(intent))
        status = board.STATUS_WORDS.get(contact.status, contact.status.capitalize())
        if contact.halt_reason:
            status += f" \u2014 automation halted: {contact.halt_reason}"
        elif detail.running:
            next_step = detail.pending_steps[0]
            status += (f" \u2014 next: {board.STEP_WORDS.get(next_step.name, next_step.name)} "
                       f"{self._when(next_step.due_at)}")
        self.status_label.setText(status)
        hubspot = {"synced": "synced", "failed": f"sync failed: {contact.hubspot_error or 'unknown error'}",
                   "pending": "sync pending"}.get(contact.hubspot_sync, "not connected")
        if contact.hubspot_id and contact.hubspot_sync == "synced":
            hubspot += f" (contact {contact.hubspot_id})"
        self.facts_label.setText(
            f"LO: {contact.lo_name or 'Coordinator'} \u00b7 Source: {board.source_text(contact.lead_source)}"
            f" \u00b7 HubSpot: {hubspot}")

        if detail.flagged:
            reasons = "; ".join(f"\u201c{m.body[:60]}\u201d ({m.flag_reason})" for m in detail.flagged[:2])
            self.flag_banner.setText(f"Needs a person: {reasons}")
            self.flag_banner.show()
        else:
            self.flag_banner.hide()

        self.pause_button.setText("Resume" if contact.paused or contact.halt_reason else "Pause")
        self.pause_button.setEnabled(not (contact.opted_out or contact.do_not_contact))
        self.dnc_button.setText("Allow contact" if contact.do_not_contact else "Do not contact")

        call = next((c for c in detail.calls if c.recording_url), None)
        self._voicemail_call = call
        if call is not None:
            text = f"Voicemail, {call.recording_seconds or 0} s, {self._when(call.started_at)}"
            if call.transcription:
                text += f": \u201c{call.transcription}\u201d"
            self.voicemail_label.setText(text)
            self.voicemail_row.show()
        else:
            self.voicemail_row.hide()

        self.timeline_entries = [(self._when(e.at), e.summary) for e in detail.timeline]
        rows = "".join(
            f"<tr><td style='color:#5F6B76; white-space:nowrap; padding-right:8px'>{html.escape(when)}</td>"
            f"<td>{html.escape(summary)}</td></tr>" for when, summary in self.timeline_entries)
        self.timeline.setHtml(f"<table width='100%' cellspacing='0' cellpadding='3'>{rows}</table>")
        # Steps a newer plan replaced (cancelled before a resume) go below the rest.
        latest = max((st.created_at for st in detail.steps), default=None)
        earlier = [st for st in detail.steps if st.created_at != latest and st.status == "cancelled"]
        current = [st for st in detail.steps if st not in earlier]
        self.step_entries = [(board.STEP_WORDS.get(st.name, st.name), self._when(st.due_at),
                              st.status, st.detail or "") for st in current + earlier]

        def rows(steps, muted: bool) -> str:
            shade = " style='color:#8A949C'" if muted else ""
            return "".join(
                f"<tr{shade}><td style='white-space:nowrap'><b>{html.escape(board.STEP_WORDS.get(st.name, st.name))}</b><br>"
                f"<span style='color:#5F6B76'>{html.escape(self._when(st.due_at))}</span></td>"
                f"<td style='color:{STATUS_STYLE.get(st.status, '#333333')}; white-space:nowrap'>"
                f"{html.escape(st.status.replace('_', ' '))}</td><td>{html.escape(st.detail or '')}</td></tr>"
                for st in steps)

        table = rows(current, False)
        if earlier:
            table += ("<tr><td colspan='3' style='padding-top:10px; color:#5F6B76'><i>Earlier plan</i>"
                      "</td></tr>" + rows(earlier, True))
        self.steps.setHtml(f"<table width='100%' cellspacing='0' cellpadding='3'>{table}</table>")

        self.first_edit.setText(contact.first_name or "")
        self.last_edit.setText(contact.last_name or "")
        self.email_edit.setText(contact.email or "")
        self.purpose_combo.setCurrentIndex(max(0, self.purpose_combo.findData(contact.loan_purpose)))
        self.notes_edit.setPlainText(contact.notes or "")
        self.details_error.clear()
        open_tasks = [t for t in detail.tasks if t.status == "open"]
        self.tasks_label.setText("; ".join(
            f"{t.title} \u2014 {t.priority} priority, due {self._when(t.due_at)}, {t.assignee}"
            for t in open_tasks) or "No open task")

        for channel, label in self.consent_labels.items():
            label.setText(detail.consent_text(channel))
        if detail.sms_block:
            self.optout_label.setText(f"No automated messages: {detail.sms_block}")
        else:
            self.optout_label.setText("Subscribed")
        self.ledger_label.setText("\n".join(
            f"{self._when(e.at)}: {e.action.replace('_', '-')} ({e.channel}, {e.source.replace('_', ' ')})"
            for e in detail.ledger[:8]) or "No entries")

    # -- actions ----------------------------------------------------------------------------------

    def _run(self, name: str, fn) -> None:
        def done(_result, error):
            if error is not None:
                QMessageBox.warning(self, "Could not update the contact", str(error))
            self.reload()
            self.actionFinished.emit(name, error)

        run_task(fn, done)

    def _toggle_pause(self) -> None:
        contact = self.detail.contact
        ctx, contact_id = self.ctx, contact.id
        if contact.paused or contact.halt_reason:
            self._run("resume", lambda: ctx.db.write(contacts.resume, ctx, contact_id, ctx.clock.now()))
        else:
            self._run("pause", lambda: ctx.db.write(contacts.pause, contact_id, ctx.clock.now()))

    def _mark_contacted(self) -> None:
        ctx, contact_id = self.ctx, self.detail.contact.id
        self._run("contacted", lambda: ctx.db.write(contacts.mark_contacted, contact_id, ctx.clock.now()))

    def _toggle_dnc(self) -> None:
        ctx, contact = self.ctx, self.detail.contact
        flag = not contact.do_not_contact
        self._run("do_not_contact", lambda: ctx.db.write(
            contacts.set_do_not_contact, contact.id, flag, ctx.clock.now(), "set by the coordinator"))

    def _manual_opt_out(self) -> None:
        ctx, contact_id = self.ctx, self.detail.contact.id
        self._run("opt_out", lambda: ctx.db.write(contacts.record_manual_opt_out, ctx, contact_id,
                                                  ctx.clock.now()))

    def _set_consent(self, channel: str, granted: bool | None) -> None:
        ctx, contact_id = self.ctx, self.detail.contact.id
        self._run(f"consent_{channel}", lambda: ctx.db.write(
            contacts.set_consent, contact_id, channel, granted, "recorded by the coordinator",
            ctx.clock.now()))

    def _save_details(self) -> None:
        ctx, contact_id = self.ctx, self.detail.contact.id
        fields = dict(first_name=self.first_edit.text(), last_name=self.last_edit.text(),
                      email=self.email_edit.text(), loan_purpose=self.purpose_combo.currentData(),
                      notes=self.notes_edit.toPlainText())

        def done(_result, error):
            if error is not None:
                self.details_error.setText(str(error))
            else:
                self.reload()
            self.actionFinished.emit("details", error)

        run_task(lambda: ctx.db.write(contacts.update_details, contact_id, ctx.clock.now(), **fields), done)

    def _delete_contact(self) -> None:
        contact = self.detail.contact
        answer = QMessageBox.question(
            self, "Delete contact",
            f"Delete {contact.name or phones.format_national(contact.phone)} and their history? "
            "Their opt-out record is kept.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        ctx, contact_id = self.ctx, contact.id
        self._run("delete", lambda: ctx.db.write(contacts.delete_contact, contact_id))
        self.contact_id = None

    def _play_voicemail(self) -> None:
        call = self._voicemail_call
        if call is None:
            return
        self.play_button.setEnabled(False)
        self.play_button.setText("Loading\u2026")
        ctx = self.ctx

        def done(path, error):
            self.play_button.setEnabled(True)
            self.play_button.setText("Play voicemail")
            if error is not None:
                QMessageBox.warning(self, "Voicemail", str(error))
                self.actionFinished.emit("voicemail", error)
                return
            self._play_file(path)
            self.actionFinished.emit("voicemail", None)

        run_task(lambda: recordings.fetch(ctx, call), done)

    def _play_file(self, path) -> None:
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer  # noqa: PLC0415
        except ImportError as exc:
            QMessageBox.warning(self, "Voicemail", f"Audio playback is not available here: {exc}. "
                                                   f"The file is saved at {path}.")
            return
        if self._player is None:
            self._audio_output = QAudioOutput(self)
            self._player = QMediaPlayer(self)
            self._player.setAudioOutput(self._audio_output)
        self._player.setSource(QUrl.fromLocalFile(str(path)))
        self._player.play()
