"""The load generator of `bench_agent_calls.py` (its own process): a small SIP UAC over
UDP that places the calls (INVITE with a PCMU offer, 100, 180, 200, ACK) and keeps them
up, sends each call's tagged 20 ms µ-law frames on a drift-free schedule, reads the
switch's RTP with kernel receive timestamps (SO_TIMESTAMPNS), hangs every call up (BYE)
and prints its figures as one JSON line (`result {...}`). The driver's docstring defines
them.

    python bench/agent_load.py --switch HOST:PORT --calls N --seconds S [--warmup W]
                               [--cps R] [--echo-delay D] [--did DID] [--ip IP] [--stamped]
"""

import argparse
import collections
import heapq
import json
import resource
import select
import socket
import struct
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from echo_agent import SO_TIMESTAMPNS, STAMP  # noqa: E402

CARRIER_IP = "127.0.0.2"
CALLER = "+12125550123"
DID = "+14155550100"
FRAME_S = 0.02
TAG = struct.Struct(">II")  # call index, frame number (bytes 0-7)
MAGIC = b"\x5a\xa5\xc3\x3c"  # bytes 8-11 of a tagged frame
FILLER = bytes([0xFF]) * 128  # µ-law silence after the tag
RTP = struct.Struct("!BBHII")
# Seconds after the window (plus the echo delay) for the last echoes: after a stall an
# echo agent's audio stands in the playout queue for good (see `queue`), up to seconds.
WINDOW_TAIL = 3.0


class GenCall:
    __slots__ = ("idx", "call_id", "tag", "branch", "sock", "port", "remote", "state",
                 "to", "contact", "invite", "invite_at", "invite_tries", "bye", "bye_at",
                 "bye_tries", "sent", "seq", "ts", "ssrc", "x", "x_window", "last_seq",
                 "gaps", "received", "echoes", "echoed", "rtp_in", "untagged",
                 "duplicates")

    def __init__(self, idx: int, ip: str):
        self.idx = idx
        self.call_id = f"{uuid.uuid4().hex}@{ip}"
        self.tag = uuid.uuid4().hex[:10]
        self.branch = "z9hG4bK" + uuid.uuid4().hex
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.port = self.sock.getsockname()[1]
        self.remote = None
        self.state = "new"  # new, inviting, up, failed, ending, ended
        self.to = self.contact = None
        self.invite = b""
        self.invite_at = 0.0
        self.invite_tries = 0
        self.bye = b""
        self.bye_at = 0.0
        self.bye_tries = 0
        self.sent = []  # send time of frame n
        self.seq = idx * 7919 & 0xFFFF
        self.ts = idx * 104729 & 0xFFFFFFFF
        self.ssrc = 0x10000000 + idx
        self.x = float("inf")  # min over packets of (arrival - 20 ms * slot): start
        self.x_window = []  # (arrival - 20 ms * slot) of the window's packets
        self.last_seq = None
        self.gaps = 0
        self.received = None  # RTP timestamp of the first packet (slot 0)
        self.echoes = []  # (frame, slot k, agent time, arrival) of window frames
        self.echoed = bytearray()  # per frame: echoes seen
        self.rtp_in = 0
        self.untagged = 0
        self.duplicates = 0


class Generator:
    def __init__(self, args):
        self.args = args
        self.ip = args.ip
        host, _, port = args.switch.rpartition(":")
        self.switch = (host, int(port))
        self.did_digits = args.did.removeprefix("+")  # 11 digits: the trunk is nanp
        self.echo_delay = args.echo_delay
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((self.ip, 0))
        self.sip.setblocking(False)
        self.sip.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sip_port = self.sip.getsockname()[1]
        self.ep = select.epoll()
        self.ep.register(self.sip.fileno(), select.EPOLLIN)
        self.calls = [GenCall(i, self.ip) for i in range(args.calls)]
        self.by_fd = {c.sock.fileno(): c for c in self.calls}
        self.by_call_id = {c.call_id: c for c in self.calls}
        for call in self.calls:
            self.ep.register(call.sock.fileno(), select.EPOLLIN)
        self.heap = []  # (due, idx): next frame of each call that is up
        self.base = time.time()
        self.window = (float("inf"), float("inf"))
        self.send_late = []  # lateness of the generator's own sends in the window

    # -- SIP ----------------------------------------------------------------------------
    def _invite(self, call: GenCall) -> bytes:
        sdp = (f"v=0\r\no=gen {call.idx} 1 IN IP4 {self.ip}\r\ns=-\r\nc=IN IP4 {self.ip}\r\n"
               f"t=0 0\r\nm=audio {call.port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
               "a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n")
        host, port = self.switch
        return (f"INVITE sip:{self.did_digits}@{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {self.ip}:{self.sip_port};branch={call.branch};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{CALLER}@{self.ip}>;tag={call.tag}\r\n"
                f"To: <sip:{self.did_digits}@{host}>\r\n"
                f"Call-ID: {call.call_id}\r\nCSeq: 1 INVITE\r\n"
                f"Contact: <sip:gen@{self.ip}:{self.sip_port}>\r\n"
                "Content-Type: application/sdp\r\n"
                f"Content-Length: {len(sdp)}\r\n\r\n{sdp}").encode()

    def _in_dialog(self, call: GenCall, method: str, cseq: int, branch: str | None = None,
                   uri: str | None = None) -> bytes:
        branch = branch or "z9hG4bK" + uuid.uuid4().hex
        return (f"{method} {uri or call.contact} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {self.ip}:{self.sip_port};branch={branch};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{CALLER}@{self.ip}>;tag={call.tag}\r\n"
                f"To: {call.to}\r\nCall-ID: {call.call_id}\r\nCSeq: {cseq} {method}\r\n"
                "Content-Length: 0\r\n\r\n").encode()

    def _sip_received(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers.setdefault(name.strip().lower(), value.strip())
        call = self.by_call_id.get(headers.get("call-id") or headers.get("i"))
        if call is None:
            return
        first = lines[0]
        if not first.startswith("SIP/2.0"):  # a request from the switch (BYE)
            if first.startswith("ACK"):
                return
            ok = "SIP/2.0 200 OK\r\n" + "".join(
                f"{name}: {headers[name.lower()]}\r\n" for name in
                ("Via", "From", "To", "Call-ID", "CSeq")) + "Content-Length: 0\r\n\r\n"
            self.sip.sendto(ok.encode(), self.switch)
            if first.startswith("BYE"):
                call.state = "ended"
            return
        status = int(first.split()[1])
        method = headers.get("cseq", "").split()[-1]
        if method == "INVITE":
            if status < 200:
                call.invite_tries = 99  # provisional: no more retransmissions
                return
            call.to = headers.get("to") or headers.get("t")
            if status >= 300:
                ack = self._in_dialog(call, "ACK", 1, call.branch,
                                      f"sip:{self.did_digits}@{self.switch[0]}")
                self.sip.sendto(ack, self.switch)
                call.state = "failed"
                return
            contact = headers.get("contact") or headers.get("m") or ""
            call.contact = contact.strip("<>").split(">")[0] or f"sip:{self.switch[0]}"
            self.sip.sendto(self._in_dialog(call, "ACK", 1), self.switch)
            if call.state != "inviting":
                return  # a retransmitted 200: ACKed again
            address = port = None
            for line in body.split("\r\n"):
                if line.startswith("c="):
                    address = line.split()[-1]
                elif line.startswith("m=audio"):
                    port = int(line.split()[1])
            call.remote = (address, port)
            call.state = "up"
            now = time.time()
            phase = call.idx * FRAME_S / len(self.calls)
            cycles = max(0, int((now - self.base - phase) / FRAME_S) + 1)
            heapq.heappush(self.heap, (self.base + phase + cycles * FRAME_S, call.idx))
        elif method == "BYE" and status >= 200:
            call.state = "ended"

    # -- RTP --------------------------------------------------------------------------------
    def _send_frames(self, now: float) -> None:
        heap, calls = self.heap, self.calls
        start, end = self.window
        while heap and heap[0][0] <= now:
            due, idx = heapq.heappop(heap)
            call = calls[idx]
            if call.state not in ("up", "ending"):
                continue
            frame = len(call.sent)
            packet = (RTP.pack(0x80, 0, call.seq, call.ts, call.ssrc) + TAG.pack(idx, frame)
                      + MAGIC + bytes(20) + FILLER)
            at = time.time()
            try:
                call.sock.sendto(packet, call.remote)
            except OSError:
                pass
            call.sent.append(at)
            call.seq = (call.seq + 1) & 0xFFFF
            call.ts = (call.ts + 160) & 0xFFFFFFFF
            if start <= at < end:
                self.send_late.append(at - due)
            heapq.heappush(heap, (due + FRAME_S, idx))

    def _rtp_received(self, call: GenCall) -> None:
        recvmsg = call.sock.recvmsg
        start, end = self.window
        while True:
            try:
                data, ancillary, _, _ = recvmsg(2048, 64)
            except BlockingIOError:
                return
            arrival = None
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanos = struct.unpack("qq", value[:16])
                    arrival = seconds + nanos * 1e-9
            if arrival is None:
                arrival = time.time()
            if len(data) < 12:
                continue
            _, second, seq, timestamp, _ = RTP.unpack_from(data)
            if second & 0x7F != 0:
                continue
            if call.received is None:
                call.received = timestamp
            slot = ((timestamp - call.received) & 0xFFFFFFFF) // 160
            x = arrival - FRAME_S * slot
            if x < call.x:
                call.x = x
            in_window = start <= arrival < end
            if in_window:
                call.rtp_in += 1
                call.x_window.append(x)
                if call.last_seq is not None:
                    call.gaps += (seq - call.last_seq - 1) & 0xFFFF
            call.last_seq = seq if in_window else None
            payload = data[12:]
            if payload[8:12] != MAGIC:
                if in_window:
                    call.untagged += 1
                continue
            idx, frame = TAG.unpack_from(payload)
            if idx != call.idx or frame >= len(call.sent):
                continue
            if len(call.echoed) <= frame:
                call.echoed.extend(bytes(frame + 1 - len(call.echoed)))
            call.echoed[frame] += 1
            if call.echoed[frame] > 1:
                call.duplicates += 1
                continue
            if start <= call.sent[frame] < end:
                k, agent_at, read_at = STAMP.unpack_from(payload, 12)
                call.echoes.append((frame, k, agent_at, read_at, arrival))

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> dict:
        args = self.args
        pending = collections.deque(self.calls)
        spacing = 1.0 / args.cps
        next_invite = time.time()
        setup_deadline = time.time() + len(self.calls) / args.cps + 15
        phase = "setup"
        phase_end = None
        up_at = None
        while True:
            now = time.time()
            if phase == "setup":
                while pending and next_invite <= now:
                    call = pending.popleft()
                    call.invite = self._invite(call)
                    call.state, call.invite_at, call.invite_tries = "inviting", now, 1
                    self.sip.sendto(call.invite, self.switch)
                    next_invite += spacing
                for call in self.calls:  # Timer A, roughly
                    if call.state == "inviting" and call.invite_tries < 4 \
                            and now - call.invite_at > 0.5 * call.invite_tries:
                        self.sip.sendto(call.invite, self.switch)
                        call.invite_tries += 1
                settled = not pending and all(c.state != "inviting" for c in self.calls)
                if settled or now > setup_deadline:
                    up_at = now
                    up = sum(c.state == "up" for c in self.calls)
                    print(f"up {up} {now - self.base:.2f}", flush=True)
                    phase, phase_end = "warmup", now + self.echo_delay + args.warmup
            elif phase == "warmup" and now >= phase_end:
                self.window = (now, now + args.seconds)
                print("window-start", flush=True)
                phase, phase_end = "window", self.window[1]
            elif phase == "window" and now >= phase_end:
                print("window-end", flush=True)
                phase, phase_end = "tail", now + self.echo_delay + WINDOW_TAIL
            elif phase == "tail" and now >= phase_end:
                for call in self.calls:
                    if call.state == "up":
                        call.bye = self._in_dialog(call, "BYE", 2)
                        call.state, call.bye_at, call.bye_tries = "ending", now, 1
                        self.sip.sendto(call.bye, self.switch)
                phase, phase_end = "hangup", now + 5
            elif phase == "hangup":
                for call in self.calls:
                    if call.state == "ending" and now - call.bye_at > 0.5 * call.bye_tries \
                            and call.bye_tries < 6:
                        self.sip.sendto(call.bye, self.switch)
                        call.bye_tries += 1
                if all(c.state != "ending" for c in self.calls) or now >= phase_end:
                    break
            self._send_frames(now)
            due = self.heap[0][0] if self.heap else now + 0.01
            if phase == "setup" and pending:
                due = min(due, next_invite)
            timeout = min(max(0.0, due - time.time()), 0.01)
            for fd, _ in self.ep.poll(timeout):
                if fd == self.sip.fileno():
                    while True:
                        try:
                            data = self.sip.recv(65535)
                        except BlockingIOError:
                            break
                        self._sip_received(data)
                else:
                    self._rtp_received(self.by_fd[fd])
        return self.report(up_at)

    def report(self, up_at) -> dict:
        args = self.args
        up = [c for c in self.calls if c.echoed or c.rtp_in]
        up_count = sum(c.state in ("up", "ending", "ended") and c.remote is not None
                       for c in self.calls)
        caller_agent, agent_read, hold, rtp_late, round_trip, standing = [], [], [], [], [], []
        sent = echoed = gaps = untagged = duplicates = rtp_in = shrunk = 0
        start, end = self.window
        for call in self.calls:
            base = call.x  # start + the smallest delay: the schedule's origin
            rtp_late += [x - base for x in call.x_window]
            window_frames = [n for n, at in enumerate(call.sent) if start <= at < end]
            sent += len(window_frames)
            echoed += len(call.echoes)
            gaps += call.gaps
            untagged += call.untagged
            duplicates += call.duplicates
            rtp_in += call.rtp_in
            if args.stamped:  # missing frames whose neighbours took adjacent slots
                slot_of = {frame: k for frame, k, _, _, _ in call.echoes}
                for frame in window_frames:
                    if frame not in slot_of and frame - 1 in slot_of and frame + 1 in slot_of \
                            and slot_of[frame + 1] - slot_of[frame - 1] == 1:
                        shrunk += 1
            trips = []
            for frame, k, agent_at, read_at, arrival in call.echoes:
                deadline = base + FRAME_S * k
                if args.stamped:
                    caller_agent.append(agent_at - deadline)
                    agent_read.append(read_at - deadline)
                    hold.append(deadline - call.sent[frame])
                    trips.append(arrival - deadline - self.echo_delay - FRAME_S)
                else:
                    trips.append(arrival - call.sent[frame] - self.echo_delay)
            round_trip += trips
            if trips:
                standing.append(min(trips))
        late = sum(1 for d in rtp_late if d > FRAME_S)
        return {
            "calls": len(self.calls), "up": up_count, "with_audio": len(up),
            "failed": sum(c.state == "failed" for c in self.calls),
            "setup_s": (up_at - self.base) if up_at else None,
            "window_s": args.seconds, "sent": sent, "echoed": echoed,
            # A frame the jitter buffer dropped to shrink its delay (by design, at most one
            # a second) is not lost: the frames around it took adjacent slots.
            "lost": (sent - echoed - shrunk) + gaps, "not_echoed": sent - echoed,
            "jb_shrink_drops": shrunk, "rtp_gaps": gaps,
            "rtp_in": rtp_in, "untagged": untagged, "duplicates": duplicates,
            "late_frames": late,
            "caller_agent": percentiles(caller_agent), "agent_read": percentiles(agent_read),
            "hold": percentiles(hold),
            "rtp_late": percentiles(rtp_late), "round_trip": percentiles(round_trip),
            "standing": percentiles(standing),
            "send_late": percentiles(self.send_late),
            "hung_up": sum(c.state == "ended" for c in self.calls),
        }


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    values = sorted(values)
    n = len(values)

    def at(q):
        return values[min(n - 1, int(q * n))]
    return {"n": n, "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p999": at(0.999),
            "max": values[-1], "mean": sum(values) / n}


def generator_main(args) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = Generator(args).run()
    print("result " + json.dumps(result), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--switch", required=True, help="the switch's SIP address, host:port")
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True, help="measurement window")
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--cps", type=float, default=100.0)
    parser.add_argument("--echo-delay", type=float, default=0.5)
    parser.add_argument("--did", default=DID)
    parser.add_argument("--ip", default=CARRIER_IP, help="the carrier's source address")
    parser.add_argument("--stamped", action="store_true",
                        help="the echo agent stamps slot and times into the payload")
    generator_main(parser.parse_args())
