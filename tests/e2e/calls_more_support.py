"""Helpers for test_e2e_calls_more.py on top of calls_support: SIPp user agents that
listen on TCP, SIPp's statistics file, the call records of many calls at once, and a
poller that keeps the highest value a /metrics gauge reached while a test runs.
"""

import csv
import socket
import threading
from pathlib import Path

import sqlalchemy as sa

from calls_support import SippAgent
from e2e_switch import wait_until
from softswitch.store import tables as t


def free_tcp_port(host: str) -> int:
    """A TCP port free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tcp_port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class TcpSippAgent(SippAgent):
    """A SippAgent that speaks SIP over TCP (`-t t1`: one connection per peer); as a
    callee it listens on ip:port for the switch to connect."""

    def __init__(self, scenario, workdir, *, ip: str, port: int | None = None, **kwargs):
        extra = tuple(kwargs.pop("extra", ())) + ("-t", "t1")  # the last -t wins
        super().__init__(scenario, workdir, ip=ip, port=port or free_tcp_port(ip),
                         extra=extra, **kwargs)

    def wait_ready(self, timeout: float = 5.0) -> "TcpSippAgent":
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"SIPp exited at start\n{self.finish().describe()}")
            return tcp_port_in_use(self.ip, self.port)
        wait_until(ready, timeout, 0.02, message=f"SIPp to listen on tcp:{self.address}")
        return self


def sipp_call_ids(pid: int, ip: str, count: int) -> list[str]:
    """The Call-IDs of a SIPp run's calls: SIPp's [call_id] is [call_number]-[pid]@[ip],
    numbered from 1."""
    return [f"{number}-{pid}@{ip}" for number in range(1, count + 1)]


def sipp_totals(stats_path: Path) -> dict[str, int]:
    """The cumulative counters of SIPp's last statistics line (-trace_stat):
    {"SuccessfulCall": ..., "FailedCall": ..., "OutgoingCall": ..., ...}."""
    with open(stats_path, newline="") as stats:
        rows = list(csv.reader(stats, delimiter=";"))
    assert len(rows) >= 2, f"no statistics in {stats_path}"
    header, last = rows[0], rows[-1]
    totals = {}
    for name, value in zip(header, last):
        if name.endswith("(C)"):
            try:
                totals[name.removesuffix("(C)")] = int(value)
            except ValueError:
                pass
    return totals


def cdrs_of(engine: sa.Engine, call_ids) -> dict[str, list[dict]]:
    """{Call-ID: its call records} for the Call-IDs given that have any."""
    found: dict[str, list[dict]] = {}
    ids = list(call_ids)
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            rows = conn.execute(sa.select(t.cdrs).where(t.cdrs.c.call_id.in_(
                ids[start:start + 500])).order_by(t.cdrs.c.id))
            for row in rows:
                record = dict(row._mapping)
                found.setdefault(record["call_id"], []).append(record)
    return found


class GaugePeak:
    """Polls one /metrics sample in a thread (every `interval` s) and keeps the highest
    value seen, until `stop()`; scrape errors are counted, not raised."""

    def __init__(self, switch, name: str, interval: float = 0.2, **labels):
        self._read = lambda: switch.metric(name, **labels)
        self._interval = interval
        self._stopped = threading.Event()
        self.peak = 0.0
        self.samples = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.peak = max(self.peak, self._read())
                self.samples += 1
            except OSError:
                self.errors += 1
            self._stopped.wait(self._interval)

    def stop(self) -> float:
        self._stopped.set()
        self._thread.join(5)
        return self.peak
