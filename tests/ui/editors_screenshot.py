"""The editor dialogs with a realistic brokerage's data, for the README screenshots."""

from __future__ import annotations

import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from desktop_app.core import directory, lo_recording
from desktop_app.core.app import open_context

LOS = [
    directory.LoanOfficerInput("Dana Reyes", phone="+16465550111", email="dana@harborpoint.example",
                               senior=True, hubspot_owner_id="81234567"),
    directory.LoanOfficerInput("Alex Moreno", phone="+12125550122", email="alex@harborpoint.example",
                               hubspot_owner_id="81234568"),
    directory.LoanOfficerInput("Priya Shah", phone="+17185550133", email="priya@harborpoint.example"),
    directory.LoanOfficerInput("Tom Becker", phone="+13475550144", email="tom@harborpoint.example",
                               active=False),
]
ROUTES = [
    directory.RouteInput("+12125550100", None, "missed_call_inbound", "twilio", "Main line"),
    directory.RouteInput("+12125550101", "Dana Reyes", "google_ads", "twilio", "Google Ads campaign"),
    directory.RouteInput("+12125550102", "Alex Moreno", "zillow", "twilio", "Zillow profile"),
    directory.RouteInput("+16465550103", "Priya Shah", "realtor_referral", "ringcentral",
                         "Realtor partners"),
    directory.RouteInput("+16465550104", None, "past_client", "twilio", "Past-client mailer"),
]


def wait(app: QApplication, milliseconds: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()
    app.processEvents()


def brokerage(environ: dict | None = None):
    """A data folder with settings, four LOs (one with a recording) and five numbers dialed."""
    data_dir = Path(tempfile.mkdtemp(prefix="mcd-shot-"))
    ctx = open_context(data_dir, environ=environ or {})
    ctx.settings.set_many({
        "brokerage.name": "Harbor Point Mortgage", "brokerage.callback_number": "+12125550100",
        "email.rate_snapshot": "This week: 30-year fixed from 6.49% (6.61% APR), 15-year fixed from "
                               "5.79% (5.95% APR). Rates change daily.",
        "email.postal_address": "120 Water Street, Suite 400, New York, NY 10005",
        "quiet_hours.state_windows": {"FL": ["08:00", "20:00"], "OK": ["08:00", "20:00"],
                                      "WA": ["08:00", "20:00"]},
    })
    ids = [ctx.db.write(lambda uow, lo=lo: directory.save_lo(uow, lo).id) for lo in LOS]
    for route in ROUTES:
        ctx.db.write(lambda uow, r=route: directory.save_route(uow, r))
    from tests.ui.screenshots import speech_like  # noqa: PLC0415

    lo_recording.save(ctx.db, data_dir, ids[0], lo_recording.encode_mp3(speech_like(24.3, seed=3)))
    return ctx


def show(app: QApplication, dialog: QDialog, milliseconds: int = 800) -> None:
    dialog.show()
    wait(app, milliseconds)


def templates(out_dir: Path, app: QApplication) -> None:
    from desktop_app.ui.templates_dialog import TemplatesDialog  # noqa: PLC0415

    ctx = brokerage()
    dialog = TemplatesDialog(ctx)
    show(app, dialog)
    dialog.body.setPlainText("Hi {first_name}, you just called {broker_name}. We\u2019re sorry we missed "
                             "you \u2013 reply here or call {callback_number}. {lo_name} is standing "
                             "by to help with your {loan_purpose} question.")
    wait(app, 200)
    dialog.grab().save(str(out_dir / "templates.png"))
    dialog.dirty = False
    dialog.close()
    ctx.db.close()


def routing(out_dir: Path, app: QApplication) -> None:
    from desktop_app.ui.routing_dialog import RoutingDialog  # noqa: PLC0415
    from tests.conftest import twilio_env  # noqa: PLC0415
    from tests.standins.twilio_api import Number, TwilioStandIn  # noqa: PLC0415

    with TwilioStandIn() as twilio:
        twilio.numbers = [Number("PN" + "0" * 31 + str(i), route.dialed, route.label or "", "", "", "")
                          for i, route in enumerate(ROUTES)]
        ctx = brokerage(twilio_env(twilio))
        dialog = RoutingDialog(ctx)
        show(app, dialog, 1200)
        dialog.lo_table.selectRow(1)
        dialog.lo_phone.setText("212 555 01")
        wait(app, 200)
        dialog.grab().save(str(out_dir / "routing.png"))
        dialog.tabs.setCurrentIndex(1)
        dialog.route_table.selectRow(2)
        wait(app, 200)
        dialog.grab().save(str(out_dir / "routing-numbers.png"))
        dialog.close()
        ctx.db.close()


def sequence(out_dir: Path, app: QApplication) -> None:
    from desktop_app.ui.sequence_dialog import SequenceDialog  # noqa: PLC0415

    ctx = brokerage()
    dialog = SequenceDialog(ctx)
    show(app, dialog)
    dialog.steps_table.selectRow(2)
    wait(app, 200)
    dialog.grab().save(str(out_dir / "sequence.png"))
    dialog.close()
    ctx.db.close()


def settings(out_dir: Path, app: QApplication) -> None:
    import keyring  # noqa: PLC0415
    from keyrings.alt.file import PlaintextKeyring  # noqa: PLC0415

    from desktop_app.ui.settings_dialog import SettingsDialog  # noqa: PLC0415
    from tests.standins.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn  # noqa: PLC0415

    backend = PlaintextKeyring()
    backend.file_path = tempfile.mkdtemp(prefix="mcd-shot-keyring-") + "/credentials.cfg"
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        with TwilioStandIn() as twilio:
            ctx = brokerage({"MCD_TWILIO_API_URL": twilio.url})
            ctx.secrets.set("twilio.account_sid", ACCOUNT_SID)
            ctx.secrets.set("twilio.auth_token", AUTH_TOKEN)
            dialog = SettingsDialog(ctx)
            show(app, dialog)
            dialog.show_section("twilio")
            dialog.test_connection("twilio")
            wait(app, 800)
            dialog.grab().save(str(out_dir / "settings.png"))
            dialog.show_section("brokerage")
            wait(app, 200)
            dialog.grab().save(str(out_dir / "settings-brokerage.png"))
            dialog.close()
            ctx.db.close()
    finally:
        keyring.set_keyring(previous)
