"""Twilio REST client over httpx, and the SMS provider built on it."""

from __future__ import annotations

import json
import logging
import threading
from typing import Optional

import httpx
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from desktop_app import __version__
from desktop_app.core.phones import mask
from desktop_app.core.providers.base import ProviderError, SendResult, SmsProvider

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.twilio.com"

# Twilio error codes shown to the coordinator in plain words.
ERROR_WORDS = {
    "20003": "Twilio rejected the account SID or auth token",
    "20429": "Twilio asked us to slow down (too many requests)",
    "21211": "the borrower's number is not a valid phone number",
    "21408": "the account is not allowed to text this region",
    "21606": "the number dialed cannot send texts",
    "21610": "the borrower has opted out (replied STOP)",
    "21612": "the carrier cannot route texts between these two numbers",
    "21614": "the number is not a mobile number",
    "30003": "the phone is unreachable (off or out of coverage)",
    "30004": "the message was blocked",
    "30005": "the number is unknown or no longer in service",
    "30006": "a landline or a carrier that cannot receive texts",
    "30007": "the carrier filtered the message",
    "30008": "the carrier reported an unknown error",
    "30034": "the sending number is not registered for A2P 10DLC",
}


def describe_error(code: str | int | None, fallback: str = "") -> str:
    if code is None:
        return fallback
    words = ERROR_WORDS.get(str(code))
    if words:
        return f"{words} (error {code})"
    return f"{fallback} (error {code})" if fallback else f"error {code}"


class HttpxTwilioClient(HttpClient):
    """The twilio library's HTTP layer on a pooled httpx client (keep-alive, HTTP timeouts)."""

    def __init__(self, timeout: float = 10.0, connect_timeout: float = 5.0):
        super().__init__(log, is_async=False, timeout=timeout)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"User-Agent": f"missed-call-desk/{__version__}"},
            follow_redirects=False,
        )
        self._local = threading.local()

    @property
    def last_headers(self) -> httpx.Headers | None:
        return getattr(self._local, "headers", None)

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False) -> TwilioResponse:
        self._local.headers = None
        request_headers = dict(headers or {})
        kwargs: dict = {"params": params, "headers": request_headers, "auth": auth,
                        "follow_redirects": allow_redirects}
        if timeout is not None:
            kwargs["timeout"] = timeout
        if request_headers.get("Content-Type") in ("application/json", "application/scim+json"):
            kwargs["json"] = data
        elif data:
            kwargs["data"] = data
        response = self._client.request(method.upper(), url, **kwargs)
        self._local.headers = response.headers
        return TwilioResponse(response.status_code, response.text, response.headers)

    def close(self) -> None:
        self._client.close()


def make_client(account_sid: str, auth_token: str, api_url: str | None = None,
                timeout: float = 10.0) -> tuple[Client, HttpxTwilioClient]:
    http = HttpxTwilioClient(timeout=timeout)
    client = Client(account_sid, auth_token, http_client=http)
    if api_url and api_url.rstrip("/") != DEFAULT_API_URL:
        client.api.base_url = api_url.rstrip("/")
    return client, http


def _retry_after(headers: Optional[httpx.Headers]) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _page_response(exc: Exception) -> TwilioResponse | None:
    if isinstance(exc, TwilioException) and not isinstance(exc, TwilioRestException):
        for arg in exc.args[1:]:
            if isinstance(arg, TwilioResponse):
                return arg
    return None


def error_from_exception(exc: Exception, headers: Optional[httpx.Headers] = None) -> ProviderError:
    """Translate what the twilio library or httpx raised into a ProviderError."""
    if isinstance(exc, TwilioRestException):
        code = str(exc.code) if exc.code is not None else None
        status = exc.status
        text = exc.msg or str(exc)
        retryable = status == 429 or code == "20429" or (status is not None and status >= 500)
        return ProviderError("twilio", describe_error(code, text), code=code, http_status=status,
                             retryable=retryable, retry_after=_retry_after(headers))
    if type(exc).__name__ == "TwilioServiceException":
        code = str(getattr(exc, "code", "") or "") or None
        status = getattr(exc, "status", None)
        text = getattr(exc, "detail", None) or getattr(exc, "title", None) or str(exc)
        retryable = status == 429 or code == "20429" or (status is not None and status >= 500)
        return ProviderError("twilio", describe_error(code, text), code=code, http_status=status,
                             retryable=retryable, retry_after=_retry_after(headers))
    page_response = _page_response(exc)
    if page_response is not None:
        # A list call (numbers, messages) raises TwilioException("Unable to fetch page",
        # response) instead of TwilioRestException; read Twilio's error body the same way.
        status = page_response.status_code
        try:
            payload = json.loads(page_response.text or "{}")
        except ValueError:
            payload = {}
        code = str(payload["code"]) if isinstance(payload, dict) and payload.get("code") else None
        text = (payload.get("message") if isinstance(payload, dict) else None) or f"HTTP {status}"
        retryable = status == 429 or code == "20429" or status >= 500
        return ProviderError("twilio", describe_error(code, text), code=code, http_status=status,
                             retryable=retryable, retry_after=_retry_after(headers))
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return ProviderError("twilio", f"could not connect to Twilio: {exc}", retryable=True)
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError,
                        httpx.ReadError, httpx.WriteError)):
        return ProviderError("twilio", f"no complete answer from Twilio: {exc!r}",
                             retryable=True, ambiguous=True)
    if isinstance(exc, (httpx.HTTPError, TwilioException, ValueError)):
        return ProviderError("twilio", f"request to Twilio failed: {exc}")
    raise exc


class TwilioSms(SmsProvider):
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, api_url: str | None = None,
                 timeout: float = 10.0):
        self.account_sid = account_sid
        self.client, self._http = make_client(account_sid, auth_token, api_url, timeout)

    def send_sms(self, *, from_number: str, to_number: str, body: str,
                 status_callback: str | None = None) -> SendResult:
        kwargs = {"to": to_number, "from_": from_number, "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except Exception as exc:
            error = error_from_exception(exc, self._http.last_headers)
            log.warning("Twilio send to %s failed: %s", mask(to_number), error)
            raise error from None
        return SendResult(provider="twilio", provider_id=message.sid, status=message.status or "queued")

    def find_recent(self, *, from_number: str, to_number: str, body: str, since) -> str | None:
        """Return the SID of a message with this body sent after `since`, if Twilio has one.

        Used before retrying a send whose answer was lost, so a borrower is not texted twice.
        """
        # Twilio lists newest first. date_sent stays empty while a message is queued, so
        # filter on date_created here instead of asking Twilio for DateSent>.
        messages = self.client.messages.list(to=to_number, from_=from_number, limit=20)
        for message in messages:
            created = message.date_created
            if created is not None and created < since:
                continue
            if (message.body or "").strip() == body.strip():
                return message.sid
        return None

    def close(self) -> None:
        self._http.close()
