"""SRTP relay cost: packets per second per core of the relay with SDES-SRTP legs against
plain RTP, in the same run.

    python bench/bench_srtp_relay.py --calls 100,300,500 --seconds 4 --repeat 3

Same load and processes as bench_rtp_relay.py (whose helpers it uses): N concurrent
bidirectional G.711 calls, 172-byte RTP packets at 50/s each way, the relay pinned to
CPU 0 and the load generator to CPU 1. Three relay modes per N, interleaved:

- `plain`: both legs plain RTP (bench_rtp_relay's `relay`);
- `srtp-1`: the caller's leg SRTP (AES_CM_128_HMAC_SHA1_80, the switch's own key in its
  answer), the callee's plain: each packet is unprotected or protected once;
- `srtp-2`: both legs SRTP (the callee's leg offered SRTP by the relay, `encryption`
  "sdes"): each packet is unprotected with one leg's keys and protected with the other's.

The generator's SRTP side uses its own libsrtp binding (pylibsrtp): it protects what it
sends and unprotects what it receives (the latency stamp is inside the encrypted
payload). pps/core = forwarded packets/s divided by the relay process's CPU fraction.
"""

import argparse
import array
import base64
import multiprocessing as mp
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import bench_rtp_relay as plain  # noqa: E402

SUITE = "AES_CM_128_HMAC_SHA1_80"
PHONE_KEY = bytes(range(30))  # the generator's own master key || salt, both phones


def sdp(port: int, srtp: bool, tag: int = 1, key: bytes = PHONE_KEY) -> bytes:
    body = plain.phone_sdp(port).decode()
    if not srtp:
        return body.encode()
    body = body.replace("RTP/AVP", "RTP/SAVP")
    return (body + f"a=crypto:{tag} {SUITE} inline:{base64.b64encode(key).decode()}\r\n"
            ).encode()


def crypto_key(body: bytes, suite: str = SUITE) -> tuple[int, bytes] | None:
    for line in body.decode().split("\r\n"):
        if line.startswith("a=crypto:"):
            tag, found, inline = line[len("a=crypto:"):].split()[:3]
            if found == suite:
                return int(tag), base64.b64decode(inline.partition(":")[2].partition("|")[0])
    return None


def run_relay(calls, phone_a, phone_b, base, conn, mode):
    plain.pin(plain.RELAY_CPU)
    from twisted.internet import epollreactor
    epollreactor.install()
    from twisted.internet import reactor

    from softswitch.edge.media.relay import RtpRelay
    from softswitch.sdp import parse_sdp
    from softswitch.services.media_control import RegionConfig

    region = RegionConfig("bench", plain.HOST, plain.HOST, base, base + 4 * calls + 64)
    relay = RtpRelay(reactor, {"bench": region}, "bench", inactivity_timeout=3600.0)
    srtp_a, srtp_b = mode != "plain", mode == "srtp-2"
    targets = []
    for i in range(calls):
        results = []
        relay.offer(f"call-{i}", "a", sdp(phone_a[1], srtp_a), secure=True,
                    encryption="sdes" if srtp_b else None).addCallback(results.append)
        offer = results[0]
        b_key = None
        answer_b = sdp(phone_b[1], False)
        if srtp_b:
            tag, b_key = crypto_key(offer)  # the relay's key toward phone B
            answer_b = sdp(phone_b[1], True, tag)
        relay.answer(f"call-{i}", "a", "b", answer_b).addCallback(results.append)
        answer = results[1]
        a_key = crypto_key(answer)[1] if srtp_a else None
        to_b, to_a = (parse_sdp(body).media[0].port for body in results)
        targets.append(((plain.HOST, to_a), (plain.HOST, to_b), a_key, b_key))
    conn.send(targets)
    reactor.run()


def _session(key, outbound):
    from pylibsrtp import Policy, Session
    kind = Policy.SSRC_ANY_OUTBOUND if outbound else Policy.SSRC_ANY_INBOUND
    return Session(Policy(key=key, ssrc_type=kind,
                          srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80))


def run_sender(sock_a, sock_b, targets, start, stop, window, conn):
    plain.pin(plain.GENERATOR_CPU)
    calls = len(targets)
    tx = _session(PHONE_KEY, True)
    slots = [[] for _ in range(plain.SLOTS)]
    for i, (to_a_side, to_b_side, a_key, b_key) in enumerate(targets):
        for direction, (sock, destination, secure) in enumerate(
                ((sock_a, to_a_side, a_key is not None), (sock_b, to_b_side, b_key is not None))):
            packet = bytearray(b"\xff" * plain.PACKET_SIZE)
            struct.pack_into("!BBHII", packet, 0, 0x80, 0, 0, 0, 2 * i + direction)
            slots[(i * plain.SLOTS) // calls].append(
                (sock.sendto, packet, destination, i, direction, secure))
    sent = errors = 0
    low, high = int(window[0] * 1e9), int(window[1] * 1e9)
    protect = tx.protect
    tick = 0
    while True:
        due = start + tick * 0.001
        if due >= stop:
            break
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        seq = tick // plain.SLOTS
        for sendto, packet, destination, call, direction, secure in slots[tick % plain.SLOTS]:
            plain._SEQ_TS.pack_into(packet, 2, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF)
            stamp = time.time_ns()
            plain._STAMP.pack_into(packet, 12, call, direction, stamp)
            try:
                sendto(protect(bytes(packet)) if secure else packet, destination)
            except OSError:
                errors += 1
                continue
            if low <= stamp < high:
                sent += 1
        tick += 1
    conn.send((sent, errors))


def run_receiver(sock_a, sock_b, targets, window_ns, until, conn):
    plain.pin(plain.GENERATOR_CPU)
    # What arrives on phone X comes from the relay's port facing X, protected with the
    # relay's key for that leg when the leg is SRTP.
    sessions = {}
    for to_a_side, to_b_side, a_key, b_key in targets:
        if a_key is not None:
            sessions[(sock_a.fileno(), to_a_side[1])] = _session(a_key, False).unprotect
        if b_key is not None:
            sessions[(sock_b.fileno(), to_b_side[1])] = _session(b_key, False).unprotect
    poller = select.epoll()
    socks = {}
    for sock in (sock_a, sock_b):
        sock.setsockopt(socket.SOL_SOCKET, plain.SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        poller.register(sock.fileno(), select.EPOLLIN)
        socks[sock.fileno()] = sock.recvmsg
    latencies = array.array("q")
    timespec = struct.Struct("@qq").unpack_from
    low, high = window_ns
    received = failures = 0
    while time.time() < until:
        for fd, _ in poller.poll(0.05):
            recvmsg = socks[fd]
            while True:
                try:
                    data, ancillary, _, source = recvmsg(2048, 64)
                except BlockingIOError:
                    break
                unprotect = sessions.get((fd, source[1]))
                if unprotect is not None:
                    try:
                        data = unprotect(data)
                    except Exception:
                        failures += 1
                        continue
                sent_at = plain._STAMP.unpack_from(data, 12)[2]
                if low <= sent_at < high:
                    received += 1
                    for _, kind, value in ancillary:
                        if kind == plain.SO_TIMESTAMPNS:
                            seconds, nanoseconds = timespec(value)
                            latencies.append(seconds * 1_000_000_000 + nanoseconds - sent_at)
    conn.send((received, latencies.tobytes(), failures))


def one_run(mode, calls, seconds, warmup, base):
    ctx = mp.get_context("fork")
    sock_a, sock_b = plain.phone_socket(), plain.phone_socket()
    parent, child = ctx.Pipe()
    relay = ctx.Process(target=run_relay, daemon=True, args=(
        calls, sock_a.getsockname(), sock_b.getsockname(), base, child, mode))
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
    receiver = ctx.Process(target=run_receiver, daemon=True, args=(
        sock_a, sock_b, targets, (int(window[0] * 1e9), int(window[1] * 1e9)), stop + 0.5,
        recv_child))
    receiver.start()
    sender.start()
    time.sleep(max(0.0, window[0] - time.time()))
    before, wall_before = plain.cpu_seconds(relay.pid), time.time()
    time.sleep(max(0.0, window[1] - time.time()))
    relay_cpu = (plain.cpu_seconds(relay.pid) - before) / (time.time() - wall_before)
    sent, _ = send_end.recv()
    received, raw, failures = recv_end.recv()
    sender.join()
    receiver.join()
    relay.terminate()
    relay.join()
    sock_a.close()
    sock_b.close()
    import numpy as np
    lat = np.frombuffer(raw, dtype=np.int64) / 1e6
    return {"mode": mode, "calls": calls, "pps": received / seconds,
            "loss": 1 - received / sent if sent else 0.0, "relay_cpu": relay_cpu,
            "p50": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            "p99": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
            "failures": failures}


def packet_path(mode: str, packets: int = 200_000) -> float:
    """Packets per CPU second of the relay's packet path alone (`RelayPort.
    datagramReceived` down to the partner's `sendto`, which is a no-op here): one call
    set up as in `run_relay`, then caller-to-callee and callee-to-caller packets in turn,
    without sockets, system calls or the generator."""
    from twisted.internet.epollreactor import EPollReactor
    from softswitch.edge.media.relay import RtpRelay
    from softswitch.services.media_control import RegionConfig

    reactor = EPollReactor()  # never run nor installed: the relay runs forked ones
    base = 40000 + 4 * (os.getpid() % 2000)
    relay = RtpRelay(reactor, {"b": RegionConfig("b", plain.HOST, plain.HOST, base, base + 40)},
                     "b", inactivity_timeout=3600.0)
    srtp_a, srtp_b = mode != "plain", mode == "srtp-2"
    got = []
    relay.offer("c", "a", sdp(5000, srtp_a), secure=True,
                encryption="sdes" if srtp_b else None).addCallback(got.append)
    answer_b = sdp(6000, True, crypto_key(got[0])[0]) if srtp_b else sdp(6000, False)
    relay.answer("c", "a", "b", answer_b).addCallback(got.append)
    call = relay.live_calls()[0]
    port_a, port_b = call.caller.streams[0].rtp, call.callee.streams[0].rtp
    for port in (port_a, port_b):
        port.sendto = lambda data, dest: None
    tx = _session(PHONE_KEY, True)
    from_a, from_b = [], []
    for seq in range(packets // 2):
        packet = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 0xA) + b"\xff" * 160
        from_a.append(tx.protect(packet) if srtp_a else packet)
        packet = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 0xB) + b"\xff" * 160
        from_b.append(tx.protect(packet) if srtp_b else packet)
    addr_a, addr_b = (plain.HOST, 5000), (plain.HOST, 6000)
    receive_a, receive_b = port_a.datagramReceived, port_b.datagramReceived
    started = time.process_time()
    for a, b in zip(from_a, from_b):
        receive_a(a, addr_a)
        receive_b(b, addr_b)
    spent = time.process_time() - started
    forwarded = port_a.forwarded + port_b.forwarded
    relay.close()
    assert forwarded == packets, (mode, forwarded)
    return packets / spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="100,300,500")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--modes", default="plain,srtp-1,srtp-2")
    parser.add_argument("--port-base", type=int, default=10000)
    parser.add_argument("--path-only", action="store_true",
                        help="only the in-process packet path figures (no sockets)")
    args = parser.parse_args()
    modes = args.modes.split(",")
    plain.pin(plain.RELAY_CPU)
    path = {mode: max(packet_path(mode) for _ in range(3)) for mode in modes}
    print("# the packet path alone (in process, no system calls), best of 3 x 200,000 packets:")
    for mode in modes:
        print(f"#   {mode:7s} {path[mode]:>10,.0f} packets per CPU second"
              + (f" = {100 * path[mode] / path['plain']:.0f} % of plain" if "plain" in path
                 else ""))
    if args.path_only:
        return
    print(f"# relay on CPU {plain.RELAY_CPU}, generator on CPU {plain.GENERATOR_CPU}; "
          f"{args.seconds:g} s measured; median of {args.repeat} run(s); load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}")
    header = ("calls", "mode", "fwd pps", "loss %", "p50 ms", "p99 ms", "relay CPU %",
              "pps/core", "vs plain", "SRTP failures")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for calls in (int(c) for c in args.calls.split(",")):
        runs = {mode: [] for mode in modes}
        for _ in range(args.repeat):
            for mode in modes:
                runs[mode].append(one_run(mode, calls, args.seconds, args.warmup,
                                          args.port_base))
        per_core = {}
        for mode in modes:
            r = plain.median_run(runs[mode])
            per_core[mode] = r["pps"] / r["relay_cpu"] if r["relay_cpu"] else float("nan")
            ratio = per_core[mode] / per_core["plain"] if "plain" in per_core else float("nan")
            print("| " + " | ".join([
                str(calls), mode, f"{r['pps']:,.0f}", f"{100 * r['loss']:.3f}",
                f"{r['p50']:.3f}", f"{r['p99']:.3f}", f"{100 * r['relay_cpu']:.1f}",
                f"{per_core[mode]:,.0f}", f"{100 * ratio:.0f} %", f"{r['failures']:.0f}",
            ]) + " |", flush=True)


if __name__ == "__main__":
    main()
