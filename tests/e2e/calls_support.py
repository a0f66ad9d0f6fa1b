"""Helpers for the end-to-end call tests and the CPS benchmark: routing rows seeded
straight into the switch's database, SIPp user agents on their own loopback
addresses (a carrier, gateways, phones), and the call records the switch writes.

Roles get distinct loopback addresses because the switch tells a trunk's calls by
their source address (Linux routes all of 127/8 to lo). Every SIPp here binds its
address with -bind_local, so what it sends really comes from that address.
"""

import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from e2e_sipp import (
    KILL_GRACE,
    SCENARIOS,
    TRANSPORTS,
    SippResult,
    parse_message_log,
    run_sipp,
    scenario_args,
    sipp_path,
    SIPP_MISSING,
)
from e2e_switch import SwitchProcess, _toml, wait_until
from softswitch.store import tables as t

SWITCH_IP = "127.0.0.1"
CARRIER_IP = "127.0.0.2"
GATEWAY_A_IP = "127.0.0.3"
GATEWAY_B_IP = "127.0.0.4"
PHONE_IP = "127.0.0.5"
STRANGER_IP = "127.0.0.6"  # no trunk and no user: an unknown source
LIMITED_CARRIER_IP = "127.0.0.7"  # a carrier whose trunk allows one call at a time
SLOW_CARRIER_IP = "127.0.0.8"  # a carrier whose trunk allows one new call a second

CDR_WAIT = 5.0  # call records are written in batches (0.25 s); allow a slow machine
READY_TIMEOUT = 5.0


def free_udp_port(host: str) -> int:
    """A UDP port free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def udp_port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


# -- routing rows ---------------------------------------------------------------------
@dataclass(frozen=True)
class GatewayRow:
    host: str
    port: int
    priority: int = 1
    weight: int = 10
    transport: str = "udp"


@dataclass(frozen=True)
class TrunkRow:
    name: str
    gateways: tuple[GatewayRow, ...] = ()
    allowed_sources: tuple[str, ...] = ()
    number_format: str = "e164"
    auth_username: str | None = None
    auth_password: str | None = None
    max_concurrent: int | None = None
    max_cps: float | None = None
    register: bool = False  # the switch registers to the first gateway (outbound)
    media_encryption: str = "none"  # SRTP toward it: none | sdes | optional
    trust_identity: bool = True  # caller-ID policy (services.caller_id)
    default_caller_id: str | None = None
    topology_hiding: bool = False
    allow_refer: bool = False  # a REFER from its side of a call is carried out


@dataclass(frozen=True)
class NumberRow:
    """A DID and its targets in order: ("user", "bob"), ("trunk", "out"), ("reject", 486)."""

    number: str
    targets: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class OutboundRow:
    prefix: str
    trunks: tuple[str, ...]


@dataclass
class Routing:
    trunks: list[TrunkRow] = field(default_factory=list)
    numbers: list[NumberRow] = field(default_factory=list)
    outbound: list[OutboundRow] = field(default_factory=list)


def seed_routing(db_url: str, routing: Routing) -> None:
    """Insert trunks, gateways, numbers with their targets and outbound routes in one
    transaction (the users named by user targets must exist already)."""
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    now = time.time()
    stamp = {"created_at": now, "updated_at": now}
    try:
        with engine.begin() as conn:
            user_ids = {row.username: row.id for row in conn.execute(
                sa.select(t.sip_users.c.id, t.sip_users.c.username))}
            trunk_ids = {}
            for trunk in routing.trunks:
                trunk_ids[trunk.name] = conn.execute(sa.insert(t.trunks).values(
                    name=trunk.name, inbound_allowed_sources=list(trunk.allowed_sources),
                    auth_username=trunk.auth_username, auth_password=trunk.auth_password,
                    register=trunk.register, max_concurrent=trunk.max_concurrent,
                    max_cps=trunk.max_cps, number_format=trunk.number_format,
                    media_encryption=trunk.media_encryption,
                    trust_identity=trunk.trust_identity,
                    default_caller_id=trunk.default_caller_id,
                    topology_hiding=trunk.topology_hiding, allow_refer=trunk.allow_refer,
                    enabled=True, **stamp)).inserted_primary_key[0]
                for gateway in trunk.gateways:
                    conn.execute(sa.insert(t.gateways).values(
                        trunk_id=trunk_ids[trunk.name], host=gateway.host,
                        port=gateway.port, transport=gateway.transport, region_id=None,
                        priority=gateway.priority, weight=gateway.weight, **stamp))
            for number in routing.numbers:
                number_id = conn.execute(sa.insert(t.numbers).values(
                    number=number.number, description=None, enabled=True,
                    **stamp)).inserted_primary_key[0]
                for position, (kind, name) in enumerate(number.targets):
                    columns = {"agent_id": None, "user_id": None, "trunk_id": None,
                               "reject_code": None}
                    if kind == "user":
                        columns["user_id"] = user_ids[name]
                    elif kind == "trunk":
                        columns["trunk_id"] = trunk_ids[name]
                    elif kind == "reject":
                        columns["reject_code"] = int(name)
                    else:
                        raise ValueError(f"no seeding for {kind} targets")
                    conn.execute(sa.insert(t.route_targets).values(
                        number_id=number_id, position=position, kind=kind, **columns,
                        **stamp))
            for route in routing.outbound:
                route_id = conn.execute(sa.insert(t.outbound_routes).values(
                    prefix=route.prefix, description=None, **stamp)).inserted_primary_key[0]
                for position, name in enumerate(route.trunks):
                    conn.execute(sa.insert(t.outbound_route_trunks).values(
                        route_id=route_id, position=position, trunk_id=trunk_ids[name],
                        **stamp))
    finally:
        engine.dispose()


# -- call records -----------------------------------------------------------------------
def cdr_rows(engine: sa.Engine, call_id: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.cdrs).where(t.cdrs.c.call_id == call_id)
                            .order_by(t.cdrs.c.id))
        return [dict(row._mapping) for row in rows]


def wait_cdr(switch, call_id: str, timeout: float = CDR_WAIT) -> dict:
    """The one call record of `call_id`, once the switch has written it."""
    rows = wait_until(lambda: cdr_rows(switch.engine, call_id), timeout,
                      message=lambda: f"the call record of {call_id}\n{switch.output(40)}")
    assert len(rows) == 1, rows
    return rows[0]


def cdr_count(switch) -> int:
    with switch.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t.cdrs)).scalar_one()


class CallSwitch(SwitchProcess):
    """The harness's switch with more configuration sections than [sip] and [database]
    (for example [media] inactivity_timeout or [trunks] probe_interval) and a chosen log
    level; everything else is SwitchProcess."""

    def __init__(self, workdir, *, sections: dict[str, dict] | None = None,
                 log_level: str | None = None, **kwargs):
        super().__init__(workdir, **kwargs)
        self.sections = {name: dict(values) for name, values in (sections or {}).items()}
        self.log_level = log_level

    def _write_config(self) -> None:
        super()._write_config()
        text = self.config_path.read_text()
        if self.log_level is not None:
            head, _, tail = text.partition("[log]\n")
            level_line, _, rest = tail.partition("\n")
            assert level_line.startswith("level = "), text
            text = f"{head}[log]\nlevel = {_toml(self.log_level)}\n{rest}"
        for name, values in self.sections.items():
            text += f"\n[{name}]\n" + "".join(f"{key} = {_toml(value)}\n"
                                              for key, value in values.items())
        self.config_path.write_text(text)


# -- SIPp -----------------------------------------------------------------------------------
def bound(ip: str) -> tuple:
    """SIPp arguments that make it send from (and listen on) `ip` only."""
    return ("-i", ip, "-bind_local")


def call_id_of(result: SippResult) -> str:
    """The Call-ID of the first message a SIPp run sent or received."""
    assert result.messages, f"SIPp logged no message\n{result.describe()}"
    return result.messages[0].header("Call-ID")


def statuses(result: SippResult, method: str = "INVITE") -> list[int]:
    """Status codes received for `method`, in order (retransmissions included)."""
    return [m.status for m in result.responses() if m.header("CSeq").split()[-1] == method]


def requests_received(result: SippResult, method: str | None = None) -> list:
    return [m for m in result.received()
            if not m.is_response and (method is None or m.method == method)]


class SippAgent:
    """A SIPp process in the background, bound to ip:port: a callee (UAS) waiting for
    calls, or a caller the test does not wait for. `finish()` waits for it (bounded by
    its own -timeout) and returns the same SippResult as run_sipp."""

    def __init__(self, scenario: str | Path, workdir: Path, *, ip: str, port: int | None = None,
                 target: str | None = None, calls: int = 1, rate: float = 10,
                 keys: dict | None = None, timeout: float = 20.0, extra: tuple = (),
                 name: str | None = None, trace_messages: bool = True,
                 stats_file: Path | None = None):
        sipp = sipp_path()
        if sipp is None:
            raise RuntimeError(SIPP_MISSING)
        naming, stem = scenario_args(scenario)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.ip = ip
        self.port = port or free_udp_port(ip)
        self.timeout = timeout
        base = workdir / f"{name or stem}-{ip}-{self.port}"
        self._errors = Path(f"{base}.errors.log")
        self._messages = Path(f"{base}.messages.log")
        self._screen = Path(f"{base}.screen.log")
        self._output = Path(f"{base}.out")
        command = [sipp]
        if target is not None:
            command.append(target)
        command += [
            *naming, "-t", TRANSPORTS["udp"], *bound(ip), "-p", str(self.port),
            "-m", str(calls), "-r", f"{rate:g}",
            "-timeout", f"{timeout:g}s", "-timeout_error", "-nostdin", "-nd",
            "-trace_err", "-error_file", str(self._errors),
            "-trace_screen", "-screen_file", str(self._screen),
        ]
        if trace_messages:
            command += ["-trace_msg", "-message_file", str(self._messages)]
        if stats_file is not None:
            command += ["-trace_stat", "-stf", str(stats_file), "-fd", "1"]
        for key, value in (keys or {}).items():
            command += ["-key", key, str(value)]
        command += [str(a) for a in extra]
        self.command = command
        self._out = open(self._output, "wb")
        self.process = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL,
                                        stdout=self._out, stderr=subprocess.STDOUT)
        self.result: SippResult | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> "SippAgent":
        """Wait until SIPp holds its port (it is then listening)."""
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"SIPp exited at start\n{self.finish().describe()}")
            return udp_port_in_use(self.ip, self.port)
        wait_until(ready, timeout, 0.02, message=f"SIPp to listen on {self.address}")
        return self

    def messages_so_far(self) -> list:
        """What SIPp has logged up to now (it writes its message log as it goes)."""
        return parse_message_log(_read(self._messages))

    def wait_for_message(self, predicate, timeout: float = 5.0):
        """The first logged message for which predicate(message) holds, once it is there."""
        def found():
            return next((m for m in self.messages_so_far() if predicate(m)), None)
        return wait_until(found, timeout, 0.02,
                          message=lambda: f"a message in {self._messages}")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self, timeout: float | None = None) -> SippResult:
        """Wait for SIPp to end (at most its -timeout plus a grace) and read its logs."""
        if self.result is not None:
            return self.result
        limit = self.timeout + KILL_GRACE if timeout is None else timeout
        killed = ""
        try:
            self.process.wait(limit)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            killed = f"\n(killed: still running {limit:g} s after it was awaited)"
        self._out.close()
        self.result = SippResult(
            command=self.command, returncode=self.process.returncode,
            stdout=_read(self._output) + killed, errors=_read(self._errors),
            message_log=_read(self._messages), screen=_read(self._screen))
        self.result.messages = parse_message_log(self.result.message_log)
        return self.result

    def terminate(self) -> SippResult:
        """End a SIPp that runs until told (SIGTERM; its message log is kept)."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.finish(timeout=5)

    def stop(self) -> None:
        """End SIPp now (used on the way out of a failed test)."""
        if self.process.poll() is None:
            self.process.kill()
        self.finish(timeout=5)


def run_call(target: str, scenario: str, workdir: Path, *, ip: str, keys: dict,
             timeout: float = 15.0, **kwargs) -> SippResult:
    """One SIPp caller run to its end from `ip` (run_sipp, bound to that address)."""
    extra = tuple(kwargs.pop("extra", ())) + bound(ip)
    return run_sipp(target, scenario, workdir, keys=keys, timeout=timeout, extra=extra,
                    **kwargs)


def register_phone(switch, workdir: Path, user: str, password: str, ip: str,
                   port: int, expires: int = 300) -> SippResult:
    """REGISTER `user` with the Contact ip:port (digest answered by SIPp); the phone's
    UAS is started on the same address once this SIPp has ended."""
    contact = f"<sip:{user}@{ip}:{port}>"
    result = run_sipp(switch.sip_target, "register.xml", workdir, auth=(user, password),
                      keys={"user_name": user, "domain": switch.domain, "contact": contact,
                            "expires": expires},
                      extra=bound(ip) + ("-p", str(port)), name=f"register-{user}")
    return result.expect_ok()


# -- media ----------------------------------------------------------------------------------
RTP_PACKET_INTERVAL = 0.02  # 20 ms of G.711 per packet
RTP_PAYLOAD = 160


def rtp_packet(seq: int, timestamp: int, ssrc: int, payload_type: int = 0,
               payload: bytes = b"\xff" * RTP_PAYLOAD) -> bytes:
    """One RTP packet (RFC 3550): version 2, no padding, extension or CSRCs."""
    return struct.pack("!BBHII", 0x80, payload_type & 0x7F, seq & 0xFFFF,
                       timestamp & 0xFFFFFFFF, ssrc) + payload


def write_rtp_pcap(path: Path, count: int, ssrc: int = 0x5EED0001,
                   payload_type: int = 0) -> Path:
    """A pcap of `count` RTP packets 20 ms apart (G.711 silence) for SIPp's
    play_pcap_audio, which replays their UDP payloads from its media port to the peer's
    SDP address with the capture's timing."""
    records = []
    for i in range(count):
        rtp = rtp_packet(i + 1, i * RTP_PAYLOAD, ssrc, payload_type)
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                             socket.inet_aton("127.0.0.2"), socket.inet_aton("127.0.0.3"))
        checksum = _ip_checksum(header)
        ip = header[:10] + struct.pack("!H", checksum) + header[12:]
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        at = i * RTP_PACKET_INTERVAL
        seconds, micros = int(at), int(round((at - int(at)) * 1e6))
        records.append(struct.pack("<IIII", 1_700_000_000 + seconds, micros, len(frame),
                                   len(frame)) + frame)
    # Global header: magic, version 2.4, GMT offset, accuracy, snaplen, Ethernet.
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                     + b"".join(records))
    return path


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def sdp_media(message) -> tuple[str, int]:
    """(c= address, first m= port) of a SIP message's SDP body."""
    body = message.text.replace("\r\n", "\n").split("\n\n", 1)[1]
    address = next(line.split()[-1] for line in body.split("\n") if line.startswith("c="))
    port = next(int(line.split()[1]) for line in body.split("\n") if line.startswith("m="))
    return address, port


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
