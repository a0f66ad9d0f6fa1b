"""Calls per second through the stateful proxy: SIPp UAC -> switch -> SIPp UAS.

    python bench/bench_proxy_cps.py [--rate 100,200,400,600,800,1000,1200] [--seconds 10]
                                    [--no-anchor] [--no-pin] [--profile-seconds 10]
                                    [--no-guard]

Starts `twistd -n softswitch` (the end-to-end harness's SwitchProcess) with a fresh
SQLite database holding one carrier trunk (127.0.0.2), one gateway trunk (a SIPp UAS on
127.0.0.3) and one DID routed to it. A SIPp caller on 127.0.0.2 places short calls
without media (INVITE, 100, 180, 200, ACK, BYE, 200: tests/e2e/scenarios/call_uac.xml
with no pause) at each rate (`-r RATE -rp 1000`) for --seconds; the UAS answers them
(call_uas_answer_probes.xml, which also answers the switch's OPTIONS probes). The
proxy relays every message (14 datagrams per call through the switch), adds
Record-Route, keeps the dialog, writes the call record, and, unless --no-anchor,
rewrites both SDPs through the in-process RTP relay (two port pairs per call), as it
does by default.

Per rate it prints:
- `calls/s`: successful calls over the time the SIPp caller took to complete them (its
  own elapsed time up to the last success, so a call stuck until -timeout does not
  stretch it);
- `failed`, `fail %`: calls the caller counted as failed, plus any it never finished;
- `retrans`: the caller's retransmissions (a lost message shows here first);
- `UDP drops`: datagrams the kernel dropped on full receive buffers during the step,
  all sockets of the machine (other work on the box counts here too); `at switch`: those
  of the switch's SIP socket alone (the drops column of /proc/net/udp);
- `switch CPU`: the switch's utime+stime (from /proc/PID/stat, all its threads) over
  the offered load's seconds plus one, 100 % = one core; `SIPp CPU`: both SIPps;
  `others`: every other process on the machine (from /proc/stat); `load`: the 1-minute
  load average at the end of the step;
- `ms/call`: the switch's CPU milliseconds per successful call (1000 / ms/call is the
  calls per second one whole core would carry at that cost, whatever else runs);
- `GC %`: the share of the switch's CPU spent in Python's cyclic garbage collector;
  `full GCs`: its full (generation 2) passes in the step; `max GC`: the longest full
  pass so far in the run (a pause in which no datagram is read: the socket buffer
  fills and the kernel drops what comes next);
- `answered`, `CDRs`: the switch's own count of 2xx sent to INVITEs and of call records
  written during the step.

The box has 2 cores: the switch is pinned to CPU 0 and both SIPp processes to CPU 1
(--no-pin lets them float), so "one core" for the switch is literal, and SIPp's load
is beside it, not on it. The result is the highest rate with under 0.1 % failed calls
and the highest rate also sustained (calls/s at least 95 % of the offered rate). Then
the switch is profiled with py-spy (`pip install py-spy`, needs ptrace: run as root)
for --profile-seconds at the highest passing rate, and the functions with the most
samples are printed (own time, and switch functions with their callees).
"""

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from calls_support import (  # noqa: E402
    CARRIER_IP,
    GATEWAY_A_IP,
    CallSwitch,
    GatewayRow,
    NumberRow,
    Routing,
    TrunkRow,
    cdr_count,
    free_udp_port,
    udp_port_in_use,
    seed_routing,
)
from e2e_sipp import SCENARIOS  # noqa: E402
from machine import (busy_cpu_seconds, load_average, parse_elapsed, pin,  # noqa: E402
                     process_cpu_seconds, socket_drops, summarise_profile,
                     udp_receive_drops)

DID = "+14155550100"
# Loaded into the switch through PYTHONPATH (its sitecustomize): records the collector's
# passes and pauses by generation, written to a file twice a second, and with
# SOFTSWITCH_BENCH_GC_OFF set disables the collector (diagnosis only).
GC_PROBE = """
import gc, json, os, sys, threading, time
if "softswitch" in sys.argv and os.environ.get("SOFTSWITCH_BENCH_GC_FILE"):
    if os.environ.get("SOFTSWITCH_BENCH_GC_OFF"):
        gc.disable()
    _path = os.environ["SOFTSWITCH_BENCH_GC_FILE"]
    _stats = {g: {"passes": 0, "seconds": 0.0, "max": 0.0} for g in ("0", "1", "2")}
    _started = [0.0]
    def _observe(phase, info):
        if phase == "start":
            _started[0] = time.perf_counter()
            return
        pause = time.perf_counter() - _started[0]
        entry = _stats[str(info["generation"])]
        entry["passes"] += 1
        entry["seconds"] += pause
        entry["max"] = max(entry["max"], pause)
    gc.callbacks.append(_observe)
    def _write():
        while True:
            time.sleep(0.5)
            with open(_path + ".tmp", "w") as out:
                json.dump(_stats, out)
            os.replace(_path + ".tmp", _path)
    threading.Thread(target=_write, daemon=True).start()
"""


def read_gc_stats(path: Path) -> dict:
    """What the GC probe last wrote to `path` ({} before its first write)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
MAX_FAILURE_SHARE = 0.001  # under 0.1 % failed calls
KEEP_UP = 0.95  # and calls/s at least 95 % of the offered rate
SIPP_BUFFER = 4 * 1024 * 1024  # bytes; the kernel caps it at net.core.[rw]mem_max
MESSAGES_PER_CALL = 14  # datagrams through the switch per call (each way counted)


# -- measurements -----------------------------------------------------------------------


def switch_counts(switch) -> dict[str, float]:
    samples = switch.metrics()
    answered = samples.get(("softswitch_sip_responses_sent_total",
                            (("method", "INVITE"), ("status_class", "2xx"))), 0.0)
    refused = sum(value for (name, labels), value in samples.items()
                  if name == "softswitch_sip_responses_sent_total"
                  and dict(labels).get("method") == "INVITE"
                  and dict(labels).get("status_class") in ("4xx", "5xx", "6xx"))
    return {"answered": answered, "refused": refused, "cdrs": cdr_count(switch)}


# -- the run ------------------------------------------------------------------------------------
class Bench:
    def __init__(self, workdir: Path, sipp: str, anchor: bool, pinned: bool,
                 lifetime: float, trace: bool = False, gc_off: bool = False,
                 guard: bool = True):
        self.workdir = workdir
        self.sipp = sipp
        self.switch_cpu, self.sipp_cpu = (0, 1) if pinned else (None, None)
        # The default snapshot reload interval (10 s), not the tests' 0.5 s; a short drain
        # so that a call left hanging by a failed step does not hold up the stop.
        # --no-guard: the same run without the guard in front of the SIP stack.
        sections = {"media": {"anchor": anchor}, "guard": {"enabled": guard}}
        self.switch = CallSwitch(workdir / "switch", sections=sections,
                                 sip={"drain_timeout": 1.0},
                                 database={"reload_interval": 10.0}, log_level="warn")
        self.gateway_port = free_udp_port(GATEWAY_A_IP)
        seed_routing(self.switch.db_url, Routing(
            trunks=[TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                             allowed_sources=(CARRIER_IP,), number_format="nanp"),
                    TrunkRow("gw", (GatewayRow(GATEWAY_A_IP, self.gateway_port),))],
            numbers=[NumberRow(DID, (("trunk", "gw"),))]))
        self.uas: subprocess.Popen | None = None
        self.lifetime = lifetime  # the UAS's -timeout: it never outlives the benchmark
        self.trace = trace  # SIPp message logs, for diagnosing failed calls
        self.gc_off = gc_off
        self.gc_file = workdir / "gc.json"

    def start(self) -> None:
        probe_dir = self.workdir / "gc-probe"
        probe_dir.mkdir()
        (probe_dir / "sitecustomize.py").write_text(GC_PROBE)
        saved = {key: os.environ.get(key) for key in
                 ("PYTHONPATH", "SOFTSWITCH_BENCH_GC_FILE", "SOFTSWITCH_BENCH_GC_OFF")}
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(probe_dir), saved["PYTHONPATH"]) if p)
        os.environ["SOFTSWITCH_BENCH_GC_FILE"] = str(self.gc_file)
        if self.gc_off:
            os.environ["SOFTSWITCH_BENCH_GC_OFF"] = "1"
        try:
            self.switch.start()  # the child takes the environment as it is now
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        pin(self.switch.pid, self.switch_cpu)
        # The callee: answers every call for as long as the benchmark runs.
        self.uas = subprocess.Popen(
            [self.sipp, "-sf", str(SCENARIOS / "call_uas_answer_probes.xml"), "-t", "u1",
             "-i", GATEWAY_A_IP, "-bind_local", "-p", str(self.gateway_port),
             "-buff_size", str(SIPP_BUFFER), "-key", "user", "gw", "-nostdin", "-nd",
             "-timeout", f"{self.lifetime:g}s",
             "-trace_err", "-error_file", str(self.workdir / "uas.errors.log"),
             *self._trace_args("uas")],
            cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not udp_port_in_use(GATEWAY_A_IP, self.gateway_port):
            if time.monotonic() > deadline or self.uas.poll() is not None:
                raise SystemExit("the SIPp UAS did not start")
            time.sleep(0.02)
        pin(self.uas.pid, self.sipp_cpu)

    def _trace_args(self, name: str) -> list[str]:
        if not self.trace:
            return []
        return ["-trace_msg", "-message_file", str(self.workdir / f"{name}.messages.log")]

    def gc_stats(self) -> dict:
        return read_gc_stats(self.gc_file)

    def stop(self) -> None:
        if self.uas is not None and self.uas.poll() is None:
            self.uas.send_signal(signal.SIGTERM)
            try:
                self.uas.wait(5)
            except subprocess.TimeoutExpired:
                self.uas.kill()
                self.uas.wait(5)
        try:
            self.switch.close()
        except AssertionError as exc:  # did not stop in time: it was killed
            print(f"note: {str(exc).splitlines()[0]}")

    def step(self, rate: int, seconds: float, label: str = "") -> dict:
        calls = int(rate * seconds)
        name = f"rate-{rate}{label}"
        stats = self.workdir / f"{name}.stats.csv"
        errors = self.workdir / f"{name}.errors.log"
        timeout = seconds + 15  # a call still unfinished by then has failed
        command = [
            self.sipp, self.switch.sip_target, "-sf", str(SCENARIOS / "call_uac.xml"),
            "-t", "u1", "-i", CARRIER_IP, "-bind_local", "-p", str(free_udp_port(CARRIER_IP)),
            "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", str(max(rate * 5, 100)),
            "-d", "0", "-buff_size", str(SIPP_BUFFER),
            "-key", "dialled", DID.removeprefix("+1"), "-key", "domain", self.switch.domain,
            "-key", "caller", "+12125550123",
            "-timeout", f"{timeout:g}s", "-timeout_error", "-nostdin", "-nd",
            "-trace_stat", "-stf", str(stats), "-fd", "1",
            "-trace_err", "-error_file", str(errors), *self._trace_args(name),
        ]
        sipp_cpu = self.sipp_cpu

        def pin_caller():
            if sipp_cpu is not None and sipp_cpu < (os.cpu_count() or 1):
                os.sched_setaffinity(0, {sipp_cpu})

        def sample(caller_pid: int) -> dict:
            return {"t": time.monotonic(), "switch": process_cpu_seconds(self.switch.pid),
                    "sipp": process_cpu_seconds(self.uas.pid)
                    + process_cpu_seconds(caller_pid),
                    "busy": busy_cpu_seconds(), "drops": udp_receive_drops(),
                    "switch_drops": socket_drops("127.0.0.1", self.switch.sip_port)}

        counts_before = switch_counts(self.switch)
        gc_before = self.gc_stats()
        caller = subprocess.Popen(command, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  preexec_fn=pin_caller)
        first = sample(caller.pid)
        # CPU is measured over the offered load (the step's seconds and one more for the
        # last calls), not over the wait for calls that never finish. A process that has
        # exited but is not reaped yet still shows its final CPU times in /proc.
        window = first["t"] + seconds + 1
        second = first
        while time.monotonic() < window:
            time.sleep(0.05)
            second = sample(caller.pid)
            if caller.poll() is not None:
                break
        try:
            caller.wait(timeout + 30)
        except subprocess.TimeoutExpired:
            caller.kill()
            caller.wait()
        wall = second["t"] - first["t"]
        switch_cpu = second["switch"] - first["switch"]
        sipp_cpu_used = second["sipp"] - first["sipp"]
        others = second["busy"] - first["busy"] - switch_cpu - sipp_cpu_used
        load = load_average()
        time.sleep(0.6)  # the last call records' batch (and a fresh collector record)
        counts_after = switch_counts(self.switch)
        gc_after = self.gc_stats()
        full = {key: gc_after.get("2", {}).get(key, 0) - gc_before.get("2", {}).get(key, 0)
                for key in ("passes", "seconds")}
        collector = sum(gc_after.get(g, {}).get("seconds", 0) - gc_before.get(g, {}).get(
            "seconds", 0) for g in ("0", "1", "2"))

        rows = []
        if stats.exists():
            with stats.open(newline="") as f:
                rows = [row for row in csv.DictReader(f, delimiter=";") if row]
        last = rows[-1] if rows else {}
        ok = int(last.get("SuccessfulCall(C)", 0) or 0)
        failed = int(last.get("FailedCall(C)", 0) or 0)
        # Calls per second up to the last successful call (the periodic rows say when),
        # so that a call stuck until SIPp's -timeout does not stretch the time.
        done = next((row for row in rows if int(row.get("SuccessfulCall(C)", 0) or 0) >= ok),
                    last)
        elapsed = parse_elapsed(done["ElapsedTime(C)"]) if "ElapsedTime(C)" in done else wall
        failed += max(0, calls - ok - failed)  # never finished
        return {
            "rate": rate, "calls": calls, "ok": ok, "failed": failed,
            "retrans": int(last.get("Retransmissions(C)", 0) or 0),
            "cps": ok / elapsed if elapsed else 0.0,
            "fail_pct": 100.0 * failed / calls if calls else 0.0,
            "switch_cpu": 100.0 * switch_cpu / wall, "sipp_cpu": 100.0 * sipp_cpu_used / wall,
            "cpu_ms_per_call": 1000.0 * switch_cpu / ok if ok else 0.0,
            "gc_full": full["passes"],
            # The longest full collection over the whole run so far (a running maximum).
            "gc_max_ms": 1000.0 * gc_after.get("2", {}).get("max", 0.0),
            "gc_share": 100.0 * collector / switch_cpu if switch_cpu else 0.0,
            "others": max(0.0, 100.0 * others / wall), "load": load,
            "drops": udp_receive_drops() - first["drops"],
            "switch_drops": socket_drops("127.0.0.1", self.switch.sip_port)
            - first["switch_drops"],
            "answered": counts_after["answered"] - counts_before["answered"],
            "refused": counts_after["refused"] - counts_before["refused"],
            "cdrs": counts_after["cdrs"] - counts_before["cdrs"],
            "exit": caller.returncode,
            "errors": errors.read_text(errors="replace")[-1200:] if errors.exists() else "",
        }


HEADER = (f"{'rate':>6} {'calls':>7} {'calls/s':>8} {'failed':>7} {'fail %':>7} "
          f"{'retrans':>8} {'UDP drops':>9} {'at switch':>9} {'switch CPU':>10} {'SIPp CPU':>9} "
          f"{'ms/call':>7} {'GC %':>5} {'full GCs':>8} {'max GC':>7} "
          f"{'others':>7} {'load':>5} {'answered':>8} {'CDRs':>7}")


def row(r: dict) -> str:
    return (f"{r['rate']:>6} {r['calls']:>7} {r['cps']:>8.0f} {r['failed']:>7} "
            f"{r['fail_pct']:>6.2f}% {r['retrans']:>8} {r['drops']:>9} {r['switch_drops']:>9} "
            f"{r['switch_cpu']:>9.0f}% {r['sipp_cpu']:>8.0f}% {r['cpu_ms_per_call']:>7.2f} "
            f"{r['gc_share']:>4.0f}% {r['gc_full']:>8} {r['gc_max_ms']:>5.0f}ms "
            f"{r['others']:>6.0f}% "
            f"{r['load']:>5.2f} {r['answered']:>8.0f} {r['cdrs']:>7}")


# -- profile ------------------------------------------------------------------------------------


def profile(bench: Bench, rate: int, seconds: float, out: Path) -> tuple[dict, str]:
    """One more step at `rate` with py-spy recording the switch meanwhile."""
    spy = shutil.which("py-spy")
    if spy is None:
        return {}, "py-spy is not installed (pip install py-spy): no profile"
    recorder = subprocess.Popen(
        [spy, "record", "--pid", str(bench.switch.pid), "--duration", str(int(seconds)),
         "--rate", "200", "--format", "raw", "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # attached before the load starts
    result = bench.step(rate, seconds + 1, label="-profiled")
    try:
        _, err = recorder.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        recorder.kill()
        err = b"py-spy did not finish"
    if not out.exists():
        return result, f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}"
    return result, summarise_profile(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", default="100,200,400,600,800,1000,1200,1400",
                        help="comma-separated call rates (calls/s), tried in order")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each step")
    parser.add_argument("--no-anchor", action="store_true",
                        help="[media] anchor = false: no SDP rewriting, no relay ports")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the switch to CPU 0 and SIPp to CPU 1")
    parser.add_argument("--profile-seconds", type=float, default=10.0,
                        help="py-spy recording at the highest passing rate (0: none)")
    parser.add_argument("--stop-after-failures", type=int, default=2,
                        help="stop the sweep after this many failing rates in a row")
    parser.add_argument("--no-guard", action="store_true",
                        help="turn the SIP guard off ([guard] enabled = false), to compare")
    parser.add_argument("--gc-off", action="store_true",
                        help="diagnosis: run the switch with Python's cyclic garbage "
                             "collector disabled, to see what its pauses cost")
    parser.add_argument("--trace", action="store_true",
                        help="diagnosis: SIPp message logs in the (kept) work directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    sipp = shutil.which("sipp")
    if sipp is None:
        sys.exit("sipp is not installed (apt-get install sip-tester)")
    rates = [int(r) for r in args.rate.split(",") if r.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="bench-proxy-cps-"))
    lifetime = len(rates) * (args.seconds + 35) + args.profile_seconds + 90
    bench = Bench(workdir, sipp, anchor=not args.no_anchor, pinned=not args.no_pin,
                  lifetime=lifetime, trace=args.trace, gc_off=args.gc_off,
                  guard=not args.no_guard)
    limit = 100 * MAX_FAILURE_SHARE
    results, profile_text, profiled = [], "", None
    bench.start()
    try:
        pinning = "not pinned" if args.no_pin else "switch on CPU 0, both SIPps on CPU 1"
        print(f"{os.cpu_count()} CPUs shared by the switch (pid {bench.switch.pid}) and two "
              f"SIPp processes ({pinning}); media anchoring "
              f"{'off' if args.no_anchor else 'on'}; garbage collector "
              f"{'OFF (diagnosis only)' if args.gc_off else 'on'}; {args.seconds:g} s per rate; "
              f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
        print("CPU % is of one core; 'others' is every other process on the machine")
        print(HEADER)
        failing = 0
        for rate in rates:
            result = bench.step(rate, args.seconds)
            results.append(result)
            print(row(result), flush=True)
            if result["failed"] and result["errors"]:
                print("   SIPp errors (tail): " +
                      " | ".join(result["errors"].strip().splitlines()[-3:])[:400])
            if not bench.switch.running:
                print("the switch died:\n" + bench.switch.output(60))
                break
            failing = failing + 1 if result["fail_pct"] >= limit else 0
            if failing >= args.stop_after_failures:
                break
            time.sleep(2)  # let the previous step's timers and records settle
        good = [r for r in results if r["fail_pct"] < limit and r["ok"]]
        if good and args.profile_seconds > 0 and bench.switch.running:
            best = max(good, key=lambda r: r["rate"])
            profiled, profile_text = profile(bench, best["rate"], args.profile_seconds,
                                             workdir / "profile.txt")
    finally:
        bench.stop()

    good = [r for r in results if r["fail_pct"] < limit and r["ok"]]
    sustained = [r for r in good if r["cps"] >= KEEP_UP * r["rate"]]
    for label, chosen in ((f"highest rate with < {limit:g} % failed calls", good),
                          (f"highest rate sustained (< {limit:g} % failed and >= "
                           f"{100 * KEEP_UP:g} % of the offered rate)", sustained)):
        if chosen:
            best = max(chosen, key=lambda r: r["rate"])
            print(f"{label}: {best['rate']} calls/s -> {best['cps']:.0f} calls/s, "
                  f"{best['cps'] * MESSAGES_PER_CALL:.0f} SIP messages/s through the switch, "
                  f"switch CPU {best['switch_cpu']:.0f} % of one core "
                  f"({best['cpu_ms_per_call']:.2f} ms per call), load {best['load']:.2f}")
        else:
            print(f"{label}: none")
    if profiled:
        print(f"\npy-spy profile of the switch at {profiled['rate']} calls/s "
              f"(the step under the profiler):\n{row(profiled)}\n{profile_text}")
    elif profile_text:
        print(profile_text)
    if args.keep or args.trace:
        print(f"work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
