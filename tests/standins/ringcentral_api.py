"""A stand-in for RingCentral's REST API on 127.0.0.1: OAuth, SMS, message store, subscriptions.

It speaks RingCentral's wire format: the JWT bearer and refresh_token grants with the
client id and secret as HTTP basic auth, bearer tokens on /restapi/v1.0, errors as
{"errorCode", "message", "errors": [...]}, 429 with Retry-After. Creating a WebHook
subscription runs the Validation-Token handshake against the app, as RingCentral does, and
`deliver()` posts telephony-session notifications with the Verification-Token header.
Every request is recorded; `fail_next()` scripts failures.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, parse_qsl, urlparse

import httpx

CLIENT_ID = "standinClientId0123456789"
CLIENT_SECRET = "standin-client-secret-abcdef0123456789"
# Shaped like the JWT credential the developer console issues (header.payload.signature).
JWT = ("eyJraWQiOiJzdGFuZGluIiwidHlwIjoiSldUIiwiYWxnIjoiUlMyNTYifQ."
       "eyJhdWQiOiJzdGFuZGluIiwic3ViIjoiNDAwMTQ0NDU1MDA4In0.c3RhbmRpbi1zaWduYXR1cmU")
VERIFICATION_TOKEN = "standin-verification-token-0123456789"
ACCOUNT_ID = "400144452008"
EXTENSION_ID = "400144455008"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TELEPHONY_EVENT = f"/restapi/v1.0/account/{ACCOUNT_ID}/extension/{EXTENSION_ID}/telephony/sessions"

_EXTENSION = re.compile(r"^/restapi/v1\.0/account/~/extension/~$")
_SMS = re.compile(r"^/restapi/v1\.0/account/~/extension/~/sms$")
_STORE = re.compile(r"^/restapi/v1\.0/account/~/extension/~/message-store$")
_SUBSCRIPTIONS = re.compile(r"^/restapi/v1\.0/subscription$")
_SUBSCRIPTION = re.compile(r"^/restapi/v1\.0/subscription/(?P<id>[\w-]+)(?P<renew>/renew)?$")


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{when.microsecond // 1000:03d}Z"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    body: dict  # JSON body, or the form for the token endpoint
    authorization: str
    received: float


@dataclass
class Failure:
    """One scripted error response for the next request whose path contains `path`."""

    path: str = "/sms"
    status: int = 500
    code: str | None = "CMN-201"
    message: str = "Service Temporary Unavailable"
    retry_after: str | None = None


@dataclass
class Subscription:
    id: str
    event_filters: list
    address: str
    verification_token: str | None
    expires_in: int
    created: datetime
    expires: datetime
    status: str = "Active"
    blacklisted: dict | None = None


@dataclass
class Handshake:
    """The app's response to a Validation-Token request."""

    status: int
    echoed: str | None
    sent: str
    body_bytes: int
    seconds: float


@dataclass
class Grant:
    grant_type: str
    ok: bool


class RingCentralStandIn:
    def __init__(self, sms_numbers: tuple[str, ...] = ()):
        self.sms_numbers = set(sms_numbers)  # numbers the signed-in user may text from
        self.requests: list[Recorded] = []
        self.messages: list[dict] = []
        self.grants: list[Grant] = []
        self.failures: list[Failure] = []
        self.subscriptions: dict[str, Subscription] = {}
        self.handshakes: list[Handshake] = []
        self.token_lifetime = 3600
        self.refresh_lifetime = 604800
        # Notifications and handshakes are addressed to the public URL but delivered here
        # (the app's loopback listener), as a tunnel would. A callable is resolved per
        # request, for apps whose port is known only once they start.
        self.delivery_target: str | Callable[[], str] | None = None
        self._access: set[str] = set()
        self._refresh: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._http: httpx.Client | None = None  # for notifications and handshakes to the app
        self.port: int | None = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "RingCentralStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                standin._handle(self, "POST")

            def do_GET(self):
                standin._handle(self, "GET")

            def do_PUT(self):
                standin._handle(self, "PUT")

            def do_DELETE(self):
                standin._handle(self, "DELETE")

        self._http = httpx.Client(timeout=10)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                         name="ringcentral-standin").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._http is not None:
            self._http.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- scripting and inspection ----------------------------------------------------------

    def fail_next(self, *failures: Failure) -> None:
        with self._lock:
            self.failures.extend(failures)

    def expire_access_tokens(self) -> None:
        """Invalidate every access token on the server side (the app still has one)."""
        with self._lock:
            self._access.clear()

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh.clear()

    def blacklist(self, subscription_id: str, reason: str = "I/O operation is failed. "
                                                            "Details: [Read timed out]") -> None:
        with self._lock:
            sub = self.subscriptions[subscription_id]
            sub.status = "Blacklisted"
            sub.blacklisted = {"reason": reason, "blacklistedAt": _iso(datetime.now(timezone.utc))}

    def set_expires_in(self, subscription_id: str, seconds: int) -> None:
        with self._lock:
            self.subscriptions[subscription_id].expires = \
                datetime.now(timezone.utc) + timedelta(seconds=seconds)

    def delete_subscription(self, subscription_id: str) -> None:
        with self._lock:
            self.subscriptions.pop(subscription_id, None)

    def calls_to(self, method: str, pattern: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def sms_requests(self) -> list[Recorded]:
        return self.calls_to("POST", r"/sms$")

    def wait_for(self, method: str, pattern: str, count: int, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [r for r in self.requests if r.method == method and re.search(pattern, r.path)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} {method} {pattern} request(s), "
                                         f"got {len(found)}")
                self._arrived.wait(remaining)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict]:
        self.wait_for("POST", r"/sms$", count, timeout)
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")
                self._arrived.wait(remaining)
            return list(self.messages)

    # -- webhook delivery --------------------------------------------------------------------

    def deliver(self, body: dict, *, subscription_id: str | None = None,
                verification_token: str | None = VERIFICATION_TOKEN,
                event: str = TELEPHONY_EVENT) -> httpx.Response:
        """POST one notification to the app the way RingCentral's webhook sender does."""
        envelope = {"uuid": str(uuid.uuid4().int)[:18], "event": event,
                    "timestamp": _iso(datetime.now(timezone.utc)),
                    "subscriptionId": subscription_id or str(uuid.uuid4()),
                    "ownerId": EXTENSION_ID, "body": body}
        headers = {"Content-Type": "application/json; charset=UTF-8", "Accept": "application/json",
                   "User-Agent": "RingCentral-Webhook/8.3"}
        if verification_token is not None:
            headers["Verification-Token"] = verification_token
        target = self._target()
        if target is None:
            raise AssertionError("set delivery_target to the app's /ringcentral/webhook URL first")
        return self._http.post(target, content=json.dumps(envelope), headers=headers)

    def _target(self) -> str | None:
        target = self.delivery_target
        return target() if callable(target) else target

    def _handshake(self, address: str) -> Handshake | None:
        token = secrets.token_hex(16)
        target = self._target() or address
        started = time.perf_counter()
        try:
            response = self._http.post(target, content=b"", timeout=3.0,
                                  headers={"Validation-Token": token, "Content-Type": "application/json",
                                           "User-Agent": "RingCentral-Webhook/8.3"})
        except httpx.HTTPError:
            return None
        seconds = time.perf_counter() - started
        shake = Handshake(response.status_code, response.headers.get("Validation-Token"), token,
                          len(response.content), seconds)
        with self._lock:
            self.handshakes.append(shake)
        return shake

    # -- request handling ---------------------------------------------------------------------

    def _send_json(self, handler, status: int, payload: dict | None,
                   headers: dict | None = None) -> None:
        body = json.dumps(payload).encode() if payload is not None else b""
        handler.send_response(status)
        if payload is not None:
            handler.send_header("Content-Type", "application/json;charset=UTF-8")
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _error(self, handler, status: int, code: str | None, message: str,
               headers: dict | None = None, parameter: str | None = None) -> None:
        entry = {"errorCode": code, "message": message}
        if parameter:
            entry["parameterName"] = parameter
        self._send_json(handler, status, {"errorCode": code, "message": message, "errors": [entry]},
                        headers)

    def _oauth_error(self, handler, status: int, error: str, code: str, message: str) -> None:
        self._send_json(handler, status, {"error": error, "errors": [{"errorCode": code,
                                                                      "message": message}],
                                          "error_description": message})

    def _handle(self, handler, method: str) -> None:
        received = time.perf_counter()
        parsed = urlparse(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        content_type = handler.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" in content_type:
            body = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        else:
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                return self._error(handler, 400, "CMN-103", "JSON can't be parsed.")
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            self.requests.append(Recorded(method, parsed.path, dict(parse_qsl(parsed.query)), body,
                                          authorization, received))
            failure = next((f for f in self.failures if f.path in parsed.path), None)
            if failure is not None:
                self.failures.remove(failure)
            self._arrived.notify_all()

        if failure is not None:
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            return self._error(handler, failure.status, failure.code, failure.message, headers)
        if parsed.path == "/restapi/oauth/token" and method == "POST":
            return self._token(handler, authorization, body)
        if not parsed.path.startswith("/restapi/v1.0/"):
            return self._error(handler, 404, "CMN-120", "Invalid URI")
        if not authorization.startswith("Bearer "):
            return self._error(handler, 401, "AGW-401", "Authorization header is not specified")
        with self._lock:
            valid = authorization[7:] in self._access
        if not valid:
            self._send_json(handler, 401, {
                "errorCode": "TokenInvalid", "message": "Token not found",
                "errors": [{"errorCode": "OAU-213", "message": "Token not found"}]})
            return

        if _EXTENSION.match(parsed.path) and method == "GET":
            return self._send_json(handler, 200, {
                "uri": f"{self.url}/restapi/v1.0/account/{ACCOUNT_ID}/extension/{EXTENSION_ID}",
                "id": int(EXTENSION_ID), "extensionNumber": "101", "name": "Harbor Point Front Desk",
                "type": "User", "status": "Enabled",
                "account": {"id": ACCOUNT_ID, "uri": f"{self.url}/restapi/v1.0/account/{ACCOUNT_ID}"}})
        if _SMS.match(parsed.path) and method == "POST":
            return self._post_sms(handler, body)
        if _STORE.match(parsed.path) and method == "GET":
            return self._list_messages(handler, dict(parse_qsl(parsed.query)))
        if _SUBSCRIPTIONS.match(parsed.path) and method == "POST":
            return self._create_subscription(handler, body)
        match = _SUBSCRIPTION.match(parsed.path)
        if match:
            return self._subscription(handler, method, match.group("id"), bool(match.group("renew")))
        return self._error(handler, 404, "CMN-120", "Invalid URI")

    # -- OAuth ---------------------------------------------------------------------------------

    def _token(self, handler, authorization: str, form: dict) -> None:
        try:
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except Exception:
            user, password = "", ""
        grant_type = form.get("grant_type", "")
        if not authorization.startswith("Basic ") or (user, password) != (CLIENT_ID, CLIENT_SECRET):
            self.grants.append(Grant(grant_type, False))
            return self._oauth_error(handler, 401, "invalid_client", "OAU-123",
                                     "Invalid Authorization header value")
        if grant_type == JWT_GRANT:
            ok = form.get("assertion") == JWT
            message = "Invalid assertion"
        elif grant_type == "refresh_token":
            with self._lock:
                ok = form.get("refresh_token") in self._refresh
                if ok:
                    self._refresh.discard(form["refresh_token"])  # refresh tokens are single-use
            message = "Token not found"
        else:
            self.grants.append(Grant(grant_type, False))
            return self._oauth_error(handler, 400, "unsupported_grant_type", "OAU-250",
                                     f"Unsupported grant type: {grant_type}")
        self.grants.append(Grant(grant_type, ok))
        if not ok:
            return self._oauth_error(handler, 400, "invalid_grant", "OAU-213", message)
        access = f"standin-at-{secrets.token_hex(12)}"
        refresh = f"standin-rt-{secrets.token_hex(12)}"
        with self._lock:
            self._access.add(access)
            self._refresh.add(refresh)
        self._send_json(handler, 200, {
            "access_token": access, "token_type": "bearer", "expires_in": self.token_lifetime,
            "refresh_token": refresh, "refresh_token_expires_in": self.refresh_lifetime,
            "scope": "SMS ReadMessages SubscriptionWebhook CallControl", "owner_id": EXTENSION_ID,
            "endpoint_id": "standin-endpoint"})

    # -- SMS -----------------------------------------------------------------------------------

    def _post_sms(self, handler, body: dict) -> None:
        sender = (body.get("from") or {}).get("phoneNumber")
        to = [t.get("phoneNumber") for t in body.get("to") or [] if isinstance(t, dict)]
        text = body.get("text")

        if not to or not all(to):
            return self._error(handler, 400, "CMN-101", "Parameter [to] value is invalid.",
                               parameter="to")
        if not text:
            return self._error(handler, 400, "CMN-101", "Parameter [text] value is invalid.",
                               parameter="text")
        if sender not in self.sms_numbers:
            return self._error(handler, 400, "MSG-245",
                               f"Parameter [from] value [{sender}] is invalid [Cannot find the "
                               "phone number which belongs to user]", parameter="from")

        now = datetime.now(timezone.utc)
        message_id = 320270670000 + next(self._ids)
        uri = (f"{self.url}/restapi/v1.0/account/{ACCOUNT_ID}/extension/{EXTENSION_ID}"
               f"/message-store/{message_id}")
        message = {
            "uri": uri, "id": message_id, "to": [{"phoneNumber": n} for n in to],
            "from": {"phoneNumber": sender}, "type": "SMS", "creationTime": _iso(now),
            "readStatus": "Read", "priority": "Normal",
            "attachments": [{"id": message_id, "uri": uri + f"/content/{message_id}",
                             "type": "Text", "contentType": "text/plain"}],
            "direction": "Outbound", "availability": "Alive", "subject": text,
            "messageStatus": "Queued", "smsSendingAttemptsCount": 1,
            "conversationId": 4178398077955743750 + message_id, "lastModifiedTime": _iso(now),
        }
        with self._lock:
            self.messages.append(message)
            self._arrived.notify_all()
        self._send_json(handler, 200, message)

    def _list_messages(self, handler, query: dict) -> None:
        with self._lock:
            found = [m for m in reversed(self.messages)
                     if not query.get("phoneNumber")
                     or query["phoneNumber"] in {t["phoneNumber"] for t in m["to"]}]
        self._send_json(handler, 200, {
            "uri": f"{self.url}/restapi/v1.0/account/{ACCOUNT_ID}/extension/{EXTENSION_ID}/message-store",
            "records": found[:100],
            "paging": {"page": 1, "totalPages": 1, "perPage": 100, "totalElements": len(found),
                       "pageStart": 0, "pageEnd": max(0, len(found) - 1)},
            "navigation": {}})

    # -- subscriptions -----------------------------------------------------------------------

    def _subscription_json(self, sub: Subscription) -> dict:
        now = datetime.now(timezone.utc)
        data = {
            "uri": f"{self.url}/restapi/v1.0/subscription/{sub.id}", "id": sub.id,
            "creationTime": _iso(sub.created), "status": sub.status,
            "eventFilters": sub.event_filters, "expirationTime": _iso(sub.expires),
            "expiresIn": max(0, int((sub.expires - now).total_seconds())),
            "deliveryMode": {"transportType": "WebHook", "encryption": False, "address": sub.address},
        }
        if sub.verification_token:
            data["deliveryMode"]["verificationToken"] = sub.verification_token
        if sub.blacklisted:
            data["blacklistedData"] = sub.blacklisted
        return data

    def _create_subscription(self, handler, body: dict) -> None:
        filters = body.get("eventFilters")
        mode = body.get("deliveryMode") or {}
        if not isinstance(filters, list) or not filters:
            return self._error(handler, 400, "CMN-101", "Parameter [eventFilters] value is invalid",
                               parameter="eventFilters")
        if mode.get("transportType") != "WebHook" or not mode.get("address"):
            return self._error(handler, 400, "CMN-101",
                               "Parameter [deliveryMode.address] value is invalid",
                               parameter="deliveryMode.address")
        shake = self._handshake(mode["address"])
        if shake is None or shake.status != 200:
            status = shake.status if shake else "none"
            return self._error(handler, 400, "SUB-521",
                               f"WebHook responds with incorrect HTTP status. HTTP status is {status}")
        if shake.echoed != shake.sent:
            return self._error(handler, 400, "SUB-525", "WebHook server response is invalid")
        expires_in = int(body.get("expiresIn") or 604800)
        now = datetime.now(timezone.utc)
        expanded = [f.replace("/account/~", f"/account/{ACCOUNT_ID}")
                    .replace("/extension/~", f"/extension/{EXTENSION_ID}") for f in filters]
        sub = Subscription(id=str(uuid.uuid4()), event_filters=expanded, address=mode["address"],
                           verification_token=mode.get("verificationToken"), expires_in=expires_in,
                           created=now, expires=now + timedelta(seconds=expires_in))
        with self._lock:
            self.subscriptions[sub.id] = sub
        self._send_json(handler, 200, self._subscription_json(sub))

    def _subscription(self, handler, method: str, sub_id: str, renew: bool) -> None:
        with self._lock:
            sub = self.subscriptions.get(sub_id)
        if sub is None:
            return self._error(handler, 404, "CMN-102",
                               "Resource for parameter [subscriptionId] is not found",
                               parameter="subscriptionId")
        if method == "DELETE" and not renew:
            with self._lock:
                self.subscriptions.pop(sub_id, None)
            return self._send_json(handler, 204, None)
        if method == "POST" and renew:
            if sub.status == "Blacklisted":
                return self._error(handler, 400, "SUB-524", "Subscription is blacklisted")
            with self._lock:
                sub.expires = datetime.now(timezone.utc) + timedelta(seconds=sub.expires_in)
            return self._send_json(handler, 200, self._subscription_json(sub))
        if method == "GET" and not renew:
            return self._send_json(handler, 200, self._subscription_json(sub))
        return self._error(handler, 405, "CMN-405", "Method not allowed")


# -- notification bodies ------------------------------------------------------------------------

def party(status: str, *, caller: str, dialed: str, direction: str = "Inbound",
          missed: bool = False, reason: str | None = None, party_id: str | None = None,
          internal: bool = False, peer: str | None = None) -> dict:
    """One entry of a telephony-session notification's parties[], for our extension."""
    status_info: dict = {"code": status, "rcc": False}
    if reason:
        status_info["reason"] = reason
    if peer:
        status_info["peerId"] = {"telephonySessionId": peer, "sessionId": "0",
                                 "partyId": f"p-{peer}-2"}
    caller_info: dict = {"phoneNumber": caller, "name": "WIRELESS CALLER"}
    if internal:
        caller_info = {"phoneNumber": caller, "name": "Dana Reyes", "extensionId": "400144457008"}
    return {
        "accountId": ACCOUNT_ID, "extensionId": EXTENSION_ID,
        "id": party_id or "p-a0d7a1b2c3d4e5f60718293a4b5c6d7e8-2",
        "direction": direction,
        "to": {"phoneNumber": dialed, "name": "Harbor Point Mortgage", "extensionId": EXTENSION_ID},
        "from": caller_info,
        "status": status_info,
        "missedCall": missed, "standAlone": False, "muted": False,
    }


def session_event(telephony_session_id: str, sequence: int, event_time: datetime,
                  *parties: dict, session_id: str = "402936341008") -> dict:
    """The body of a telephony-session notification."""
    return {
        "sequence": sequence, "sessionId": session_id,
        "telephonySessionId": telephony_session_id, "serverId": "10.62.25.111.TAM",
        "eventTime": _iso(event_time), "accountId": ACCOUNT_ID, "origin": {"type": "Call"},
        "parties": list(parties),
    }


def telephony_session_id() -> str:
    return "s-a0d7" + secrets.token_hex(14) + "z" + secrets.token_hex(4)
