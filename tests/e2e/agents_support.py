"""Helpers for the end-to-end agent call tests: the caller's audio as a pcap for SIPp,
a UDP socket that receives the switch's RTP where SIPp's SDP says, agents and numbers
seeded into the database, and a WebSocket agent on the `websockets` library (another
implementation than the switch's wsproto client) that records what it gets.

Media. SIPp 3.6 cannot record RTP, so the caller's scenarios advertise
`m=audio [media_port+4]`: SIPp plays `play_pcap_audio` over a raw socket *from* the
port written in the SDP's m= line, but it only binds -mp and -mp+2 itself. A
`MediaSink` holds -mp+4 on the caller's address: the switch sends its RTP to the
advertised address, latches at once on the caller's first packet (which comes from that
same address), and everything it sends — the agent's audio, paced — lands in the sink.

The caller's signal is made here with a small µ-law encoder (not the switch's tables),
so the two check each other: `chirp_frames` is a sweep in which every 20 ms frame is
different, and `write_audio_pcap` writes any frames as a standard pcap (Ethernet, IPv4,
UDP, RTP 20 ms apart) that SIPp replays with the capture's timing. Run this file to
write the tone used by the tests to a pcap of your own:

    python tests/e2e/agents_support.py caller.pcap [seconds]
"""

import asyncio
import base64
import json
import math
import random
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.exceptions import ConnectionClosed

from softswitch.store import agents as agent_store
from softswitch.store import numbers as number_store
from softswitch.store.database import Database
from softswitch.store.tables import trunks

FRAME = 160  # bytes of G.711 per 20 ms
FRAME_S = 0.02
ULAW_SILENCE = 0xFF
SILENCE_FRAME = bytes([ULAW_SILENCE]) * FRAME
PCMU = 0


# -- the caller's signal ---------------------------------------------------------------
def ulaw_encode_sample(sample: int) -> int:
    """One 16-bit linear sample to µ-law (the classic CCITT G.711 reference)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = max(0, magnitude.bit_length() - 8)
    exponent = min(exponent, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode(data: bytes) -> list[int]:
    out = []
    for code in data:
        code = ~code & 0xFF
        magnitude = (((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 0x07)
        out.append(0x84 - magnitude if code & 0x80 else magnitude - 0x84)
    return out


def chirp_frames(frames: int, start_hz: float = 300.0, end_hz: float = 3000.0,
                 amplitude: float = 8000.0) -> list[bytes]:
    """A linear sweep from start_hz to end_hz, µ-law, in 160-byte frames: a tone whose
    every frame is different, so order, loss and duplication all show."""
    total = frames * FRAME
    rate = 8000.0
    out = bytearray()
    for n in range(total):
        t = n / rate
        phase = 2 * math.pi * (start_hz * t + (end_hz - start_hz) * t * t / (2 * total / rate))
        out.append(ulaw_encode_sample(int(amplitude * math.sin(phase))))
    return [bytes(out[i * FRAME:(i + 1) * FRAME]) for i in range(frames)]


def dominant_hz(frame: bytes) -> float:
    """The frequency of a tone frame, from its zero crossings (enough for a check)."""
    samples = ulaw_decode(frame)
    crossings = sum(1 for a, b in zip(samples, samples[1:]) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / 8000.0)


def rtp(seq: int, timestamp: int, ssrc: int, payload: bytes, payload_type: int = PCMU,
        marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (payload_type & 0x7F) | (0x80 if marker else 0),
                       seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


def write_audio_pcap(path: Path, frames: list[bytes], ssrc: int = 0xCA11E401,
                     payload_type: int = PCMU) -> Path:
    """A pcap (libpcap format 2.4, Ethernet) of one RTP packet per frame, 20 ms apart,
    sequence numbers and timestamps from 1 and 0, the first with the marker bit. SIPp's
    play_pcap_audio sends the UDP payloads with this timing from the caller's media
    address to the address of the switch's SDP answer (the addresses here are unused)."""
    return write_rtp_pcap(path, [(i * 20, i + 1, i * FRAME, payload_type, payload, i == 0)
                                 for i, payload in enumerate(frames)], ssrc)


def write_rtp_pcap(path: Path, packets: list[tuple], ssrc: int = 0xCA11E401) -> Path:
    """A pcap of RTP packets given as (ms after the first, sequence number, timestamp,
    payload type, payload, marker): pauses, comfort noise and the like."""
    records = []
    for i, (at_ms, seq, timestamp, payload_type, payload, marker) in enumerate(packets):
        packet = rtp(seq, timestamp, ssrc, payload, payload_type, marker=marker)
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(packet), 0) + packet
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17,
                             0, socket.inet_aton("192.0.2.1"), socket.inet_aton("192.0.2.2"))
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        frame = b"\x00" * 12 + b"\x08\x00" + header + udp
        micros = at_ms * 1000
        records.append(struct.pack("<IIII", 1_700_000_000 + micros // 1_000_000,
                                   micros % 1_000_000, len(frame), len(frame)) + frame)
    path = Path(path)
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                     + b"".join(records))
    return path


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# -- the switch's RTP, where SIPp's SDP points ------------------------------------------
@dataclass(frozen=True)
class RtpIn:
    at: float  # time.monotonic() of arrival
    source: tuple[str, int]
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


class MediaSink:
    """A UDP socket on the caller's advertised media address that keeps every RTP
    packet the switch sends there (a reader thread; `close()` stops it)."""

    def __init__(self, ip: str, port: int, sock: socket.socket | None = None):
        self.ip, self.port = ip, port
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((ip, port))
        self._sock = sock
        self._sock.settimeout(0.1)
        self.packets: list[RtpIn] = []
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                data, source = self._sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            first, second, seq, timestamp, ssrc = struct.unpack("!BBHII", data[:12])
            self.packets.append(RtpIn(time.monotonic(), source, second & 0x7F,
                                      bool(second & 0x80), seq, timestamp, ssrc, data[12:]))

    def close(self) -> None:
        self._running = False
        self._thread.join(2)
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def audio(self) -> list[RtpIn]:
        return [p for p in self.packets if p.payload_type == PCMU]


def caller_media(ip: str, attempts: int = 200) -> tuple[int, MediaSink]:
    """A SIPp -mp base port for a caller on `ip` (base and base+2 free for SIPp) and a
    MediaSink already holding base+4, the port the agent scenarios advertise."""
    for _ in range(attempts):
        base = random.randrange(30000, 60000, 2)
        held = []
        try:
            for port in (base, base + 2, base + 4):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind((ip, port))
        except OSError:
            for sock in held:
                sock.close()
            continue
        for sock in held[:2]:
            sock.close()  # SIPp takes these two
        return base, MediaSink(ip, base + 4, held[2])
    raise RuntimeError(f"no free media ports on {ip}")


def closed_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on (bound and released): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# -- agents and numbers in the switch's database -----------------------------------------
@dataclass(frozen=True)
class AgentRow:
    name: str
    url: str
    profile: str = "twilio"
    sample_rate: int = 8000
    custom_parameters: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    caller_ids: tuple[str, ...] = ()  # numbers it may present (services.caller_id)
    sip_headers: tuple[str, ...] = ()  # INVITE headers for its start message


def seed_agents(db_url: str, agents: list[AgentRow],
                numbers: list[tuple[str, tuple[tuple[str, str], ...]]]) -> None:
    """Agents, and numbers whose route names agents and trunks (("agent", "bot"),
    ("trunk", "humans")), through the store's own functions, in one transaction. The
    trunks must exist already (calls_support.seed_routing)."""
    database = Database(db_url, reactor=None)

    def seed(conn):
        ids = {}
        for agent in agents:
            ids[agent.name] = agent_store.create_agent(conn, {
                "name": agent.name, "url": agent.url, "profile": agent.profile,
                "sample_rate": agent.sample_rate, "region_id": None,
                "headers": dict(agent.headers), "secret_headers": {},
                "custom_parameters": dict(agent.custom_parameters),
                "caller_ids": list(agent.caller_ids),
                "sip_headers": list(agent.sip_headers)})["id"]
        trunk_ids = {row.name: row.id for row in conn.execute(
            trunks.select().with_only_columns(trunks.c.name, trunks.c.id))}
        for number, route in numbers:
            targets = []
            for kind, name in route:
                column = {"agent": "agent_id", "trunk": "trunk_id"}[kind]
                targets.append({"kind": kind, column: (ids if kind == "agent"
                                                       else trunk_ids)[name]})
            number_store.create_number(conn, {"number": number, "enabled": True}, targets)

    try:
        database.run_sync(seed)
    finally:
        database.engine.dispose()


# -- the agent: a websockets server that records, with a script per URL path -------------
@dataclass
class AgentCall:
    """One WebSocket connection the agent server accepted, as the agent saw it."""

    path: str
    opened_at: float = field(default_factory=time.monotonic)  # the upgrade was accepted
    received: list[tuple[float, dict]] = field(default_factory=list)  # (monotonic, message)
    sent: list[tuple[float, dict]] = field(default_factory=list)
    closed_at: float | None = None
    close_code: int | None = None
    errors: list[BaseException] = field(default_factory=list)  # the script's failures

    def events(self, kind: str | None = None) -> list[dict]:
        return [m for _, m in self.received if kind is None or m.get("event") == kind]

    def first(self, kind: str) -> tuple[float, dict] | None:
        return next(((t, m) for t, m in self.received if m.get("event") == kind), None)

    @property
    def stream_sid(self) -> str | None:
        start = self.first("start")
        return start[1]["streamSid"] if start else None

    def caller_audio(self) -> list[bytes]:
        return [base64.b64decode(m["media"]["payload"]) for m in self.events("media")]


class Agent:
    """What an agent script gets: the call's record and ways to answer."""

    def __init__(self, websocket, call: AgentCall):
        self._ws = websocket
        self.call = call

    async def send(self, message: dict) -> float:
        at = time.monotonic()
        self.call.sent.append((at, message))
        await self._ws.send(json.dumps(message))
        return at

    async def media(self, audio: bytes, chunks: tuple[int, ...] = (1000, 333, 160, 57, 1200)):
        """The agent's audio in chunks of these sizes (cycled), the way an agent that
        produces audio as it goes would send it; returns when the last was sent."""
        import base64
        at, i, n = None, 0, 0
        while at is None or i < len(audio):
            size = chunks[n % len(chunks)]
            piece, i, n = audio[i:i + size], i + size, n + 1
            at = await self.send({"event": "media", "streamSid": self.call.stream_sid,
                                  "media": {"payload": base64.b64encode(piece).decode()}})
        return at

    async def mark(self, name: str) -> float:
        return await self.send({"event": "mark", "streamSid": self.call.stream_sid,
                                "mark": {"name": name}})

    async def clear(self) -> float:
        return await self.send({"event": "clear", "streamSid": self.call.stream_sid})

    async def hangup(self, reason: str = "done") -> float:
        return await self.send({"event": "hangup", "streamSid": self.call.stream_sid,
                                "hangup": {"reason": reason}})

    async def transfer(self, target: str, warm: bool = False) -> float:
        """The twilio profile's documented transfer extension."""
        return await self.send({"event": "transfer", "streamSid": self.call.stream_sid,
                                "transfer": {"target": target, "warm": warm}})

    async def wait_for(self, kind: str, timeout: float = 10.0) -> dict:
        """The first message of this kind from the switch, once it has come."""
        deadline = time.monotonic() + timeout
        while (found := self.call.first(kind)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {kind} message in {timeout:g} s")
            await asyncio.sleep(0.01)
        return found[1]


class AgentScripts:
    """The handler for tests/support/ws_agent_server.AgentServer: every connection is
    recorded in `calls[path]`; the script registered for the path (an async function
    of an Agent) starts once the `start` message is in, beside the reading."""

    def __init__(self):
        self.scripts = {}
        self.calls: dict[str, list[AgentCall]] = {}

    async def __call__(self, websocket) -> None:
        path = websocket.request.path.split("?", 1)[0]
        call = AgentCall(path)
        self.calls.setdefault(path, []).append(call)
        script = self.scripts.get(path)
        task = None
        try:
            async for text in websocket:
                message = json.loads(text)
                call.received.append((time.monotonic(), message))
                if message.get("event") == "start" and script is not None:
                    task = asyncio.ensure_future(script(Agent(websocket, call)))
                    task.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                                           or call.errors.append(t.exception()))
        except ConnectionClosed:
            pass
        finally:
            call.closed_at = time.monotonic()
            call.close_code = websocket.close_code
            if task is not None and not task.done():
                task.cancel()

    def only_call(self, path: str) -> AgentCall:
        calls = self.calls.get(path, [])
        assert len(calls) == 1, f"{len(calls)} connections to {path}"
        return calls[0]


# -- reading the switch's RTP -----------------------------------------------------------
def find_in_order(haystack: list[bytes], needles: list[bytes]) -> list[int]:
    """Where each needle frame occurs as a substring of the concatenated haystack,
    searching forward from the previous hit (-1 when not found)."""
    stream = b"".join(haystack)
    positions, start = [], 0
    for needle in needles:
        at = stream.find(needle, start)
        positions.append(at)
        if at >= 0:
            start = at + len(needle)
    return positions


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[-1].strip())
        return
    seconds = float(argv[1]) if len(argv) > 1 else 1.5
    path = write_audio_pcap(Path(argv[0]), chirp_frames(int(seconds / FRAME_S)))
    print(f"{path}: {int(seconds / FRAME_S)} RTP packets of µ-law, a 300-3000 Hz sweep")


if __name__ == "__main__":
    main(sys.argv[1:])
