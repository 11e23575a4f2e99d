"""A stand-in for HubSpot's CRM API on 127.0.0.1: the same paths, bearer auth, JSON and error bodies.

It keeps contacts, tasks and task-contact associations in memory and records every
request. Switches reproduce HubSpot's awkward moments: a search index that lags behind
creates, a task create that drops its association, 429s with rate-limit headers, 5xx
responses, missing scopes and rejected property values.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TOKEN = "pat-na1-standin-0000-1111-2222-333344445555"
HUB_ID = 24681357
STOCK_LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED",
                       "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING")
ALL_SCOPES = ("crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.tasks.read",
              "crm.objects.tasks.write", "crm.schemas.contacts.read", "oauth")
CONTACT_DEFAULTS = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                    "lastname")
TASK_DEFAULTS = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
# Limits HubSpot has documented for search requests since 2024-08-26.
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25

_CONTACT = re.compile(r"^/crm/v3/objects/contacts/(?P<id>\d+)$")
_TASK = re.compile(r"^/crm/v3/objects/tasks/(?P<id>\d+)$")
_ASSOC_READ = re.compile(r"^/crm/v4/objects/(?P<from_type>contacts|tasks)/(?P<id>\d+)"
                         r"/associations/(?P<to_type>contacts|tasks)$")
_ASSOC_DEFAULT = re.compile(r"^/crm/v4/objects/tasks/(?P<task>\d+)/associations/default"
                            r"/contacts/(?P<contact>\d+)$")
_PROPERTY = re.compile(r"^/crm/v3/properties/contacts/(?P<name>[a-z0-9_]+)$")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    body: object
    authorization: str
    status: int = 0


@dataclass
class Failure:
    """One scripted response in place of the real one."""

    status: int = 503
    headers: dict = field(default_factory=dict)
    body: dict | None = None  # None: HubSpot's usual error body (HTML for 502-504)
    path_contains: str = ""  # only requests whose path contains this text
    apply: bool = False  # carry the request out, then lose its real response (a hidden success)


def rate_limited(retry_after: str | None = None, policy: str = "TEN_SECONDLY_ROLLING",
                 interval_ms: int = 10000) -> Failure:
    """A 429 in HubSpot's shape, with its rate-limit headers."""
    headers = {"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "0",
               "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms)}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    body = {"status": "error", "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": policy}
    return Failure(429, headers, body)


class _Discard:
    """A request handler whose response goes nowhere, for requests that succeed unseen."""

    def __init__(self, headers):
        self.headers = headers
        self.wfile = io.BytesIO()

    def send_response(self, *args) -> None:
        pass

    def send_header(self, *args) -> None:
        pass

    def end_headers(self) -> None:
        pass


class HubSpotStandIn:
    def __init__(self, token: str = TOKEN):
        self.token = token
        self.scopes: set[str] = set(ALL_SCOPES)
        self.lead_status_options: list[str] = list(STOCK_LEAD_STATUSES) + ["NEW_MISSED_CALL"]
        self.contact_properties: set[str] = {
            "firstname", "lastname", "email", "phone", "mobilephone", "hs_lead_status",
            "lead_source", "createdate", "lastmodifieddate", "hs_object_id"}
        self.owners: set[str] = {"77001", "77002"}
        self.search_lag = False  # contacts created while True stay out of search until index_all()
        self.drop_task_associations = False  # task creates ignore their associations
        self.unavailable = False  # every request gets a 503
        self.contacts: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.associations: set[tuple[str, str]] = set()  # (task id, contact id)
        self.requests: list[Recorded] = []
        self._failures: list[Failure] = []
        self._unindexed: set[str] = set()
        self._ids = itertools.count(501)
        self._task_ids = itertools.count(9001)
        self._recent: list[float] = []
        # Reentrant: route handlers hold it while _send() updates the rate-limit window.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self.port: int | None = None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "HubSpotStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                standin._handle(self, "GET")

            def do_POST(self):
                standin._handle(self, "POST")

            def do_PATCH(self):
                standin._handle(self, "PATCH")

            def do_PUT(self):
                standin._handle(self, "PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                         name="hubspot-standin").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "HubSpotStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test controls ----------------------------------------------------------------------

    def add_contact(self, **properties) -> str:
        """A contact that already exists in HubSpot (indexed for search)."""
        with self._lock:
            return self._new_contact(properties, indexed=True)["id"]

    def index_all(self) -> None:
        with self._lock:
            self._unindexed.clear()

    def fail_next(self, *failures: Failure) -> None:
        with self._lock:
            self._failures.extend(failures)

    def calls(self, method: str | None = None, path: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and path in r.path]

    def wait_for(self, predicate, timeout: float = 10.0):
        """Wait until predicate(standin) is true; it runs under the lock after each request."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("the HubSpot stand-in did not reach the expected state")
                self._changed.wait(remaining)

    # -- HTTP -------------------------------------------------------------------------------

    def _send(self, handler, status: int, payload, content_type: str = "application/json") -> None:
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", f"{content_type};charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        now = time.monotonic()
        with self._lock:
            self._recent = [t for t in self._recent if t > now - 10] + [now]
            used = len(self._recent)
        for key, value in {"X-HubSpot-RateLimit-Daily": "250000",
                           "X-HubSpot-RateLimit-Daily-Remaining": str(250000 - len(self.requests)),
                           "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                           "X-HubSpot-RateLimit-Max": "100",
                           "X-HubSpot-RateLimit-Remaining": str(max(0, 100 - used)),
                           **getattr(handler, "extra_headers", {})}.items():
            handler.send_header(key, value)
        handler.end_headers()
        if body:
            handler.wfile.write(body)

    def _error(self, handler, status: int, category: str, message: str, **extra) -> None:
        self._send(handler, status, {"status": "error", "message": message,
                                     "correlationId": str(uuid.uuid4()), "category": category,
                                     **extra})

    def _handle(self, handler, method: str) -> None:
        parsed = urlparse(handler.path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        record = Recorded(method, parsed.path, query, body,
                          handler.headers.get("Authorization", ""))
        with self._lock:
            self.requests.append(record)
            failure = next((f for f in self._failures if f.path_contains in parsed.path), None)
            if failure is not None:
                self._failures.remove(failure)
        try:
            record.status = self._respond(handler, method, parsed.path, query, body, failure)
        finally:
            with self._lock:
                self._changed.notify_all()

    def _respond(self, handler, method, path, query, body, failure) -> int:
        if self.unavailable and failure is None:
            failure = Failure(503)
        if failure is not None and failure.apply:
            with self._lock:
                self._route(_Discard(handler.headers), method, path, query, body or {})
        if failure is not None:
            handler.extra_headers = failure.headers
            if failure.body is not None:
                self._send(handler, failure.status, failure.body)
            elif 502 <= failure.status <= 504:
                self._send(handler, failure.status, f"<html><body><h1>{failure.status}</h1>"
                           "Service temporarily unavailable</body></html>", "text/html")
            else:
                self._error(handler, failure.status, "INTERNAL_ERROR", "internal error")
            return failure.status
        if path == "/oauth/v2/private-apps/get/access-token-info" and method == "POST":
            return self._token_info(handler, body)
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            self._error(handler, 401, "INVALID_AUTHENTICATION",
                        "Authentication credentials not found. This API supports OAuth 2.0 "
                        "authentication and you can find more details at "
                        "https://developers.hubspot.com/docs/methods/auth/oauth-overview")
            return 401
        with self._lock:
            return self._route(handler, method, path, query, body or {})

    def _route(self, handler, method, path, query, body) -> int:
        contact = _CONTACT.match(path)
        task = _TASK.match(path)
        assoc_read = _ASSOC_READ.match(path)
        assoc_default = _ASSOC_DEFAULT.match(path)
        prop = _PROPERTY.match(path)

        if path == "/crm/v3/objects/contacts/search" and method == "POST":
            return self._scoped(handler, "contacts", "read") or self._search(handler, body)
        if path == "/crm/v3/objects/contacts" and method == "POST":
            return self._scoped(handler, "contacts", "write") or self._create_contact(handler, body)
        if path in ("/crm/v3/objects/contacts", "/crm/v3/objects/tasks") and method == "GET":
            kind = path.rsplit("/", 1)[1]
            return self._scoped(handler, kind, "read") or self._list(handler, kind, query)

        if contact and method == "GET":
            return self._scoped(handler, "contacts", "read") or self._get_contact(
                handler, contact["id"], query)
        if contact and method == "PATCH":
            return self._scoped(handler, "contacts", "write") or self._update(
                handler, self.contacts, contact["id"], body, self._check_contact_properties)

        if path == "/crm/v3/objects/tasks" and method == "POST":
            return self._scoped(handler, "tasks", "write") or self._create_task(handler, body)
        if task and method == "PATCH":
            return self._scoped(handler, "tasks", "write") or self._update(
                handler, self.tasks, task["id"], body, self._check_task_properties)
        if path == "/crm/v3/objects/tasks/batch/read" and method == "POST":
            return self._scoped(handler, "tasks", "read") or self._batch_read_tasks(handler, body)

        if assoc_read and method == "GET":
            return self._scoped(handler, "tasks", "read") or self._read_associations(
                handler, assoc_read["from_type"], assoc_read["id"], assoc_read["to_type"])
        if assoc_default and method == "PUT":
            return self._scoped(handler, "tasks", "write") or self._associate(
                handler, assoc_default["task"], assoc_default["contact"])

        if prop and method == "GET":
            return self._scoped(handler, "schemas", "read") or self._property(handler, prop["name"])
        self._error(handler, 404, "OBJECT_NOT_FOUND", f"Unable to route {method} {path}")
        return 404

    # -- auth -------------------------------------------------------------------------------

    def _scoped(self, handler, kind: str, access: str) -> int | None:
        """403 MISSING_SCOPES unless the token has one of the scopes the endpoint accepts."""
        if kind == "schemas":
            accepted = [f"crm.schemas.contacts.{access}"]
        elif kind == "tasks":
            # Tasks take the contact scopes, or the granular task scopes where an account has them.
            accepted = [f"crm.objects.contacts.{access}", f"crm.objects.tasks.{access}"]
        else:
            accepted = [f"crm.objects.contacts.{access}"]
        if self.scopes & set(accepted):
            return None
        self._error(handler, 403, "MISSING_SCOPES",
                    "This app hasn't been granted all required scopes to make this call. Read "
                    "more about required scopes here: https://developers.hubspot.com/scopes.",
                    errors=[{"message": "One or more of the following scopes are required.",
                             "context": {"requiredGranularScopes": accepted}}],
                    links={"scopes": "https://developers.hubspot.com/scopes"})
        return 403

    def _token_info(self, handler, body) -> int:
        if not isinstance(body, dict) or body.get("tokenKey") != self.token:
            self._error(handler, 401, "INVALID_AUTHENTICATION", "The access token is not valid.")
            return 401
        self._send(handler, 200, {"userId": 4455, "hubId": HUB_ID, "appId": 1234567,
                                  "scopes": sorted(self.scopes)})
        return 200

    # -- validation -------------------------------------------------------------------------

    def _invalid(self, handler, items: list[dict]) -> int:
        for item in items:
            item.setdefault("isValid", False)
            item.setdefault("localizedErrorMessage", item["message"])
            item.setdefault("portalId", HUB_ID)
        self._error(handler, 400, "VALIDATION_ERROR",
                    f"Property values were not valid: {json.dumps(items, separators=(',', ':'))}")
        return 400

    def _check_contact_properties(self, properties: dict) -> list[dict]:
        errors = []
        for name, value in properties.items():
            if name not in self.contact_properties:
                errors.append({"message": f'Property "{name}" does not exist',
                               "error": "PROPERTY_DOESNT_EXIST", "name": name})
            elif name == "hs_lead_status" and value not in self.lead_status_options:
                errors.append({"message": f"{value} was not one of the allowed options: "
                               f"{self.lead_status_options}", "error": "INVALID_OPTION",
                               "name": name})
        return errors

    def _check_task_properties(self, properties: dict, create: bool = False) -> list[dict]:
        allowed = {"hs_task_type": ("EMAIL", "CALL", "TODO"),
                   "hs_task_priority": ("LOW", "MEDIUM", "HIGH", "NONE"),
                   "hs_task_status": ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED",
                                      "DEFERRED")}
        errors = []
        if create and not properties.get("hs_timestamp"):
            errors.append({"message": "hs_timestamp is required", "error": "REQUIRED_FIELD",
                           "name": "hs_timestamp"})
        for name, options in allowed.items():
            if name in properties and properties[name] not in options:
                errors.append({"message": f"{properties[name]} was not one of the allowed options",
                               "error": "INVALID_OPTION", "name": name})
        owner = properties.get("hubspot_owner_id")
        if owner and owner not in self.owners:
            errors.append({"message": f"{owner} is not a valid owner id",
                           "error": "INVALID_OWNER_ID", "name": "hubspot_owner_id"})
        return errors

    # -- contacts ---------------------------------------------------------------------------

    def _new_contact(self, properties: dict, indexed: bool) -> dict:
        now = time.time()
        contact_id = str(next(self._ids))
        record = {"id": contact_id, "properties": {
            **{k: str(v) for k, v in properties.items()}, "hs_object_id": contact_id,
            "createdate": _iso(now), "lastmodifieddate": _iso(now)},
            "createdAt": _iso(now), "updatedAt": _iso(now), "archived": False}
        self.contacts[contact_id] = record
        if not indexed:
            self._unindexed.add(contact_id)
        return record

    def _view(self, record: dict, wanted: list[str], defaults: tuple[str, ...]) -> dict:
        names = set(defaults) | set(wanted)
        props = record["properties"]
        return {**record, "properties": {n: props.get(n) for n in sorted(names)
                                         if n in props or n in wanted}}

    def _create_contact(self, handler, body) -> int:
        properties = body.get("properties") or {}
        errors = self._check_contact_properties(properties)
        if errors:
            return self._invalid(handler, errors)
        email = (properties.get("email") or "").lower()
        for existing in self.contacts.values():
            if email and (existing["properties"].get("email") or "").lower() == email:
                self._error(handler, 409, "CONFLICT",
                            f"Contact already exists. Existing ID: {existing['id']}")
                return 409
        record = self._new_contact(properties, indexed=not self.search_lag)
        self._send(handler, 201, self._view(record, list(properties), CONTACT_DEFAULTS))
        return 201

    def _get_contact(self, handler, contact_id: str, query: dict) -> int:
        record = self.contacts.get(contact_id)
        if record is None:
            self._error(handler, 404, "OBJECT_NOT_FOUND", "resource not found")
            return 404
        wanted = [p for p in (query.get("properties") or "").split(",") if p]
        self._send(handler, 200, self._view(record, wanted, CONTACT_DEFAULTS))
        return 200

    def _update(self, handler, store: dict, record_id: str, body, check) -> int:
        record = store.get(record_id)
        if record is None:
            self._error(handler, 404, "OBJECT_NOT_FOUND", "resource not found")
            return 404
        properties = body.get("properties") or {}
        errors = check(properties)
        if errors:
            return self._invalid(handler, errors)
        record["properties"].update({k: str(v) for k, v in properties.items()})
        record["updatedAt"] = _iso(time.time())
        self._send(handler, 200, record)
        return 200

    def _list(self, handler, kind: str, query: dict) -> int:
        store = self.contacts if kind == "contacts" else self.tasks
        limit = int(query.get("limit") or 10)
        results = list(store.values())[:limit]
        self._send(handler, 200, {"results": results})
        return 200

    def _search(self, handler, body) -> int:
        groups = body.get("filterGroups") or []
        total_filters = sum(len(g.get("filters") or []) for g in groups)
        if (len(groups) > MAX_GROUPS or total_filters > MAX_FILTERS
                or any(len(g.get("filters") or []) > MAX_FILTERS_PER_GROUP for g in groups)):
            self._error(handler, 400, "VALIDATION_ERROR",
                        f"There was a problem with the request: too many filter groups "
                        f"({len(groups)}) or filters ({total_filters}).")
            return 400
        hits = [r for r in self.contacts.values()
                if r["id"] not in self._unindexed and not r["archived"]
                and (not groups or any(self._matches(r, g.get("filters") or []) for g in groups))]
        for sort in body.get("sorts") or []:
            hits.sort(key=lambda r: r["properties"].get(sort.get("propertyName"), "") or "",
                      reverse=sort.get("direction") == "DESCENDING")
        limit = min(int(body.get("limit") or 10), 200)
        after = int(body.get("after") or 0)
        page = hits[after:after + limit]
        payload = {"total": len(hits), "results": [
            self._view(r, body.get("properties") or [], ("createdate", "hs_object_id",
                                                         "lastmodifieddate")) for r in page]}
        if after + limit < len(hits):
            payload["paging"] = {"next": {"after": str(after + limit)}}
        self._send(handler, 200, payload)
        return 200

    @staticmethod
    def _matches(record: dict, filters: list[dict]) -> bool:
        props = record["properties"]
        for flt in filters:
            value = props.get(flt.get("propertyName"))
            operator = flt.get("operator")
            if operator == "EQ" and value != flt.get("value"):
                return False
            if operator == "IN" and value not in (flt.get("values") or []):
                return False
            if operator == "HAS_PROPERTY" and not value:
                return False
        return True

    # -- tasks and associations -------------------------------------------------------------

    def _create_task(self, handler, body) -> int:
        properties = body.get("properties") or {}
        errors = self._check_task_properties(properties, create=True)
        if errors:
            return self._invalid(handler, errors)
        targets = []
        for association in body.get("associations") or []:
            contact_id = str((association.get("to") or {}).get("id"))
            types = association.get("types") or []
            if contact_id not in self.contacts or not any(
                    t.get("associationTypeId") == 204 for t in types):
                self._error(handler, 400, "VALIDATION_ERROR",
                            f"Invalid association to object {contact_id}")
                return 400
            targets.append(contact_id)
        now = time.time()
        task_id = str(next(self._task_ids))
        record = {"id": task_id, "properties": {
            **{k: str(v) for k, v in properties.items()}, "hs_object_id": task_id,
            "hs_createdate": _iso(now), "hs_lastmodifieddate": _iso(now)},
            "createdAt": _iso(now), "updatedAt": _iso(now), "archived": False}
        self.tasks[task_id] = record
        if not self.drop_task_associations:
            self.associations.update((task_id, c) for c in targets)
        self._send(handler, 201, record)
        return 201

    def _batch_read_tasks(self, handler, body) -> int:
        wanted = body.get("properties") or []
        results = [self._view(self.tasks[str(i["id"])], wanted, TASK_DEFAULTS)
                   for i in body.get("inputs") or [] if str(i.get("id")) in self.tasks]
        self._send(handler, 200, {"status": "COMPLETE", "results": results,
                                  "startedAt": _iso(time.time()), "completedAt": _iso(time.time())})
        return 200

    def _read_associations(self, handler, from_type: str, object_id: str, to_type: str) -> int:
        if from_type == "tasks":
            ids = sorted(c for t, c in self.associations if t == object_id)
            type_id = 204
        else:
            ids = sorted(t for t, c in self.associations if c == object_id)
            type_id = 203
        self._send(handler, 200, {"results": [
            {"toObjectId": int(i), "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]}
            for i in ids]})
        return 200

    def _associate(self, handler, task_id: str, contact_id: str) -> int:
        if task_id not in self.tasks or contact_id not in self.contacts:
            self._error(handler, 404, "OBJECT_NOT_FOUND", "resource not found")
            return 404
        self.associations.add((task_id, contact_id))
        now = _iso(time.time())
        self._send(handler, 200, {"status": "COMPLETE", "results": [
            {"from": {"id": task_id}, "to": {"id": contact_id},
             "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}},
            {"from": {"id": contact_id}, "to": {"id": task_id},
             "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 203}}],
            "startedAt": now, "completedAt": now})
        return 200

    def _property(self, handler, name: str) -> int:
        if name not in self.contact_properties:
            self._error(handler, 404, "OBJECT_NOT_FOUND", f"Unable to find property {name}")
            return 404
        definition = {"name": name, "label": name, "type": "string", "fieldType": "text",
                      "groupName": "contactinformation", "options": [], "hidden": False}
        if name == "hs_lead_status":
            definition.update(type="enumeration", fieldType="radio", options=[
                {"label": v.replace("_", " ").title(), "value": v, "displayOrder": i,
                 "hidden": False} for i, v in enumerate(self.lead_status_options)])
        self._send(handler, 200, definition)
        return 200
