"""A stand-in for Twilio's REST API on 127.0.0.1: the same paths, auth, JSON and error bodies.

It records every request, can be set to fail the next requests in Twilio's own ways
(429/20429 with Retry-After, 5xx, 21610, a hang, a dropped connection) and can post
signed delivery callbacks back to the app the way Twilio does.
"""

from __future__ import annotations

import base64
import email.utils
import json
import re
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlencode, urlparse

import httpx
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "standin-auth-token-0123456789abcdef"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")
_RECORDING = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Recordings/(?P<re>RE\w+)\.mp3$")
_ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)\.json$")
_NUMBERS = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/IncomingPhoneNumbers(?:/(?P<pn>PN\w+))?\.json$")


@dataclass
class Recorded:
    method: str
    path: str
    form: dict
    query: dict
    auth: tuple[str, str] | None
    received: float  # time.perf_counter() when the request line was read


@dataclass
class Failure:
    """One scripted failure: an HTTP error in Twilio's JSON shape, a hang or a dropped socket."""

    status: int = 500
    code: int | None = None
    message: str = "Internal Server Error"
    retry_after: str | None = None
    hang: float = 0.0
    drop: bool = False
    create_anyway: bool = False  # accept the message, then fail the response (lost response)


@dataclass
class Number:
    sid: str
    phone_number: str
    friendly_name: str
    voice_url: str = ""
    status_callback: str = ""
    sms_url: str = ""


class TwilioStandIn:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[Recorded] = []
        self.messages: list[dict] = []
        self.failures: list[Failure] = []
        self.failures_at: dict[int, Failure] = {}  # by 1-based number of the message POST
        self._message_posts = 0
        self.numbers: list[Number] = []
        self.recordings: dict[str, bytes] = {}  # RecordingSid -> MP3 bytes served
        self.account_name = "Harbor Point Mortgage"
        self.account_status = "active"  # active, suspended or closed
        self.auto_callbacks: list[str] = []  # statuses to post to StatusCallback after create
        self.callback_results: list[tuple[str, int]] = []
        # Callbacks are signed for the public URL in StatusCallback but delivered here
        # (the app's loopback address), as a tunnel would.
        self.callback_target: str | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "TwilioStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                standin._handle(self, "POST")

            def do_GET(self):
                standin._handle(self, "GET")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A client that hangs up mid-request (a killed app) is expected here.
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                                        name="twilio-standin")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- inspection -------------------------------------------------------------------------

    def sent(self) -> list[dict]:
        with self._lock:
            return list(self.messages)

    def message_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and _MESSAGES.match(r.path)]

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                posts = [r for r in self.requests if r.method == "POST" and _MESSAGES.match(r.path)]
                if len(posts) >= count:
                    return posts
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} message request(s), got {len(posts)}")
                self._arrived.wait(remaining)

    def fail_next(self, *failures: Failure) -> None:
        """Fail the next message requests with these failures, in order."""
        with self._lock:
            self.failures.extend(failures)

    def fail_message(self, number: int, failure: Failure) -> None:
        """Answer the number-th message request (counting from 1) with this failure."""
        with self._lock:
            self.failures_at[number] = failure

    # -- request handling -------------------------------------------------------------------

    def _auth(self, handler) -> tuple[str, str] | None:
        header = handler.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return None
        return user, password

    def _send_json(self, handler, status: int, payload: dict, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _error(self, handler, status: int, code: int | None, message: str,
               headers: dict | None = None) -> None:
        self._send_json(handler, status, {
            "code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}" if code else None,
            "status": status,
        }, headers)

    def _handle(self, handler, method: str) -> None:
        received = time.perf_counter()
        parsed = urlparse(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        form = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw, keep_blank_values=True).items()}
        query = dict(parse_qsl(parsed.query, keep_blank_values=True))
        auth = self._auth(handler)
        is_message_post = method == "POST" and bool(_MESSAGES.match(parsed.path))
        with self._lock:
            self.requests.append(Recorded(method, parsed.path, form, query, auth, received))
            failure = None
            if is_message_post:
                self._message_posts += 1
                failure = self.failures_at.pop(self._message_posts, None)
                if failure is None and self.failures:
                    failure = self.failures.pop(0)
            self._arrived.notify_all()

        if auth != (self.account_sid, self.auth_token):
            return self._error(handler, 401, 20003, "Authenticate")
        match = _MESSAGES.match(parsed.path)
        numbers = _NUMBERS.match(parsed.path)
        if (match and match.group("sid") != self.account_sid) or \
                (numbers and numbers.group("sid") != self.account_sid):
            return self._error(handler, 404, 20404,
                               f"The requested resource {parsed.path} was not found")

        if failure is not None:
            if failure.create_anyway:
                self._create_message(form)
            if failure.hang:
                time.sleep(failure.hang)
            if failure.drop:
                handler.close_connection = True
                try:
                    handler.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
            return self._error(handler, failure.status, failure.code, failure.message, headers)

        recording = _RECORDING.match(parsed.path)
        if recording and method == "GET":
            audio = self.recordings.get(recording.group("re"))
            if audio is None:
                return self._error(handler, 404, 20404, f"The requested resource {parsed.path} was not found")
            handler.send_response(200)
            handler.send_header("Content-Type", "audio/mpeg")
            handler.send_header("Content-Length", str(len(audio)))
            handler.end_headers()
            handler.wfile.write(audio)
            return None
        account = _ACCOUNT.match(parsed.path)
        if account and method == "GET":
            if account.group("sid") != self.account_sid:
                return self._error(handler, 404, 20404, f"The requested resource {parsed.path} was not found")
            return self._send_json(handler, 200, self._account_json())
        if match and method == "POST":
            return self._post_message(handler, form)
        if match and method == "GET":
            return self._list_messages(handler, query)
        if numbers:
            return self._numbers(handler, method, numbers.group("pn"), form)
        return self._error(handler, 404, 20404, f"The requested resource {parsed.path} was not found")

    def _create_message(self, form: dict) -> dict:
        now = email.utils.formatdate(time.time(), usegmt=True)
        sid = "SM" + secrets.token_hex(16)
        message = {
            "account_sid": self.account_sid, "api_version": "2010-04-01",
            "body": form.get("Body", ""), "date_created": now, "date_sent": None,
            "date_updated": now, "direction": "outbound-api", "error_code": None,
            "error_message": None, "from": form.get("From"), "messaging_service_sid": None,
            "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
            "sid": sid, "status": "queued", "to": form.get("To"),
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "status_callback": form.get("StatusCallback"),
        }
        with self._lock:
            self.messages.append(message)
        return message

    def _post_message(self, handler, form: dict) -> None:
        to = form.get("To")
        if not to:
            return self._error(handler, 400, 21604, "A 'To' phone number is required.")
        if not form.get("Body") and not form.get("MediaUrl"):
            return self._error(handler, 400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return self._error(handler, 400, 21603, "A 'From' phone number is required.")
        if not re.fullmatch(r"\+[1-9]\d{6,14}", to):
            return self._error(handler, 400, 21211, f"Invalid 'To' Phone Number: {to}")
        message = self._create_message(form)
        self._send_json(handler, 201, {k: v for k, v in message.items() if k != "status_callback"})
        callback = form.get("StatusCallback")
        if callback and self.auto_callbacks:
            threading.Thread(target=self._post_callbacks, args=(callback, message),
                             daemon=True).start()

    def _post_callbacks(self, url: str, message: dict) -> None:
        validator = RequestValidator(self.auth_token)
        for status in self.auto_callbacks:
            params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01",
                      "From": message["from"], "To": message["to"], "MessageSid": message["sid"],
                      "SmsSid": message["sid"], "MessageStatus": status, "SmsStatus": status}
            signature = validator.compute_signature(url, params)
            target = self.callback_target or url
            try:
                response = httpx.post(target, data=params, headers={"X-Twilio-Signature": signature},
                                      timeout=5)
                self.callback_results.append((status, response.status_code))
            except httpx.HTTPError as exc:
                self.callback_results.append((status, -1))
                _ = exc

    def _list_messages(self, handler, query: dict) -> None:
        with self._lock:
            found = [m for m in reversed(self.messages)
                     if (not query.get("To") or m["to"] == query["To"])
                     and (not query.get("From") or m["from"] == query["From"])]
        page = [{k: v for k, v in m.items() if k != "status_callback"} for m in found[:50]]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        self._send_json(handler, 200, {
            "messages": page, "end": max(0, len(page) - 1), "first_page_uri": uri + "?Page=0",
            "next_page_uri": None, "page": 0, "page_size": 50, "previous_page_uri": None,
            "start": 0, "uri": uri,
        })

    def _account_json(self) -> dict:
        uri = f"/2010-04-01/Accounts/{self.account_sid}.json"
        return {"sid": self.account_sid, "owner_account_sid": self.account_sid,
                "friendly_name": self.account_name, "status": self.account_status, "type": "Full",
                "auth_token": self.auth_token, "date_created": "Mon, 02 Mar 2026 15:04:05 +0000",
                "date_updated": "Mon, 02 Mar 2026 15:04:05 +0000", "uri": uri,
                "subresource_uris": {"incoming_phone_numbers":
                                     f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"}}

    def _number_json(self, number: Number) -> dict:
        return {"sid": number.sid, "account_sid": self.account_sid,
                "phone_number": number.phone_number, "friendly_name": number.friendly_name,
                "voice_url": number.voice_url, "voice_method": "POST",
                "status_callback": number.status_callback, "status_callback_method": "POST",
                "sms_url": number.sms_url, "sms_method": "POST",
                "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/{number.sid}.json"}

    def _numbers(self, handler, method: str, sid: str | None, form: dict) -> None:
        if sid is None:
            uri = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
            return self._send_json(handler, 200, {
                "incoming_phone_numbers": [self._number_json(n) for n in self.numbers],
                "end": max(0, len(self.numbers) - 1), "first_page_uri": uri, "next_page_uri": None,
                "page": 0, "page_size": 50, "previous_page_uri": None, "start": 0, "uri": uri})
        number = next((n for n in self.numbers if n.sid == sid), None)
        if number is None:
            return self._error(handler, 404, 20404, f"The requested resource {sid} was not found")
        if method == "POST":
            for field_name, key in (("voice_url", "VoiceUrl"), ("status_callback", "StatusCallback"),
                                    ("sms_url", "SmsUrl")):
                if key in form:
                    setattr(number, field_name, form[key])
        return self._send_json(handler, 200, self._number_json(number))


def sign(url: str, params: dict | list, token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for a form post, computed exactly as Twilio does."""
    validator = RequestValidator(token)
    if isinstance(params, list):
        class Multi(dict):
            def getall(self, key):
                return [v for k, v in params if k == key]
        multi = Multi({k: v for k, v in params})
        return validator.compute_signature(url, multi)
    return validator.compute_signature(url, params)


def form_body(params: dict | list) -> str:
    return urlencode(params)
