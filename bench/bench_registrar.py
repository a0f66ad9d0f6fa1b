"""Registrar throughput end to end: SIPp registers users against the running switch.

    python bench/bench_registrar.py [--rate 500,1000,1500,2000] [--seconds 10]
                                    [--calls N] [--users 2000] [--transport udp|tcp]
                                    [--profile DIR]

Starts `twistd -n softswitch` on free loopback ports with a fresh SQLite database in a
temporary directory, creates `--users` SIP users, then for each rate runs SIPp with
`-r RATE -rp 1000` and an injection file so that each call registers another user
(REGISTER, 401, REGISTER with MD5 digest, 200: one call is one registration). Each step
sends `--calls` calls (default: RATE x --seconds).

For every rate it reports registrations per second (successful calls over the time SIPp
took), failed calls and their share, SIPp's retransmissions, the switch's CPU use (from
/proc/PID/stat utime+stime over the step; 100 % is one core) and SIPp's, and the
switch's own count of 200s, and the datagrams the kernel dropped on full UDP receive
buffers (all sockets; SIPp's buffers are set to 4 MB, so these are the switch's). The
result is the highest rate with under 0.1 % failed calls, and the highest rate that was
also sustained (registrations/s at least 95 % of the offered rate: SIPp retransmits
lost messages, which keeps failures at zero while the rate falls behind). SIPp and the
switch share the machine's cores: say how many when quoting the numbers.

--profile DIR records each step with py-spy (`pip install py-spy`) and prints the
functions with the most samples (own time and with callees). --gc-off runs the switch
with the cyclic garbage collector disabled, for diagnosis: the difference is what the
collector's pauses cost.
"""

import argparse
import collections
import csv
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from softswitch.store import migrate, users  # noqa: E402
from softswitch.store.database import Database  # noqa: E402
from machine import (busy_cpu_seconds, parse_elapsed, process_cpu_seconds,  # noqa: E402
                     summarise_profile, udp_receive_drops)

SCENARIO = REPO / "tests" / "e2e" / "scenarios" / "register_csv.xml"
DOMAIN = "bench.test"
TWISTD = "from twisted.scripts.twistd import run; run()"
MAX_FAILURE_SHARE = 0.001  # under 0.1 % failed calls
KEEP_UP = 0.95  # and registrations/s at least 95 % of the offered call rate
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
SIPP_BUFFER = 4 * 1024 * 1024  # bytes; the kernel caps it at net.core.[rw]mem_max


def free_port() -> int:
    """A loopback port free for both UDP and TCP right now."""
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
    raise RuntimeError("no free loopback port")


class Switch:
    """The switch as a child process, as in the end-to-end tests."""

    def __init__(self, workdir: Path, users_count: int, gc_off: bool = False):
        self.workdir = workdir
        self.gc_off = gc_off
        self.db_url = f"sqlite:///{workdir / 'softswitch.db'}"
        self.users = [(f"u{i:06d}", f"pw-{i:06d}") for i in range(users_count)]
        self.sip_port = free_port()
        self.admin_port = free_port()
        # SIPp's port, the same in every step, so each user keeps one contact.
        self.sipp_port = free_port()
        while len({self.sip_port, self.admin_port, self.sipp_port}) < 3:
            self.admin_port, self.sipp_port = free_port(), free_port()
        self.process = None
        self.log_path = workdir / "switch.log"

    def prepare(self) -> None:
        migrate.upgrade(self.db_url)
        database = Database(self.db_url, reactor=None)

        def create_all(conn):
            for username, password in self.users:
                users.create_user(conn, username, DOMAIN, password)

        try:
            database.run_sync(create_all)
        finally:
            database.engine.dispose()
        listen = [f"udp:127.0.0.1:{self.sip_port}", f"tcp:127.0.0.1:{self.sip_port}"]
        (self.workdir / "softswitch.toml").write_text("\n".join([
            "[sip]",
            f"listen = {json.dumps(listen)}",
            f'domain = "{DOMAIN}"',
            'digest_algorithms = ["MD5", "SHA-256"]',  # SIPp 3.6 knows only MD5
            "[admin]",
            f'listen = "tcp:{self.admin_port}:interface=127.0.0.1"',
            "[database]",
            f'url = "{self.db_url}"',
            f'secrets_key_file = "{self.workdir / "secrets.key"}"',
            "[log]",
            'level = "warn"',
            # One SIPp stands for thousands of phones (as an SBC in front would): on
            # the guard's allow-list, or its per-source budget would be the limit.
            "[guard]",
            'allow = ["127.0.0.1/32"]',
            "",
        ]))

    def start(self, cpu: int | None = None) -> None:
        with open(self.log_path, "wb") as out:
            program = ("import gc; gc.disable(); " if self.gc_off else "") + TWISTD
            self.process = subprocess.Popen(
                [sys.executable, "-c", program, "-n", "--pidfile=", "softswitch",
                 "--config", str(self.workdir / "softswitch.toml")],
                cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=pin_to(cpu))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.health().get("status") == "ok":
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        sys.exit(f"the switch did not start:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}",
                                    timeout=5) as response:
            return response.read()

    def health(self) -> dict:
        return json.loads(self._get("/healthz"))

    def outcomes(self) -> dict[str, float]:
        found = collections.Counter()
        for family in text_string_to_metric_families(self._get("/metrics").decode()):
            for sample in family.samples:
                if sample.name == "softswitch_register_outcomes_total":
                    found[sample.labels["outcome"]] = sample.value
        return found

    def cpu_seconds(self) -> float:
        """utime + stime of the switch process so far."""
        return process_cpu_seconds(self.process.pid)


def pin_to(cpu: int | None):
    """A preexec_fn putting the child on one CPU (None: leave it free)."""
    if cpu is None or cpu >= (os.cpu_count() or 1):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_step(switch: Switch, sipp: str, workdir: Path, inject: Path, rate: int, calls: int,
             transport: str, profile_dir: Path | None, sipp_cpu: int | None = None) -> dict:
    stats = workdir / f"rate-{rate}.stats.csv"
    errors = workdir / f"rate-{rate}.errors.log"
    screen = workdir / f"rate-{rate}.screen.log"
    timeout = calls / rate + 30
    command = [
        sipp, f"127.0.0.1:{switch.sip_port}", "-sf", str(SCENARIO), "-inf", str(inject),
        "-t", {"udp": "u1", "tcp": "t1"}[transport], "-i", "127.0.0.1",
        "-p", str(switch.sipp_port), "-r", str(rate), "-rp", "1000", "-m", str(calls),
        "-l", str(max(rate * 5, 100)),  # concurrent calls: 5 s worth
        # SIPp's default 64 KB socket buffers drop responses at a few thousand per
        # second; the load generator must not be what loses messages.
        "-buff_size", str(SIPP_BUFFER),
        "-key", "domain", DOMAIN, "-key", "expires", "3600",
        "-timeout", f"{timeout:g}s", "-timeout_error", "-nostdin", "-nd",
        "-trace_stat", "-stf", str(stats), "-fd", "1",
        "-trace_err", "-error_file", str(errors),
        "-trace_screen", "-screen_file", str(screen),
    ]
    profiler = None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        profiler = subprocess.Popen(
            ["py-spy", "record", "--pid", str(switch.process.pid), "--format", "raw",
             "-o", str(profile_dir / f"rate-{rate}.txt"), "--duration",
             str(max(1, int(calls / rate))), "--rate", "200", "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    before = switch.outcomes()
    cpu_before, sipp_cpu_before = switch.cpu_seconds(), children_cpu_seconds()
    drops_before, busy_before = udp_receive_drops(), busy_cpu_seconds()
    started = time.monotonic()
    completed = subprocess.run(command, cwd=workdir, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=timeout + 30,
                               preexec_fn=pin_to(sipp_cpu))
    wall = time.monotonic() - started
    cpu = switch.cpu_seconds() - cpu_before
    sipp_cpu = children_cpu_seconds() - sipp_cpu_before
    others = busy_cpu_seconds() - busy_before - cpu - sipp_cpu
    udp_drops = udp_receive_drops() - drops_before
    time.sleep(0.2)  # the last responses' metrics
    after = switch.outcomes()
    if profiler is not None:
        profiler.wait(timeout=60)

    last = {}
    if stats.exists():
        with stats.open(newline="") as f:
            rows = [row for row in csv.DictReader(f, delimiter=";") if row]
        last = rows[-1] if rows else {}
    ok = int(last.get("SuccessfulCall(C)", 0) or 0)
    failed = int(last.get("FailedCall(C)", 0) or 0)
    created = int(last.get("OutgoingCall(C)", 0) or 0)
    retrans = int(last.get("Retransmissions(C)", 0) or 0)
    elapsed = parse_elapsed(last["ElapsedTime(C)"]) if "ElapsedTime(C)" in last else wall
    unfinished = max(0, calls - ok - failed)
    return {
        "rate": rate, "calls": calls, "ok": ok, "failed": failed + unfinished,
        "created": created, "retransmissions": retrans, "elapsed": elapsed,
        "regs_per_s": ok / elapsed if elapsed else 0.0,
        "failure_pct": 100.0 * (failed + unfinished) / calls if calls else 0.0,
        "switch_cpu_pct": 100.0 * cpu / wall, "sipp_cpu_pct": 100.0 * sipp_cpu / wall,
        "other_cpu_pct": max(0.0, 100.0 * others / wall),
        "udp_drops": udp_drops,
        "switch_ok": after.get("ok", 0) - before.get("ok", 0),
        "switch_challenged": after.get("challenged", 0) - before.get("challenged", 0),
        "exit": completed.returncode,
        "errors": errors.read_text(errors="replace")[-1500:] if errors.exists() else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", default="500,1000,1500,2000,2500",
                        help="comma-separated call rates (calls/s), tried in order")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="length of each step when --calls is not given")
    parser.add_argument("--calls", type=int, default=None, help="calls per step")
    parser.add_argument("--users", type=int, default=2000, help="SIP users to create")
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--profile", type=Path, default=None,
                        help="record each step with py-spy into this directory")
    parser.add_argument("--gc-off", action="store_true",
                        help="diagnosis: run the switch with Python's cyclic garbage "
                             "collector disabled, to see what its pauses cost")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the switch to CPU 0 and SIPp to CPU 1")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    sipp = shutil.which("sipp")
    if sipp is None:
        sys.exit("sipp is not installed (apt-get install sip-tester)")
    rates = [int(r) for r in args.rate.split(",") if r.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="bench-registrar-"))
    switch = Switch(workdir, args.users, gc_off=args.gc_off)
    switch.prepare()
    inject = workdir / "users.csv"
    inject.write_text("SEQUENTIAL\n" + "".join(
        f"{u};[authentication username={u} password={p}]\n" for u, p in switch.users))
    switch_cpu, sipp_cpu = (None, None) if args.no_pin else (0, 1)
    switch.start(switch_cpu)
    pinning = "not pinned" if args.no_pin else "switch on CPU 0, SIPp on CPU 1"
    if args.gc_off:
        pinning += "; the switch's garbage collector is OFF (diagnosis only)"
    print(f"switch pid {switch.process.pid}, {args.users} users, transport "
          f"{args.transport}, {os.cpu_count()} CPUs shared by SIPp and the switch "
          f"({pinning}); CPU % is of one core, 'others' is every other process")
    print(f"{'rate':>6} {'calls':>7} {'regs/s':>8} {'failed':>7} {'fail %':>7} "
          f"{'retrans':>8} {'UDP drops':>9} {'switch CPU':>10} {'SIPp CPU':>9} "
          f"{'others':>7} {'200s seen':>9}")
    results = []
    try:
        for rate in rates:
            calls = args.calls or int(rate * args.seconds)
            result = run_step(switch, sipp, workdir, inject, rate, calls, args.transport,
                              args.profile, sipp_cpu)
            results.append(result)
            print(f"{rate:>6} {calls:>7} {result['regs_per_s']:>8.0f} {result['failed']:>7} "
                  f"{result['failure_pct']:>6.2f}% {result['retransmissions']:>8} "
                  f"{result['udp_drops']:>9} "
                  f"{result['switch_cpu_pct']:>9.0f}% {result['sipp_cpu_pct']:>8.0f}% "
                  f"{result['other_cpu_pct']:>6.0f}% "
                  f"{result['switch_ok']:>9.0f}", flush=True)
            if result["failed"] and result["errors"]:
                print("   SIPp errors (tail):\n   " +
                      "\n   ".join(result["errors"].strip().splitlines()[-4:]))
            if switch.process.poll() is not None:
                print("the switch died; its log:\n" + switch.log_path.read_text()[-4000:])
                break
        print(f"switch health after the run: {switch.health()}")
    finally:
        switch.stop()

    limit = 100 * MAX_FAILURE_SHARE
    good = [r for r in results if r["failure_pct"] < limit and r["ok"]]
    # Retransmissions hide lost messages from SIPp's failure count: a rate is only
    # sustained when the registrations also kept up with it.
    sustained = [r for r in good if r["regs_per_s"] >= KEEP_UP * r["rate"]]
    for label, chosen in ((f"highest rate with < {limit:g} % failed calls", good),
                          (f"highest rate sustained (< {limit:g} % failed and >= "
                           f"{100 * KEEP_UP:g} % of the offered rate)", sustained)):
        if chosen:
            best = max(chosen, key=lambda r: r["rate"])
            print(f"{label}: {best['rate']} calls/s -> {best['regs_per_s']:.0f} "
                  f"registrations/s, switch CPU {best['switch_cpu_pct']:.0f} % of one core")
        else:
            print(f"{label}: none")
    if args.profile is not None:
        for result in results:
            path = args.profile / f"rate-{result['rate']}.txt"
            if path.exists():
                print(f"\npy-spy profile at {result['rate']} calls/s ({path}):")
                print(summarise_profile(path))
    if args.keep:
        print(f"work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
