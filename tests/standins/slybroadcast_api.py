"""A stand-in for Slybroadcast's voicemail gateway (vmb.php) on 127.0.0.1.

Form POSTs with c_uid and c_password; the text response is "OK" with session_id=... lines, or
"ERROR" and a reason. It fetches c_url like the gateway does, then posts each call's
disposition to c_dispo_url as var=session_id|phone|status|reason|time|carrier and expects
the response OK.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from tests.standins.http_server import Response, Request, StandInServer

USER = "coordinator@harborpoint.example"
PASSWORD = "sly-standin-password"
GATEWAY_PATH = "/gateway/vmb.php"


@dataclass
class Outcome:
    """Disposition of the next drop: status OK (left in the mailbox) or FAILURE with a reason."""

    status: str = "OK"
    reason: str = ""


class SlybroadcastStandIn(StandInServer):
    name = "slybroadcast"

    def __init__(self, user: str = USER, password: str = PASSWORD):
        super().__init__()
        self.user = user
        self.password = password
        self.campaigns: list[dict] = []  # accepted forms
        self.outcomes: list[Outcome] = []
        self.error_replies: list[str] = []  # scripted ERROR reasons for the next requests
        self.http_failures: list[int] = []  # scripted HTTP statuses for the next requests
        self.balance = 1250  # messages left, reported for remain_message=1

    @property
    def gateway_url(self) -> str:
        return self.url + GATEWAY_PATH

    def wait_for_campaigns(self, count: int, timeout: float = 10.0) -> list[dict]:
        return self.wait_for(lambda s: list(s.campaigns) if len(s.campaigns) >= count else None,
                             f"{count} campaign(s)", timeout)

    def respond(self, request: Request) -> Response:
        if request.method != "POST" or request.path != GATEWAY_PATH:
            return Response(404, b"Not Found", "text/html")
        with self._lock:
            http_failure = self.http_failures.pop(0) if self.http_failures else None
            scripted = self.error_replies.pop(0) if self.error_replies else None
        if http_failure is not None:
            return Response(http_failure, b"<html><body>Service Unavailable</body></html>", "text/html")
        form = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        if form.get("remain_message") == "1":
            if (form.get("c_uid"), form.get("c_password")) != (self.user, self.password):
                return Response(200, b"ERROR\nInvalid login", "text/html")
            return Response(200, f"OK\n{self.balance}".encode(), "text/html")
        error = scripted or self._validate(form)
        if error:
            return Response(200, f"ERROR\n{error}".encode(), "text/html")
        session_id = str(random.randint(10_000_000, 99_999_999))
        with self._lock:
            self.campaigns.append(form)
            outcome = self.outcomes.pop(0) if self.outcomes else Outcome()
            self._changed.notify_all()
        response = Response(200, f"OK\nsession_id={session_id}\nnumber of phone=1".encode(), "text/html")
        if form.get("c_dispo_url"):
            response.after = lambda: self._dispose(form, session_id, outcome)
        return response

    def _validate(self, form: dict) -> str | None:
        if not form.get("c_uid") or not form.get("c_password"):
            return "c_uid and c_password are required"
        if (form["c_uid"], form["c_password"]) != (self.user, self.password):
            return "Invalid login"
        for field in ("c_phone", "c_callerID", "c_date"):
            if not form.get(field):
                return f"{field}: required"
        if not form.get("c_record_audio") and not form.get("c_url"):
            return "c_record_audio or c_url is required"
        if form.get("c_url"):
            if form.get("c_audio", "").lower() not in ("wav", "mp3", "m4a"):
                return "c_audio: required with c_url (wav, mp3 or m4a)"
            response = self.fetch(form["c_url"])
            if response is None or response.status_code != 200 or not response.content:
                return "Bad Audio, can't download"
        return None

    def _dispose(self, form: dict, session_id: str, outcome: Outcome) -> None:
        var = "|".join([session_id, form["c_phone"], outcome.status, outcome.reason,
                        "2026-03-02 11:01:05", "Verizon Wireless"])
        self.deliver("disposition", form["c_dispo_url"], content=urlencode({"var": var}).encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
