"""Listing the account's numbers and pointing their webhooks at the public URL."""

from __future__ import annotations

import pytest

from desktop_app.core import directory, twilio_numbers
from desktop_app.core.app import open_context
from tests.conftest import twilio_env
from tests.standins.twilio_api import Number


@pytest.fixture
def ctx(data_dir, twilio_api):
    twilio_api.numbers = [
        Number("PN" + "1" * 32, "+12125550100", "Zillow line", voice_url="https://old.example/voice"),
        Number("PN" + "2" * 32, "+13125550100", "Office"),
    ]
    context = open_context(data_dir, environ=twilio_env(twilio_api))
    yield context
    context.db.close()


def test_lists_owned_numbers(ctx):
    numbers = twilio_numbers.list_owned(ctx)
    assert [n.phone for n in numbers] == ["+12125550100", "+13125550100"]
    assert numbers[0].display == "(212) 555-0100 (Zillow line)"


def test_wiring_changes_only_what_differs(ctx, twilio_api):
    ctx.db.write(lambda uow: directory.save_route(uow, directory.RouteInput("+12125550100")))
    changes = twilio_numbers.wire(ctx, "https://abc.ngrok.app")
    assert {c.field for c in changes} == {"voice_url", "status_callback", "sms_url"}
    assert all(c.phone == "+12125550100" for c in changes)
    number = twilio_api.numbers[0]
    assert number.voice_url == "https://abc.ngrok.app/twilio/voice"
    assert number.status_callback == "https://abc.ngrok.app/twilio/call-status"
    assert number.sms_url == "https://abc.ngrok.app/twilio/sms"
    assert twilio_api.numbers[1].voice_url == ""
    assert twilio_numbers.wire(ctx, "https://abc.ngrok.app") == []
    assert twilio_numbers.stale_numbers(ctx, "https://abc.ngrok.app") == []
    assert [n.phone for n in twilio_numbers.stale_numbers(ctx, "https://new.ngrok.app")] == ["+12125550100"]


def test_wiring_rejects_plain_http(ctx):
    with pytest.raises(ValueError, match="not an https URL"):
        twilio_numbers.wire(ctx, "http://127.0.0.1:8765")


def test_wiring_unknown_number_is_refused(ctx):
    with pytest.raises(ValueError, match="not numbers on this Twilio account"):
        twilio_numbers.wire(ctx, "https://abc.ngrok.app", ["+16025550100"])


def test_without_credentials_says_so(data_dir):
    context = open_context(data_dir, environ={})
    try:
        with pytest.raises(twilio_numbers.NotConfigured, match="credentials are not set"):
            twilio_numbers.list_owned(context)
    finally:
        context.db.close()


def test_bad_token_is_a_provider_error(data_dir, twilio_api):
    env = twilio_env(twilio_api)
    env["MCD_TWILIO_AUTH_TOKEN"] = "wrong"
    context = open_context(data_dir, environ=env)
    try:
        with pytest.raises(Exception) as info:
            twilio_numbers.list_owned(context)
        assert "20003" in str(info.value)
    finally:
        context.db.close()
