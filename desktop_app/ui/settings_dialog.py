"""Settings: the brokerage, office hours, HubSpot and email options, and each provider's credentials."""

from __future__ import annotations

import logging
import zoneinfo

from PySide6.QtCore import QStringListModel, Qt, QTime, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QCompleter, QDialog, QFormLayout, QFrame, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QPlainTextEdit, QPushButton,
                               QScrollArea, QStackedWidget, QTimeEdit, QVBoxLayout, QWidget)

from desktop_app.core import connection_checks, phones, settings_form
from desktop_app.core.secrets import CREDENTIALS, SecretStoreError, keyring_status
from desktop_app.core.settings import WEEKDAYS, SettingError
from desktop_app.ui.editor_widgets import HINT_STYLE, MessageLabel, alive, banner
from desktop_app.ui.workers import run_task

log = logging.getLogger(__name__)

CREDENTIAL_LABELS = {
    "twilio.account_sid": "Account SID", "twilio.auth_token": "Auth Token",
    "ringcentral.client_id": "Client ID", "ringcentral.client_secret": "Client secret",
    "ringcentral.jwt": "JWT credential", "ringcentral.verification_token": "Webhook verification token",
    "hubspot.token": "Private app access token", "smtp.url": "SMTP server URL",
    "email.from": "From address", "dropcowboy.key": "API key", "dropcowboy.secret": "API secret",
    "dropcowboy.webhook_secret": "Webhook signing secret(s)", "slybroadcast.user": "Login email",
    "slybroadcast.password": "Password", "ngrok.authtoken": "Authtoken",
}
SECTIONS = (
    ("brokerage", "Brokerage"), ("hours", "Office hours"), ("hubspot", "HubSpot"),
    ("smtp", "Email"), ("twilio", "Twilio"), ("ringcentral", "RingCentral"),
    ("dropcowboy", "Drop Cowboy"), ("slybroadcast", "Slybroadcast"), ("ngrok", "ngrok tunnel"),
)
PROVIDER_HELP = {
    "twilio": "Both values are on the Account Info panel of the Twilio Console. The app checks "
              "every Twilio webhook's signature with the Auth Token.",
    "ringcentral": "Create a REST API app with the JWT auth flow in the RingCentral developer "
                   "console (permissions: SMS, Read Messages, Webhook Subscriptions, Call "
                   "Control), then a JWT credential for the user whose numbers are routed. The "
                   "app picks the verification token itself when it creates the webhook.",
    "hubspot": "In HubSpot: Settings > Integrations > Private Apps. Scopes: "
               "crm.objects.contacts.read and .write, crm.objects.tasks.read and .write "
               "(optional: crm.schemas.contacts.read).",
    "smtp": "smtp://user:password@host:587 for STARTTLS, smtps://user:password@host:465 for TLS "
            "(Microsoft 365: smtp.office365.com:587; Google Workspace: smtp.gmail.com:587 with "
            "an app password). Write @ in a user name as %40.",
    "dropcowboy": "Key and secret from the API page of your Drop Cowboy account. Webhook "
                  "signing secrets (comma separated) check the results Drop Cowboy posts back. "
                  "Drop Cowboy wins when both drop providers are set.",
    "slybroadcast": "The email and password you sign in to Slybroadcast with.",
    "ngrok": "From the Your Authtoken page of the ngrok dashboard. The tunnel gives providers "
             "a public https address for this computer.",
}
_SETTING_LABELS = {"brokerage.name": "brokerage", "brokerage.callback_number": "brokerage",
                   "brokerage.time_zone": "brokerage", "brokerage.business_hours": "hours",
                   "hubspot.lead_status": "hubspot", "email.rate_snapshot": "smtp",
                   "email.postal_address": "smtp"}


class CredentialField(QWidget):
    """One credential: a field that replaces the stored value, where it comes from, and Remove.

    The stored value is never put back in the field.
    """

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = name
        self.env_name, self.secret = CREDENTIALS[name]
        self.remove_requested = False
        self.stored_in_keyring = False
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setVerticalSpacing(2)
        self.edit = QLineEdit(self)
        self.edit.setObjectName(f"credential_{name}")
        if self.secret:
            self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText("Type a value to store it")
        self.edit.textEdited.connect(self._on_edited)
        layout.addWidget(self.edit, 0, 0)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setObjectName(f"remove_{name}")
        self.remove_button.setAutoDefault(False)
        self.remove_button.setToolTip("Delete the stored value from the keyring when you save")
        self.remove_button.clicked.connect(self._on_remove)
        layout.addWidget(self.remove_button, 0, 1)
        self.status = QLabel(self)
        self.status.setObjectName(f"source_{name}")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(HINT_STYLE)
        layout.addWidget(self.status, 1, 0, 1, 2)
        layout.setColumnStretch(0, 1)

    def set_source(self, description: str, in_keyring: bool) -> None:
        self.stored_in_keyring = in_keyring
        self.remove_requested = False
        self.status.setText(description)
        self.remove_button.setEnabled(in_keyring and self.edit.isEnabled())

    def _on_edited(self, _text: str) -> None:
        self.remove_requested = False

    def _on_remove(self) -> None:
        self.edit.clear()
        self.remove_requested = True
        self.status.setText("Will be removed from the keyring when you save.")

    def change(self) -> tuple[bool, str | None]:
        """(changed, new value or None to remove)."""
        typed = self.edit.text().strip()
        if typed:
            return True, typed
        if self.remove_requested:
            return True, None
        return False, None


class SettingsDialog(QDialog):
    """Edits the brokerage settings and the provider credentials.

    Signals:
    - loaded() once settings and credential sources are read.
    - saved(list) with the names of the credentials that changed.
    - saveFailed(str) with the message shown.
    - connectionChecked(str, bool, str) with the provider, whether it worked, and the message.
    """

    loaded = Signal()
    saved = Signal(list)
    saveFailed = Signal(str)
    connectionChecked = Signal(str, bool, str)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.keyring = keyring_status()
        self.credentials: dict[str, CredentialField] = {}
        self.test_buttons: dict[str, QPushButton] = {}
        self.test_results: dict[str, MessageLabel] = {}
        self.errors: dict[str, MessageLabel] = {}
        self.setWindowTitle("Settings")
        self.resize(1040, 700)
        self._build()
        self.save_button.setEnabled(False)
        self.status.setText("Loading\u2026")
        run_task(self._read, self._on_loaded)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 10)
        if self.keyring.available:
            text = (f"Credentials are kept in the OS keyring ({self.keyring.backend}), never in "
                    "the database or a settings export. An environment variable of the same "
                    "name wins over the keyring.")
            note = QLabel(text, self)
            note.setWordWrap(True)
            note.setStyleSheet(HINT_STYLE)
            outer.addWidget(note)
        else:
            names = ", ".join(env for env, _secret in CREDENTIALS.values())
            self.keyring_banner = banner(
                f"No OS keyring is available on this computer ({self.keyring.backend}), so "
                f"credentials cannot be saved here. Set them as environment variables before "
                f"starting the app instead: {names}. Each field below names its variable.", self,
                "keyringBanner")
            outer.addWidget(self.keyring_banner)

        body = QHBoxLayout()
        self.nav = QListWidget(self)
        self.nav.setObjectName("sections")
        self.nav.setFixedWidth(170)
        self.nav.setSpacing(3)
        self.nav.setStyleSheet("QListWidget#sections { padding: 4px; }")
        self.pages = QStackedWidget(self)
        builders = {"brokerage": self._brokerage_page, "hours": self._hours_page,
                    "hubspot": self._hubspot_page, "smtp": self._email_page}
        for key, title in SECTIONS:
            self.nav.addItem(title)
            page = builders[key]() if key in builders else self._provider_page(key)
            scroll = QScrollArea(self)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(page)
            self.pages.addWidget(scroll)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.nav.setCurrentRow(0)
        body.addWidget(self.nav)
        body.addWidget(self.pages, 1)
        outer.addLayout(body, 1)

        buttons = QHBoxLayout()
        self.status = QLabel(self)
        self.status.setObjectName("settingsStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(HINT_STYLE)
        buttons.addWidget(self.status, 1)
        self.save_button = QPushButton("Save", self)
        self.save_button.setObjectName("primary")
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        close = QPushButton("Close", self)
        close.setAutoDefault(False)
        close.clicked.connect(self.reject)
        buttons.addWidget(close)
        outer.addLayout(buttons)

    def _page(self, title: str, help_text: str = "") -> tuple[QWidget, QFormLayout]:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        heading = QLabel(title, page)
        heading.setStyleSheet("font-weight: 600; font-size: 13pt;")
        layout.addWidget(heading)
        if help_text:
            hint = QLabel(help_text, page)
            hint.setWordWrap(True)
            hint.setStyleSheet(HINT_STYLE)
            layout.addWidget(hint)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.addLayout(form)
        layout.addStretch(1)
        return page, form

    def _error_label(self, section: str, page: QWidget, form: QFormLayout) -> None:
        label = MessageLabel(page, f"error_{section}")
        self.errors[section] = label
        form.addRow(label)

    def _brokerage_page(self) -> QWidget:
        page, form = self._page("Brokerage", "Used in texts and emails, and for office hours.")
        self.broker_name = QLineEdit(page)
        self.broker_name.setObjectName("brokerName")
        self.broker_name.setPlaceholderText("e.g. Harbor Point Mortgage")
        form.addRow("Brokerage name", self.broker_name)
        self.broker_name_env = QLabel(page)
        self.broker_name_env.setStyleSheet("color: #7A5A00;")
        self.broker_name_env.setWordWrap(True)
        form.addRow("", self.broker_name_env)
        self.callback = QLineEdit(page)
        self.callback.setObjectName("callbackNumber")
        self.callback.setPlaceholderText("Empty: borrowers are asked to call the number they dialed")
        self.callback_feedback = MessageLabel(page, "callbackFeedback")
        self.callback.textChanged.connect(self._on_callback_changed)
        form.addRow("Callback number", self.callback)
        form.addRow("", self.callback_feedback)
        self.time_zone = QComboBox(page)
        self.time_zone.setObjectName("timeZone")
        self.time_zone.setEditable(True)
        self.time_zone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.zone_model = QStringListModel(self)
        completer = QCompleter(self.zone_model, self.time_zone)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.time_zone.setCompleter(completer)
        self.time_zone.lineEdit().setPlaceholderText("Type to search, e.g. Chicago")
        zone = QWidget(page)
        zone_layout = QVBoxLayout(zone)
        zone_layout.setContentsMargins(0, 0, 0, 0)
        zone_layout.setSpacing(2)
        zone_layout.addWidget(self.time_zone)
        zone_hint = QLabel("The office's zone; also used for borrowers whose area code does not "
                           "tell their zone.", zone)
        zone_hint.setWordWrap(True)
        zone_hint.setStyleSheet(HINT_STYLE)
        zone_layout.addWidget(zone_hint)
        form.addRow("Time zone", zone)
        self._error_label("brokerage", page, form)
        return page

    def _hours_page(self) -> QWidget:
        page, form = self._page("Office hours", "Outside these hours the first text uses the "
                                                "after-hours template, which says when the office opens.")
        self.hours: dict[str, tuple[QCheckBox, QTimeEdit, QTimeEdit]] = {}
        names = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
                 "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
        for day in WEEKDAYS:
            row = QHBoxLayout()
            open_box = QCheckBox("Open", page)
            open_box.setObjectName(f"open_{day}")
            start, end = QTimeEdit(page), QTimeEdit(page)
            for edit in (start, end):
                edit.setDisplayFormat("HH:mm")
            start.setObjectName(f"start_{day}")
            end.setObjectName(f"end_{day}")
            open_box.toggled.connect(start.setEnabled)
            open_box.toggled.connect(end.setEnabled)
            row.addWidget(open_box)
            row.addWidget(start)
            row.addWidget(QLabel("to", page))
            row.addWidget(end)
            row.addStretch(1)
            form.addRow(names[day], row)
            self.hours[day] = (open_box, start, end)
        self._error_label("hours", page, form)
        return page

    def _hubspot_page(self) -> QWidget:
        page, form = self._page("HubSpot", PROVIDER_HELP["hubspot"])
        self.lead_status = QComboBox(page)
        self.lead_status.setObjectName("leadStatus")
        self.lead_status.setEditable(True)
        self.lead_status.addItems(settings_form.HUBSPOT_LEAD_STATUSES)
        form.addRow("Lead status after a missed call", self.lead_status)
        self._error_label("hubspot", page, form)
        self._credential_rows("hubspot", page, form)
        return page

    def _email_page(self) -> QWidget:
        page, form = self._page("Email", PROVIDER_HELP["smtp"])
        self.rate_snapshot = QPlainTextEdit(page)
        self.rate_snapshot.setObjectName("rateSnapshot")
        self.rate_snapshot.setFixedHeight(70)
        self.rate_snapshot.setPlaceholderText("e.g. This week: 30-year fixed from 6.49% (6.61% APR).")
        form.addRow("Rate snapshot (4-hour email)", self.rate_snapshot)
        self.postal_address = QLineEdit(page)
        self.postal_address.setObjectName("postalAddress")
        self.postal_address.setPlaceholderText("Required in commercial email: street, city, state, ZIP")
        form.addRow("Postal address (email footer)", self.postal_address)
        self._error_label("smtp", page, form)
        self._credential_rows("smtp", page, form)
        return page

    def _provider_page(self, provider: str) -> QWidget:
        title = dict(SECTIONS)[provider]
        page, form = self._page(title, PROVIDER_HELP.get(provider, ""))
        self._credential_rows(provider, page, form)
        return page

    def _credential_rows(self, provider: str, page: QWidget, form: QFormLayout) -> None:
        for name in settings_form.PROVIDER_CREDENTIALS[provider]:
            field = CredentialField(name, page)
            field.edit.setEnabled(self.keyring.available)
            if not self.keyring.available:
                field.edit.setPlaceholderText(f"Set {field.env_name} instead (no keyring)")
            self.credentials[name] = field
            form.addRow(CREDENTIAL_LABELS[name], field)
        row = QHBoxLayout()
        button = QPushButton("Test connection", page)
        button.setObjectName(f"test_{provider}")
        button.setAutoDefault(False)
        button.setToolTip("Uses the values typed above, or the stored ones; sends nothing")
        button.clicked.connect(lambda _checked=False, p=provider: self.test_connection(p))
        row.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        result = MessageLabel(page, f"result_{provider}")
        result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(result, 1)
        form.addRow("", row)
        self.test_buttons[provider] = button
        self.test_results[provider] = result

    def show_section(self, key: str) -> None:
        self.nav.setCurrentRow([k for k, _title in SECTIONS].index(key))

    # -- loading ----------------------------------------------------------------------------

    def _read(self) -> dict:
        """Read settings, credential sources and the zone list (database and keyring)."""
        secrets = self.ctx.secrets
        return {
            "values": {key: self.ctx.settings.get(key) for key in settings_form.KEYS},
            "env": {key: self.ctx.settings.is_overridden_by_env(key) for key in settings_form.KEYS},
            "sources": {name: (secrets.describe(name), secrets.in_keyring(name)) for name in CREDENTIALS},
            "zones": sorted(z for z in zoneinfo.available_timezones()
                            if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))),
        }

    def _on_loaded(self, result, error) -> None:
        if not alive(self):
            return
        if error is not None:
            self.status.setText(f"Could not read the settings: {error}")
            log.warning("Loading settings failed: %s", error)
            return
        values = result["values"]
        self.broker_name.setText(values["brokerage.name"])
        if result["env"]["brokerage.name"]:
            self.broker_name_env.setText("MCD_BROKERAGE_NAME is set and wins over this field.")
        self.broker_name_env.setVisible(result["env"]["brokerage.name"])
        callback = values["brokerage.callback_number"]
        self.callback.setText(phones.format_national(callback) if phones.try_normalize(callback) else callback)
        self.zone_model.setStringList(result["zones"])
        self.time_zone.addItems(result["zones"])
        self.time_zone.setCurrentText(values["brokerage.time_zone"])
        for day, (open_box, start, end) in self.hours.items():
            span = values["brokerage.business_hours"].get(day) or ""
            open_box.setChecked(bool(span))
            first, _, last = (span or "08:30-17:30").partition("-")
            start.setTime(QTime.fromString(first, "HH:mm"))
            end.setTime(QTime.fromString(last, "HH:mm"))
            start.setEnabled(bool(span))
            end.setEnabled(bool(span))
        self.lead_status.setCurrentText(values["hubspot.lead_status"])
        self.rate_snapshot.setPlainText(values["email.rate_snapshot"])
        self.postal_address.setText(values["email.postal_address"])
        self._show_sources(result["sources"])
        self.status.setText("")
        self.save_button.setEnabled(True)
        self.loaded.emit()

    def _show_sources(self, sources: dict) -> None:
        for name, (description, in_keyring) in sources.items():
            field = self.credentials[name]
            field.edit.clear()
            field.set_source(description, in_keyring)

    def _on_callback_changed(self, text: str) -> None:
        if not text.strip():
            self.callback_feedback.show_hint("Texts ask borrowers to call back the number they dialed.")
            return
        try:
            self.callback_feedback.show_ok(f"\u2713 {phones.parse_phone(text).national}")
        except phones.InvalidPhoneNumber as exc:
            self.callback_feedback.show_error(f"Not a valid number: {exc.reason}.")

    # -- saving -----------------------------------------------------------------------------

    def values(self) -> dict:
        hours = {}
        for day, (open_box, start, end) in self.hours.items():
            hours[day] = (f"{start.time().toString('HH:mm')}-{end.time().toString('HH:mm')}"
                          if open_box.isChecked() else "")
        return {
            "brokerage.name": self.broker_name.text().strip(),
            "brokerage.callback_number": self.callback.text().strip(),
            "brokerage.time_zone": self.time_zone.currentText().strip(),
            "brokerage.business_hours": hours,
            "hubspot.lead_status": self.lead_status.currentText().strip(),
            "email.rate_snapshot": self.rate_snapshot.toPlainText().strip(),
            "email.postal_address": self.postal_address.text().strip(),
        }

    def credential_changes(self) -> dict[str, str | None]:
        changes = {}
        for name, field in self.credentials.items():
            changed, value = field.change()
            if changed:
                changes[name] = value
        return changes

    def save(self) -> None:
        for label in self.errors.values():
            label.clear_message()
        values = self.values()
        problem = settings_form.check_values(values)
        if problem is not None:
            self._show_error(problem.key, problem.message)
            return
        changes = self.credential_changes()
        self.save_button.setEnabled(False)
        self.status.setText("Saving\u2026")
        ctx = self.ctx

        def work():
            changed = settings_form.store(ctx, values, changes)
            return changed, self._read()["sources"]

        run_task(work, self._on_saved)

    def _show_error(self, key: str, message: str) -> None:
        section = _SETTING_LABELS.get(key, "brokerage")
        self.errors[section].show_error(message)
        self.show_section(section)
        self.status.setText("Not saved; see the message in red.")
        self.saveFailed.emit(message)

    def _on_saved(self, result, error) -> None:
        if not alive(self):
            return
        self.save_button.setEnabled(True)
        if isinstance(error, SettingError):
            self._show_error(str(error).split(":", 1)[0], str(error))
            return
        if error is not None:
            if not isinstance(error, SecretStoreError):
                log.error("Saving settings failed: %s", type(error).__name__)
            message = f"Could not save: {self.ctx.secrets.redact(str(error))}"
            self.status.setText(message)
            self.saveFailed.emit(message)
            return
        changed, sources = result
        self._show_sources(sources)
        stored = f" Credentials updated: {', '.join(CREDENTIAL_LABELS[n] for n in changed)}." if changed else ""
        self.status.setText(f"Saved.{stored}")
        self.saved.emit(changed)

    # -- connection tests -------------------------------------------------------------------

    def test_connection(self, provider: str) -> None:
        """Run the provider's check off the GUI thread with the typed (or stored) credentials."""
        typed = {name: self.credentials[name].edit.text().strip()
                 for name in settings_form.PROVIDER_CREDENTIALS[provider]
                 if self.credentials[name].edit.text().strip()}
        button, result = self.test_buttons[provider], self.test_results[provider]
        button.setEnabled(False)
        result.show_hint("Testing\u2026")
        ctx = self.ctx

        def done(outcome, error) -> None:
            if not alive(self):
                return
            button.setEnabled(True)
            if error is not None:
                log.error("The %s connection check failed: %s", provider, type(error).__name__)
                ok, message = False, f"The check itself failed: {ctx.secrets.redact(str(error))}"
            else:
                ok, message = outcome
            if ok:
                result.show_ok(f"\u2713 {message}")
            else:
                result.show_error(f"\u2717 {message}")
            self.connectionChecked.emit(provider, ok, message)

        run_task(lambda: connection_checks.run_check(provider, ctx, typed), done)
