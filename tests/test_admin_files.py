"""DNC list import and the settings file, through the command line and the core."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlmodel import select

from desktop_app.core import config_file, dnc, models
from desktop_app.core.app import open_context
from tests.helpers import GENERAL_LINE, call_sid, contact_by_phone, status_params, steps_for


def run_cli(*args):
    env = {"PATH": "/usr/bin:/bin", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True,
                          text=True, env=env, timeout=60)


DNC_CSV = """Name,Phone Number,Reason
Ann Lee,(212) 555-0143,asked by phone
Bo Diaz,312.555.0101,
Cy Park,1-303-555-0102,lawyer letter
Dup,+1 212 555 0143,
Bad,12345,
Empty,,
Words,call me maybe,
"""


def test_dnc_import_reports_bad_rows(tmp_path, app, client, twilio_api):
    client.post("/twilio/call-status", status_params(call_sid(), "+12125550143", GENERAL_LINE,
                                                     status="no-answer", duration=12))
    app.outbox.wait_idle()
    path = tmp_path / "dnc.csv"
    path.write_text(DNC_CSV)
    report = dnc.import_csv(app.ctx, path, source="dnc.csv")
    assert report.added == 3
    assert report.already == 1
    assert report.contacts_flagged == 1
    assert len(report.rejected) == 3
    assert any("line 6" in r and "wrong number of digits" in r for r in report.rejected)
    contact = contact_by_phone(app.ctx, "+12125550143")
    assert contact.do_not_contact
    pending = [s for s in steps_for(app.ctx, contact.id) if s.name != "first_text"]
    assert all(s.status == "cancelled" for s in pending)


def test_dnc_number_never_gets_first_text(tmp_path, app, client, twilio_api):
    path = tmp_path / "dnc.csv"
    path.write_text("3035550102\n")
    dnc.import_csv(app.ctx, path, source="state list")
    client.post("/twilio/call-status", status_params(call_sid(), "+13035550102", GENERAL_LINE,
                                                     status="no-answer", duration=30))
    app.outbox.wait_idle()
    assert twilio_api.message_requests() == []
    contact = contact_by_phone(app.ctx, "+13035550102")
    assert steps_for(app.ctx, contact.id) == []
    with app.ctx.db.read() as session:
        notes = [e.summary for e in session.exec(select(models.TimelineEvent)
                                                 .where(models.TimelineEvent.contact_id == contact.id))]
    assert any("No follow-up planned: on the do-not-contact list" in n for n in notes)


def test_dnc_file_without_phone_column_is_rejected(tmp_path, data_dir):
    path = tmp_path / "people.csv"
    path.write_text("Name,Email\nAnn,ann@example.test\n")
    ctx = open_context(data_dir)
    try:
        with pytest.raises(dnc.DncImportError, match="no phone column"):
            dnc.import_csv(ctx, path, source="people.csv")
    finally:
        ctx.db.close()


def test_dnc_cli_prints_report(tmp_path, data_dir):
    path = tmp_path / "dnc.csv"
    path.write_text(DNC_CSV)
    result = run_cli("dnc", "import", str(path), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "3 number(s) added" in result.stdout
    assert "3 row(s) rejected" in result.stdout
    assert "rejected line 6" in result.stderr


SETTINGS_TOML = """
format = 1

[brokerage]
name = "Harbor Point Mortgage"
time_zone = "America/Chicago"

[quiet_hours]
start = "09:00"
end = "20:00"

[quiet_hours.state_windows]
FL = ["09:00", "20:00"]

[caps]
per_hour = 1
per_day = 2

[[loan_officers]]
name = "Dana Reyes"
phone = "(646) 555-0111"
senior = true

[[routes]]
dialed = "212-555-0100"
lo = "Dana Reyes"
lead_source = "zillow"
label = "Zillow line"

[templates.first_text]
body = "Hi {first_name}, {lo_name} from {broker_name} here. Sorry we missed you!"
"""


def test_settings_import_then_export_round_trip(tmp_path, data_dir):
    source = tmp_path / "in.toml"
    source.write_text(SETTINGS_TOML)
    result = run_cli("settings", "import", str(source), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "1 loan officer(s), 1 route(s)" in result.stderr
    ctx = open_context(data_dir)
    try:
        assert ctx.settings.get("brokerage.name") == "Harbor Point Mortgage"
        assert ctx.settings.get("caps.per_day") == 2
        assert ctx.templates.get("first_text").edited
        with ctx.db.read() as session:
            route = session.exec(select(models.Route)).one()
            lo = session.exec(select(models.LoanOfficer)).one()
        assert route.dialed == "+12125550100"
        assert lo.phone == "+16465550111"
    finally:
        ctx.db.close()
    exported = tmp_path / "out.toml"
    result = run_cli("settings", "export", str(exported), "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    text = exported.read_text()
    assert 'name = "Harbor Point Mortgage"' in text
    assert 'dialed = "+12125550100"' in text
    assert "token" not in text.lower()
    again = run_cli("settings", "import", str(exported), "--data-dir", str(data_dir))
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("snippet, message", [
    ('[quiet_hours]\nstart = "25:00"\n', "quiet_hours.start: '25:00' is not a time of day"),
    ('[caps]\nper_hour = "one"\n', "caps.per_hour: expected a whole number"),
    ('[brokerage]\nnickname = "x"\n', "brokerage.nickname: unknown setting"),
    ('[routes_table]\n', "[routes_table]: unknown section"),
    ('[[routes]]\ndialed = "212-555-0100"\nlo = "Nobody"\n', "routes[0].LO: no loan officer called 'Nobody'"),
    ('[[loan_officers]]\nname = "Al"\nphone = "555"\n', "loan_officers[0].phone:"),
    ('[templates.first_text]\nbody = "Hi {frist_name}"\n', "unknown placeholder {frist_name}"),
    ('[brokerage]\ntime_zone = "Mars/Base"\n', "is not an IANA time zone"),
    ('[sequence.steps]\nhot = []\naccidental = []\n'
     'inquiry = [{name = "x", channel = "sms", template = "email_4h", offset_minutes = 5}]\n',
     "is a email template"),
    ("not toml = = =", "not valid TOML"),
    ('[sequence.steps]\ninquiry = []\n', "missing accidental, hot"),
])
def test_settings_import_rejects_bad_files(tmp_path, data_dir, snippet, message):
    path = tmp_path / "bad.toml"
    path.write_text('format = 1\n[caps]\nper_day = 2\n' + snippet if not snippet.startswith("[caps]")
                    else 'format = 1\n' + snippet)
    result = run_cli("settings", "import", str(path), "--data-dir", str(data_dir))
    assert result.returncode == 2
    assert message in result.stderr
    ctx = open_context(data_dir)
    try:
        assert ctx.settings.get("caps.per_day") == 3  # nothing applied
    finally:
        ctx.db.close()


def test_failed_route_rolls_back_whole_import(tmp_path, data_dir):
    ctx = open_context(data_dir)
    try:
        with pytest.raises(config_file.ConfigError):
            config_file.import_data(ctx, {
                "format": 1,
                "brokerage": {"name": "Changed"},
                "loan_officers": [{"name": "Dana Reyes"}],
                "routes": [{"dialed": "+12125550100", "lo": "Missing LO"}],
            })
        assert ctx.settings.get("brokerage.name") == ""
        with ctx.db.read() as session:
            assert session.exec(select(models.LoanOfficer)).all() == []
    finally:
        ctx.db.close()
