"""The settings window, driven with pytest-qt: settings, credentials in a real keyring, connection tests."""

from __future__ import annotations

import json
import logging

import pytest
from PySide6.QtCore import QTime, Qt

from desktop_app.core import config_file
from desktop_app.core.app import open_context
from desktop_app.core.db import DB_FILENAME
from desktop_app.ui.settings_dialog import SettingsDialog
from tests.file_keyring import file_keyring  # noqa: F401  (fixture)
from tests.standins.slybroadcast_api import PASSWORD, USER, SlybroadcastStandIn
from tests.standins.twilio_api import ACCOUNT_SID, AUTH_TOKEN

pytestmark = pytest.mark.gui


@pytest.fixture
def environ() -> dict:
    return {}


@pytest.fixture
def ctx(data_dir, environ):
    context = open_context(data_dir, environ=environ)
    yield context
    context.db.close()


def open_dialog(qtbot, ctx) -> SettingsDialog:
    dialog = SettingsDialog(ctx)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.loaded, timeout=5000):
        dialog.show()
    return dialog


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def save(qtbot, dialog) -> list:
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        click(qtbot, dialog.save_button)
    return saved.args[0]


def type_credential(qtbot, dialog, name: str, value: str) -> None:
    field = dialog.credentials[name].edit
    field.clear()
    qtbot.keyClicks(field, value)


def test_without_keyring_says_so_and_names_variables(qtbot, ctx):
    dialog = open_dialog(qtbot, ctx)
    assert dialog.keyring_banner.isVisible()
    text = dialog.keyring_banner.text()
    assert text.startswith("No OS keyring is available on this computer")
    assert "MCD_TWILIO_AUTH_TOKEN" in text
    assert "MCD_SMTP_URL" in text
    field = dialog.credentials["twilio.auth_token"]
    assert not field.edit.isEnabled()
    assert field.edit.placeholderText() == "Set MCD_TWILIO_AUTH_TOKEN instead (no keyring)"
    assert field.status.text() == "Not set. It can also come from the environment variable MCD_TWILIO_AUTH_TOKEN."
    dialog.broker_name.setText("Harbor Point Mortgage")
    assert save(qtbot, dialog) == []
    assert ctx.settings.get("brokerage.name") == "Harbor Point Mortgage"


def test_settings_saved_together(qtbot, ctx):
    dialog = open_dialog(qtbot, ctx)
    qtbot.keyClicks(dialog.broker_name, "Harbor Point Mortgage")
    qtbot.keyClicks(dialog.callback, "212-555-0199")
    assert dialog.callback_feedback.text() == "\u2713 (212) 555-0199"
    dialog.time_zone.setCurrentText("")
    qtbot.keyClicks(dialog.time_zone.lineEdit(), "America/Chicago")
    open_box, start, end = dialog.hours["sat"]
    open_box.setChecked(True)
    start.setTime(QTime(9, 0))
    end.setTime(QTime(13, 0))
    dialog.hours["fri"][0].setChecked(False)
    dialog.lead_status.setCurrentText("ATTEMPTED_TO_CONTACT")
    qtbot.keyClicks(dialog.rate_snapshot, "30-year fixed from 6.49% (6.61% APR).")
    qtbot.keyClicks(dialog.postal_address, "120 Water Street, New York, NY 10005")
    save(qtbot, dialog)
    assert ctx.settings.get("brokerage.name") == "Harbor Point Mortgage"
    assert ctx.settings.get("brokerage.callback_number") == "+12125550199"
    assert ctx.settings.get("brokerage.time_zone") == "America/Chicago"
    hours = ctx.settings.get("brokerage.business_hours")
    assert hours["sat"] == "09:00-13:00"
    assert hours["fri"] == ""
    assert hours["mon"] == "08:30-17:30"
    assert ctx.settings.get("hubspot.lead_status") == "ATTEMPTED_TO_CONTACT"
    assert ctx.settings.get("email.rate_snapshot") == "30-year fixed from 6.49% (6.61% APR)."
    assert ctx.settings.get("email.postal_address") == "120 Water Street, New York, NY 10005"


def test_time_zone_search_matches_inside_names(qtbot, ctx):
    dialog = open_dialog(qtbot, ctx)
    completer = dialog.time_zone.completer()
    completer.setCompletionPrefix("chicago")
    matches = [completer.completionModel().index(i, 0).data()
               for i in range(completer.completionModel().rowCount())]
    assert matches == ["America/Chicago"]


@pytest.mark.parametrize("change, section, words", [
    (lambda d: d.callback.setText("555-01"), "brokerage", "is not a valid phone number"),
    (lambda d: d.time_zone.setCurrentText("Central Time"), "brokerage", "is not an IANA time zone"),
    (lambda d: (d.hours["mon"][1].setTime(QTime(18, 0))), "hours", "must open before it closes"),
])
def test_invalid_settings_shown_in_their_section(qtbot, ctx, change, section, words):
    dialog = open_dialog(qtbot, ctx)
    change(dialog)
    with qtbot.waitSignal(dialog.saveFailed):
        click(qtbot, dialog.save_button)
    assert words in dialog.errors[section].text()
    assert dialog.errors[section].isVisible()
    assert ctx.settings.stored_values() == {}


def test_credentials_stored_in_keyring_and_providers_reset(qtbot, ctx, environ, twilio_api, file_keyring):
    environ["MCD_TWILIO_API_URL"] = twilio_api.url
    assert ctx.sms_provider("twilio").sandbox
    dialog = open_dialog(qtbot, ctx)
    assert not hasattr(dialog, "keyring_banner")
    type_credential(qtbot, dialog, "twilio.account_sid", ACCOUNT_SID)
    type_credential(qtbot, dialog, "twilio.auth_token", AUTH_TOKEN)
    assert dialog.credentials["twilio.auth_token"].edit.echoMode() == dialog.credentials[
        "twilio.auth_token"].edit.EchoMode.Password
    assert save(qtbot, dialog) == ["twilio.account_sid", "twilio.auth_token"]
    assert file_keyring.get_password("missed-call-desk", "twilio.auth_token") == AUTH_TOKEN
    assert ctx.secrets.get("twilio.account_sid") == ACCOUNT_SID
    assert not ctx.sms_provider("twilio").sandbox
    token = dialog.credentials["twilio.auth_token"]
    assert token.edit.text() == ""
    assert token.status.text() == "Stored in the OS keyring."
    assert dialog.credentials["twilio.account_sid"].status.text() == f"Stored in the OS keyring ({ACCOUNT_SID})."


def test_environment_variable_wins_and_is_named(qtbot, ctx, environ, file_keyring):
    ctx.secrets.set("hubspot.token", "pat-na1-keyring-value-0000")
    environ["MCD_HUBSPOT_TOKEN"] = "pat-na1-env-value-1111"
    dialog = open_dialog(qtbot, ctx)
    status = dialog.credentials["hubspot.token"].status.text()
    assert status.startswith("Set by the environment variable MCD_HUBSPOT_TOKEN, which wins over the keyring.")
    assert "ignored while it is set" in status
    assert "pat-na1" not in status


def test_remove_deletes_from_keyring(qtbot, ctx, file_keyring):
    ctx.secrets.set("ngrok.authtoken", "2abcDEF123456789_ghiJKL987654321")
    dialog = open_dialog(qtbot, ctx)
    dialog.show_section("ngrok")
    field = dialog.credentials["ngrok.authtoken"]
    click(qtbot, field.remove_button)
    assert field.status.text() == "Will be removed from the keyring when you save."
    assert save(qtbot, dialog) == ["ngrok.authtoken"]
    assert ctx.secrets.get("ngrok.authtoken") is None
    assert file_keyring.get_password("missed-call-desk", "ngrok.authtoken") is None
    assert field.status.text().startswith("Not set.")


def test_secrets_never_reach_database_exports_or_logs(qtbot, ctx, data_dir, file_keyring, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = {
        "twilio.auth_token": "tw-secret-5f1c9e0b7a",
        "hubspot.token": "pat-na1-secret-8d2e4c6a",
        "smtp.url": "smtp://loans%40harbor.example:mail-secret-3b7d@127.0.0.1:2525",
        "dropcowboy.secret": "dc-secret-9a8b7c6d",
        "slybroadcast.password": "sly-secret-1e2f3a4b",
        "ngrok.authtoken": "2ngroksecret_4c5d6e7f8a9b",
    }
    dialog = open_dialog(qtbot, ctx)
    qtbot.keyClicks(dialog.broker_name, "Harbor Point Mortgage")
    for name, value in secrets.items():
        type_credential(qtbot, dialog, name, value)
    save(qtbot, dialog)
    dialog.test_connection("smtp")
    qtbot.waitUntil(lambda: dialog.test_buttons["smtp"].isEnabled(), timeout=10000)
    exported = json.dumps(config_file.build(ctx))
    ctx.db.close()
    stored = b"".join(path.read_bytes() for path in data_dir.iterdir()
                      if path.name.startswith(DB_FILENAME))
    shown = dialog.status.text() + " ".join(f.status.text() for f in dialog.credentials.values())
    for name, value in secrets.items():
        assert ctx.secrets.get(name) == value, name
        assert value.encode() not in stored, f"{name} reached SQLite"
        assert value not in exported, f"{name} reached the settings export"
        assert value not in caplog.text, f"{name} reached the log"
        assert value not in shown, f"{name} was shown back"
        assert value not in dialog.test_results["smtp"].text()
    assert "mail-secret-3b7d" not in shown
    assert "smtp://loans%40harbor.example:***@127.0.0.1:2525" in shown


def test_connection_test_uses_typed_values(qtbot, ctx, environ, twilio_api, file_keyring):
    environ["MCD_TWILIO_API_URL"] = twilio_api.url
    dialog = open_dialog(qtbot, ctx)
    dialog.show_section("twilio")
    type_credential(qtbot, dialog, "twilio.account_sid", ACCOUNT_SID)
    type_credential(qtbot, dialog, "twilio.auth_token", "0" * 32)
    with qtbot.waitSignal(dialog.connectionChecked, timeout=10000) as checked:
        click(qtbot, dialog.test_buttons["twilio"])
    assert checked.args[:2] == ["twilio", False]
    assert "error 20003" in dialog.test_results["twilio"].text()
    assert dialog.test_results["twilio"].kind == "error"
    type_credential(qtbot, dialog, "twilio.auth_token", AUTH_TOKEN)
    with qtbot.waitSignal(dialog.connectionChecked, timeout=10000) as checked:
        click(qtbot, dialog.test_buttons["twilio"])
    assert checked.args[1] is True
    assert dialog.test_results["twilio"].text().startswith("\u2713 Connected to Twilio account")


def test_connection_test_slybroadcast(qtbot, ctx, environ, file_keyring):
    with SlybroadcastStandIn() as standin:
        environ["MCD_SLYBROADCAST_API_URL"] = standin.gateway_url
        dialog = open_dialog(qtbot, ctx)
        dialog.show_section("slybroadcast")
        type_credential(qtbot, dialog, "slybroadcast.user", USER)
        type_credential(qtbot, dialog, "slybroadcast.password", PASSWORD)
        with qtbot.waitSignal(dialog.connectionChecked, timeout=10000) as checked:
            click(qtbot, dialog.test_buttons["slybroadcast"])
    assert checked.args[1] is True
    assert "messages left on the account: 1250" in checked.args[2]
