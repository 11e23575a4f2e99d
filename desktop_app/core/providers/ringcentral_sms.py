"""RingCentral REST client (JWT sign-in, token refresh, error mapping) and the SMS provider on it."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Callable

import httpx

from desktop_app import __version__
from desktop_app.core.phones import mask
from desktop_app.core.providers.base import ProviderError, SendResult, SmsProvider

log = logging.getLogger(__name__)

PROVIDER = "ringcentral"
TOKEN_PATH = "/restapi/oauth/token"
SMS_PATH = "/restapi/v1.0/account/~/extension/~/sms"
MESSAGE_STORE_PATH = "/restapi/v1.0/account/~/extension/~/message-store"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# An access token is replaced this long before it expires, so no request carries one that
# runs out in flight. Tokens that live less than twice this are replaced at half-life.
REFRESH_MARGIN_SECONDS = 60.0
# RingCentral's rate-limit guide: when a 429 carries no Retry-After, wait 30 s or more.
DEFAULT_RETRY_AFTER_SECONDS = 30.0

# RingCentral error codes shown to the coordinator in plain words (the API's own message
# follows in brackets).
ERROR_WORDS = {
    "CMN-101": "a request parameter is invalid",
    "CMN-102": "the resource was not found",
    "CMN-301": "RingCentral asked us to slow down (too many requests)",
    "MSG-243": "the borrower's number is blocked from receiving texts",
    "MSG-245": "the number dialed does not belong to the signed-in RingCentral user, so it "
               "cannot send texts",
    "MSG-246": "texts cannot be sent to or from extension numbers",
    "MSG-247": "texts cannot be sent to short numbers",
    "OAU-140": "RingCentral rejected the sign-in credentials",
    "OAU-213": "the RingCentral token is no longer valid",
}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def parse_error(response: httpx.Response) -> tuple[str | None, str]:
    """Return (errorCode, message) from a RingCentral error body.

    API errors look like {"errorCode", "message", "errors": [{"errorCode", "message"}]};
    the OAuth endpoint returns {"error", "error_description", "errors": [...]}.
    """
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        text = response.text.strip()[:200]
        return None, text or response.reason_phrase or f"HTTP {response.status_code}"
    errors = data.get("errors") if isinstance(data.get("errors"), list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = first.get("errorCode") or data.get("errorCode") or data.get("error")
    message = (data.get("message") or first.get("message") or data.get("error_description")
               or response.reason_phrase or f"HTTP {response.status_code}")
    return (str(code) if code else None), str(message)


def error_from_response(response: httpx.Response, action: str) -> ProviderError:
    """Translate a failed RingCentral response into a ProviderError.

    429 and 5xx are retryable (429 honours Retry-After); every other status fails at once.
    """
    status = response.status_code
    code, message = parse_error(response)
    words = ERROR_WORDS.get(code or "")
    text = f"{action} failed: {words} [{message}]" if words else f"{action} failed: {message}"
    if status == 429:
        retry_after = _retry_after(response)
        return ProviderError(PROVIDER, text, code=code, http_status=status, retryable=True,
                             retry_after=DEFAULT_RETRY_AFTER_SECONDS if retry_after is None
                             else retry_after)
    if status >= 500:
        return ProviderError(PROVIDER, text, code=code, http_status=status, retryable=True,
                             retry_after=_retry_after(response))
    return ProviderError(PROVIDER, text, code=code, http_status=status)


def error_from_exception(exc: httpx.HTTPError, action: str, *, may_have_arrived: bool) -> ProviderError:
    """Translate a transport failure. `may_have_arrived` marks a lost response to a POST as
    ambiguous, because RingCentral may have acted on the request."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return ProviderError(PROVIDER, f"{action} failed: could not connect to RingCentral ({exc})",
                             retryable=True)
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError,
                        httpx.ReadError, httpx.WriteError)):
        return ProviderError(PROVIDER, f"{action} failed: no complete response from RingCentral "
                                       f"({exc!r})", retryable=True, ambiguous=may_have_arrived)
    return ProviderError(PROVIDER, f"{action} failed: {exc}")


class RingCentralClient:
    """Signs in with the JWT bearer grant and sends authorized requests, sharing one token.

    RingCentral's error-handling guide tells clients to authenticate from one thread and
    share the tokens, so every token change happens under one lock. The token is replaced shortly before it expires
    (refresh grant first, a new JWT grant when the refresh token is refused or gone), and
    a 401 on a request triggers one new sign-in and one retry.
    """

    def __init__(self, client_id: str, client_secret: str, jwt: str, api_url: str, *,
                 timeout: float = 10.0, monotonic: Callable[[], float] = time.monotonic):
        self._client_id = client_id
        self._client_secret = client_secret
        self._jwt = jwt
        self.api_url = api_url.rstrip("/")
        self.monotonic = monotonic
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=httpx.Timeout(timeout, connect=5.0),
            headers={"User-Agent": f"missed-call-desk/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
        )
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._access_expires = 0.0
        self._refresh_token: str | None = None
        self._refresh_expires = 0.0

    # -- tokens ---------------------------------------------------------------------------

    def _margin(self, lifetime: float) -> float:
        return min(REFRESH_MARGIN_SECONDS, lifetime / 2)

    def _store_token(self, data: dict) -> str:
        now = self.monotonic()
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise ProviderError(PROVIDER, "RingCentral sign-in returned no access_token")
        lifetime = float(data.get("expires_in") or 3600)
        self._access_token = token
        self._access_expires = now + lifetime - self._margin(lifetime)
        refresh = data.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            refresh_lifetime = float(data.get("refresh_token_expires_in") or 0)
            self._refresh_token = refresh
            self._refresh_expires = now + refresh_lifetime - self._margin(refresh_lifetime)
        else:
            self._refresh_token = None
            self._refresh_expires = 0.0
        return token

    def _token_request(self, form: dict, action: str) -> dict:
        try:
            response = self._http.post(TOKEN_PATH, data=form,
                                       auth=(self._client_id, self._client_secret))
        except httpx.HTTPError as exc:
            raise error_from_exception(exc, action, may_have_arrived=False) from None
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise ProviderError(PROVIDER, f"{action} returned a body that is not JSON",
                                    http_status=response.status_code) from None
        error = error_from_response(response, action)
        if not error.retryable:
            error.message += (". Check MCD_RINGCENTRAL_CLIENT_ID, MCD_RINGCENTRAL_CLIENT_SECRET "
                              "and MCD_RINGCENTRAL_JWT (or the RingCentral credentials in Settings)")
        raise error

    def _sign_in(self) -> str:
        data = self._token_request({"grant_type": JWT_GRANT, "assertion": self._jwt},
                                   "RingCentral JWT sign-in")
        log.info("Signed in to RingCentral with the JWT grant")
        return self._store_token(data)

    def _refresh(self) -> str:
        data = self._token_request({"grant_type": "refresh_token",
                                    "refresh_token": self._refresh_token or ""},
                                   "RingCentral token refresh")
        log.debug("Refreshed the RingCentral access token")
        return self._store_token(data)

    def access_token(self, *, stale: str | None = None) -> str:
        """Return a usable access token, signing in or refreshing as needed.

        `stale` is a token the API just rejected with 401: it is dropped, unless another
        thread has already replaced it.
        """
        with self._lock:
            if stale is not None and stale == self._access_token:
                self._access_token = None
            now = self.monotonic()
            if self._access_token and now < self._access_expires:
                return self._access_token
            if self._refresh_token and now < self._refresh_expires:
                try:
                    return self._refresh()
                except ProviderError as error:
                    if error.retryable:
                        raise
                    log.info("RingCentral rejected the refresh token (%s); signing in again "
                             "with the JWT", error.code or error.http_status)
                    self._refresh_token = None
            return self._sign_in()

    # -- requests -------------------------------------------------------------------------

    def request(self, method: str, path: str, *, action: str, json: dict | None = None,
                params: dict | None = None) -> httpx.Response:
        """Send an authorized request; return the 2xx response or raise ProviderError."""
        token = self.access_token()
        response = self._send(method, path, token, action, json, params)
        if response.status_code == 401:
            code, _ = parse_error(response)
            log.info("RingCentral rejected the access token (%s); signing in again", code or 401)
            token = self.access_token(stale=token)
            response = self._send(method, path, token, action, json, params)
        if response.is_success:
            return response
        raise error_from_response(response, action)

    def _send(self, method: str, path: str, token: str, action: str, json: dict | None,
              params: dict | None) -> httpx.Response:
        try:
            return self._http.request(method, path, json=json, params=params,
                                      headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise error_from_exception(exc, action, may_have_arrived=method == "POST") from None

    def close(self) -> None:
        self._http.close()


class RingCentralSms(SmsProvider):
    """Texts through RingCentral's SMS API, from a number the signed-in user owns."""

    name = PROVIDER

    def __init__(self, client: RingCentralClient):
        self.client = client

    def send_sms(self, *, from_number: str, to_number: str, body: str,
                 status_callback: str | None = None) -> SendResult:
        # RingCentral has no per-message status callback; status_callback is ignored.
        payload = {"from": {"phoneNumber": from_number}, "to": [{"phoneNumber": to_number}],
                   "text": body}
        try:
            response = self.client.request("POST", SMS_PATH, json=payload, action="RingCentral SMS")
        except ProviderError as error:
            log.warning("RingCentral send to %s failed: %s", mask(to_number), error)
            raise
        try:
            message = response.json()
        except ValueError:
            raise ProviderError(PROVIDER, "RingCentral SMS answer is not JSON; the text may have "
                                          "gone out", http_status=response.status_code,
                                ambiguous=True) from None
        message_id = message.get("id")
        status = str(message.get("messageStatus") or "Queued").lower()
        return SendResult(provider=PROVIDER, provider_id=str(message_id) if message_id else None,
                          status=status)

    def find_recent(self, *, from_number: str, to_number: str, body: str,
                    since: datetime) -> str | None:
        """Return the id of an outbound text with this body sent after `since`, if any.

        Used before retrying a send whose response was lost, so a borrower is not texted twice.
        """
        params = {"messageType": "SMS", "direction": "Outbound", "phoneNumber": to_number,
                  "dateFrom": since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                  "perPage": 100}
        response = self.client.request("GET", MESSAGE_STORE_PATH, params=params,
                                       action="RingCentral message list")
        records = response.json().get("records") or []
        for record in records:
            sender = (record.get("from") or {}).get("phoneNumber")
            recipients = {r.get("phoneNumber") for r in record.get("to") or []}
            # The message store keeps an SMS's text in "subject".
            if sender == from_number and to_number in recipients and \
                    (record.get("subject") or "").strip() == body.strip():
                return str(record.get("id"))
        return None

    def close(self) -> None:
        self.client.close()
