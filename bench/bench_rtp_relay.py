"""RTP relay load test: concurrent bidirectional G.711 calls through the relay.

    python bench/bench_rtp_relay.py --calls 100,300,500,700,900,1100,1300 --seconds 6 \
        --repeat 3 --profile

Each call is two streams of 172-byte RTP packets (12-byte header + 160 bytes of µ-law,
20 ms), 50 packets/s each way, so N calls offer 100*N packets/s to the relay. For every
N three runs are made, each with fresh processes and sockets:

- `direct`: the phones send to each other with no relay (the baseline latency);
- `bare`:   a bare CPython forwarding loop (epoll + recvfrom/sendto, plain sockets, no
            Twisted, no latching or statistics): the ceiling for Python;
- `relay`:  softswitch.edge.media.relay.RtpRelay on the epoll reactor, calls set up through
            its offer/answer, with latching and per-stream statistics on every packet;
- `relay-udp` (not run by default): the same relay with one Twisted udp.Port per
            socket (its fallback on reactors without file-descriptor support), to show
            what the epoll socket group saves.

Processes: the relay (or bare loop) is pinned to CPU 0; the load generator (a sender
and a receiver process sharing the two "phone" sockets) is pinned to CPU 1. The machine
has 2 cores shared by generator and relay (and whatever else runs on the box: the busy
CPU time of other processes is reported). Latency is measured from the sender's
CLOCK_REALTIME stamp in the payload (taken just before sendto) to the kernel's receive
timestamp on the phone socket (SO_TIMESTAMPNS), so the receiver's own scheduling does
not count; "added" latency is the relay run's percentile minus the direct run's.
Loss counts packets sent in the measurement window (after a warm-up) that never came
back. CPU is utime+stime from /proc over the window.

--profile samples the relay process with py-spy at the highest N and prints where the
time goes (own time per function and per source line, idle time included).
"""

import argparse
import array
import multiprocessing as mp
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

HOST = "127.0.0.1"
PACKET_SIZE = 172
SLOTS = 20  # 1 ms ticks per 20 ms packet interval; calls are spread over them
RELAY_CPU = 0
GENERATOR_CPU = 1
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value
BUFFER = 4 * 1024 * 1024
TICK = os.sysconf("SC_CLK_TCK")
_STAMP = struct.Struct("!IBq")  # call index, direction, send time (ns), at payload offset 0
_SEQ_TS = struct.Struct("!HI")


NICE = 0
REALTIME = False


def pin(cpu: int) -> None:
    try:
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        pass
    if NICE:
        # With autogroup scheduling, niceness only ranks processes within one session:
        # give the process a session of its own and set that session's niceness.
        try:
            os.setsid()
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(NICE))
        except OSError:
            pass
        os.nice(NICE)
    if REALTIME:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except (AttributeError, OSError):
            pass


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine (all cores) so far."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK


def udp_drops(ports: set[int]) -> int:
    total = 0
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if int(fields[1].rpartition(":")[2], 16) in ports:
                        total += int(fields[-1])
        except OSError:
            pass
    return total


def phone_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
    sock.bind((HOST, 0))
    return sock


def phone_sdp(port: int) -> bytes:
    return (f"v=0\r\no=- 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n").encode()


# -- relays (CPU 0) -------------------------------------------------------------

class ListenUdpOnly:
    """The reactor seen through listenUDP only: the relay then uses one Twisted
    udp.Port per socket instead of its epoll socket group (mode relay-udp)."""

    def __init__(self, reactor):
        self._reactor = reactor
        self.seconds = reactor.seconds
        self.callLater = reactor.callLater

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        return self._reactor.listenUDP(port, protocol, interface, maxPacketSize)


def run_softswitch_relay(calls, phone_a, phone_b, base, conn, udp_ports=False):
    pin(RELAY_CPU)
    from twisted.internet import epollreactor
    epollreactor.install()
    from twisted.internet import reactor

    from softswitch.edge.media.relay import RtpRelay
    from softswitch.sdp import parse_sdp
    from softswitch.services.media_control import RegionConfig

    region = RegionConfig("bench", HOST, HOST, base, base + 4 * calls + 64)
    relay = RtpRelay(ListenUdpOnly(reactor) if udp_ports else reactor, {"bench": region},
                     "bench", inactivity_timeout=3600.0)
    targets = []
    for i in range(calls):
        results = []
        relay.offer(f"call-{i}", "a", phone_sdp(phone_a[1])).addCallback(results.append)
        relay.answer(f"call-{i}", "a", "b", phone_sdp(phone_b[1])).addCallback(results.append)
        to_b, to_a = (parse_sdp(body).media[0].port for body in results)
        targets.append(((HOST, to_a), (HOST, to_b)))
    conn.send(targets)
    reactor.run()


def bind_next(port: int) -> tuple[socket.socket, int]:
    """A socket bound on the first free even port from `port` on."""
    while True:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((HOST, port))
            return sock, port + 2
        except OSError:
            sock.close()
            port += 2


def run_bare_loop(calls, phone_a, phone_b, base, conn):
    pin(RELAY_CPU)
    table, targets, keep = {}, [], []
    poller = select.epoll()
    port = base
    for i in range(calls):
        facing_a, port = bind_next(port)
        facing_b, port = bind_next(port)
        for sock in (facing_a, facing_b):
            sock.setblocking(False)
            poller.register(sock.fileno(), select.EPOLLIN)
        table[facing_a.fileno()] = (facing_a.recvfrom, facing_b.sendto, phone_b)
        table[facing_b.fileno()] = (facing_b.recvfrom, facing_a.sendto, phone_a)
        keep += [facing_a, facing_b]
        targets.append(((HOST, facing_a.getsockname()[1]), (HOST, facing_b.getsockname()[1])))
    conn.send(targets)
    poll = poller.poll
    while True:
        for fd, _ in poll():
            recvfrom, sendto, destination = table[fd]
            try:
                data, _ = recvfrom(2048)
                sendto(data, destination)
            except OSError:
                pass


# -- load generator (CPU 1) -------------------------------------------------------

def run_sender(sock_a, sock_b, targets, start, stop, window, conn):
    pin(GENERATOR_CPU)
    calls = len(targets)
    slots = [[] for _ in range(SLOTS)]
    for i, (to_a_side, to_b_side) in enumerate(targets):
        for direction, (sock, destination) in enumerate(((sock_a, to_a_side),
                                                         (sock_b, to_b_side))):
            packet = bytearray(b"\xff" * PACKET_SIZE)
            struct.pack_into("!BBHII", packet, 0, 0x80, 0, 0, 0, 2 * i + direction)
            slots[(i * SLOTS) // calls].append((sock.sendto, packet, destination, i,
                                                direction))
    sent = errors = 0
    low, high = int(window[0] * 1e9), int(window[1] * 1e9)
    now_ns = time.time_ns
    pack_stamp, pack_seq = _STAMP.pack_into, _SEQ_TS.pack_into
    tick = 0
    while True:
        due = start + tick * 0.001
        if due >= stop:
            break
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        seq = tick // SLOTS
        for sendto, packet, destination, call, direction in slots[tick % SLOTS]:
            pack_seq(packet, 2, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF)
            stamp = now_ns()
            pack_stamp(packet, 12, call, direction, stamp)
            try:
                sendto(packet, destination)
            except OSError:
                errors += 1
                continue
            if low <= stamp < high:
                sent += 1
        tick += 1
    conn.send((sent, errors))


def run_receiver(sock_a, sock_b, window_ns, until, conn):
    pin(GENERATOR_CPU)
    socks = {}
    poller = select.epoll()
    for sock in (sock_a, sock_b):
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        poller.register(sock.fileno(), select.EPOLLIN)
        socks[sock.fileno()] = sock.recvmsg
    latencies = array.array("q")
    append = latencies.append
    unpack_stamp = _STAMP.unpack_from
    timespec = struct.Struct("@qq").unpack_from
    low, high = window_ns
    received = 0
    while time.time() < until:
        for fd, _ in poller.poll(0.05):
            recvmsg = socks[fd]
            while True:
                try:
                    data, ancillary, _, _ = recvmsg(2048, 64)
                except BlockingIOError:
                    break
                sent_at = unpack_stamp(data, 12)[2]
                if low <= sent_at < high:
                    received += 1
                    for level, kind, value in ancillary:
                        if kind == SO_TIMESTAMPNS:
                            seconds, nanoseconds = timespec(value)
                            append(seconds * 1_000_000_000 + nanoseconds - sent_at)
    conn.send((received, latencies.tobytes()))


# -- one run ---------------------------------------------------------------------

def one_run(mode, calls, seconds, warmup, base, profile_to=None):
    ctx = mp.get_context("fork")
    sock_a, sock_b = phone_socket(), phone_socket()
    phone_a, phone_b = sock_a.getsockname(), sock_b.getsockname()
    relay = None
    if mode == "direct":
        targets = [(phone_b, phone_a)] * calls
    else:
        parent, child = ctx.Pipe()
        target = run_bare_loop if mode == "bare" else run_softswitch_relay
        extra = (True,) if mode == "relay-udp" else ()
        relay = ctx.Process(target=target, args=(calls, phone_a, phone_b, base, child) + extra,
                            daemon=True)
        relay.start()
        if not parent.poll(60):
            raise RuntimeError(f"{mode} relay did not start")
        targets = parent.recv()

    start = time.time() + 0.3
    window = (start + warmup, start + warmup + seconds)
    stop = window[1] + 0.05
    send_end, send_child = ctx.Pipe()
    recv_end, recv_child = ctx.Pipe()
    sender = ctx.Process(target=run_sender, daemon=True,
                         args=(sock_a, sock_b, targets, start, stop, window, send_child))
    receiver = ctx.Process(target=run_receiver, daemon=True,
                           args=(sock_a, sock_b, (int(window[0] * 1e9), int(window[1] * 1e9)),
                                 stop + 0.5, recv_child))
    receiver.start()
    sender.start()

    time.sleep(max(0.0, window[0] - time.time()))
    pids = {"relay": relay.pid if relay else None, "sender": sender.pid,
            "receiver": receiver.pid}
    before = {k: cpu_seconds(p) for k, p in pids.items() if p}
    busy_before, wall_before = machine_busy_seconds(), time.time()
    spy = None
    if profile_to and relay is not None:
        spy = subprocess.Popen(["py-spy", "record", "-p", str(relay.pid), "-d",
                                str(int(seconds)), "-r", "200", "--idle", "-f", "raw",
                                "-o", profile_to],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(max(0.0, window[1] - time.time()))
    after = {k: cpu_seconds(p) for k, p in pids.items() if p}
    busy = machine_busy_seconds() - busy_before
    wall = time.time() - wall_before

    sent, send_errors = send_end.recv()
    received, raw = recv_end.recv()
    sender.join()
    receiver.join()
    if spy is not None:
        spy.wait()
    relay_ports = set()
    for a, b in targets:
        relay_ports |= {a[1], b[1]}
    drops_phones = udp_drops({phone_a[1], phone_b[1]})
    drops_relay = udp_drops(relay_ports) if relay is not None else 0
    if relay is not None:
        relay.terminate()
        relay.join()
    sock_a.close()
    sock_b.close()

    import numpy as np
    lat = np.frombuffer(raw, dtype=np.int64) / 1e6  # ms
    used = {k: (after[k] - before[k]) / wall for k in after}
    own = sum(after[k] - before[k] for k in after)
    return {
        "mode": mode, "calls": calls, "offered": 100 * calls, "sent": sent,
        "received": received, "send_errors": send_errors,
        "pps": received / seconds, "loss": 1 - received / sent if sent else 0.0,
        "p50": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p99": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "p999": float(np.percentile(lat, 99.9)) if len(lat) else float("nan"),
        "relay_cpu": used.get("relay", 0.0),
        "generator_cpu": used["sender"] + used["receiver"],
        "other_cpu": max(0.0, (busy - own) / wall),
        "drops_phones": drops_phones, "drops_relay": drops_relay,
    }


# -- profile summary --------------------------------------------------------------

def summarize_profile(path: str, top: int = 12) -> str:
    """Own time per function and per source line from py-spy's raw (collapsed) stacks."""
    import linecache

    by_function, by_line, by_file, total = Counter(), Counter(), Counter(), 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            count = int(count)
            leaf = stack.split(";")[-1]
            total += count
            name, _, where = leaf.rpartition(" (")
            where = where.rstrip(")")
            filename, _, lineno = where.rpartition(":")
            by_function[f"{name} ({filename})"] += count
            by_line[(filename, int(lineno or 0), name)] += count
            by_file[filename.rpartition("/")[0].rpartition("/")[2] + "/" +
                    filename.rpartition("/")[2]] += count
    if not total:
        return "no samples"
    out = [f"{total} samples at 200 Hz, idle included (idle = waiting in epoll)", "",
           "own time per function:"]
    for name, count in by_function.most_common(top):
        out.append(f"  {100 * count / total:5.1f}%  {name}")
    out += ["", "own time per line (what the line does):"]
    for (filename, lineno, name), count in by_line.most_common(top):
        source = ""
        for candidate in (filename, os.path.join("softswitch", filename)):
            source = linecache.getline(_resolve(candidate), lineno).strip()
            if source:
                break
        out.append(f"  {100 * count / total:5.1f}%  {name} {filename}:{lineno}  {source[:70]}")
    out += ["", "own time per file:"]
    for filename, count in by_file.most_common(8):
        out.append(f"  {100 * count / total:5.1f}%  {filename}")
    return "\n".join(out)


def _resolve(filename: str) -> str:
    """py-spy shortens paths; find the file under the repository or site-packages."""
    if os.path.isabs(filename) and os.path.exists(filename):
        return filename
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    for root in [here, os.path.dirname(os.__file__)] + sys.path:
        candidate = os.path.join(root, filename)
        if os.path.exists(candidate):
            return candidate
    return filename


# -- main ------------------------------------------------------------------------

def median_run(runs: list[dict]) -> dict:
    """Field by field median of repeated runs (the machine is shared: runs vary)."""
    import statistics

    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="100,300,500,700,900,1100,1300",
                        help="comma-separated concurrent call counts")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per cell, interleaved; the table shows medians")
    parser.add_argument("--modes", default="direct,bare,relay")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the relay at the highest call count")
    parser.add_argument("--port-base", type=int, default=10000,
                        help="relay ports from here (below the ephemeral range)")
    parser.add_argument("--nice", type=int, default=0,
                        help="niceness of the relay and generator processes, each in a "
                             "session (autogroup) of its own; e.g. -10 keeps other work "
                             "on a shared box from preempting them (needs root)")
    parser.add_argument("--realtime", action="store_true",
                        help="run the relay and generator SCHED_FIFO (priority 1), as media "
                             "servers often are: shows the latency without other work's "
                             "preemption (needs root; the kernel still keeps 5 %% for others)")
    args = parser.parse_args()
    global NICE, REALTIME
    NICE, REALTIME = args.nice, args.realtime
    counts = [int(c) for c in args.calls.split(",")]
    modes = args.modes.split(",")
    print(f"# {os.cpu_count()} CPUs; relay on CPU {RELAY_CPU}, generator (sender + receiver) "
          f"on CPU {GENERATOR_CPU}; {args.seconds:g} s measured after {args.warmup:g} s "
          f"warm-up; {PACKET_SIZE}-byte packets, 50/s each way per call; "
          f"median of {args.repeat} run(s) per cell; relay and generator at nice {args.nice}"
          + (", SCHED_FIFO" if args.realtime else ""))
    print(f"# load average before: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    header = ("calls", "mode", "offered pps", "fwd pps", "loss %", "p50 ms", "p99 ms",
              "p99.9 ms", "+p50 ms", "+p99 ms", "relay CPU %", "gen CPU %", "other CPU %",
              "drops relay/phones")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    results = []
    profile_path = None
    for calls in counts:
        runs: dict[str, list] = {mode: [] for mode in modes}
        for attempt in range(args.repeat):
            for mode in modes:
                profile = None
                if args.profile and mode == "relay" and calls == max(counts) and \
                        attempt == args.repeat - 1:
                    if shutil.which("py-spy") is None:
                        print("# py-spy not found: no profile")
                    else:
                        profile = profile_path = tempfile.mktemp(suffix=".txt",
                                                                 prefix="relay-")
                runs[mode].append(one_run(mode, calls, args.seconds, args.warmup,
                                          args.port_base, profile))
        baseline = median_run(runs["direct"]) if "direct" in runs else None
        for mode in modes:
            r = median_run(runs[mode])
            results.append(r)
            added = (r["p50"] - baseline["p50"], r["p99"] - baseline["p99"]) \
                if baseline is not None and mode != "direct" else (float("nan"),) * 2
            print("| " + " | ".join([
                str(calls), mode, f"{r['offered']:,}", f"{r['pps']:,.0f}",
                f"{100 * r['loss']:.3f}", f"{r['p50']:.3f}", f"{r['p99']:.3f}",
                f"{r['p999']:.3f}", f"{added[0]:.3f}", f"{added[1]:.3f}",
                f"{100 * r['relay_cpu']:.1f}", f"{100 * r['generator_cpu']:.1f}",
                f"{100 * r['other_cpu']:.1f}", f"{r['drops_relay']:.0f}/{r['drops_phones']:.0f}",
            ]) + " |", flush=True)

    print("\n# relay vs bare loop, packets/s per core = forwarded pps / relay CPU fraction")
    by = {(r["calls"], r["mode"]): r for r in results}
    for calls in counts:
        bare = by.get((calls, "bare"))
        for mode in ("relay", "relay-udp"):
            ours = by.get((calls, mode))
            if not bare or not ours or not bare["relay_cpu"] or not ours["relay_cpu"]:
                continue
            bare_core = bare["pps"] / bare["relay_cpu"]
            ours_core = ours["pps"] / ours["relay_cpu"]
            print(f"#   {calls:5d} calls: bare {bare_core:,.0f} pps/core, {mode} "
                  f"{ours_core:,.0f} pps/core = {100 * ours_core / bare_core:.0f} % of bare; "
                  f"{mode} forwarded {100 * ours['pps'] / bare['pps']:.1f} % of the bare "
                  "loop's packets/s")
    if profile_path and os.path.exists(profile_path):
        print(f"\n# profile of the relay at {max(counts)} calls (py-spy, last run)\n")
        print(summarize_profile(profile_path))


if __name__ == "__main__":
    main()
