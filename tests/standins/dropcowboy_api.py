"""A stand-in for Drop Cowboy's current API on 127.0.0.1: POST /rvm, the media URL import and
GET /phone/public/lines.

It speaks the documented wire format: x-key and x-secret headers, an Idempotency-Key that
makes a repeated send a no-op, 202 {"status": "queued", "message_id"} responses, problem+json
errors, results posted to the send's callback_url (unsigned) and as signed
contact.rvm.status webhooks (X-Timestamp, X-Signature = sha256= HMAC of "timestamp.body").
A wrong key or secret still gets 202 and then a 3007 result on the callback only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

from tests.standins.http_server import Response, Request, StandInServer

KEY = "dc-standin-key-0123456789"
SECRET = "dc-standin-secret-0123456789abcdef"
WEBHOOK_SECRET = "whsec-standin-0123456789abcdef"


@dataclass
class Outcome:
    """The result of the next drop: status success or failure with a reason code."""

    status: str = "success"
    reason_code: int = 0
    reason: str = ""


@dataclass
class Failure:
    """One scripted HTTP error response, in problem+json form."""

    status: int = 503
    title: str = "Service Unavailable"
    detail: str = "try again shortly"
    retry_after: str | None = None
    accept_anyway: bool = False  # queue the drop, then fail the response (a lost 202)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class DropCowboyStandIn(StandInServer):
    name = "dropcowboy"

    def __init__(self, key: str = KEY, secret: str = SECRET, webhook_secret: str = WEBHOOK_SECRET):
        super().__init__()
        self.key = key
        self.secret = secret
        self.webhook_secret = webhook_secret
        self.audio_url_allowed = False
        self.media: dict[str, bytes] = {}  # media_id -> the audio it imported
        self.sends: list[dict] = []  # accepted /rvm bodies, once per Idempotency-Key
        self.outcomes: list[Outcome] = []
        self.failures: list[Failure] = []
        self.webhook_url: str | None = None  # the app's public webhook URL, when subscribed
        self.send_callbacks = True
        self.clock = time.time  # seconds, for X-Timestamp
        self._idempotency: dict[str, tuple[str, str]] = {}  # key -> (body digest, message_id)
        # GET /phone/public/lines; is_default marks the line a drop uses when none is named.
        self.phone_lines: list[dict] = [
            {"ivr_id": "5d1c7a2e-3f4b-4a68-9e0d-1b2c3d4e5f60", "name": "Main line", "type": "voice",
             "is_default": True, "phone_number": "+12125550100"},
        ]

    # -- inspection -------------------------------------------------------------------------

    def rvm_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path == "/rvm"]

    def wait_for_sends(self, count: int, timeout: float = 10.0) -> list[dict]:
        return self.wait_for(lambda s: list(s.sends) if len(s.sends) >= count else None,
                             f"{count} accepted drop(s)", timeout)

    # -- responses --------------------------------------------------------------------------

    def _problem(self, status: int, slug: str, title: str, detail: str, headers: dict | None = None) -> Response:
        body = {"type": f"https://api-v2.dropcowboy.com/errors/{slug}", "title": title, "status": status,
                "detail": detail, "instance": "/rvm", "request_id": str(uuid.uuid4())}
        return Response(status, json.dumps(body).encode(), "application/problem+json", headers or {})

    def respond(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/phone/public/lines":
            return self._lines(request)
        if request.method != "POST" or request.path not in ("/rvm", "/media/public/media"):
            return self._problem(404, "not-found", "Not Found", f"no route {request.method} {request.path}")
        key, secret = request.headers.get("x-key"), request.headers.get("x-secret")
        if not key or not secret:
            return self._problem(401, "unauthorized", "Unauthorized", "x-key and x-secret are required")
        with self._lock:
            failure = self.failures.pop(0) if self.failures else None
        authorized = key == self.key and secret == self.secret
        accepted = None
        if failure is None or failure.accept_anyway:
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return self._problem(400, "invalid-json", "Bad Request", "the body is not JSON")
            if request.path == "/media/public/media":
                accepted = self._import(body, authorized)
            else:
                accepted = self._rvm(request, body, authorized)
        if failure is None:
            return accepted
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        error = self._problem(failure.status, failure.title.lower().replace(" ", "-"), failure.title,
                              failure.detail, headers)
        error.after = accepted.after if accepted is not None else None
        return error

    def _lines(self, request: Request) -> Response:
        # Routes other than sends answer 401 for a missing or wrong key or secret.
        if (request.headers.get("x-key"), request.headers.get("x-secret")) != (self.key, self.secret):
            return self._problem(401, "unauthorized", "Unauthorized", "unknown key or secret")
        body = {"data": list(self.phone_lines), "meta": {"request_id": str(uuid.uuid4())}}
        return Response(200, json.dumps(body).encode())

    def _import(self, body: dict, authorized: bool) -> Response:
        if not authorized:
            return self._problem(401, "unauthorized", "Unauthorized", "unknown key or secret")
        if body.get("type") != "rvm" or not body.get("url") or body.get("ext") not in (".mp3", ".wav"):
            return self._problem(400, "invalid-request", "Bad Request", "name, type rvm, url and ext are required")
        response = self.fetch(body["url"])
        if response is None or response.status_code != 200 or \
                response.headers.get("content-type", "").split(";")[0] != "audio/mpeg":
            got = "no connection" if response is None else f"HTTP {response.status_code}"
            return self._problem(422, "media-unreachable", "Unprocessable Entity",
                                 f"could not fetch {body['url']}: {got}")
        media_id = str(uuid.uuid4())
        with self._lock:
            self.media[media_id] = response.content
        return Response(201, json.dumps({"media_id": media_id, "name": body.get("name"), "type": "rvm"}).encode())

    def _rvm(self, request: Request, body: dict, authorized: bool) -> Response:
        idempotency_key = request.headers.get("idempotency-key", "")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        message_id = str(uuid.uuid4())
        with self._lock:
            seen = self._idempotency.get(idempotency_key) if idempotency_key else None
            if seen is None and idempotency_key:
                self._idempotency[idempotency_key] = (digest, message_id)
        queued = Response(202, json.dumps({"status": "queued",
                                         "message_id": seen[1] if seen else message_id}).encode())
        if seen is not None and seen[0] == digest:
            return queued  # same key and body: nothing is sent again and no second result
        if seen is not None:
            outcome = Outcome("failure", 3027, "Idempotency key reused with a different body")
        elif not authorized:
            outcome = Outcome("failure", 3007, "Invalid key or secret")
        else:
            outcome = self._check_audio(body)
            if outcome is None:
                with self._lock:
                    self.sends.append(body)
                    outcome = self.outcomes.pop(0) if self.outcomes else Outcome()
                    self._changed.notify_all()
        # A wrong key's result goes to callback_url only, never to a webhook.
        queued.after = lambda: self._report(body, outcome, webhook=authorized)
        return queued

    def _check_audio(self, body: dict) -> Outcome | None:
        if body.get("media_id"):
            return None if body["media_id"] in self.media else Outcome("failure", 3001, "Invalid media")
        if body.get("audio_url"):
            if not self.audio_url_allowed:
                return Outcome("failure", 3014, "Not allowed audio_url")
            response = self.fetch(body["audio_url"])
            if response is None or response.status_code != 200:
                return Outcome("failure", 3001, "Audio could not be fetched")
            return None
        return Outcome("failure", 3001, "No audio")

    # -- results ----------------------------------------------------------------------------

    def _report(self, body: dict, outcome: Outcome, webhook: bool) -> None:
        drop_id = str(uuid.uuid4())
        if body.get("callback_url") and self.send_callbacks:
            callback = {
                "drop_id": drop_id, "team_id": "3f6c2a1e-0000-4c7a-9e2f-5a1b3c4d6e7f",
                "phone_number": body.get("to"), "caller_id": "+12125550100", "product_code": "rvm",
                "status": outcome.status, "reason": outcome.reason, "reason_code": outcome.reason_code,
                "foreign_id": body.get("foreign_id"), "attempt_date": "2026-03-02T16:01:05.000Z",
            }
            self.deliver("callback", body["callback_url"], content=json.dumps(callback).encode(),
                         headers={"Content-Type": "application/json"})
        if webhook and self.webhook_url:
            self.post_webhook(self.status_event(body.get("to"), outcome, drop_id=drop_id))

    def status_event(self, to: str, outcome: Outcome, *, drop_id: str | None = None,
                     event_id: str | None = None) -> dict:
        return {
            "event_id": event_id or str(uuid.uuid4()), "event": "contact.rvm.status",
            "event_at": int(self.clock() * 1000),
            "data": {"team_id": "3f6c2a1e-0000-4c7a-9e2f-5a1b3c4d6e7f", "contact_id": str(uuid.uuid4()),
                     "drop_id": drop_id or str(uuid.uuid4()), "campaign_id": None, "campaign_type": "rvm",
                     "status": outcome.status, "reason": outcome.reason,
                     "reason_code": outcome.reason_code, "to": to, "from": "+12125550100"},
        }

    def post_webhook(self, event: dict, *, secret: str | None = None, timestamp: int | None = None):
        """Post a webhook signed as Drop Cowboy does (pass another secret or time to break it)."""
        raw = json.dumps(event).encode()
        stamp = str(int(self.clock()) if timestamp is None else timestamp)
        headers = {"Content-Type": "application/json", "X-Timestamp": stamp,
                   "X-Signature": sign(secret or self.webhook_secret, stamp, raw),
                   "X-Signature-Version": "v1", "X-Event-Id": event["event_id"], "X-Attempt": "1"}
        return self.deliver("webhook", self.webhook_url, content=raw, headers=headers)
