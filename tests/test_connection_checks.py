"""The settings window's connection checks, against the provider stand-ins."""

from __future__ import annotations

import socket

import pytest

from desktop_app.core import connection_checks
from desktop_app.core.app import open_context
from tests.standins import ringcentral_api
from tests.standins.dropcowboy_api import KEY, SECRET, DropCowboyStandIn
from tests.standins.hubspot_api import TOKEN as HUBSPOT_TOKEN
from tests.standins.hubspot_api import HubSpotStandIn
from tests.standins.ringcentral_api import RingCentralStandIn
from tests.standins.slybroadcast_api import PASSWORD, USER, SlybroadcastStandIn
from tests.standins.smtp_server import SmtpStandIn
from tests.standins.twilio_api import ACCOUNT_SID, AUTH_TOKEN


@pytest.fixture
def environ() -> dict:
    return {}


@pytest.fixture
def ctx(data_dir, environ):
    context = open_context(data_dir, environ=environ)
    yield context
    context.db.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- Twilio --------------------------------------------------------------------------------------

def test_twilio_ok(ctx, environ, twilio_api):
    environ["MCD_TWILIO_API_URL"] = twilio_api.url
    ok, message = connection_checks.check_twilio(
        ctx, {"twilio.account_sid": ACCOUNT_SID, "twilio.auth_token": AUTH_TOKEN})
    assert ok, message
    assert "Harbor Point Mortgage" in message
    assert any(r.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}.json" for r in twilio_api.requests)


def test_twilio_bad_token_is_20003(ctx, environ, twilio_api):
    environ["MCD_TWILIO_API_URL"] = twilio_api.url
    ok, message = connection_checks.check_twilio(
        ctx, {"twilio.account_sid": ACCOUNT_SID, "twilio.auth_token": "0" * 32})
    assert not ok
    assert "error 20003" in message
    assert "Account SID or the Auth Token" in message


def test_twilio_uses_stored_values(ctx, environ, twilio_api):
    environ.update({"MCD_TWILIO_API_URL": twilio_api.url, "MCD_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "MCD_TWILIO_AUTH_TOKEN": AUTH_TOKEN})
    ok, message = connection_checks.check_twilio(ctx)
    assert ok, message


def test_twilio_suspended_account(ctx, environ, twilio_api):
    environ["MCD_TWILIO_API_URL"] = twilio_api.url
    twilio_api.account_status = "suspended"
    ok, message = connection_checks.check_twilio(
        ctx, {"twilio.account_sid": ACCOUNT_SID, "twilio.auth_token": AUTH_TOKEN})
    assert not ok
    assert "is suspended" in message


def test_twilio_malformed_sid(ctx):
    ok, message = connection_checks.check_twilio(
        ctx, {"twilio.account_sid": "SK123", "twilio.auth_token": AUTH_TOKEN})
    assert not ok
    assert "'SK123' is not a Twilio Account SID" in message


def test_twilio_missing_token_names_env(ctx):
    ok, message = connection_checks.check_twilio(ctx, {"twilio.account_sid": ACCOUNT_SID})
    assert not ok
    assert "Auth Token" in message
    assert "MCD_TWILIO_AUTH_TOKEN" in message


def test_twilio_unreachable(ctx, environ):
    environ["MCD_TWILIO_API_URL"] = f"http://127.0.0.1:{closed_port()}"
    ok, message = connection_checks.check_twilio(
        ctx, {"twilio.account_sid": ACCOUNT_SID, "twilio.auth_token": AUTH_TOKEN})
    assert not ok
    assert "could not connect to Twilio" in message
    assert AUTH_TOKEN not in message


# -- RingCentral ---------------------------------------------------------------------------------

RC_VALUES = {"ringcentral.client_id": ringcentral_api.CLIENT_ID,
             "ringcentral.client_secret": ringcentral_api.CLIENT_SECRET,
             "ringcentral.jwt": ringcentral_api.JWT}


@pytest.fixture
def ringcentral(environ):
    with RingCentralStandIn() as standin:
        environ["MCD_RINGCENTRAL_API_URL"] = standin.url
        yield standin


def test_ringcentral_ok(ctx, ringcentral):
    ok, message = connection_checks.check_ringcentral(ctx, RC_VALUES)
    assert ok, message
    assert "Harbor Point Front Desk (extension 101)" in message


def test_ringcentral_bad_jwt(ctx, ringcentral):
    ok, message = connection_checks.check_ringcentral(ctx, {**RC_VALUES, "ringcentral.jwt": "x.y.z"})
    assert not ok
    assert "RingCentral JWT sign-in failed" in message
    assert "Invalid assertion" in message


def test_ringcentral_bad_client_secret(ctx, ringcentral):
    values = {**RC_VALUES, "ringcentral.client_secret": "wrong-secret-value"}
    ok, message = connection_checks.check_ringcentral(ctx, values)
    assert not ok
    assert "Invalid Authorization header value" in message
    assert "wrong-secret-value" not in message


def test_ringcentral_missing_values(ctx):
    ok, message = connection_checks.check_ringcentral(ctx, {"ringcentral.client_id": "abc"})
    assert not ok
    assert "client secret, JWT" in message
    assert "MCD_RINGCENTRAL_JWT" in message


# -- HubSpot ---------------------------------------------------------------------------------------

def test_hubspot_ok(ctx, environ):
    with HubSpotStandIn() as standin:
        environ["MCD_HUBSPOT_API_URL"] = standin.url
        ok, message = connection_checks.check_hubspot(ctx, {"hubspot.token": HUBSPOT_TOKEN})
    assert ok, message
    assert "24681357" in message


def test_hubspot_bad_token(ctx, environ):
    with HubSpotStandIn() as standin:
        environ["MCD_HUBSPOT_API_URL"] = standin.url
        ok, message = connection_checks.check_hubspot(ctx, {"hubspot.token": "pat-na1-wrong-token"})
    assert not ok
    assert "HTTP 401" in message
    assert "pat-na1-wrong-token" not in message


def test_hubspot_missing_scope(ctx, environ):
    with HubSpotStandIn() as standin:
        standin.scopes = {"crm.objects.contacts.read", "crm.objects.tasks.read"}
        environ["MCD_HUBSPOT_API_URL"] = standin.url
        ok, message = connection_checks.check_hubspot(ctx, {"hubspot.token": HUBSPOT_TOKEN})
    assert not ok
    assert "crm.objects.contacts.write" in message


# -- SMTP ------------------------------------------------------------------------------------------

def test_smtp_ok(ctx, tmp_path):
    with SmtpStandIn(tmp_path, mode="starttls") as server:
        ok, message = connection_checks.check_smtp(
            ctx, {"smtp.url": server.url(), "email.from": "loans@harborpoint.example"})
    assert ok, message
    assert "logged in" in message


def test_smtp_login_failure_names_stage(ctx, tmp_path):
    with SmtpStandIn(tmp_path, mode="starttls") as server:
        url = server.url(password="not-the-password")
        ok, message = connection_checks.check_smtp(ctx, {"smtp.url": url, "email.from": "a@b.example"})
    assert not ok
    assert message.startswith("Login:")
    assert "not-the-password" not in message


def test_smtp_bad_from_address(ctx, tmp_path):
    with SmtpStandIn(tmp_path, mode="starttls", login=False) as server:
        ok, message = connection_checks.check_smtp(
            ctx, {"smtp.url": server.url(user=None, password=None), "email.from": "not an address"})
    assert not ok
    assert "'not an address' is not an email address" in message


def test_smtp_bad_url(ctx):
    ok, message = connection_checks.check_smtp(ctx, {"smtp.url": "http://mail.example:25"})
    assert not ok
    assert message.startswith("SMTP URL:")


def test_smtp_refused_port(ctx):
    url = f"smtp://u:secret-password@127.0.0.1:{closed_port()}?timeout=2"
    ok, message = connection_checks.check_smtp(ctx, {"smtp.url": url, "email.from": "a@b.example"})
    assert not ok
    assert message.startswith("Connection:")
    assert "secret-password" not in message


# -- Drop Cowboy -----------------------------------------------------------------------------------

@pytest.fixture
def dropcowboy(environ):
    with DropCowboyStandIn() as standin:
        environ["MCD_DROPCOWBOY_API_URL"] = standin.url
        yield standin


def test_dropcowboy_ok_names_default_line(ctx, dropcowboy):
    ok, message = connection_checks.check_dropcowboy(
        ctx, {"dropcowboy.key": KEY, "dropcowboy.secret": SECRET})
    assert ok, message
    assert "'Main line'" in message
    assert dropcowboy.requests[-1].path == "/phone/public/lines"
    assert not dropcowboy.rvm_requests()


def test_dropcowboy_wrong_secret_is_401(ctx, dropcowboy):
    ok, message = connection_checks.check_dropcowboy(
        ctx, {"dropcowboy.key": KEY, "dropcowboy.secret": "wrong-secret"})
    assert not ok
    assert "rejected the key or the secret" in message


def test_dropcowboy_no_default_line(ctx, dropcowboy):
    dropcowboy.phone_lines[0]["is_default"] = False
    ok, message = connection_checks.check_dropcowboy(
        ctx, {"dropcowboy.key": KEY, "dropcowboy.secret": SECRET})
    assert not ok
    assert "4010" in message


def test_dropcowboy_unknown_configured_line(ctx, dropcowboy):
    ctx.settings.set("drops.dropcowboy_phone_line_id", "no-such-line")
    ok, message = connection_checks.check_dropcowboy(
        ctx, {"dropcowboy.key": KEY, "dropcowboy.secret": SECRET})
    assert not ok
    assert "no phone line 'no-such-line'" in message


# -- Slybroadcast ----------------------------------------------------------------------------------

@pytest.fixture
def slybroadcast(environ):
    with SlybroadcastStandIn() as standin:
        environ["MCD_SLYBROADCAST_API_URL"] = standin.gateway_url
        yield standin


def test_slybroadcast_ok_reports_balance(ctx, slybroadcast):
    ok, message = connection_checks.check_slybroadcast(
        ctx, {"slybroadcast.user": USER, "slybroadcast.password": PASSWORD})
    assert ok, message
    assert "1250" in message
    assert slybroadcast.campaigns == []


def test_slybroadcast_wrong_password(ctx, slybroadcast):
    ok, message = connection_checks.check_slybroadcast(
        ctx, {"slybroadcast.user": USER, "slybroadcast.password": "wrong-password"})
    assert not ok
    assert "rejected the login: Invalid login" in message
    assert "wrong-password" not in message


def test_slybroadcast_http_error(ctx, slybroadcast):
    slybroadcast.http_failures.append(503)
    ok, message = connection_checks.check_slybroadcast(
        ctx, {"slybroadcast.user": USER, "slybroadcast.password": PASSWORD})
    assert not ok
    assert "HTTP 503" in message


# -- ngrok -----------------------------------------------------------------------------------------

def test_ngrok_token_present(ctx):
    ok, message = connection_checks.check_ngrok(ctx, {"ngrok.authtoken": "2abcDEF123456789_ghiJKL987654321"})
    assert ok, message
    assert "typed above" in message


def test_ngrok_token_from_env(ctx, environ):
    environ["MCD_NGROK_AUTHTOKEN"] = "2abcDEF123456789_ghiJKL987654321"
    ok, message = connection_checks.check_ngrok(ctx)
    assert ok, message
    assert "from MCD_NGROK_AUTHTOKEN" in message


def test_ngrok_token_missing_or_malformed(ctx):
    ok, message = connection_checks.check_ngrok(ctx)
    assert not ok
    assert "MCD_NGROK_AUTHTOKEN" in message
    ok, message = connection_checks.check_ngrok(ctx, {"ngrok.authtoken": "has spaces in it, not a token"})
    assert not ok
    assert "one word" in message


def test_run_check_covers_every_provider():
    assert set(connection_checks.CHECKS) == {"twilio", "ringcentral", "hubspot", "smtp",
                                             "dropcowboy", "slybroadcast", "ngrok"}


def test_listing_numbers_with_bad_token_is_20003(ctx, environ, twilio_api):
    from desktop_app.core import twilio_numbers  # noqa: PLC0415
    from desktop_app.core.providers.base import ProviderError  # noqa: PLC0415

    environ.update({"MCD_TWILIO_API_URL": twilio_api.url, "MCD_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "MCD_TWILIO_AUTH_TOKEN": "0" * 32})
    with pytest.raises(ProviderError) as raised:
        twilio_numbers.list_owned(ctx)
    assert raised.value.code == "20003"
    assert raised.value.http_status == 401
    assert "rejected the account SID or auth token" in raised.value.message
