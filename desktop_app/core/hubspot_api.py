"""HubSpot CRM REST client over httpx: bearer auth, request pacing, retries and error mapping."""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
import phonenumbers
from phonenumbers import PhoneNumberFormat

from desktop_app import __version__

log = logging.getLogger(__name__)

# Default association type ids (category HUBSPOT_DEFINED) from HubSpot's associations v4 docs.
TASK_TO_CONTACT = 204

CONTACT_PROPERTIES = ("firstname", "lastname", "email", "phone", "mobilephone", "hs_lead_status",
                      "createdate")

# HubSpot's search accepts 5 filter groups, 10 filters per group and 25 filters per request
# since 2024-08-26 (3, 3 and 9 before). Requests stay within the older limits, so both accept them.
SEARCH_MAX_GROUPS = 3
# Our own cap on the values of one IN filter, to keep request bodies small.
SEARCH_IN_CHUNK = 50
PHONE_PROPERTIES = ("phone", "mobilephone")


@dataclass(frozen=True)
class Timing:
    """Pacing and retry numbers for one client; tests pass smaller delays."""

    attempts: int = 4  # tries per request for 429, 5xx and timeouts
    base_delay: float = 0.5  # seconds before the second try; doubles each time
    max_delay: float = 8.0
    max_wait: float = 120.0  # a 429 asking for a longer wait fails the request instead
    timeout: float = 10.0
    # HubSpot allows a private app 100 requests per 10 s (Free and Starter) to 190
    # (Professional and Enterprise), and search endpoints 4 requests per second. The
    # general window adapts to the X-HubSpot-RateLimit-Max header once a response has it.
    general_limit: int = 100
    general_window: float = 10.0
    search_limit: int = 4
    search_window: float = 1.0


class Stopped(Exception):
    """The app is stopping; the request in progress was abandoned."""


@dataclass
class HubSpotError(Exception):
    """A failed HubSpot request, with a message for the coordinator (`plain`).

    `kind` is one of auth, scopes, forbidden, network, timeout, rate_limit, unavailable,
    invalid, not_found, conflict or other. `ambiguous` means the request may have been
    carried out although its response was lost, so repeating a create could duplicate it.
    """

    kind: str
    plain: str
    status: int | None = None
    category: str | None = None
    retryable: bool = False
    ambiguous: bool = False
    retry_after: float | None = None
    scopes: list[str] = field(default_factory=list)
    invalid: list[dict] = field(default_factory=list)  # {"name", "error", "message"} per property
    existing_id: str | None = None  # set on a 409 that names the record that already exists

    def __post_init__(self) -> None:
        super().__init__(self.plain)

    def __str__(self) -> str:
        return self.plain

    def invalid_names(self) -> set[str]:
        return {item.get("name", "") for item in self.invalid}


# -- phone formats -------------------------------------------------------------------------------

def stored_phone_formats(e164: str) -> list[str]:
    """Return the ways people and importers commonly write a number in HubSpot's phone fields.

    HubSpot's search matches phone properties as exact strings, so a contact whose phone
    reads "(212) 555-0143" is only found by that spelling.
    """
    number = phonenumbers.parse(e164, None)
    national_digits = phonenumbers.national_significant_number(number)
    country = str(number.country_code)
    forms = [
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(number, PhoneNumberFormat.RFC3966).removeprefix("tel:"),
        national_digits,
        country + national_digits,
    ]
    if number.country_code == 1 and len(national_digits) == 10:
        area, exchange, line = national_digits[:3], national_digits[3:6], national_digits[6:]
        forms += [
            f"{area}-{exchange}-{line}", f"{area}.{exchange}.{line}", f"{area} {exchange} {line}",
            f"({area}) {exchange}-{line}", f"({area}){exchange}-{line}",
            f"+1 ({area}) {exchange}-{line}", f"+1 {area} {exchange} {line}",
            f"1-{area}-{exchange}-{line}", f"1 ({area}) {exchange}-{line}",
            f"+1.{area}.{exchange}.{line}",
        ]
    return list(dict.fromkeys(forms))


def phone_search_bodies(e164: str, properties: tuple[str, ...] = CONTACT_PROPERTIES) -> list[dict]:
    """Build contact search request bodies that match `phone` or `mobilephone` in any stored format.

    Filter groups are ORed, and each contains one IN filter. Groups are split across
    requests, so no request exceeds SEARCH_MAX_GROUPS.
    """
    values = stored_phone_formats(e164)
    groups = []
    for prop in PHONE_PROPERTIES:
        for start in range(0, len(values), SEARCH_IN_CHUNK):
            chunk = values[start:start + SEARCH_IN_CHUNK]
            groups.append({"filters": [{"propertyName": prop, "operator": "IN", "values": chunk}]})
    bodies = []
    for start in range(0, len(groups), SEARCH_MAX_GROUPS):
        bodies.append({
            "filterGroups": groups[start:start + SEARCH_MAX_GROUPS],
            "properties": list(properties),
            "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
            "limit": 10,
        })
    return bodies


# -- pacing --------------------------------------------------------------------------------------

class RealClock:
    """Monotonic time with a sleep that a stop event cuts short."""

    def __init__(self, stop: threading.Event | None = None):
        self._stop = stop or threading.Event()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stop.wait(seconds)


class Pacer:
    """A sliding-window limit: at most `limit` requests in any `window` seconds."""

    def __init__(self, limit: int, window: float, clock):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds to wait before the next request may go, or 0 after reserving its slot."""
        with self._lock:
            now = self._clock.monotonic()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            wait = self._blocked_until - now
            if len(self._sent) >= self.limit:
                wait = max(wait, self._sent[0] + self.window - now)
            if wait > 0:
                return wait
            self._sent.append(now)
            return 0.0

    def block_for(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock.monotonic() + seconds)

    def adapt(self, limit: int, window: float) -> None:
        with self._lock:
            self.limit, self.window = limit, window


# -- errors --------------------------------------------------------------------------------------

_INVALID_LIST = re.compile(r"Property values were not valid:\s*(\[.*\])\s*$", re.DOTALL)
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _body(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _scopes(body: dict) -> list[str]:
    """Scope names from a MISSING_SCOPES body: errors[].context.requiredGranularScopes and kin."""
    found: list[str] = []
    contexts = [body.get("context") or {}]
    contexts += [entry.get("context") or {} for entry in body.get("errors") or []
                 if isinstance(entry, dict)]
    for context in contexts:
        if not isinstance(context, dict):
            continue
        for key in ("requiredGranularScopes", "requiredScopes", "missingScopes"):
            for scope in context.get(key) or []:
                if isinstance(scope, str) and scope not in found:
                    found.append(scope)
    return found


def _invalid_properties(message: str) -> list[dict]:
    """Parse the JSON list HubSpot embeds in 'Property values were not valid: [...]'."""
    match = _INVALID_LIST.search(message or "")
    if not match:
        return []
    try:
        items = json.loads(match.group(1))
    except json.JSONDecodeError:
        return []
    return [{"name": item.get("name", ""), "error": item.get("error", ""),
             "message": item.get("message", "")} for item in items if isinstance(item, dict)]


def _seconds_from_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def rate_limit_wait(response: httpx.Response, body: dict, search: bool) -> float:
    """Seconds a 429 asks us to wait: Retry-After first, then HubSpot's policy and window headers."""
    retry_after = _seconds_from_retry_after(response.headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    policy = str(body.get("policyName") or body.get("errorType") or "").upper()
    interval_ms = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    interval = int(interval_ms) / 1000 if interval_ms and interval_ms.isdigit() else None
    if policy == "DAILY":
        return 3600.0  # the daily quota resets at midnight in the account's time zone
    if policy == "SECONDLY" or search:
        return 1.0
    if response.headers.get("X-HubSpot-RateLimit-Remaining") == "0" and interval:
        return interval
    if policy == "TEN_SECONDLY_ROLLING":
        return interval or 10.0
    return 1.0


def error_from_response(response: httpx.Response, *, search: bool, create: bool) -> HubSpotError:
    status = response.status_code
    body = _body(response)
    message = _short(body.get("message") or response.reason_phrase or f"HTTP {status}")
    category = body.get("category") or body.get("errorType")

    if status == 401:
        return HubSpotError(
            "auth", "HubSpot rejected the access token (HTTP 401). Copy the token again from "
            "the private app in HubSpot and save it in Settings.", status, category)

    if status == 403:
        scopes = _scopes(body)
        if scopes or category == "MISSING_SCOPES":
            names = ", ".join(scopes) or "(HubSpot did not name them)"
            return HubSpotError(
                "scopes", f"The HubSpot private app is missing the scope(s) {names} (HTTP 403). "
                "Tick them on the app's Scopes tab in HubSpot, commit the change, then save the "
                "app's token again in Settings.", status, category, scopes=scopes)
        return HubSpotError("forbidden", f"HubSpot rejected the request (HTTP 403): {message}",
                            status, category)

    if status == 429:
        wait = rate_limit_wait(response, body, search)
        policy = f" ({body['policyName']})" if body.get("policyName") else ""
        return HubSpotError("rate_limit", f"HubSpot's rate limit{policy} was reached (HTTP 429); "
                            f"retrying after {wait:.0f} s.", status, category, retryable=True,
                            retry_after=wait)

    if status >= 500:
        return HubSpotError("unavailable", f"HubSpot is unavailable (HTTP {status}); the sync "
                            "will retry.", status, category, retryable=True, ambiguous=create)

    if status == 404:
        return HubSpotError("not_found", f"HubSpot has no such record (HTTP 404): {message}",
                            status, category)

    if status == 409:
        existing = _EXISTING_ID.search(body.get("message") or "")
        return HubSpotError("conflict", f"HubSpot reported a conflict (HTTP 409): {message}",
                            status, category, existing_id=existing.group(1) if existing else None)

    invalid = _invalid_properties(body.get("message") or "")
    if invalid:
        details = "; ".join(f"{item['name']}: {_short(item['message'], 160)}" for item in invalid)
        return HubSpotError("invalid", f"HubSpot rejected the values (HTTP {status}): {details}",
                            status, category, invalid=invalid)
    return HubSpotError("other", f"HubSpot rejected the request (HTTP {status}): {message}",
                        status, category)


def _transport_error(exc: httpx.HTTPError, base_url: str, timeout: float) -> HubSpotError:
    # Errors before the request was written are safe to repeat; later ones may have been acted on.
    not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                                httpx.UnsupportedProtocol))
    if isinstance(exc, httpx.TimeoutException):
        return HubSpotError("timeout", f"HubSpot did not respond within {timeout:.0f} s.",
                            retryable=True, ambiguous=not not_sent)
    reason = _short(str(exc) or type(exc).__name__, 160)
    return HubSpotError("network", f"Could not reach HubSpot at {base_url}: {reason}. Check the "
                        "internet connection.", retryable=True, ambiguous=not not_sent)


# -- client --------------------------------------------------------------------------------------

class HubSpotClient:
    """Calls HubSpot's CRM v3 and v4 endpoints; every method raises HubSpotError on failure."""

    def __init__(self, token: str, base_url: str, *, timing: Timing | None = None, clock=None,
                 stop: threading.Event | None = None, transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.timing = timing or Timing()
        self._stop = stop or threading.Event()
        self._clock = clock or RealClock(self._stop)
        self._general = Pacer(self.timing.general_limit, self.timing.general_window, self._clock)
        self._search = Pacer(self.timing.search_limit, self.timing.search_window, self._clock)
        self._http = httpx.Client(
            base_url=self.base_url, transport=transport, follow_redirects=False,
            timeout=httpx.Timeout(self.timing.timeout, connect=min(5.0, self.timing.timeout)),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                     "User-Agent": f"missed-call-desk/{__version__}"})
        self.requests_made = 0

    def close(self) -> None:
        self._http.close()

    # -- transport --------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)
        if self._stop.is_set():
            raise Stopped()

    def _pace(self, search: bool) -> None:
        for pacer in ((self._search, self._general) if search else (self._general,)):
            while True:
                wait = pacer.delay()
                if wait <= 0:
                    break
                self._sleep(wait)

    def _note_limits(self, response: httpx.Response) -> None:
        headers = response.headers
        maximum = headers.get("X-HubSpot-RateLimit-Max", "")
        interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "")
        if maximum.isdigit() and interval.isdigit() and int(maximum) > 0 and int(interval) > 0:
            self._general.adapt(int(maximum), int(interval) / 1000)
            # A 429 carries its own wait (see rate_limit_wait). After a success, a used-up quota
            # frees up within one rolling window at the latest.
            if response.status_code < 400 and headers.get("X-HubSpot-RateLimit-Remaining") == "0":
                self._general.block_for(int(interval) / 1000)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.timing.max_delay, self.timing.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def request(self, method: str, path: str, *, body=None, params: dict | None = None,
                search: bool = False, create: bool = False) -> dict:
        """Send one request with pacing and retries and return the JSON body ({} when empty).

        `create` marks a request that makes a record. It is not repeated after a failure
        that may hide a success (a timeout after sending, a 5xx), so the caller can check first.
        """
        attempt = 0
        while True:
            attempt += 1
            self._pace(search)
            if self._stop.is_set():
                raise Stopped()
            self.requests_made += 1
            try:
                response = self._http.request(method, path, json=body, params=params)
            except httpx.HTTPError as exc:
                error = _transport_error(exc, self.base_url, self.timing.timeout)
            else:
                self._note_limits(response)
                if response.status_code < 400:
                    return _body(response) if response.content else {}
                error = error_from_response(response, search=search, create=create)
            if error.kind == "rate_limit" and error.retry_after is not None:
                (self._search if search else self._general).block_for(error.retry_after)
            give_up = (not error.retryable or attempt >= self.timing.attempts
                       or (create and error.ambiguous)
                       or (error.retry_after or 0) > self.timing.max_wait)
            if give_up:
                raise error
            delay = error.retry_after if error.retry_after is not None else self._backoff(attempt)
            log.info("HubSpot %s %s failed (%s); retrying in %.1f s (attempt %d of %d)",
                     method, path.split("?")[0], error.plain, delay, attempt, self.timing.attempts)
            self._sleep(delay)

    # -- contacts ---------------------------------------------------------------------------

    def search_contacts(self, body: dict) -> list[dict]:
        return list(self.request("POST", "/crm/v3/objects/contacts/search", body=body,
                                 search=True).get("results") or [])

    def find_contacts_by_phone(self, e164: str) -> list[dict]:
        """Return every contact whose phone or mobile phone is `e164` in a known format, oldest first."""
        found: dict[str, dict] = {}
        for body in phone_search_bodies(e164):
            for record in self.search_contacts(body):
                found.setdefault(str(record["id"]), record)
        return sorted(found.values(), key=lambda r: (r.get("createdAt") or "", int(r["id"])))

    def get_contact(self, contact_id: str, properties=CONTACT_PROPERTIES) -> dict | None:
        try:
            return self.request("GET", f"/crm/v3/objects/contacts/{contact_id}",
                                params={"properties": ",".join(properties)})
        except HubSpotError as error:
            if error.kind == "not_found":
                return None
            raise

    def create_contact(self, properties: dict) -> dict:
        return self.request("POST", "/crm/v3/objects/contacts", body={"properties": properties},
                            create=True)

    def update_contact(self, contact_id: str, properties: dict) -> dict:
        return self.request("PATCH", f"/crm/v3/objects/contacts/{contact_id}",
                            body={"properties": properties})

    # -- tasks ------------------------------------------------------------------------------

    def create_task(self, properties: dict, contact_id: str) -> dict:
        association = {"to": {"id": str(contact_id)},
                       "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                  "associationTypeId": TASK_TO_CONTACT}]}
        return self.request("POST", "/crm/v3/objects/tasks", create=True,
                            body={"properties": properties, "associations": [association]})

    def update_task(self, task_id: str, properties: dict) -> dict:
        return self.request("PATCH", f"/crm/v3/objects/tasks/{task_id}",
                            body={"properties": properties})

    def read_tasks(self, task_ids: list[str], properties: list[str]) -> list[dict]:
        if not task_ids:
            return []
        body = {"inputs": [{"id": str(i)} for i in task_ids], "properties": properties}
        return list(self.request("POST", "/crm/v3/objects/tasks/batch/read",
                                 body=body).get("results") or [])

    # -- associations (v4) ------------------------------------------------------------------

    def associated_ids(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        ids: list[str] = []
        params: dict = {"limit": 500}
        while True:
            page = self.request("GET", f"/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}",
                                params=params)
            ids += [str(item["toObjectId"]) for item in page.get("results") or []]
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return ids
            params = {"limit": 500, "after": after}

    def associate_default(self, from_type: str, from_id: str, to_type: str, to_id: str) -> dict:
        return self.request(
            "PUT", f"/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}")

    # -- account ----------------------------------------------------------------------------

    def token_info(self, token: str) -> dict:
        """Return the private app token's account and scopes (HubSpot's access-token-info endpoint)."""
        return self.request("POST", "/oauth/v2/private-apps/get/access-token-info",
                            body={"tokenKey": token})
