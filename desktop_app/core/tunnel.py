"""The ngrok tunnel: runs the agent through pyngrok and keeps the providers pointed at its URL."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlmodel import select

from desktop_app.core import models, phones, twilio_numbers
from desktop_app.core.db import StorageError, get_meta, set_meta
from desktop_app.core.events import Notification, ServiceState
from desktop_app.core.providers.base import ProviderError

log = logging.getLogger(__name__)

# In the data folder: the agent's own config file (so the user's ngrok.yml is never read or
# written) and the record of the agent process this app started.
AGENT_DIR = "ngrok"
CONFIG_FILE = "ngrok.yml"
PID_FILE = "agent.json"
META_LAST_URL = "tunnel.last_url"
TUNNEL_NAME = "missed-call-desk"
# Hosts of ngrok's own domains: a Twilio webhook on one of these with our paths was set by an
# earlier run of this app, so it may be moved to the new URL.
NGROK_DOMAINS = (".ngrok-free.app", ".ngrok-free.dev", ".ngrok.app", ".ngrok.dev", ".ngrok.io")
RETRY_DELAYS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)

NO_AUTHTOKEN = ("No ngrok authtoken: get one at dashboard.ngrok.com and paste it in Settings > "
                "ngrok (or set MCD_NGROK_AUTHTOKEN), or set MCD_PUBLIC_URL if you run your own "
                "HTTPS proxy.")

STARTING, UP, RECONNECTING, DOWN, STOPPED, OFF = (
    "starting", "up", "reconnecting", "down", "stopped", "off")


# -- secrets in pyngrok's log lines -------------------------------------------------------------

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()


def redact(text: str) -> str:
    """Remove every authtoken in use from text (ngrok repeats the token in its auth errors)."""
    with _SECRETS_LOCK:
        secrets = list(_SECRETS)
    for secret in secrets:
        text = text.replace(secret, "[authtoken]")
    return text


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let logging report it as usual
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


# pyngrok relays every agent line through these loggers, auth errors included.
for _name in ("pyngrok.process.ngrok", "pyngrok.process", "pyngrok.ngrok"):
    logging.getLogger(_name).addFilter(_RedactFilter())


# -- finding the agent --------------------------------------------------------------------------

def agent_name() -> str:
    return "ngrok.exe" if sys.platform == "win32" else "ngrok"


def pyngrok_default_path(environ: dict) -> Path:
    """Return the path where pyngrok installs the agent (used if pyngrok or the user put it there)."""
    home = Path(environ.get("USERPROFILE") or environ.get("HOME") or Path.home())
    if sys.platform == "win32":
        folder = home / "AppData" / "Local" / "ngrok"
    elif sys.platform == "darwin":
        folder = home / "Library" / "Application Support" / "ngrok"
    else:
        folder = Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "ngrok"
    return folder / agent_name()


def find_agent(ctx) -> tuple[Path | None, str | None]:
    """Return (path of the ngrok executable, None) or (None, the problem and its fix).

    A path in the setting tunnel.ngrok_path (MCD_NGROK_PATH) is used as given; without it the
    agent is looked up on PATH, then where pyngrok installs it. Nothing is ever downloaded.
    """
    configured = ctx.settings.get("tunnel.ngrok_path").strip()
    if configured:
        path = Path(configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path, None
        where = "does not exist" if not path.exists() else "is not an executable file"
        return None, (f"The ngrok agent path {str(path)!r} (Settings > ngrok, tunnel.ngrok_path) "
                      f"{where}: correct the path, or clear it to look for ngrok on PATH.")
    found = shutil.which("ngrok", path=ctx.environ.get("PATH", ""))
    if found:
        return Path(found), None
    default = pyngrok_default_path(ctx.environ)
    if default.is_file():
        return default, None
    return None, ("The ngrok agent is not installed (no ngrok on PATH, nor at "
                  f"{default}): install it from ngrok.com/download, then put it on PATH or enter "
                  "its path in Settings > ngrok and press Start. The app never downloads it.")


# -- a stale agent from a crashed run -----------------------------------------------------------

def _pid_file(data_dir: Path) -> Path:
    return Path(data_dir) / AGENT_DIR / PID_FILE


def _record_agent(data_dir: Path, pid: int, path: Path) -> None:
    """Note the agent's pid and start time, so a later run can end it after a crash."""
    import psutil  # noqa: PLC0415

    try:
        record = {"pid": pid, "create_time": psutil.Process(pid).create_time(), "path": str(path)}
        target = _pid_file(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(record), encoding="utf-8")
    except (psutil.Error, OSError) as exc:
        log.warning("Could not record the ngrok agent's pid %d: %s", pid, exc)


def end_stale_agent(data_dir: Path, timeout: float = 5.0) -> str | None:
    """End the agent an earlier run of this app started and left behind, and describe it.

    It is ended rather than reused, for three reasons. This app cannot read the old agent's
    log or notice its exit. The old agent may run with an old authtoken, region or listener
    port. And ngrok's free plan allows one agent session per authtoken, so a live leftover
    would make the new agent fail with ERR_NGROK_108. Only the process named in our pid file
    is touched, and only while its start time and command line still match (a reused pid is
    left alone).
    """
    import psutil  # noqa: PLC0415

    pid_file = _pid_file(data_dir)
    try:
        record = json.loads(pid_file.read_text(encoding="utf-8"))
        pid, started, path = int(record["pid"]), float(record["create_time"]), str(record["path"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        pid_file.unlink(missing_ok=True)
        return "Removed an unreadable ngrok pid file."
    try:
        process = psutil.Process(pid)
        same = abs(process.create_time() - started) < 0.01 and path in process.cmdline()[:2]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        same = False
    if not same:
        pid_file.unlink(missing_ok=True)
        return None
    log.warning("Ending the ngrok agent left running by an earlier run (pid %d)", pid)
    try:
        process.terminate()
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    except psutil.NoSuchProcess:
        pass
    pid_file.unlink(missing_ok=True)
    return f"Ended the ngrok agent (pid {pid}) left running by an earlier run."


# -- turning pyngrok's errors into a cause and a fix --------------------------------------------

_CODE = re.compile(r"ERR_NGROK_\d+")
_NETWORK_HINTS = ("failed to dial", "no such host", "lookup ", "i/o timeout", "connection refused",
                  "network is unreachable", "tls handshake", "connection reset", "x509")


def _clean(text: str) -> str:
    """Redact an agent error and join it into one paragraph (its log quotes newlines as \\n)."""
    text = redact(text).replace("\\r", "").replace("\\n", " ").replace("\r", "").replace("\n", " ")
    return re.sub(r"\s+", " ", text).strip().rstrip(".")


@dataclass(frozen=True)
class Failure:
    problem: str
    retry: bool


def explain(error: Exception) -> Failure:
    """Classify a failed agent start: the cause, what to do, and whether a retry can help."""
    agent_error = getattr(error, "ngrok_error", None)
    message = _clean(agent_error or str(error))
    code_match = _CODE.search(message)
    code = code_match.group(0) if code_match else None
    lowered = message.lower()
    if code == "ERR_NGROK_108":
        return Failure(
            "Another ngrok agent is already connected with this authtoken, and the free plan "
            "allows one at a time (ERR_NGROK_108): close the other ngrok (see "
            "dashboard.ngrok.com/agents), or use a separate authtoken for this PC. The app keeps "
            "trying.", True)
    if code == "ERR_NGROK_4018":
        return Failure("ngrok started without an authtoken (ERR_NGROK_4018): " + NO_AUTHTOKEN, False)
    if "authentication failed" in lowered or code in ("ERR_NGROK_105", "ERR_NGROK_107"):
        return Failure(
            f"ngrok refused the authtoken ({message}). Copy the authtoken again from "
            "dashboard.ngrok.com/get-started/your-authtoken into Settings > ngrok, then press "
            "Start.", False)
    if any(hint in lowered for hint in _NETWORK_HINTS):
        return Failure(
            f"Cannot reach ngrok's servers ({message}): check this PC's internet connection and "
            "that the firewall or proxy lets it make outbound HTTPS connections (port 443). The "
            "app keeps trying.", True)
    if "was unable to start" in lowered:
        return Failure(
            "The ngrok agent did not come up in time and printed no error: check that the "
            "executable is the ngrok agent version 3 (run `ngrok version`), then press Start. "
            "The app keeps trying.", True)
    return Failure(f"The ngrok agent failed: {message}. The app keeps trying.", True)


# -- following a changed public URL -------------------------------------------------------------

@dataclass(frozen=True)
class Rewired:
    changes: tuple
    problem: str | None = None


def _twilio_routes(ctx) -> set[str]:
    with ctx.db.read() as session:
        return {r.dialed for r in session.exec(select(models.Route)) if r.provider == "twilio"}


def _set_by_this_app(number, previous: str | None) -> bool:
    """Check whether a webhook on the number points at an earlier tunnel of this app."""
    ours = (twilio_numbers.VOICE_PATH, twilio_numbers.STATUS_PATH, twilio_numbers.SMS_PATH)
    for url in (number.voice_url, number.status_callback, number.sms_url):
        parts = urlsplit(url or "")
        if parts.path not in ours:
            continue
        if previous and url.startswith(previous.rstrip("/") + "/"):
            return True
        if (parts.hostname or "").endswith(NGROK_DOMAINS):
            return True
    return False


def _numbers_text(numbers) -> str:
    """List phone numbers for a sentence whose verb follows (see _send)."""
    return ", ".join(phones.format_national(n) for n in sorted(numbers))


def _send(numbers) -> str:
    return "send" if len(list(numbers)) != 1 else "sends"


def rewire_twilio(ctx, url: str, previous: str | None) -> Rewired:
    """Point the Twilio numbers this app serves at `url`, if they point elsewhere.

    Served numbers are the routing table's Twilio numbers and numbers whose webhooks point at
    an earlier tunnel of this app. Other numbers on the account are never touched. Returns
    what changed, or the reason it could not be done (for the coordinator to act on).
    """
    routed = _twilio_routes(ctx)
    changed = previous is not None and previous.rstrip("/") != url.rstrip("/")
    wanted = twilio_numbers.wanted_urls(url)
    if ctx.twilio_credentials() is None:
        if changed and routed:
            return Rewired((), (
                f"The public URL changed from {previous} to {url}, but no Twilio credentials are "
                f"set, so {_numbers_text(routed)} still {_send(routed)} calls to the old URL: "
                "add the Account SID and Auth Token in Settings > Twilio and press Configure my "
                f"Twilio number, or set the voice URL to {wanted['voice_url']} in the Twilio "
                "console."))
        return Rewired(())
    try:
        owned = twilio_numbers.list_owned(ctx)
    except ProviderError as error:
        return Rewired((), (f"Could not read the Twilio numbers to point them at {url}: {error}. "
                            "Press Configure my Twilio number when Twilio answers again."))
    stale = [n for n in owned if (n.phone in routed or _set_by_this_app(n, previous))
             and any(getattr(n, field) != value for field, value in wanted.items())]
    if not stale:
        return Rewired(())
    names = _numbers_text(n.phone for n in stale)
    if not ctx.settings.get("tunnel.rewire_twilio"):
        return Rewired((), (
            f"{names} still {_send(stale)} calls to another address than {url}, and automatic "
            "re-wiring is off (Settings > ngrok, tunnel.rewire_twilio): press Configure my "
            "Twilio number."))
    try:
        changes = twilio_numbers.wire(ctx, url, [n.phone for n in stale])
    except (ProviderError, twilio_numbers.NotConfigured, ValueError) as error:
        return Rewired((), (f"Could not point {names} at {url}: {error}. Until they are, Twilio "
                            "sends their calls to the old address; press Configure my Twilio "
                            "number to try again."))
    log.info("Pointed %d Twilio number(s) at the new public URL %s", len(stale), url)
    return Rewired(tuple(changes))


# -- the tunnel -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TunnelStatus:
    state: str
    public_url: str | None
    problem: str | None
    agent_path: str | None
    rewired: tuple


class _Stopped(Exception):
    """stop() was called while the agent was starting."""


class Tunnel:
    """The ngrok agent for one running app, on a background thread.

    start_in_background() returns at once. Progress goes to the bus as
    ServiceState("tunnel", state, detail), where state is starting, up (the detail is the
    URL), reconnecting, down (the detail is the problem), stopped or off. `public_url` and
    `problem` can be read from any thread. ctx.tunnel_url is set before "up" is published and
    cleared before "down" or "stopped" is.
    """

    def __init__(self, ctx, *, startup_timeout: int = 15,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS, watch_interval: float = 2.0):
        self.ctx = ctx
        self.startup_timeout = startup_timeout
        self.retry_delays = retry_delays
        self.watch_interval = watch_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = STOPPED
        self._url: str | None = None
        self._problem: str | None = None
        self._agent_path: str | None = None
        self._rewired: tuple = ()
        self._config = None
        self._process = None
        self._token: str | None = None
        self._session_error: str | None = None
        self._session_back = threading.Event()
        self._children_before: set[int] = set()

    # -- what the window reads ------------------------------------------------------------------

    @property
    def public_url(self) -> str | None:
        return self._url

    @property
    def problem(self) -> str | None:
        return self._problem

    @property
    def state(self) -> str:
        return self._state

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> TunnelStatus:
        with self._lock:
            return TunnelStatus(self._state, self._url, self._problem, self._agent_path,
                                self._rewired)

    def note_wired(self, changes: list) -> None:
        """Record a manual wiring of the Twilio numbers to the current URL (the panel's button),
        which settles a problem left by automatic re-wiring."""
        with self._lock:
            if self._state != UP:
                return
            self._rewired = tuple(changes)
            url = self._url
        self._publish(UP, url, None, url)

    # -- start and stop -------------------------------------------------------------------------

    def start_in_background(self, manual: bool = False) -> None:
        """Start the agent on a thread. `manual` (the Start button) ignores tunnel.enabled."""
        if self.running:
            return
        configured = self.ctx.environ.get("MCD_PUBLIC_URL")
        if configured:
            self._publish(OFF, None, None, f"MCD_PUBLIC_URL is set ({configured}), so the app "
                                           "does not open an ngrok tunnel")
            return
        if not manual and not self.ctx.settings.get("tunnel.enabled"):
            self._publish(OFF, None, "The tunnel is turned off (Settings > ngrok, tunnel.enabled): "
                                     "press Start, or set MCD_PUBLIC_URL if you run your own "
                                     "HTTPS proxy.", None)
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ngrok-tunnel", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the agent and wait until it has exited, so no agent process is left running."""
        self._stop.set()
        self._session_back.set()
        self._end_agent(timeout)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
        self._forget_token()
        if self._state != OFF:
            self._publish(STOPPED, None, None, "")

    # -- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._publish(STARTING, None, self._problem, "")
            try:
                url = self._open()
            except _Stopped:
                self._end_agent()
                return
            except _Refused as refused:
                self._publish(DOWN, None, refused.failure.problem, refused.failure.problem)
                if not refused.failure.retry:
                    return
                delay = self.retry_delays[min(attempt, len(self.retry_delays) - 1)]
                attempt += 1
                log.info("ngrok tunnel down, trying again in %.0f s: %s", delay,
                         refused.failure.problem)
                if self._stop.wait(delay):
                    return
                continue
            except Exception:  # a bug: the app keeps running locally and reports the failure
                log.exception("Starting the ngrok tunnel failed unexpectedly")
                self._end_agent()
                problem = ("The tunnel failed because of an error in the app (details in the "
                           "log file): press Start to try again.")
                self._publish(DOWN, None, problem, problem)
                return
            attempt = 0
            self._up(url)
            reason = self._watch()
            if reason is None:
                return
            self._end_agent()
            delay = self.retry_delays[0]
            problem = f"{reason} Restarting it in {delay:.0f} s."
            log.warning("%s", problem)
            self._publish(DOWN, None, problem, problem)
            if self._stop.wait(delay):
                return

    def _open(self) -> str:
        from pyngrok import conf, ngrok, process  # noqa: PLC0415
        from pyngrok.exception import PyngrokError  # noqa: PLC0415

        ctx = self.ctx
        token = ctx.secrets.get("ngrok.authtoken")
        if not token:
            raise _Refused(Failure(NO_AUTHTOKEN, False))
        path, missing = find_agent(ctx)
        if path is None:
            raise _Refused(Failure(missing, False))
        port = ctx.listen_port
        if not port:
            raise _Refused(Failure("The listener is not running, so there is nothing to tunnel "
                                   "to: restart the app.", False))
        with self._lock:
            self._agent_path = str(path)

        ended = end_stale_agent(ctx.data_dir)
        if ended:
            log.info("%s", ended)
        folder = Path(ctx.data_dir) / AGENT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        config_path = folder / CONFIG_FILE
        # Config version 2 makes pyngrok use /api/tunnels, which older ngrok 3 agents serve
        # too (pyngrok's default, /api/endpoints, needs a recent agent).
        config_path.write_text('version: "2"\n', encoding="utf-8")

        self._remember_token(token)
        config = conf.PyngrokConfig(
            ngrok_path=str(path), config_path=str(config_path), auth_token=token,
            region=ctx.settings.get("tunnel.region"), startup_timeout=self.startup_timeout,
            config_version="2", log_event_callback=self._on_agent_log)
        self._config = config
        self._session_error = None
        self._session_back.clear()
        self._children_before = _child_pids()
        if self._stop.is_set():
            raise _Stopped()
        try:
            # get_process starts the agent and never downloads it (ngrok.connect would, if the
            # executable vanished in between).
            agent = process.get_process(config)
            self._process = agent
            if self._stop.is_set():
                raise _Stopped()
            _record_agent(ctx.data_dir, agent.proc.pid, path)
            # 127.0.0.1, not localhost: the listener binds IPv4 only, and localhost may be ::1.
            created = ngrok.api_request(
                f"{agent.api_url}/api/tunnels", method="POST", timeout=config.request_timeout,
                data={"name": TUNNEL_NAME, "addr": f"127.0.0.1:{port}", "proto": "http",
                      "schemes": ["https"]})
        except PyngrokError as error:
            self._end_agent()
            if self._stop.is_set():
                raise _Stopped() from None
            raise _Refused(explain(error)) from None
        url = created.get("public_url") or ""
        if not url.startswith("https://"):
            self._end_agent()
            raise _Refused(Failure(f"ngrok opened {url!r}, not an https address, so providers "
                                   "cannot use it: update the ngrok agent (ngrok update).", False))
        log.info("ngrok tunnel up: %s -> 127.0.0.1:%d (agent %s, pid %d)", url, port, path,
                 agent.proc.pid)
        return url

    def _up(self, url: str) -> None:
        ctx = self.ctx
        ctx.tunnel_url = url
        previous = self._swap_last_url(url)
        with self._lock:
            self._rewired = ()
        self._publish(UP, url, None, url)
        if previous is not None and previous != url:
            log.info("The public URL changed from %s to %s", previous, url)
        outcome = rewire_twilio(ctx, url, previous)
        with self._lock:
            self._rewired = outcome.changes
        if outcome.problem:
            log.warning("%s", outcome.problem)
            self._publish(UP, url, outcome.problem, url)
            ctx.bus.publish(Notification("tunnel", "Twilio numbers still point at the old address",
                                         outcome.problem))
        elif outcome.changes:
            self._publish(UP, url, None, url)

    def _swap_last_url(self, url: str) -> str | None:
        def swap(uow):
            previous = get_meta(uow.session, META_LAST_URL)
            set_meta(uow.session, META_LAST_URL, url)
            return previous

        try:
            return self.ctx.db.write(swap)
        except StorageError as exc:
            log.warning("Could not record the tunnel's public URL: %s", exc)
            return None

    def _watch(self) -> str | None:
        """Wait while the agent runs. Returns why it stopped, or None when stop() was called."""
        agent = self._process
        lost_since_up = False
        while not self._stop.wait(self.watch_interval if not self._session_back.is_set() else 0):
            code = agent.proc.poll()
            if code is not None:
                last = self._session_error or _last_error(agent)
                detail = f"; its last error: {last}" if last else ""
                return f"The ngrok agent exited unexpectedly (exit code {code}{detail})."
            if self._session_error and not lost_since_up:
                lost_since_up = True
                problem = (f"Lost the connection to ngrok's servers ({self._session_error}); "
                           "the agent is reconnecting by itself.")
                log.warning("%s", problem)
                self._publish(RECONNECTING, self._url, problem, problem)
            if self._session_back.is_set():
                self._session_back.clear()
                if lost_since_up:
                    lost_since_up = False
                    self._session_error = None
                    url = self._current_url(agent)
                    if url:
                        self._up(url)
        return None

    def _current_url(self, agent) -> str | None:
        from pyngrok import ngrok  # noqa: PLC0415
        from pyngrok.exception import PyngrokError  # noqa: PLC0415

        try:
            data = ngrok.api_request(f"{agent.api_url}/api/tunnels/{TUNNEL_NAME}", method="GET",
                                     timeout=self._config.request_timeout)
        except PyngrokError as error:
            log.warning("Could not read the tunnel back from the ngrok agent: %s", error)
            return self._url
        return data.get("public_url") or self._url

    def _on_agent_log(self, line) -> None:
        """Called by pyngrok for every agent line (on its reader thread): notes session loss."""
        if self._state not in (UP, RECONNECTING):
            return
        if line.lvl in ("ERROR", "CRITICAL") and line.err:
            self._session_error = _clean(line.err)
        elif line.msg in ("tunnel session started", "client session established") \
                and self._session_error:
            self._session_back.set()

    # -- helpers --------------------------------------------------------------------------------

    def _end_agent(self, timeout: float = 5.0) -> None:
        """Ask the agent to exit (so ngrok closes its session at once), then make sure it did."""
        from pyngrok import process as ngrok_process  # noqa: PLC0415

        agent, config = self._process, self._config
        self._process = None
        if agent is not None and agent.proc.poll() is None:
            agent.proc.terminate()
            try:
                agent.proc.wait(timeout)
            except Exception:  # subprocess.TimeoutExpired: the kill below ends it
                log.warning("The ngrok agent (pid %d) did not exit on request; killing it",
                            agent.proc.pid)
        if config is not None:
            # Also ends an agent still starting: pyngrok keeps it until it reports ready.
            self._kill_started_agent(config.ngrok_path, self._children_before)
            ngrok_process.kill_process(config.ngrok_path)
        _pid_file(self.ctx.data_dir).unlink(missing_ok=True)

    @staticmethod
    def _kill_started_agent(path: str, earlier: set[int]) -> None:
        """Kill agents this process started from `path` in the current attempt (children not
        in `earlier`), so an agent started before, by anything else, is never touched."""
        import psutil  # noqa: PLC0415

        try:
            children = psutil.Process().children()
        except psutil.Error:
            return
        for child in children:
            try:
                if child.pid not in earlier and path in child.cmdline()[:2]:
                    child.kill()
                    child.wait(5)
            except (psutil.Error, psutil.TimeoutExpired):
                continue

    def _remember_token(self, token: str) -> None:
        self._forget_token()
        self._token = token
        with _SECRETS_LOCK:
            _SECRETS.add(token)

    def _forget_token(self) -> None:
        if self._token:
            with _SECRETS_LOCK:
                _SECRETS.discard(self._token)
            self._token = None

    def _publish(self, state: str, url: str | None, problem: str | None, detail: str | None) -> None:
        if url is None and self.ctx.tunnel_url == self._url:
            self.ctx.tunnel_url = None
        with self._lock:
            self._state, self._url, self._problem = state, url, problem
        if detail is not None:
            self.ctx.bus.publish(ServiceState("tunnel", state, detail))


class _Refused(Exception):
    def __init__(self, failure: Failure):
        super().__init__(failure.problem)
        self.failure = failure


def _child_pids() -> set[int]:
    import psutil  # noqa: PLC0415

    try:
        return {child.pid for child in psutil.Process().children()}
    except psutil.Error:
        return set()


def _last_error(agent) -> str | None:
    for line in reversed(agent.logs):
        if line.lvl in ("ERROR", "CRITICAL") and line.err:
            return _clean(line.err)
    return None
