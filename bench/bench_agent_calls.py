"""Concurrent agent calls end to end: N callers talking to echo agents through the switch.

    python bench/bench_agent_calls.py [--calls 100,200,300] [--seconds 15] [--warmup 6]
                                      [--cps 100] [--agent external|builtin]
                                      [--realtime] [--nice N] [--no-pin] [--record]
                                      [--profile-seconds 10] [--profile-calls N]
                                      [--json FILE] [--keep]

Three processes besides the switch:

- the switch (`twistd -n softswitch`, the end-to-end harness's CallSwitch, log level
  warn, fresh SQLite), pinned to CPU 0 — "one core" is literal. A carrier trunk
  (source 127.0.0.2) and a DID routed to the echo agent;
- the load generator (`bench/agent_load.py`, a separate process on CPU 1): a
  small SIP UAC over UDP places the N calls at `--cps` (INVITE with a PCMU offer, 100,
  180, 200, ACK) and keeps them all up; each call has its own RTP socket and sends
  20 ms µ-law frames on a drift-free schedule (calls staggered over the 20 ms period),
  reads the switch's RTP with kernel receive timestamps (SO_TIMESTAMPNS, so its own
  scheduling does not count), then hangs up every call (BYE);
- the echo agent: by default (`--agent external`) a Twilio Media Streams server in its
  own process (`bench/echo_agent.py`, on CPU 1 beside the generator) that sends every
  media message back `--echo-delay` (0.5 s, like the built-in one) after the switch
  sent it, and stamps into the payload the media message's slot, the kernel's receive
  time of the message (on loopback, when the switch's `send` delivered it) and the time
  the agent read it; `--agent builtin` uses the switch's own echo agent instead
  (`[agents] echo_number`), which then runs on the switch's core and stamps nothing.

Every caller frame carries a tag (call, frame number) in its first bytes; the switch
passes PCMU through untouched both ways (Twilio is µ-law 8 kHz), so the tag comes
back in the echoed RTP. Clocks: the generator and the agent stamp with CLOCK_REALTIME
(time.time()), the kernel stamps received datagrams with the same clock.

Each call's bridge runs on a drift-free 20 ms grid: slot j is due at start + 20 ms * j;
a media message to the agent carries its slot (`timestamp` = 20 ms * k) and an RTP
packet to the caller its slot in its RTP timestamp (160 * m from the first). The
generator estimates each call's `start` as the earliest (arrival - 20 ms * m) of the
switch's RTP (biased late by the smallest network + processing time, tens of µs).
Steps: the calls are set up, then `--warmup` seconds (plus the echo delay) pass — the
jitter buffers shrink from their 60 ms start to 20 ms meanwhile, dropping a frame each
time — then the `--seconds` window is measured, then every call is hung up. Columns
(latencies in ms, over the window unless said otherwise):

- `c->a` (caller->agent, external agent only): slot deadline -> the switch has sent
  the frame on the WebSocket (kernel receive time at the agent - (start + 20 ms * k)):
  the switch's lateness in running the slot and its processing. That is the caller-audio
  latency (RTP arrival -> WebSocket send) without the jitter buffer's deliberate hold;
  the pass criterion is its p99 < 5 ms. `read p99`: the same to the moment the agent
  read it, which adds the agent's own scheduling on the shared core (not the switch's);
- `hold`: the jitter buffer's deliberate hold, mean (start + 20 ms * k - time sent);
- `RTP late`: the switch's RTP to the caller against its own schedule (kernel arrival -
  (start + 20 ms * m)); `late`: packets more than 20 ms behind it;
- `rt`: round trip, RTP sent -> echoed RTP received, minus the echo delay and the hold
  (= arrival - slot deadline k - echo delay), minus one 20 ms slot: the echo comes back
  just after slot k + 25 and waits for the next slot (deliberate pacing), so 0 is on
  time and each further 20 ms is a slot missed. With the built-in agent (no slot stamp)
  it is the plain round trip minus the echo delay, which includes the hold. `queue`:
  the median over calls of each call's smallest `rt`: agent audio standing in the
  playout queue. A real-time agent (an echo) never lets the queue drain, so each stall
  of the switch that skipped slots (see `slots skipped` in the notes) leaves its call
  20 ms later for good; agents that talk faster than real time and pause do not;
- `lost`: frames sent in the window whose echo never came back, plus gaps in the
  sequence numbers of the switch's RTP, less `jb drop`: window frames the jitter buffer
  dropped to shrink its delay (by design; told by their neighbours' adjacent slots);
- `conceal`, `late@jb`: the jitter buffers' concealed frames and late packets, summed
  over the step's call records (whole calls, set-up and warm-up included);
- `frame p50/p99`: the switch's own `softswitch_agent_frame_seconds` histogram over the
  window (processing time of one 20 ms bridge slot, both directions), interpolated
  within its buckets;
- `switch`, `gen+ag`: CPU (utime+stime from /proc over the window, 100 % = one core) of
  the switch, and of the generator and agent together on the other core; `others`:
  every other process on the machine;
- `GC %`, `full GCs`, `max GC`: the switch's cyclic garbage collector (a sitecustomize
  probe, bench_proxy_cps.GC_PROBE): its share of the switch's CPU in the window, its
  full passes, and the longest full pass so far in the run;
- `gen late`: how late the generator itself sent its frames (its own CPU shows here).

A step passes with p99 caller->agent under 5 ms (built-in agent: p99 RTP late), no lost
frames and every call up. Then the switch is profiled with py-spy (`pip install
py-spy`, ptrace: run as root) over one more window at `--profile-calls` (default: the
largest passing N, else the largest N run): the reactor thread's own time by function,
switch functions with their callees, and own time by area.

The box has 2 cores: the switch has CPU 0 to itself, the generator and the external
agent share CPU 1 (their CPU is reported; when it nears 100 % their own delays show in
`c->a`), and other work on the machine moves the figures (`others`). `--realtime` runs
the three SCHED_FIFO (priority 1) and `--nice N` in sessions of their own at niceness N
(root only), so that other processes do not preempt them; say which you used.
"""

import argparse
import collections
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
sys.path.insert(0, str(REPO / "bench"))

from agent_load import CARRIER_IP, DID  # noqa: E402
from machine import busy_cpu_seconds, pin, process_cpu_seconds  # noqa: E402

BUILTIN_NUMBER = "+10000000000"
PASS_P99 = 0.005


# ======================================================================================
# The driver: switch, agent, steps, figures, profile.
# ======================================================================================
def prioritise(pid: int, nice: int, realtime: bool) -> None:
    """Niceness and/or SCHED_FIFO (priority 1) for every thread of `pid` (root only).
    With autogroup scheduling niceness ranks processes within their session only, so the
    session's autogroup gets it too (the switch and the load processes each lead a
    session of their own)."""
    if nice:
        try:
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))
        except OSError:
            pass
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if nice:
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
            if realtime:
                os.sched_setscheduler(int(task.name), os.SCHED_FIFO, os.sched_param(1))
        except (ProcessLookupError, PermissionError, OSError):
            pass


def histogram(samples: dict, name: str) -> dict[float, float]:
    """Cumulative bucket counts {le: count} of one histogram from Switch.metrics()."""
    buckets = {}
    for (sample, labels), value in samples.items():
        if sample == f"{name}_bucket":
            le = dict(labels)["le"]
            buckets[float("inf") if le == "+Inf" else float(le)] = value
    return buckets


def histogram_quantile(before: dict, after: dict, q: float) -> float | None:
    """Prometheus-style quantile of the observations between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in zip(bounds, counts):
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            share = (rank - previous_count) / (count - previous_count or 1)
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return bounds[-2] if len(bounds) > 1 else None


class Bench:
    def __init__(self, workdir: Path, args):
        sys.path.insert(0, str(REPO / "tests" / "e2e"))
        from calls_support import CallSwitch, GatewayRow, Routing, TrunkRow, seed_routing

        self.args = args
        self.workdir = workdir
        self.gc_file = workdir / "gc.json"
        self.switch_cpu, self.load_cpu = (None, None) if args.no_pin else (0, 1)
        self.agent = None
        self.agent_port = None
        builtin = args.agent == "builtin"
        self.did = BUILTIN_NUMBER if builtin else DID
        sections = {"agents": {"connect_timeout": 5.0,
                               "echo_number": BUILTIN_NUMBER if builtin else ""},
                    "trunks": {"probe_interval": 86400.0},
                    "media": {"port_min": 20000, "port_max": 40000}}
        if args.record:  # every call recorded (the agent's `record`), to the work directory
            sections["recording"] = {"directory": str(workdir / "recordings")}
        self.switch = CallSwitch(
            workdir / "switch", sip={"drain_timeout": 2.0},
            database={"reload_interval": 10.0}, log_level="warn", sections=sections)
        seed_routing(self.switch.db_url, Routing(trunks=[
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                     allowed_sources=(CARRIER_IP,), number_format="nanp")]))
        if not builtin:
            self._start_agent()
            from agents_support import AgentRow, seed_agents
            seed_agents(self.switch.db_url, [
                AgentRow("bench-echo", f"ws://127.0.0.1:{self.agent_port}/echo")],
                [(DID, (("agent", "bench-echo"),))])
            if args.record:
                self._record_agent()

    def _record_agent(self) -> None:
        from softswitch.store.database import Database
        from softswitch.store.tables import agents

        database = Database(self.switch.db_url, reactor=None)
        try:
            database.run_sync(lambda conn: conn.execute(agents.update().values(record=True)))
        finally:
            database.engine.dispose()

    def recording_totals(self) -> str:
        """What the recorder did over the run (its /metrics and the files on disk)."""
        written = self.switch.metric("softswitch_recording_chunks_written_total")
        dropped = self.switch.metric("softswitch_recording_chunks_dropped_total")
        files = list((self.workdir / "recordings").rglob("*.wav"))
        size = sum(f.stat().st_size for f in files)
        return (f"recording: {len(files)} files, {size / 1e6:.1f} MB, chunks written "
                f"{written:.0f}, dropped {dropped:.0f}")

    def _start_agent(self) -> None:
        self.agent = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "echo_agent.py"), "--echo-delay",
             str(self.args.echo_delay)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, preexec_fn=self._pin_load)
        line = self.agent.stdout.readline()
        if not line.startswith("port "):
            raise SystemExit(f"the echo agent did not start: {line}")
        self.agent_port = int(line.split()[1])

    def _pin_load(self) -> None:
        if self.load_cpu is not None and self.load_cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {self.load_cpu})
        if self.args.nice or self.args.realtime:
            os.setsid()  # a session (so an autogroup) of its own: see prioritise()
        prioritise(os.getpid(), self.args.nice, self.args.realtime)

    def start(self) -> None:
        from bench_proxy_cps import GC_PROBE

        probe_dir = self.workdir / "gc-probe"
        probe_dir.mkdir()
        (probe_dir / "sitecustomize.py").write_text(GC_PROBE)
        saved = {key: os.environ.get(key) for key in ("PYTHONPATH", "SOFTSWITCH_BENCH_GC_FILE")}
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(probe_dir), saved["PYTHONPATH"]) if p)
        os.environ["SOFTSWITCH_BENCH_GC_FILE"] = str(self.gc_file)
        try:
            self.switch.start()  # the child takes the environment as it is now
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        pin(self.switch.pid, self.switch_cpu)
        prioritise(self.switch.pid, self.args.nice, self.args.realtime)

    def gc_stats(self) -> dict:
        from bench_proxy_cps import read_gc_stats

        return read_gc_stats(self.gc_file)

    def stop(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                self.agent.wait(5)
            except subprocess.TimeoutExpired:
                self.agent.kill()
        try:
            self.switch.close()
        except AssertionError as exc:
            print(f"note: {str(exc).splitlines()[0]}")

    def _cdr_stats(self, after_id: int) -> dict:
        import sqlalchemy as sa
        from softswitch.store.tables import cdrs
        totals = collections.Counter()
        with self.switch.engine.connect() as conn:
            rows = conn.execute(sa.select(cdrs.c.id, cdrs.c.agent_stats)
                                .where(cdrs.c.id > after_id)).all()
        for _, stats in rows:
            totals["cdrs"] += 1
            if not stats:
                continue
            jitter = stats.get("jitter") or {}
            for key in ("concealed", "late", "inserted", "dropped", "resyncs"):
                totals[key] += jitter.get(key, 0)
            for key in ("slots_skipped", "stalls", "profile_errors"):
                totals[key] += stats.get(key, 0)
        return dict(totals)

    def _last_cdr_id(self) -> int:
        import sqlalchemy as sa
        from softswitch.store.tables import cdrs
        with self.switch.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.coalesce(sa.func.max(cdrs.c.id), 0))
                                ).scalar_one()

    def step(self, calls: int, seconds: float, on_window=None) -> dict:
        args = self.args
        last_cdr = self._last_cdr_id()
        command = [sys.executable, str(REPO / "bench" / "agent_load.py"),
                   "--switch", self.switch.sip_target, "--did", self.did,
                   "--calls", str(calls), "--cps", str(args.cps), "--seconds", str(seconds),
                   "--warmup", str(args.warmup), "--echo-delay", str(args.echo_delay),
                   "--ip", CARRIER_IP] + (["--stamped"] if args.agent == "external" else [])
        generator = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=self._pin_load)
        marks, result, up_line = {}, None, ""
        for line in generator.stdout:
            line = line.strip()
            if line.startswith("up "):
                up_line = line
            elif line == "window-start":
                marks["start"] = self._sample(generator.pid)
                if on_window is not None:
                    on_window()
            elif line == "window-end":
                marks["end"] = self._sample(generator.pid)
            elif line.startswith("result "):
                result = json.loads(line[len("result "):])
        generator.wait()
        if result is None or "start" not in marks or "end" not in marks:
            raise SystemExit(f"the generator failed ({up_line}):\n{generator.stderr.read()}")
        first, second = marks["start"], marks["end"]
        wall = second["t"] - first["t"]
        switch_cpu = second["switch"] - first["switch"]
        load_cpu = second["load"] - first["load"]
        others = second["busy"] - first["busy"] - switch_cpu - load_cpu
        time.sleep(1.0)  # the call records' last batch
        name = "softswitch_agent_frame_seconds"
        before, after = histogram(first["metrics"], name), histogram(second["metrics"], name)
        gc_before, gc_after = first["gc"], second["gc"]
        collector = sum(gc_after.get(g, {}).get("seconds", 0)
                        - gc_before.get(g, {}).get("seconds", 0) for g in ("0", "1", "2"))
        result.update({
            "gc_share": 100 * collector / switch_cpu if switch_cpu else 0.0,
            "gc_full": gc_after.get("2", {}).get("passes", 0)
            - gc_before.get("2", {}).get("passes", 0),
            "gc_max": gc_after.get("2", {}).get("max", 0.0),
            "switch_cpu": 100 * switch_cpu / wall, "load_cpu": 100 * load_cpu / wall,
            "others": max(0.0, 100 * others / wall),
            "frame_p50": histogram_quantile(before, after, 0.5),
            "frame_p99": histogram_quantile(before, after, 0.99),
            "frames": (after.get(float("inf"), 0) - before.get(float("inf"), 0)),
            "cdr": self._cdr_stats(last_cdr), "load": os.getloadavg()[0],
        })
        ca = result["caller_agent"]
        result["passed"] = (result["up"] == calls and result["lost"] == 0
                            and (ca.get("p99", 0) < PASS_P99 if args.agent == "external"
                                 else result["rtp_late"].get("p99", 1) < PASS_P99))
        return result

    def _sample(self, generator_pid: int) -> dict:
        load = process_cpu_seconds(generator_pid)
        if self.agent is not None:
            load += process_cpu_seconds(self.agent.pid)
        sample = {"t": time.monotonic(), "switch": process_cpu_seconds(self.switch.pid),
                  "load": load, "busy": busy_cpu_seconds(), "metrics": self.switch.metrics()}
        time.sleep(0.6)  # the GC probe writes twice a second: a record from after the mark
        sample["gc"] = self.gc_stats()
        return sample


def ms(value) -> str:
    return "-" if value is None else f"{1000 * value:.2f}"


HEADER = (f"{'calls':>5} {'up':>5} {'switch':>6} {'gen+ag':>6} {'others':>6} "
          f"{'frame p50':>9} {'p99':>6} {'c->a p50':>8} {'p99':>6} {'max':>6} {'read p99':>8} "
          f"{'RTP late p99':>12} {'max':>6} {'rt p50':>6} {'p99':>6} {'max':>6} {'queue':>6} "
          f"{'hold':>5} {'lost':>5} {'late':>5} {'conceal':>7} {'late@jb':>7} {'jb drop':>7} "
          f"{'GC %':>5} {'full GCs':>8} {'max GC':>6} {'gen late p99':>12} {'max':>6} "
          f"{'pass':>4}")


def row(r: dict) -> str:
    ca, rl, rt, hold, gl = (r["caller_agent"], r["rtp_late"], r["round_trip"], r["hold"],
                            r["send_late"])
    cdr = r["cdr"]
    return (f"{r['calls']:>5} {r['up']:>5} {r['switch_cpu']:>5.0f}% {r['load_cpu']:>5.0f}% "
            f"{r['others']:>5.0f}% {ms(r['frame_p50']):>9} {ms(r['frame_p99']):>6} "
            f"{ms(ca.get('p50')):>8} {ms(ca.get('p99')):>6} {ms(ca.get('max')):>6} "
            f"{ms(r['agent_read'].get('p99')):>8} "
            f"{ms(rl.get('p99')):>12} {ms(rl.get('max')):>6} "
            f"{ms(rt.get('p50')):>6} {ms(rt.get('p99')):>6} {ms(rt.get('max')):>6} "
            f"{ms(r['standing'].get('p50')):>6} "
            f"{ms(hold.get('mean')) if hold else '-':>5} {r['lost']:>5} {r['late_frames']:>5} "
            f"{cdr.get('concealed', 0):>7} {cdr.get('late', 0):>7} {r['jb_shrink_drops']:>7} "
            f"{r['gc_share']:>4.0f}% {r['gc_full']:>8} {ms(r['gc_max']):>6} "
            f"{ms(gl.get('p99')):>12} {ms(gl.get('max')):>6} {'yes' if r['passed'] else 'no':>4}")


AREAS = (  # (label, what a frame's file or function name contains), first match wins
    ("socket system calls (own time of LocalLeg.send_packets, AgentSocket._write, "
     "SocketGroup.doRead, ReadGroup.doRead: sendto, send, recvfrom, recv)",
     ("LocalLeg.send (", "LocalLeg.send_packets (", "AgentSocket._write (",
      "untilConcludes (", "SocketGroup.doRead (", "ReadGroup.doRead (")),
    ("Twisted timers (callLater, DelayedCall heap)", ("callLater (", "DelayedCall",
                                                     "_insertNewDelayedCalls (",
                                                     "runUntilCurrent (")),
    ("wsproto framing", ("wsproto/",)),
    ("JSON and base64", ("json/", "base64", "binascii")),
    ("RTP relay, its statistics and the local leg (Python)", (
        "softswitch/edge/media/relay.py", "softswitch/edge/agent/media.py",
        "softswitch/media/stats.py", "softswitch/media/latch.py")),
    ("agent bridge and media core", ("softswitch/agent/", "softswitch/media/")),
    ("agent session and socket glue", ("softswitch/edge/agent/sessions.py",
                                       "softswitch/edge/agent/websocket.py",
                                       "softswitch/edge/media/slot_ticker.py",
                                       "softswitch/edge/agent/metrics.py")),
    ("Twisted reactor and TCP", ("twisted/",)),
)


def _frame_name(frame: str) -> str:
    """'name (path/file.py:123)' -> 'name (path/file.py)'."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else frame


def summarise_reactor_profile(path: Path, top: int = 20) -> str:
    """Top functions of a py-spy raw file, reactor thread only (stacks through Twisted's
    mainLoop: the database and probe threads' waits are left out) and busy only (not in
    epoll_wait), with callees by switch function, and own time grouped by area."""
    own, total, areas = collections.Counter(), collections.Counter(), collections.Counter()
    samples = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or "mainLoop (" not in stack:
            continue
        count = int(count)
        frames = [f for f in stack.split(";") if f]
        leaf = _frame_name(frames[-1])
        if leaf.startswith("EPollReactor.doPoll ("):  # in epoll_wait: idle
            idle += count
            continue
        samples += count
        own[leaf] += count
        for function in {_frame_name(f) for f in frames if "softswitch/" in f}:
            total[function] += count
        area = next((label for label, marks in AREAS if any(m in leaf for m in marks)),
                    "other")
        areas[area] += count
    if not samples:
        return "(no samples of the reactor thread)"
    lines = [f"{samples} samples of the busy reactor thread at 200 Hz ({idle} more in "
             f"epoll_wait left out); own time:"]
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("switch functions with their callees:")
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in total.most_common(top)]
    lines.append("own time by area:")
    lines += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in areas.most_common()]
    return "\n".join(lines)


def profile(bench: Bench, calls: int, seconds: float, out: Path) -> tuple[dict, str]:
    spy = shutil.which("py-spy")
    if spy is None:
        return {}, "py-spy is not installed (pip install py-spy): no profile"
    recorder = []

    def attach():
        recorder.append(subprocess.Popen(
            [spy, "record", "--pid", str(bench.switch.pid), "--duration", str(int(seconds)),
             "--rate", "200", "--format", "raw", "-o", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))

    result = bench.step(calls, seconds, on_window=attach)
    err = b""
    if recorder:
        try:
            _, err = recorder[0].communicate(timeout=60)
        except subprocess.TimeoutExpired:
            recorder[0].kill()
    if not out.exists():
        return result, f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}"
    return result, summarise_reactor_profile(out)


def driver_main(args) -> None:
    calls = [int(n) for n in args.calls.split(",") if n.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="bench-agent-calls-"))
    bench = Bench(workdir, args)
    results, profiled, profile_text = [], None, ""
    bench.start()
    try:
        agent = ("the external echo agent" if args.agent == "external"
                 else "(the built-in echo agent runs in the switch)")
        print(f"{os.cpu_count()} CPUs: switch (pid {bench.switch.pid}) "
              f"{'not pinned' if args.no_pin else 'on CPU 0'}, load generator and {agent} "
              f"{'not pinned' if args.no_pin else 'on CPU 1'}; echo delay "
              f"{args.echo_delay:g} s; {args.seconds:g} s window per step after "
              f"{args.warmup:g} s of warm-up; calls set up at {args.cps:g}/s; "
              f"nice {args.nice}{', SCHED_FIFO' if args.realtime else ''}; "
              f"load average before: {os.getloadavg()[0]:.2f}")
        print("CPU % of one core; latencies in ms; 'gen+ag' is the generator and the "
              "agent together (CPU 1)")
        print(HEADER)
        for n in calls:
            result = bench.step(n, args.seconds)
            results.append(result)
            print(row(result), flush=True)
            if not bench.switch.running:
                print("the switch died:\n" + bench.switch.output(60))
                break
            time.sleep(2)
        if args.record and bench.switch.running:
            time.sleep(1.0)  # the last files completed
            print(bench.recording_totals())
        passing = [r for r in results if r["passed"]]
        target = args.profile_calls or max((r["calls"] for r in passing or results), default=0)
        if target and args.profile_seconds > 0 and bench.switch.running:
            profiled, profile_text = profile(bench, target, args.profile_seconds,
                                             workdir / "profile.txt")
    finally:
        bench.stop()
    passing = [r for r in results if r["passed"]]
    if passing:
        best = max(passing, key=lambda r: r["calls"])
        print(f"largest N passing (p99 caller->agent < {PASS_P99 * 1000:g} ms, no lost "
              f"frames, all calls up): {best['calls']} calls, switch CPU "
              f"{best['switch_cpu']:.0f} % of one core")
    else:
        print("no step passed")
    for r in results:
        if r["failed"] or r["up"] < r["calls"] or r["cdr"].get("slots_skipped"):
            print(f"  N={r['calls']}: failed {r['failed']}, up {r['up']}, hung up "
                  f"{r['hung_up']}, CDRs {r['cdr'].get('cdrs', 0)}, slots skipped "
                  f"{r['cdr'].get('slots_skipped', 0)}, stalls {r['cdr'].get('stalls', 0)}")
    if profiled:
        print(f"\npy-spy profile of the switch at {profiled['calls']} calls (the step under "
              f"the profiler):\n{HEADER}\n{row(profiled)}\n{profile_text}")
    elif profile_text:
        print(profile_text)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "profiled": profiled},
                                              indent=1))
    if args.keep:
        print(f"work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="100,300,500",
                        help="comma-separated numbers of concurrent calls, in order")
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=6.0,
                        help="seconds after all calls are up (plus the echo delay): the "
                             "jitter buffers shrink from their 60 ms start to 20 ms first")
    parser.add_argument("--cps", type=float, default=100.0, help="call set-up rate")
    parser.add_argument("--agent", choices=("external", "builtin"), default="external")
    parser.add_argument("--echo-delay", type=float, default=0.5)
    parser.add_argument("--profile-seconds", type=float, default=10.0,
                        help="py-spy over one more window (0: none)")
    parser.add_argument("--profile-calls", type=int, default=0,
                        help="profile at this N (default: the largest passing N, else the "
                             "largest N run)")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the switch, generator and agent (negative needs "
                             "root): shields the figures from other work on the box")
    parser.add_argument("--realtime", action="store_true",
                        help="run the switch, generator and agent SCHED_FIFO (priority 1), "
                             "as media servers are often run: nothing else preempts them")
    parser.add_argument("--record", action="store_true",
                        help="record every call (the agent's `record`; needs --agent "
                             "external): the recorder's CPU shows in the switch's column")
    parser.add_argument("--json", help="write every step's figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    # internal: the other processes
    args = parser.parse_args()
    if args.record and args.agent != "external":
        parser.error("--record needs --agent external")
    driver_main(args)


if __name__ == "__main__":
    main()
