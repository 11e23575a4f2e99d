"""The Qt-free rules behind the editors: segments, placeholders, previews, offsets, credentials."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from desktop_app.core import directory, sequence_form, templates
from desktop_app.core.app import open_context
from desktop_app.core.secrets import SecretStore
from desktop_app.core.settings import DEFAULT_SEQUENCES
from desktop_app.core.template_preview import build_preview, describe_segments, load_sample
from tests.file_keyring import file_keyring  # noqa: F401  (fixture)

NOW = datetime(2026, 3, 6, 23, 30, tzinfo=timezone.utc)  # a Friday, 6:30 p.m. in New York


@pytest.fixture
def ctx(data_dir):
    context = open_context(data_dir, environ={})
    yield context
    context.db.close()


# -- SMS segments ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, encoding, units, segments", [
    ("", "GSM-7", 0, 0),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
    ("€" * 81, "GSM-7", 162, 2),
    ("a" * 152 + "[", "GSM-7", 154, 1),
    ("a" * 152 + "[" + "a" * 10, "GSM-7", 164, 2),  # the escape pair moves whole to part 2
    ("é" * 160, "GSM-7", 160, 1),  # é is in the basic set
    ("ê" * 70, "UCS-2", 70, 1),
    ("ê" * 71, "UCS-2", 71, 2),
    ("ê" * 134, "UCS-2", 134, 2),
    ("ê" * 135, "UCS-2", 135, 3),
    ("😀" * 35, "UCS-2", 70, 1),  # a surrogate pair is two UTF-16 units
    ("😀" * 36, "UCS-2", 72, 2),
    ("It\u2019s" + "a" * 100, "UCS-2", 104, 2),
])
def test_segment_counts(text, encoding, units, segments):
    info = templates.segment_info(text)
    assert info.encoding == encoding
    assert info.units == units
    assert info.segments == segments


def test_segment_parts_never_split_a_surrogate_pair():
    # 66 units, then a pair: 68 > 67, so the pair starts part 2 and part 1 keeps 66 units.
    assert templates.segment_info("a" * 66 + "😀" + "ê" * 65).segments == 2
    # 134 units would fill two parts of 67 exactly, but only by splitting the pair.
    assert templates.segment_info("a" * 66 + "😀" + "ê" * 66).segments == 3


def test_smart_characters_are_replaced_to_gsm():
    text = "\u201cWe\u2019re here\u201d \u2013 call\u00a0us\u2026 \u2022 rates\u200b\tnow"
    info = templates.segment_info(text)
    assert info.encoding == "UCS-2"
    assert set(info.smart_characters) == set(info.non_gsm)
    fixed = templates.replace_smart_characters(text)
    assert fixed == "\"We're here\" - call us... - rates now"
    assert templates.segment_info(fixed).encoding == "GSM-7"


def test_non_smart_characters_stay():
    info = templates.segment_info("Olá ✓")
    assert info.encoding == "UCS-2"
    assert info.smart_characters == ()
    assert describe_segments(info).endswith("UCS-2 because of: á ✓")


# -- placeholders ----------------------------------------------------------------------------------

def test_placeholder_spans_mark_unknown_and_stray_braces():
    text = "Hi {first_name}, {{literal}} {frist_name} and } then {lo_name"
    spans = templates.placeholder_spans(text)
    assert [(s.text, s.known) for s in spans] == [
        ("{first_name}", True), ("{frist_name}", False), ("}", False), ("{", False)]
    bad = spans[1]
    assert text[bad.start:bad.end] == "{frist_name}"


def test_placeholder_spans_agree_with_check_template():
    for text in ("Hi {first_name}", "Hi {first_name:>5}", "Call {callback_number!r}", "{{ok}}"):
        spans = templates.placeholder_spans(text)
        try:
            templates.check_template(text)
            assert all(s.known for s in spans), text
        except templates.TemplateError:
            assert any(not s.known for s in spans), text


# -- preview ---------------------------------------------------------------------------------------

def test_preview_uses_settings_and_first_active_lo(ctx):
    ctx.settings.set_many({"brokerage.name": "Harbor Point Mortgage",
                           "brokerage.callback_number": "+12125550199"})
    ctx.db.write(lambda uow: directory.save_lo(uow, directory.LoanOfficerInput("Zoe Park", active=False)))
    ctx.db.write(lambda uow: directory.save_lo(uow, directory.LoanOfficerInput("Alex Moreno")))
    sample = load_sample(ctx, NOW)
    template = ctx.templates.get("first_text")
    preview = build_preview(template, template.body, "", sample)
    assert preview.error == ""
    assert preview.body.startswith("Hi Maria, you just called Harbor Point Mortgage.")
    assert "(212) 555-0199" in preview.body
    assert preview.body.endswith("purchase question. Reply STOP to opt out.")
    assert preview.segments.segments == 2
    sms = ctx.templates.get("sms_24h")
    assert "Alex Moreno" in build_preview(sms, sms.body, "", sample).body
    assert "Reply STOP" not in build_preview(sms, sms.body, "", sample).body


def test_preview_after_hours_names_opening(ctx):
    sample = load_sample(ctx, NOW)
    template = ctx.templates.get("first_text_after_hours")
    assert "opens Monday at 8:30 AM" in build_preview(template, template.body, "", sample).body


def test_preview_reports_unknown_placeholder(ctx):
    sample = load_sample(ctx, NOW)
    template = ctx.templates.get("email_4h")
    preview = build_preview(template, "Hi {firstname}", template.subject, sample)
    assert "unknown placeholder {firstname}" in preview.error
    assert preview.segments is None


# -- sequence form ---------------------------------------------------------------------------------

@pytest.mark.parametrize("minutes, amount, unit, words", [
    (0, 0, "minutes", "at once"), (45, 45, "minutes", "45 minutes"), (60, 1, "hours", "1 hour"),
    (90, 90, "minutes", "90 minutes"), (240, 4, "hours", "4 hours"), (1440, 1, "days", "1 day"),
    (4320, 3, "days", "3 days"), (2880 + 60, 49, "hours", "49 hours"),
])
def test_offsets(minutes, amount, unit, words):
    assert sequence_form.split_offset(minutes) == (amount, unit)
    assert sequence_form.join_offset(amount, unit) == minutes
    assert sequence_form.describe_offset(minutes) == words


def form_values(**changes) -> dict:
    values = {"sequence.steps": {k: [dict(s) for s in v] for k, v in DEFAULT_SEQUENCES.items()},
              "sequence.catch_up_minutes": 120, "quiet_hours.start": "08:00",
              "quiet_hours.end": "21:00", "quiet_hours.state_windows": {"FL": ["08:00", "20:00"]},
              "quiet_hours.first_reply_immediate": True, "caps.per_hour": 1, "caps.per_day": 3}
    values.update(changes)
    return values


def test_form_defaults_pass(ctx):
    assert sequence_form.check_form(form_values(), ctx.templates.all()) is None


@pytest.mark.parametrize("changes, key, words", [
    ({"quiet_hours.start": "8am"}, "quiet_hours.start", "not a time of day"),
    ({"quiet_hours.start": "21:00", "quiet_hours.end": "08:00"}, "quiet_hours.start", "before the end"),
    ({"quiet_hours.state_windows": {"Florida": ["08:00", "20:00"]}}, "quiet_hours.state_windows",
     "is not a US state code"),
    ({"quiet_hours.state_windows": {"FL": ["20:00", "08:00"]}}, "quiet_hours.state_windows",
     "must start before it ends"),
    ({"caps.per_hour": 4, "caps.per_day": 3}, "caps.per_hour", "more than the 3 allowed"),
    ({"caps.per_day": 99}, "caps.per_day", "above the maximum 50"),
])
def test_form_errors_name_the_setting(ctx, changes, key, words):
    problem = sequence_form.check_form(form_values(**changes), ctx.templates.all())
    assert problem is not None
    assert problem.key == key
    assert words in problem.message


def test_form_rejects_template_of_other_channel(ctx):
    values = form_values()
    values["sequence.steps"]["hot"][1]["template"] = "sms_24h"  # the voicemail step
    problem = sequence_form.check_form(values, ctx.templates.all())
    assert problem.key == "sequence.steps"
    assert "'sms_24h' is a sms template, but the step sends voicemail" in problem.message


# -- directory and credentials ---------------------------------------------------------------------

def test_directory_error_names_field():
    error = directory.DirectoryError("number dialed: (212) 555-0100 is already in the table")
    assert error.field == "number dialed"
    assert error.reason == "(212) 555-0100 is already in the table"
    assert directory.DirectoryError("no loan officer with id 4").field == ""


def test_describe_credential_never_shows_secret(file_keyring):
    store = SecretStore({"MCD_HUBSPOT_TOKEN": "pat-na1-from-env-0000"})
    store.set("twilio.account_sid", "AC" + "1" * 32)
    store.set("twilio.auth_token", "token-value-abcdef")
    store.set("smtp.url", "smtp://loans%40harbor.example:mail-password@smtp.example:587")
    store.set("hubspot.token", "pat-na1-from-keyring-1111")
    assert store.describe("twilio.account_sid") == f"Stored in the OS keyring (AC{'1' * 32})."
    assert store.describe("twilio.auth_token") == "Stored in the OS keyring."
    assert store.describe("smtp.url") == \
        "Stored in the OS keyring (smtp://loans%40harbor.example:***@smtp.example:587)."
    hubspot = store.describe("hubspot.token")
    assert hubspot.startswith("Set by the environment variable MCD_HUBSPOT_TOKEN")
    assert "ignored while it is set" in hubspot
    assert "pat-na1" not in hubspot
    assert store.describe("ngrok.authtoken").startswith("Not set.")
