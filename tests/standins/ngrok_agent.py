"""A stand-in for the ngrok agent: an executable that pyngrok starts as `ngrok start --none`.

It writes the agent's logfmt lines to stdout (pyngrok reads the web service address and the
session state from them), serves the agent's local API on 127.0.0.1 (`/api/tunnels`,
`/api/endpoints`, with the agent's JSON and error bodies) and forwards each tunnel's traffic
from a loopback "public" port to the tunnel's upstream, the way ngrok's edge would.

A test makes one with `FakeAgent(folder)`, points the app at `agent.path`, changes how the next
start behaves with `agent.configure(...)` and reads what every agent process did (its command
line, its API requests, its exit) from `agent.records()`. SIGUSR1 makes a running agent lose
its session and reconnect with the scenario's current URL. Several agents started from the same
folder with the same authtoken behave like ngrok's free plan: the second one is refused with
ERR_NGROK_108 while the first is alive.

Only the standard library is imported here, so the fake agent starts quickly.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import stat
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

SCENARIO_FILE = "scenario.json"
RECORD_FILE = "record.jsonl"
REPO_ROOT = Path(__file__).resolve().parents[2]

# The errors as the real agent words them; the log line quotes them as Go's %q does.
AUTH_ERROR = ("authentication failed: The authtoken you specified is properly formed, but it is "
              "invalid.\nYour authtoken: {token}\nThis usually happens when:\n    - You reset "
              "your authtoken\n    - Your authtoken was for a team account that you were removed "
              "from\nGo to your ngrok dashboard and double check that your authtoken is correct:\n"
              "https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\nERR_NGROK_107\r\n")
NO_TOKEN_ERROR = ("authentication failed: Usage of ngrok requires a verified account and "
                  "authtoken.\n\nSign up for an account: https://dashboard.ngrok.com/signup\n"
                  "Install your authtoken: https://dashboard.ngrok.com/get-started/your-authtoken"
                  "\r\n\r\nERR_NGROK_4018\r\n")
SESSION_LIMIT_ERROR = ("authentication failed: Your account is limited to 1 simultaneous ngrok "
                       "agent sessions.\nYou can run multiple simultaneous tunnels from a single "
                       "agent session by defining the tunnels in your agent configuration file and "
                       "starting them with the command `ngrok start --all`.\nYou can view your "
                       "current agent sessions in the dashboard:\n"
                       "https://dashboard.ngrok.com/agents\r\n\r\nERR_NGROK_108\r\n")
DIAL_ERROR = ('failed to dial ngrok server with address "connect.us.ngrok-agent.com:443": '
              "dial tcp: lookup connect.us.ngrok-agent.com: no such host")


@dataclass
class Scenario:
    """How the next agent started from the folder behaves."""

    # ok: comes up; auth_error: the authtoken is refused and the agent exits;
    # network_error: cannot reach ngrok and keeps retrying; crash: exits at once with a message.
    mode: str = "ok"
    public_url: str = "https://3f2a-203-0-113-7.ngrok-free.app"
    web_addr: str = "127.0.0.1:0"


# -- the agent process ----------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _quote(value: str) -> str:
    """Quote a logfmt value the way the agent does (Go's %q) when it needs quoting."""
    if value and not any(c in value for c in ' "=\\\n\r'):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\r", "\\r") + '"'


class Agent:
    def __init__(self, folder: Path, argv: list[str]):
        self.folder = folder
        self.argv = argv
        self.scenario = Scenario(**json.loads((folder / SCENARIO_FILE).read_text()))
        self.tunnels: dict[str, dict] = {}
        self.forwarders: dict[str, ThreadingHTTPServer] = {}
        self.lock = threading.Lock()
        self.session_file: Path | None = None
        self.server: ThreadingHTTPServer | None = None

    # Every agent process appends what it did to one file the test reads.
    def record(self, event: str, **fields) -> None:
        line = json.dumps({"event": event, "pid": os.getpid(), "at": time.time(), **fields})
        with open(self.folder / RECORD_FILE, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def log(self, lvl: str, msg: str, **fields) -> None:
        parts = [f"t={_now()}", f"lvl={lvl}", f"msg={_quote(msg)}"]
        parts += [f"{key}={_quote(str(value))}" for key, value in fields.items()]
        sys.stdout.write(" ".join(parts) + "\n")
        sys.stdout.flush()

    def option(self, name: str) -> str | None:
        if name in self.argv:
            index = self.argv.index(name)
            if index + 1 < len(self.argv):
                return self.argv[index + 1]
        return None

    def fail(self, err: str, code: int = 1) -> int:
        self.log("eror", "failed to reconnect session", obj="tunnels.session",
                 id=uuid.uuid4().hex[:12], err=err)
        self.log("eror", "session closing", obj="tunnels.session", err=err)
        self.log("crit", "command failed", err=err)
        sys.stderr.write("ERROR:  " + err.replace("\r", "") + "\n")
        self.record("exit", code=code, err=err)
        return code

    def run(self) -> int:
        self.record("start", argv=self.argv)
        if self.argv[:1] in (["version"], ["--version"]):
            print("ngrok version 3.22.1")
            return 0
        if self.argv[:1] != ["start"] or "--none" not in self.argv or self.option("--log") != "stdout":
            sys.stderr.write(f"ERROR:  unexpected command line for the stand-in: {self.argv}\n")
            self.record("exit", code=2, err="bad command line")
            return 2
        config = self.option("--config")
        if config and not Path(config).exists():
            sys.stderr.write(f"ERROR:  open {config}: no such file or directory\n")
            self.record("exit", code=1, err="no config file")
            return 1
        self.log("info", "open config file", path=config or "default", err="nil")
        if self.scenario.mode == "crash":
            self.log("crit", "command failed", err="listen tcp: address already in use")
            self.record("exit", code=1, err="crash")
            return 1

        host, port = self.scenario.web_addr.rsplit(":", 1)
        self.server = ThreadingHTTPServer((host, int(port)), self._api_handler())
        self.server.daemon_threads = True
        address = f"{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.log("info", "starting web service", obj="web", addr=address, allow_hosts="[]")
        self.record("web", addr=address)

        token = self.option("--authtoken")
        if not token:
            return self.fail(NO_TOKEN_ERROR)
        if self.scenario.mode == "auth_error":
            return self.fail(AUTH_ERROR.format(token=token))
        if self.scenario.mode == "network_error":
            while True:  # the real agent retries until it is stopped
                self.log("eror", "failed to reconnect session", obj="tunnels.session", err=DIAL_ERROR)
                time.sleep(0.1)
        if not self._claim_session(token):
            return self.fail(SESSION_LIMIT_ERROR)

        self.log("info", "client session established", obj="tunnels.session")
        self.log("info", "tunnel session started", obj="tunnels.session")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        # SIGUSR1: lose the session to ngrok's servers, then reconnect with the scenario's URL.
        signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=self._reconnect).start())
        stopped.wait()
        self.log("info", "received stop request", obj="app", stopReq="{err:<nil> restart:false}")
        if self.session_file is not None:
            self.session_file.unlink(missing_ok=True)
        self.record("exit", code=0, err="")
        return 0

    def _reconnect(self) -> None:
        self.log("eror", "heartbeat timeout, terminating session", obj="tunnels.session",
                 err="session closed: heartbeat timeout")
        self.log("eror", "failed to reconnect session", obj="tunnels.session", err=DIAL_ERROR)
        url = Scenario(**json.loads((self.folder / SCENARIO_FILE).read_text())).public_url
        with self.lock:
            for tunnel in self.tunnels.values():
                tunnel["public_url"] = url
        self.record("reconnect", public_url=url)
        self.log("info", "client session established", obj="tunnels.session")
        self.log("info", "tunnel session started", obj="tunnels.session")

    def _claim_session(self, token: str) -> bool:
        """One agent session per authtoken, as on ngrok's free plan."""
        path = self.folder / f"session-{hashlib.sha256(token.encode()).hexdigest()[:12]}"
        try:
            holder = int(path.read_text())
        except (FileNotFoundError, ValueError):
            holder = None
        if holder and holder != os.getpid() and _alive(holder):
            return False
        path.write_text(str(os.getpid()))
        self.session_file = path
        return True

    # -- local API ----------------------------------------------------------------------------

    def _api_handler(self):
        agent = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                agent._api(self, "GET")

            def do_POST(self):
                agent._api(self, "POST")

            def do_DELETE(self):
                agent._api(self, "DELETE")

        return Handler

    def _send(self, handler, status: int, payload: dict | None) -> None:
        body = json.dumps(payload).encode() if payload is not None else b""
        handler.send_response(status)
        if payload is not None:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _error(self, handler, status: int, code: int, msg: str, err: str) -> None:
        self._send(handler, status, {"error_code": code, "status_code": status, "msg": msg,
                                     "details": {"err": err}})

    def _api(self, handler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path.rstrip("/")
        self.record("request", method=method, path=path, body=raw.decode("utf-8", "replace"))
        kind = "endpoints" if path.startswith("/api/endpoints") else "tunnels"
        if path in ("/api/tunnels", "/api/endpoints"):
            if method == "GET":
                with self.lock:
                    items = [self._json(t, kind) for t in self.tunnels.values()]
                return self._send(handler, 200, {kind: items, "uri": path})
            if method == "POST":
                return self._create(handler, raw, kind)
        elif path.startswith("/api/tunnels/") or path.startswith("/api/endpoints/"):
            name = path.split("/", 3)[3]
            with self.lock:
                tunnel = self.tunnels.get(name)
            if tunnel is None:
                return self._error(handler, 404, 100, "Tunnel not found",
                                   f"Tunnel {name} not found")
            if method == "GET":
                return self._send(handler, 200, self._json(tunnel, kind))
            if method == "DELETE":
                with self.lock:
                    self.tunnels.pop(name, None)
                    forwarder = self.forwarders.pop(name, None)
                if forwarder is not None:
                    forwarder.shutdown()
                    forwarder.server_close()
                return self._send(handler, 204, None)
        self._error(handler, 404, 100, "Not found", f"no API resource at {path}")

    def _create(self, handler, raw: bytes, kind: str) -> None:
        if handler.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return self._error(handler, 400, 102, "invalid tunnel configuration",
                               "request bodies must be application/json")
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            return self._error(handler, 400, 102, "invalid tunnel configuration", str(exc))
        name = body.get("name")
        if kind == "tunnels":
            addr, proto = body.get("addr"), body.get("proto")
            if not addr or proto not in ("http", "tcp", "tls"):
                return self._error(handler, 400, 102, "invalid tunnel configuration",
                                   "a tunnel needs addr and a proto of http, tcp or tls")
            upstream = addr if "://" in str(addr) else f"http://{addr}" if ":" in str(addr) \
                else f"http://localhost:{addr}"
        else:
            upstream = (body.get("upstream") or {}).get("url")
            if not upstream:
                return self._error(handler, 400, 102, "invalid endpoint configuration",
                                   "an endpoint needs upstream.url")
        with self.lock:
            if name in self.tunnels:
                return self._error(handler, 400, 102, "invalid tunnel configuration",
                                   f"A tunnel with the name '{name}' already exists.")
            tunnel = {"name": name, "ID": uuid.uuid4().hex, "public_url": self.scenario.public_url,
                      "upstream": upstream, "schemes": body.get("schemes")}
            self.tunnels[name] = tunnel
        forwarder = self._forward(upstream, self.scenario.public_url)
        with self.lock:
            self.forwarders[name] = forwarder
        forward = f"http://127.0.0.1:{forwarder.server_address[1]}"
        tunnel["forward"] = forward
        self.record("tunnel", name=name, public_url=self.scenario.public_url, upstream=upstream,
                    forward=forward, body=body)
        self.log("info", "started tunnel", obj="tunnels", name=name, addr=upstream,
                 url=self.scenario.public_url)
        self._send(handler, 201, self._json(tunnel, kind))

    def _json(self, tunnel: dict, kind: str) -> dict:
        metrics = {"conns": {"count": 0, "gauge": 0, "rate1": 0, "rate5": 0, "rate15": 0,
                             "p50": 0, "p90": 0, "p95": 0, "p99": 0},
                   "http": {"count": 0, "rate1": 0, "rate5": 0, "rate15": 0,
                            "p50": 0, "p90": 0, "p95": 0, "p99": 0}}
        if kind == "endpoints":
            return {"name": tunnel["name"], "id": tunnel["ID"], "uri": f"/api/endpoints/{tunnel['name']}",
                    "url": tunnel["public_url"], "upstream": {"url": tunnel["upstream"]},
                    "metrics": metrics}
        return {"name": tunnel["name"], "ID": tunnel["ID"], "uri": f"/api/tunnels/{tunnel['name']}",
                "public_url": tunnel["public_url"], "proto": "https",
                "config": {"addr": tunnel["upstream"], "inspect": True}, "metrics": metrics}

    # -- the "public" side: forwards to the upstream as the edge would --------------------------

    def _forward(self, upstream: str, public_url: str) -> ThreadingHTTPServer:
        target = urlsplit(upstream)
        public_host = urlsplit(public_url).netloc

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                headers.update({"Host": public_host, "X-Forwarded-Proto": "https",
                                "X-Forwarded-For": self.client_address[0]})
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    payload = answer.read()
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError as exc:
                    message = f"ERR_NGROK_8012: failed to reach upstream {upstream}: {exc}".encode()
                    self.send_response(502)
                    self.send_header("Content-Length", str(len(message)))
                    self.end_headers()
                    self.wfile.write(message)
                finally:
                    connection.close()

            do_GET = do_POST = _relay

        server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) holds no session
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def agent_main(script: str, argv: list[str]) -> int:
    return Agent(Path(script).resolve().parent, argv).run()


# -- the test's handle ----------------------------------------------------------------------------

_SCRIPT = """#!{python}
import sys
sys.path.insert(0, {root!r})
from tests.standins.ngrok_agent import agent_main
sys.exit(agent_main(__file__, sys.argv[1:]))
"""


class FakeAgent:
    """An executable `ngrok` in `folder` and the record of every process started from it."""

    def __init__(self, folder: Path, **scenario):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "ngrok"
        self.path.write_text(_SCRIPT.format(python=sys.executable, root=str(REPO_ROOT)))
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.scenario = Scenario()
        self.configure(**scenario)

    def configure(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self.scenario, key, value)
        (self.folder / SCENARIO_FILE).write_text(json.dumps(asdict(self.scenario)))

    def records(self, event: str | None = None) -> list[dict]:
        try:
            lines = (self.folder / RECORD_FILE).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        rows = [json.loads(line) for line in lines if line.strip()]
        return [r for r in rows if event is None or r["event"] == event]

    def started_pids(self) -> list[int]:
        return [r["pid"] for r in self.records("start")]

    def live_pids(self) -> list[int]:
        return [pid for pid in self.started_pids() if _alive(pid)]

    def requests(self, method: str | None = None, path_prefix: str = "/api/") -> list[dict]:
        return [r for r in self.records("request")
                if (method is None or r["method"] == method) and r["path"].startswith(path_prefix)]
