"""Running SIPp against the switch and reading back what it sent and received.

`run_sipp` always ends: SIPp gets `-timeout N -timeout_error` and the process is killed
a little after that if it still runs. The result keeps the exit code, SIPp's error log
(`-trace_err`), its message log (`-trace_msg`, every message sent and received) and its
final screen, and `describe()` renders all of them for assertion messages.
"""

import itertools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from e2e_sip import SipMessage
from e2e_switch import free_port

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
CI_ENV = "CI"
SIPP_MISSING = ("SIPp is not installed (no `sipp` on PATH): the end-to-end tests need it. "
                "Install it with `apt-get install sip-tester` or run `bash .ci/setup`.")
# SIPp exit codes: 0 all calls passed, 1 some failed, 97 internal command, 99 no call
# ran, 255 (-1) fatal error, 254 (-2) could not bind its socket.
EXIT_BIND_FAILED = 254
BIND_ATTEMPTS = 3
# How long past SIPp's own -timeout before the process is killed.
KILL_GRACE = 10.0
TRANSPORTS = {"udp": "u1", "tcp": "t1"}
_SEPARATOR = re.compile(r"^-{20,} .*$", re.MULTILINE)
_RUNS = itertools.count(1)  # numbers the log files of each run
_HEADER_LINE = re.compile(r"^(UDP|TCP) message (sent|received)", re.IGNORECASE)


BUILTIN = "builtin:"  # a scenario named "builtin:uas" is SIPp's own (-sn uas)


def sipp_path() -> str | None:
    return shutil.which("sipp")


def scenario_args(scenario: str | Path) -> tuple[list[str], str]:
    """SIPp's arguments naming `scenario` (a file under scenarios/, a path, or one of
    SIPp's built-in scenarios as "builtin:NAME"), and a label for its log files."""
    if isinstance(scenario, str) and scenario.startswith(BUILTIN):
        name = scenario[len(BUILTIN):]
        return ["-sn", name], name
    scenario = Path(scenario)
    if not scenario.is_absolute():
        scenario = SCENARIOS / scenario
    return ["-sf", str(scenario)], scenario.stem


@dataclass
class SippResult:
    command: list[str]
    returncode: int
    stdout: str
    errors: str
    message_log: str
    screen: str
    stats_path: Path | None = None
    messages: list[SipMessage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def sent(self) -> list[SipMessage]:
        return [m for m in self.messages if m.direction == "sent"]

    def received(self) -> list[SipMessage]:
        return [m for m in self.messages if m.direction == "received"]

    def responses(self, status: int | None = None) -> list[SipMessage]:
        return [m for m in self.received()
                if m.is_response and (status is None or m.status == status)]

    def final_response(self) -> SipMessage:
        responses = self.responses()
        assert responses, f"SIPp received no response\n{self.describe()}"
        return responses[-1]

    def describe(self) -> str:
        return "\n".join([
            f"$ {' '.join(self.command)}",
            f"exit code {self.returncode}",
            "----- SIPp errors -----", self.errors.strip() or "(none)",
            "----- SIPp messages -----", self.message_log.strip() or "(none)",
            "----- SIPp screen (tail) -----", "\n".join(self.screen.splitlines()[-30:]),
            "----- SIPp stdout/stderr (tail) -----", "\n".join(self.stdout.splitlines()[-30:]),
        ])

    def expect_ok(self) -> "SippResult":
        assert self.ok, f"SIPp scenario failed\n{self.describe()}"
        return self


def parse_message_log(text: str) -> list[SipMessage]:
    messages = []
    for chunk in _SEPARATOR.split(text):
        chunk = chunk.strip("\n")
        if not chunk:
            continue
        first, _, rest = chunk.partition("\n")
        match = _HEADER_LINE.match(first)
        if not match:
            continue
        messages.append(SipMessage(match.group(2).lower(), rest.lstrip("\n")))
    return messages


def run_sipp(target: str, scenario: str | Path, workdir: Path, *, transport: str = "udp",
             calls: int = 1, rate: float = 10, rate_period_ms: int = 1000,
             keys: dict | None = None, auth: tuple[str, str] | None = None,
             inject: Path | None = None, timeout: float = 10.0, trace_messages: bool = True,
             stats: bool = False, extra: tuple = (), name: str | None = None,
             local_ip: str = "127.0.0.1") -> SippResult:
    """Run one SIPp client scenario against `target` ("host:port") and wait for it."""
    sipp = sipp_path()
    if sipp is None:
        raise RuntimeError(SIPP_MISSING)
    naming, stem = scenario_args(scenario)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    label = name or stem
    base = workdir / f"{label}-{next(_RUNS)}"
    errors_path = Path(f"{base}.errors.log")
    messages_path = Path(f"{base}.messages.log")
    screen_path = Path(f"{base}.screen.log")
    stats_path = Path(f"{base}.stats.csv") if stats else None

    result = None
    for _ in range(BIND_ATTEMPTS):
        command = [
            sipp, target, *naming, "-t", TRANSPORTS[transport],
            "-i", local_ip, "-p", str(free_port()),
            "-m", str(calls), "-r", f"{rate:g}", "-rp", str(rate_period_ms),
            "-timeout", f"{timeout:g}s", "-timeout_error",
            "-nostdin", "-nd",
            "-trace_err", "-error_file", str(errors_path),
            "-trace_screen", "-screen_file", str(screen_path),
        ]
        if trace_messages:
            command += ["-trace_msg", "-message_file", str(messages_path)]
        if stats:
            command += ["-trace_stat", "-stf", str(stats_path), "-fd", "1"]
        for key, value in (keys or {}).items():
            command += ["-key", key, str(value)]
        if auth is not None:
            command += ["-au", auth[0], "-ap", auth[1]]
        if inject is not None:
            command += ["-inf", str(inject)]
        command += [str(a) for a in extra]
        try:
            completed = subprocess.run(
                command, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=timeout + KILL_GRACE)
            returncode = completed.returncode
            stdout = (completed.stdout + completed.stderr).decode(errors="replace")
        except subprocess.TimeoutExpired as exc:
            returncode = -9
            stdout = ((exc.stdout or b"") + (exc.stderr or b"")).decode(errors="replace")
            stdout += f"\n(killed: still running {timeout + KILL_GRACE:g} s after start)"
        result = SippResult(
            command=command, returncode=returncode, stdout=stdout,
            errors=_read(errors_path), message_log=_read(messages_path),
            screen=_read(screen_path), stats_path=stats_path)
        if returncode != EXIT_BIND_FAILED:
            break
    result.messages = parse_message_log(result.message_log)
    return result


def write_injection(path: Path, rows: list[list[str]], order: str = "SEQUENTIAL") -> Path:
    """A SIPp -inf file: the order line, then one `;`-separated row per call."""
    for row in rows:
        if any(";" in value or "\n" in value for value in row):
            raise ValueError(f"injection values cannot hold ';' or a line break: {row}")
    path.write_text(order + "\n" + "".join(";".join(row) + "\n" for row in rows))
    return path


def auth_field(username: str, password: str) -> str:
    """An injection field holding SIPp's authentication keyword for one user.

    SIPp 3.6 cannot nest keywords inside [authentication ...], so the whole keyword
    comes from the injection file instead.
    """
    return f"[authentication username={username} password={password}]"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def in_ci() -> bool:
    return bool(os.environ.get(CI_ENV))
