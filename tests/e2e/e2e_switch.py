"""The real switch as a child process, for the end-to-end tests.

`SwitchProcess` writes a TOML configuration with free loopback ports and a SQLite
database under its work directory, runs `twistd -n softswitch --config ...` with the
running interpreter (cwd = the repository), waits until `/healthz` answers and stops it
with SIGTERM (SIGKILL if it does not go in time). It also reads what the tests assert
on: `/healthz`, `/metrics` samples and rows of the `registrations` table.

Set SOFTSWITCH_E2E_TRACE=1 to run the switch at debug level with the SIP trace on; its
output is shown when a test fails (see conftest.py).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from softswitch.store import migrate, users
from softswitch.store.database import Database

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "e2e.test"
TRACE_ENV = "SOFTSWITCH_E2E_TRACE"
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3
OUTPUT_TAIL_LINES = 150
# twistd stops on SIGTERM, then kills itself with the same signal so that its exit
# status tells how it ended: -SIGTERM is a clean stop, like 0.
CLEAN_EXITS = (0, -signal.SIGTERM)
# What the switch prints when a port it was given was taken meanwhile.
_PORT_TAKEN = ("cannot listen", "Address already in use")
# twistd itself: `python -m twisted` is the newer `twist` runner, which has no -n.
TWISTD = "from twisted.scripts.twistd import run; run()"


class SwitchError(AssertionError):
    """The switch did not start or stop as it should; the message carries its output."""


def free_port() -> int:
    """A loopback port that is free for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no loopback port free for both UDP and TCP")


def wait_until(predicate, timeout: float, interval: float = 0.05, message="") -> object:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds.

    `message` (a string, or a callable giving one) says what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            if callable(message):
                message = message()
            raise AssertionError(f"timed out after {timeout:g} s waiting for "
                                 f"{message or predicate}")
        time.sleep(interval)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


class SwitchProcess:
    """One switch: its configuration, database, ports and (while running) process."""

    def __init__(self, workdir: Path, *, domain: str = DOMAIN, sip: dict | None = None,
                 database: dict | None = None, guard: dict | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.domain = domain
        self.db_url = f"sqlite:///{self.workdir / 'softswitch.db'}"
        self.config_path = self.workdir / "softswitch.toml"
        self.sip_overrides = dict(sip or {})
        self.database_overrides = dict(database or {})
        self.guard_overrides = dict(guard or {})
        self.sip_port: int | None = None
        self.admin_port: int | None = None
        self.process: subprocess.Popen | None = None
        self.runs = 0
        self.output_path: Path | None = None
        self.outputs: list[Path] = []
        self._engine = None
        migrate.upgrade(self.db_url)

    # -- set-up -------------------------------------------------------------------
    def add_user(self, username: str, password: str, domain: str | None = None,
                 caller_ids: tuple[str, ...] = ()) -> None:
        """Create a SIP user (works while the switch runs: it reloads credentials);
        `caller_ids` are the numbers it may present toward trunks."""
        database = Database(self.db_url, reactor=None)
        try:
            database.run_sync(users.create_user, username, domain or self.domain, password,
                              None, True, list(caller_ids))
        finally:
            database.engine.dispose()

    def wait_for_users(self, count: int, timeout: float = 5.0) -> None:
        """Wait until the running switch's credential snapshot holds `count` users."""
        wait_until(lambda: self.health().get("users", 0) >= count, timeout,
                   message=f"the switch to load {count} users")

    def _write_config(self) -> None:
        trace = bool(os.environ.get(TRACE_ENV))
        sip = {
            "listen": [f"udp:127.0.0.1:{self.sip_port}", f"tcp:127.0.0.1:{self.sip_port}"],
            "domain": self.domain,
            "trace": trace,
            **self.sip_overrides,
        }
        database = {"url": self.db_url, "reload_interval": 0.5,
                    "secrets_key_file": str(self.workdir / "secrets.key"),
                    **self.database_overrides}
        sections = {
            "sip": sip,
            "admin": {"listen": f"tcp:{self.admin_port}:interface=127.0.0.1"},
            "database": database,
            "log": {"level": "debug" if trace else "info"},
        }
        if self.guard_overrides:
            sections["guard"] = self.guard_overrides
        lines = []
        for name, values in sections.items():
            lines.append(f"[{name}]")
            lines.extend(f"{key} = {_toml(value)}" for key, value in values.items())
            lines.append("")
        self.config_path.write_text("\n".join(lines))

    # -- life cycle -----------------------------------------------------------------
    def start(self, keep_ports: bool = False) -> None:
        """Start the switch and wait for /healthz; new ports unless `keep_ports`."""
        if self.process is not None:
            raise SwitchError("the switch is already running")
        failure = ""
        for attempt in range(START_ATTEMPTS):
            if not (keep_ports and attempt == 0 and self.sip_port):
                self.sip_port = free_port()
                self.admin_port = free_port()
                while self.admin_port == self.sip_port:
                    self.admin_port = free_port()
            self._write_config()
            self._spawn()
            ok, failure = self._wait_healthy()
            if ok:
                return
            self._kill()
            printed = self.output_path.read_text(errors="replace")
            if not any(sign in printed for sign in _PORT_TAKEN):
                break  # not a port collision: trying again will not help
        raise SwitchError(f"the switch did not come up: {failure}\n{self.output()}")

    def _spawn(self) -> None:
        self.runs += 1
        self.output_path = self.workdir / f"switch-run{self.runs}.log"
        self.outputs.append(self.output_path)
        with open(self.output_path, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "softswitch",
                 "--config", str(self.config_path)],
                cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

    def _wait_healthy(self) -> tuple[bool, str]:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return False, f"it exited with status {code}"
            try:
                if self.health(timeout=1.0).get("status") == "ok":
                    return True, ""
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        return False, f"/healthz did not answer within {STARTUP_TIMEOUT:g} s"

    def stop(self) -> int:
        """SIGTERM, wait (bounded), SIGKILL if needed; returns the exit status
        (one of CLEAN_EXITS when the switch shut down by itself)."""
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
                self.process = None
                raise SwitchError(f"the switch ignored SIGTERM for {STOP_TIMEOUT:g} s and "
                                  f"was killed\n{self.output()}") from None
        self.process = None
        return process.returncode

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same database and (if still free) ports."""
        self.stop()
        self.start(keep_ports=True)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, tail: int = OUTPUT_TAIL_LINES) -> str:
        """The last lines the switch printed in each of its runs."""
        parts = []
        for path in self.outputs:
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            shown = lines[-tail:]
            skipped = f" (last {len(shown)} of {len(lines)} lines)" if len(lines) > tail else ""
            parts.append(f"----- switch output {path}{skipped} -----\n" + "\n".join(shown))
        return "\n".join(parts)

    # -- what the tests look at -------------------------------------------------------
    @property
    def sip_target(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def _get(self, path: str, timeout: float = 5.0) -> bytes:
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()

    def health(self, timeout: float = 5.0) -> dict:
        try:
            return json.loads(self._get("/healthz", timeout))
        except urllib.error.HTTPError as exc:  # 503 still carries the JSON document
            return json.loads(exc.read())

    def metrics(self) -> dict[tuple[str, tuple], float]:
        """Every sample: {(name, sorted label items): value}."""
        samples = {}
        for family in text_string_to_metric_families(self._get("/metrics").decode()):
            for sample in family.samples:
                samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
        return samples

    def metric(self, name: str, **labels) -> float:
        """One sample's value; 0.0 when the series does not exist (yet)."""
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.db_url, poolclass=sa.pool.NullPool)
        return self._engine

    def registration_rows(self, aor: str | None = None) -> list[dict]:
        """Rows of the registrations table (all, or one AOR's), ordered by contact."""
        query = "SELECT * FROM registrations"
        params = {}
        if aor is not None:
            query += " WHERE aor = :aor"
            params["aor"] = aor
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(query + " ORDER BY aor, contact"), params)
            return [dict(row._mapping) for row in rows]

    def aor(self, username: str) -> str:
        return f"sip:{username}@{self.domain}"
