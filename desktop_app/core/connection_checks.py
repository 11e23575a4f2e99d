"""The settings window's "Test connection": one check per provider, each returning (ok, message).

Every check blocks on the network, so the window runs it off the GUI thread. None of them
sends a text, a drop or an email. `values` contains credentials typed in the window but not
saved yet (credential name to value); anything not in it comes from ctx.secrets. Messages
name what failed and what to do next, and never contain a secret.
"""

from __future__ import annotations

import logging
import re
from email.utils import parseaddr
from typing import Callable, Mapping

import httpx

from desktop_app.core import email_channel, hubspot
from desktop_app.core.providers import dropcowboy, slybroadcast, smtp_email
from desktop_app.core.providers.base import ProviderError
from desktop_app.core.providers.ringcentral_sms import RingCentralClient
from desktop_app.core.providers.twilio_sms import error_from_exception, make_client
from desktop_app.core.secrets import CREDENTIALS

log = logging.getLogger(__name__)

Result = tuple[bool, str]

# Twilio Account SIDs are "AC" and 32 hex digits.
_TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
# ngrok authtokens are one word of letters, digits and underscores.
_NGROK_TOKEN = re.compile(r"^[A-Za-z0-9_]{20,}$")


def _value(ctx, values: Mapping[str, str] | None, name: str) -> str:
    typed = (values or {}).get(name)
    if typed:
        return typed.strip()
    return (ctx.secrets.get(name) or "").strip()


def _missing(label: str, names: list[str]) -> str:
    env = ", ".join(CREDENTIALS[name][0] for name in names)
    if len(names) > 1:
        return f"{label} are not set: enter them above, or set {env}."
    return f"{label} is not set: enter it above, or set {env}."


def _redacted(ctx, values: Mapping[str, str] | None, text: str) -> str:
    """Remove stored and typed secrets from a provider's error text before it is shown."""
    text = ctx.secrets.redact(text)
    for name, value in (values or {}).items():
        if CREDENTIALS.get(name, ("", False))[1] and value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


# -- one check per provider --------------------------------------------------------------------

def check_twilio(ctx, values: Mapping[str, str] | None = None) -> Result:
    """Fetch the account with the SID and auth token; error 20003 means either is wrong."""
    sid = _value(ctx, values, "twilio.account_sid")
    token = _value(ctx, values, "twilio.auth_token")
    if not sid or not token:
        missing = [n for n, v in (("twilio.account_sid", sid), ("twilio.auth_token", token)) if not v]
        return False, _missing("Twilio " + " and ".join(
            "Account SID" if n.endswith("sid") else "Auth Token" for n in missing), missing)
    if not _TWILIO_SID.match(sid):
        return False, (f"{sid[:40]!r} is not a Twilio Account SID: it starts with AC and has 34 "
                       "characters. Copy it from the Account Info panel of the Twilio Console.")
    api_url = ctx.secrets.api_url("twilio")
    client, http = make_client(sid, token, api_url, timeout=10.0)
    try:
        account = client.api.v2010.accounts(sid).fetch()
    except Exception as exc:  # translated below; anything else is a bug and is re-raised there
        error = error_from_exception(exc, http.last_headers)
        if error.code == "20003":
            return False, ("Twilio rejected the Account SID or the Auth Token (error 20003). Copy "
                           "both again from the Account Info panel of the Twilio Console; a "
                           "token that was rotated stops working at once.")
        return False, _redacted(ctx, values, f"Twilio at {api_url}: {error.message}")
    finally:
        http.close()
    name = account.friendly_name or sid
    status = (account.status or "").lower()
    if status and status != "active":
        return False, (f"Twilio account {name!r} is {status}, so it cannot send texts. Reactivate "
                       "it in the Twilio Console.")
    return True, f"Connected to Twilio account {name!r} ({sid}); its status is active."


def check_ringcentral(ctx, values: Mapping[str, str] | None = None) -> Result:
    """Sign in with the JWT grant and read the signed-in extension."""
    names = ["ringcentral.client_id", "ringcentral.client_secret", "ringcentral.jwt"]
    client_id, client_secret, jwt = (_value(ctx, values, name) for name in names)
    missing = [name for name, value in zip(names, (client_id, client_secret, jwt)) if not value]
    if missing:
        return False, _missing("RingCentral " + ", ".join(
            {"ringcentral.client_id": "client ID", "ringcentral.client_secret": "client secret",
             "ringcentral.jwt": "JWT"}[name] for name in missing), missing)
    api_url = ctx.secrets.api_url("ringcentral")
    client = RingCentralClient(client_id, client_secret, jwt, api_url, timeout=10.0)
    try:
        client.access_token()
        extension = client.request("GET", "/restapi/v1.0/account/~/extension/~",
                                   action="reading the signed-in extension").json()
    except ProviderError as error:
        return False, _redacted(ctx, values, f"RingCentral at {api_url}: {error.message}")
    except ValueError:
        return False, f"RingCentral at {api_url} signed in but sent an extension that is not JSON."
    finally:
        client.close()
    who = extension.get("name") or "the signed-in user"
    number = extension.get("extensionNumber")
    where = f"{who} (extension {number})" if number else who
    return True, f"Signed in to RingCentral at {api_url} as {where}."


def check_hubspot(ctx, values: Mapping[str, str] | None = None) -> Result:
    token = _value(ctx, values, "hubspot.token")
    if not token:
        return False, _missing("The HubSpot access token", ["hubspot.token"])
    report = hubspot.check_connection(ctx, token)
    lines = [report.summary] + [p for p in report.problems if p != report.summary] + report.notes
    return report.ok, _redacted(ctx, values, "\n".join(line for line in lines if line))


def check_smtp(ctx, values: Mapping[str, str] | None = None) -> Result:
    """Connect, start TLS and log in, without sending; name the stage that failed."""
    url = _value(ctx, values, "smtp.url")
    sender = _value(ctx, values, "email.from")
    if not url:
        return False, _missing("The SMTP server URL", ["smtp.url"])
    try:
        config = smtp_email.parse_smtp_url(url)
    except smtp_email.SmtpConfigError as exc:
        return False, _redacted(ctx, values, f"SMTP URL: {exc}")
    # As the email channel does, the login name serves as the From address when none is set.
    if not sender and config.username and "@" in config.username:
        sender = config.username
    _name, address = parseaddr(sender)
    if not sender:
        problem = "no From address is set"
    elif not email_channel.is_email_address(address):
        problem = f"the From address {sender!r} is not an email address"
    else:
        problem = ""
    result = smtp_email.check_connection(config)
    message = _redacted(ctx, values, result.message)
    if result.ok and problem:
        return False, (f"{message} But {problem}: enter the address emails come from (for "
                       "example loans@brokerage.com), or set MCD_EMAIL_FROM.")
    return result.ok, message


def check_dropcowboy(ctx, values: Mapping[str, str] | None = None) -> Result:
    """List the phone lines, which checks the key and secret, and find the line drops use."""
    key = _value(ctx, values, "dropcowboy.key")
    secret = _value(ctx, values, "dropcowboy.secret")
    missing = [n for n, v in (("dropcowboy.key", key), ("dropcowboy.secret", secret)) if not v]
    if missing:
        return False, _missing("The Drop Cowboy " + " and ".join(
            "key" if n.endswith("key") else "secret" for n in missing), missing)
    api_url = ctx.secrets.api_url("dropcowboy")
    try:
        lines = dropcowboy.DropCowboyClient(api_url, key, secret, timeout=10.0).phone_lines()
    except ProviderError as error:
        if error.http_status == 401:
            return False, ("Drop Cowboy rejected the key or the secret (HTTP 401). Copy both again "
                           "from the API page of your Drop Cowboy account.")
        return False, _redacted(ctx, values, f"Drop Cowboy at {api_url}: {error.message}")

    chosen = (ctx.settings.get("drops.dropcowboy_phone_line_id") or "").strip()
    if chosen:
        line = next((item for item in lines if str(item.get("ivr_id")) == chosen), None)
        if line is None:
            return False, (f"Connected to Drop Cowboy, but the account has no phone line "
                           f"{chosen!r} (drops.dropcowboy_phone_line_id). Clear that setting to "
                           "use the default line, or copy the line's ID from Drop Cowboy.")
        return True, f"Connected to Drop Cowboy; drops go out from the line {line.get('name') or chosen!r}."

    defaults = [item for item in lines if item.get("is_default") is True or item.get("default") is True]
    line = next((item for item in defaults if item.get("type") == "voice"), None) or \
        (defaults[0] if defaults else None)
    if line is None:
        return False, ("Connected to Drop Cowboy, but the account has no default phone line, so "
                       "every drop would fail with reason 4010 (no caller ID). Make a line the "
                       "default in Drop Cowboy, or set drops.dropcowboy_phone_line_id.")
    return True, (f"Connected to Drop Cowboy; drops go out from the default line "
                  f"{line.get('name') or line.get('ivr_id')!r}.")


def check_slybroadcast(ctx, values: Mapping[str, str] | None = None) -> Result:
    """Ask for the message balance, which checks the login without starting a campaign."""
    user = _value(ctx, values, "slybroadcast.user")
    password = _value(ctx, values, "slybroadcast.password")
    missing = [n for n, v in (("slybroadcast.user", user), ("slybroadcast.password", password)) if not v]
    if missing:
        return False, _missing("The Slybroadcast " + " and ".join(
            "user" if n.endswith("user") else "password" for n in missing), missing)
    api_url = ctx.secrets.api_url("slybroadcast")
    client = slybroadcast.SlybroadcastClient(api_url, user, password, timeout=10.0)
    try:
        balance = client.remaining_messages()
    except ProviderError as error:
        return False, _redacted(ctx, values, f"Slybroadcast at {api_url}: {error.message}. Check "
                                             "the login email and password of the Slybroadcast "
                                             "account.")
    return True, f"Logged in to Slybroadcast as {user}; messages left on the account: {balance}."


def check_ngrok(ctx, values: Mapping[str, str] | None = None) -> Result:
    """Check that an authtoken is set and looks like one; the tunnel reports its own errors."""
    token = _value(ctx, values, "ngrok.authtoken")
    if not token:
        return False, _missing("The ngrok authtoken", ["ngrok.authtoken"])
    if not _NGROK_TOKEN.match(token):
        return False, ("The ngrok authtoken should be one word of letters, digits and "
                       "underscores. Copy it again from the Your Authtoken page of the ngrok "
                       "dashboard.")
    source = "typed above" if (values or {}).get("ngrok.authtoken") else _source_words(ctx, "ngrok.authtoken")
    return True, (f"An ngrok authtoken is set ({source}). Whether the tunnel opens is shown in "
                  "the tunnel panel when it starts.")


def _source_words(ctx, name: str) -> str:
    if ctx.secrets.source(name) == "env":
        return f"from {CREDENTIALS[name][0]}"
    return "in the OS keyring"


CHECKS: dict[str, Callable[..., Result]] = {
    "twilio": check_twilio,
    "ringcentral": check_ringcentral,
    "hubspot": check_hubspot,
    "smtp": check_smtp,
    "dropcowboy": check_dropcowboy,
    "slybroadcast": check_slybroadcast,
    "ngrok": check_ngrok,
}


def run_check(provider: str, ctx, values: Mapping[str, str] | None = None) -> Result:
    """Run one provider's check; a network error that escapes a client becomes a failed result."""
    check = CHECKS[provider]
    try:
        return check(ctx, values)
    except (httpx.HTTPError, OSError) as exc:
        log.info("Connection check for %s failed: %s", provider, type(exc).__name__)
        return False, _redacted(ctx, values, f"{provider}: the connection failed ({exc}).")
