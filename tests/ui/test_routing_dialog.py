"""The loan officer and routing editor, driven with pytest-qt against a real store and Twilio stand-in."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop_app.core import directory, lo_recording, models
from desktop_app.core.app import open_context
from desktop_app.ui.recorder_dialog import RecorderDialog
from desktop_app.ui.routing_dialog import RoutingDialog
from desktop_app.ui.routing_models import (LO_PHONE, LO_RECORD, LO_RECORDING, ROUTE_DIALED, ROUTE_LO,
                                           LoanOfficerModel, LoRow, RouteModel, RouteRow)
from tests.conftest import twilio_env
from tests.standins.twilio_api import Number
from tests.ui.test_recorder_dialog import ScriptedMicrophone
from tests.ui.screenshots import speech_like

pytestmark = pytest.mark.gui


@pytest.fixture
def environ() -> dict:
    return {}


@pytest.fixture
def ctx(data_dir, environ):
    context = open_context(data_dir, environ=environ)
    yield context
    context.db.close()


@pytest.fixture
def dana(ctx) -> int:
    return ctx.db.write(lambda uow: directory.save_lo(
        uow, directory.LoanOfficerInput("Dana Reyes", phone="+16465550111", senior=True)).id)


def open_dialog(qtbot, ctx) -> RoutingDialog:
    dialog = RoutingDialog(ctx)
    qtbot.addWidget(dialog)
    with qtbot.waitSignals([dialog.loaded, dialog.ownedNumbersLoaded], timeout=10000):
        dialog.show()
    return dialog


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def stored_routes(ctx) -> list[models.Route]:
    with ctx.db.read() as session:
        return directory.list_routes(session)


def test_models_pass_qtmodeltester(qtmodeltester):
    los = LoanOfficerModel()
    los.set_rows([LoRow(1, "Dana Reyes", "+16465550111", None, True, True, None, 24.3),
                  LoRow(2, "Alex Moreno", None, "alex@harbor.example", False, False, "81234568", None)])
    qtmodeltester.check(los, force_py=True)
    los.upsert(LoRow(2, "Alex Moreno", "+12125550122", None, False, True, None, None))
    los.upsert(LoRow(3, "Priya Shah", None, None, False, True, None, None))
    los.remove(1)
    qtmodeltester.check(los, force_py=True)
    assert los.index(0, LO_PHONE).data() == "(212) 555-0122"
    assert los.index(1, LO_RECORDING).data() == "None yet"
    routes = RouteModel()
    routes.set_rows([RouteRow(1, "+12125550100", None, None, "twilio", None)])
    qtmodeltester.check(routes, force_py=True)
    assert routes.index(0, ROUTE_DIALED).data() == "(212) 555-0100"
    assert routes.index(0, ROUTE_LO).data() == "General line (round-robin)"


def test_add_lo_validates_phone_as_typed(qtbot, ctx):
    dialog = open_dialog(qtbot, ctx)
    qtbot.keyClicks(dialog.lo_name, "Alex Moreno")
    qtbot.keyClicks(dialog.lo_phone, "212 555 01")
    assert dialog.lo_phone_error.kind == "error"
    assert "wrong number of digits" in dialog.lo_phone_error.text()
    qtbot.keyClicks(dialog.lo_phone, "22")
    assert dialog.lo_phone_error.kind == "ok"
    assert dialog.lo_phone_error.text() == "\u2713 (212) 555-0122"
    qtbot.keyClicks(dialog.lo_email, "alex@harbor.example")
    with qtbot.waitSignal(dialog.loSaved) as saved:
        click(qtbot, dialog.lo_save_button)
    with ctx.db.read() as session:
        lo = session.get(models.LoanOfficer, saved.args[0])
    assert (lo.name, lo.phone, lo.email) == ("Alex Moreno", "+12125550122", "alex@harbor.example")
    assert dialog.lo_model.index(0, LO_PHONE).data() == "(212) 555-0122"
    assert dialog.lo_table.indexWidget(dialog.lo_model.index(0, LO_RECORD)) is not None


def test_lo_errors_show_next_to_field(qtbot, ctx, dana):
    dialog = open_dialog(qtbot, ctx)
    dialog.new_lo()
    qtbot.keyClicks(dialog.lo_name, "Dana Reyes")
    with qtbot.waitSignal(dialog.saveFailed):
        click(qtbot, dialog.lo_save_button)
    assert dialog.lo_name_error.isVisible()
    assert dialog.lo_name_error.text() == "There is already a loan officer called 'Dana Reyes'"
    dialog.lo_name.setText("Sam Ortiz")
    qtbot.keyClicks(dialog.lo_email, "sam at harbor")
    with qtbot.waitSignal(dialog.saveFailed):
        click(qtbot, dialog.lo_save_button)
    assert not dialog.lo_name_error.isVisible()
    assert dialog.lo_email_error.text() == "'sam at harbor' is not an email address"
    with ctx.db.read() as session:
        assert [lo.name for lo in directory.list_los(session)] == ["Dana Reyes"]


def test_edit_lo_updates_row_in_place(qtbot, ctx, dana):
    dialog = open_dialog(qtbot, ctx)
    dialog.lo_table.selectRow(0)
    assert dialog.lo_name.text() == "Dana Reyes"
    assert dialog.lo_phone.text() == "(646) 555-0111"
    changed = []
    dialog.lo_model.dataChanged.connect(lambda first, last: changed.append((first.row(), last.row())))
    dialog.lo_active.setChecked(False)
    with qtbot.waitSignal(dialog.loSaved):
        click(qtbot, dialog.lo_save_button)
    assert changed == [(0, 0)]
    assert dialog.lo_model.rowCount() == 1
    assert dialog.lo_model.rows[0].active is False


def test_route_offers_owned_twilio_numbers(qtbot, ctx, environ, twilio_api, dana):
    environ.update(twilio_env(twilio_api))
    twilio_api.numbers = [Number("PN" + "1" * 32, "+12125550101", "Google Ads line"),
                          Number("PN" + "2" * 32, "+12125550102", "Zillow line")]
    dialog = open_dialog(qtbot, ctx)
    assert dialog.route_dialed.count() == 2
    assert dialog.route_dialed.itemText(1) == "(212) 555-0102 (Zillow line)"
    assert "2 number(s)" in dialog.owned_status.text()
    dialog.tabs.setCurrentIndex(1)
    dialog.route_dialed.setCurrentIndex(1)
    assert dialog.route_dialed_error.text() == "\u2713 (212) 555-0102"
    dialog.route_lo.setCurrentIndex(dialog.route_lo.findData("Dana Reyes"))
    dialog.route_source.setEditText("")
    qtbot.keyClicks(dialog.route_source.lineEdit(), "open_house")
    qtbot.keyClicks(dialog.route_label, "Open house flyers")
    with qtbot.waitSignal(dialog.routeSaved):
        click(qtbot, dialog.route_save_button)
    [route] = stored_routes(ctx)
    assert (route.dialed, route.lead_source, route.label) == ("+12125550102", "open_house", "Open house flyers")
    assert dialog.route_model.index(0, ROUTE_LO).data() == "Dana Reyes"


def test_route_common_sources_and_duplicate_error(qtbot, ctx):
    ctx.db.write(lambda uow: directory.save_route(uow, directory.RouteInput("+12125550100")))
    dialog = open_dialog(qtbot, ctx)
    sources = [dialog.route_source.itemText(i) for i in range(dialog.route_source.count())]
    assert sources == ["missed_call_inbound", "google_ads", "zillow", "client_referral", "website",
                       "past_client", "realtor_referral"]
    dialog.new_route()
    qtbot.keyClicks(dialog.route_dialed.lineEdit(), "(212) 555-0100")
    with qtbot.waitSignal(dialog.saveFailed):
        click(qtbot, dialog.route_save_button)
    assert dialog.route_dialed_error.kind == "error"
    assert dialog.route_dialed_error.text() == "(212) 555-0100 is already in the table"
    dialog.route_dialed.setEditText("(212) 555-0101")
    dialog.route_source.setEditText("open house")
    with qtbot.waitSignal(dialog.saveFailed):
        click(qtbot, dialog.route_save_button)
    assert dialog.route_source_error.text() == "'open house' may use letters, digits, _ and - only"
    assert len(stored_routes(ctx)) == 1


def test_owned_numbers_without_credentials_says_why(qtbot, ctx):
    dialog = open_dialog(qtbot, ctx)
    assert dialog.route_dialed.count() == 0
    assert dialog.owned_status.text().startswith("No Twilio credentials are set")


def test_owned_numbers_with_bad_token_says_why(qtbot, ctx, environ, twilio_api):
    environ.update(twilio_env(twilio_api))
    environ["MCD_TWILIO_AUTH_TOKEN"] = "0" * 32
    dialog = RoutingDialog(ctx)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.ownedNumbersLoaded, timeout=10000) as loaded:
        dialog.show()
    assert loaded.args[0] is False
    assert "Twilio rejected the account SID or auth token (error 20003)" in loaded.args[1]
    assert dialog.owned_status.text() == loaded.args[1]


def test_record_voicemail_button_opens_recorder(qtbot, ctx, dana):
    dialog = open_dialog(qtbot, ctx)
    opened = []

    def factory(context, lo_id, parent):
        recorder = RecorderDialog(context, lo_id, parent, microphone=ScriptedMicrophone())
        opened.append((lo_id, recorder))
        return recorder

    dialog.recorder_factory = factory
    assert dialog.lo_model.index(0, LO_RECORDING).data() == "None yet"
    button = dialog.lo_table.indexWidget(dialog.lo_model.index(0, LO_RECORD))
    click(qtbot, button)
    [(lo_id, recorder)] = opened
    assert lo_id == dana
    qtbot.waitExposed(recorder)
    lo_recording.save(ctx.db, ctx.data_dir, dana, lo_recording.encode_mp3(speech_like(3.2)))
    with qtbot.waitSignal(dialog.lo_model.dataChanged):
        recorder.close()
    assert dialog.lo_model.index(0, LO_RECORDING).data() == "3.2 s recorded"


def test_remove_lo_asks_and_frees_routes(qtbot, ctx, dana):
    ctx.db.write(lambda uow: directory.save_route(uow, directory.RouteInput("+12125550100", "Dana Reyes")))
    dialog = open_dialog(qtbot, ctx)
    dialog.lo_table.selectRow(0)
    click(qtbot, dialog.lo_remove_button)
    qtbot.waitUntil(lambda: dialog.findChild(QMessageBox, "confirmPrompt") is not None)
    box = dialog.findChild(QMessageBox, "confirmPrompt")
    remove = next(b for b in box.buttons() if b.text() == "Remove")
    with qtbot.waitSignal(dialog.loRemoved):
        qtbot.mouseClick(remove, Qt.MouseButton.LeftButton)
    assert dialog.lo_model.rowCount() == 0
    [route] = stored_routes(ctx)
    assert route.lo_id is None
    qtbot.waitUntil(lambda: dialog.route_model.index(0, ROUTE_LO).data() == "General line (round-robin)")
