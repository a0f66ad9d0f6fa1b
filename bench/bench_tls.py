"""SIP over TLS against UDP, in the same run: registrations per second and call set-up
(CPS) through the proxy, each over UDP, over TLS on kept connections, and
registrations over a new TLS connection each (a handshake per registration).

    python bench/bench_tls.py [--seconds 5] [--workers 2] [--cpu N]

Starts `twistd -n softswitch` with a `tls:` listener and a certificate from a test CA
made on the spot, and drives it with Python peers (`ssl` and plain sockets, one
process per worker, each doing one operation after another: a closed loop, so the
rate is what the switch and the workers give together). SIPp is not used: Debian's
SIPp is built without TLS.

- registration: REGISTER, 401, REGISTER with digest, 200 (workers share the users);
- call: a carrier (a trunk known by its address) sends INVITE, the switch proxies it
  to a gateway of another trunk (anchoring media), 200, ACK, BYE, 200.

For each case it prints operations per second and the switch's CPU time per
operation (utime+stime from /proc; "per core" is 1 / that). Compare the TLS and UDP
lines of one run, not figures across machines; the workers share the cores with the
switch (say how many when quoting, and use --cpu to pin the switch to one).
"""

import argparse
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "tests" / "support"))

from calls_support import (  # noqa: E402
    CallSwitch, GatewayRow, NumberRow, Routing, TrunkRow, seed_routing)
from e2e_sip import SipMessage, digest_authorization  # noqa: E402
from e2e_switch import free_port  # noqa: E402
from machine import pin, process_cpu_seconds  # noqa: E402
from tls_pki import Pki  # noqa: E402
from tls_support import (  # noqa: E402
    Dialog, SipStream, TlsGateway, client_context, request, response, sdp)

CARRIER_UDP_IP, CARRIER_TLS_IP = "127.0.0.2", "127.0.0.12"
GATEWAY_UDP_IP, GATEWAY_TLS_IP = "127.0.0.3", "127.0.0.13"
PHONE_IP = "127.0.0.5"
DID = {"udp": "+15551000001", "tls": "+15551000002"}
USERS = 200


class UdpStream:
    """SipStream's interface over one UDP socket talking to one address."""

    transport = "UDP"

    def __init__(self, ip: str, target: tuple[str, int]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.target = target
        self.sent: list[str] = []

    @property
    def local(self):
        return self.sock.getsockname()

    def send(self, text: str) -> None:
        self.sent.append(text)
        del self.sent[:-4]
        self.sock.sendto(text.encode(), self.target)

    def read(self, timeout: float = 5.0) -> SipMessage:
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65536)
        return SipMessage("received", data.decode(errors="replace"))

    def expect(self, *, status=None, method=None, timeout=5.0) -> SipMessage:
        while True:
            message = self.read(timeout)
            if message.is_response and message.status < 200 and status != message.status:
                continue
            if status is not None and message.status != status:
                raise RuntimeError(message.first_line)
            if method is not None and message.method != method:
                raise RuntimeError(message.first_line)
            return message

    def close(self) -> None:
        self.sock.close()


class BenchSwitch(CallSwitch):
    def __init__(self, workdir, tls_port: int, **kwargs):
        super().__init__(workdir, **kwargs)
        self.tls_port = tls_port

    def _write_config(self) -> None:
        self.sip_overrides["listen"] = [f"udp:127.0.0.1:{self.sip_port}",
                                        f"tls:127.0.0.1:{self.tls_port}"]
        super()._write_config()


# -- workers (child processes) ------------------------------------------------------------
def _stream(transport: str, settings: dict, source_ip: str):
    if transport == "udp":
        return UdpStream(source_ip, ("127.0.0.1", settings["sip_port"]))
    raw = socket.create_connection(("127.0.0.1", settings["tls_port"]), timeout=5,
                                   source_address=(source_ip, 0))
    context = client_context(settings["ca_file"])
    return SipStream(context.wrap_socket(raw, server_hostname="127.0.0.1"))


def _register_once(stream, user: str, password: str, domain: str) -> None:
    host, port = stream.local
    call_id = uuid.uuid4().hex
    contact = f"<sip:{user}@{host}:{port}>" if stream.transport == "UDP" else \
        f"<sip:{user}@{host}:{port};transport=tls>"
    common = [("Max-Forwards", "70"), ("From", f"<sip:{user}@{domain}>;tag={call_id[:6]}"),
              ("To", f"<sip:{user}@{domain}>"), ("Call-ID", call_id), ("Contact", contact),
              ("Expires", "600")]
    via = f"SIP/2.0/{stream.transport} {host}:{port};branch=z9hG4bK-{call_id[:12]}"
    stream.send(request("REGISTER", f"sip:{domain}", [("Via", via + "a;rport"), *common,
                                                      ("CSeq", "1 REGISTER")]))
    challenge = stream.expect(status=401)
    authorization = digest_authorization(challenge.header("WWW-Authenticate"), user, password,
                                         "REGISTER", f"sip:{domain}")
    stream.send(request("REGISTER", f"sip:{domain}", [("Via", via + "b;rport"), *common,
                                                      ("CSeq", "2 REGISTER"),
                                                      ("Authorization", authorization)]))
    stream.expect(status=200)


def _call_once(stream, transport: str) -> None:
    host, _ = stream.local
    dialog = Dialog(stream, f"sip:{DID[transport]}@127.0.0.1", f"sip:+12125550123@{host}",
                    f"sip:{DID[transport]}@127.0.0.1")
    dialog.invite(sdp(host, 40000))
    dialog.answered(stream.expect(status=200))
    dialog.send_bye()
    stream.expect(status=200)


def worker(case: str, index: int, settings: dict, deadline: float, results) -> None:
    transport = "udp" if case.endswith("udp") else "tls"
    done = failed = 0
    stream = None
    try:
        if case.startswith("call"):
            ip = CARRIER_UDP_IP if transport == "udp" else CARRIER_TLS_IP
            stream = _stream(transport, settings, ip)
        while time.monotonic() < deadline:
            try:
                if case.startswith("register"):
                    if stream is None or case == "register-tls-new":
                        if stream is not None:
                            stream.close()
                        stream = _stream(transport, settings, PHONE_IP)
                    user = (index * 7919 + done + failed) % USERS
                    _register_once(stream, f"u{user:04d}", f"pw{user:04d}", settings["domain"])
                else:
                    _call_once(stream, transport)
                done += 1
            except (OSError, RuntimeError, AssertionError, ConnectionError):
                failed += 1
                if stream is not None and transport == "tls":
                    stream.close()
                    stream = None if case.startswith("register") else \
                        _stream("tls", settings, CARRIER_TLS_IP)
    finally:
        if stream is not None:
            stream.close()
        results.put((done, failed))


# -- gateways (threads of the bench process) --------------------------------------------------
def serve_udp_gateway(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, source = sock.recvfrom(65536)
        except OSError:
            continue
        message = SipMessage("received", data.decode(errors="replace"))
        if message.method in ("INVITE", "BYE", "OPTIONS"):
            body = sdp(GATEWAY_UDP_IP, 41000) if message.method == "INVITE" else ""
            contact = [("Contact", f"<sip:gw@{GATEWAY_UDP_IP}:{sock.getsockname()[1]}>")]
            sock.sendto(response(message, 200, "OK", to_tag="gw", extra=contact,
                                 body=body).encode(), source)


def serve_tls_gateway(gateway: TlsGateway, stop: threading.Event) -> None:
    def serve(stream):
        host, port = stream.local
        contact = [("Contact", f"<sip:gw@{host}:{port};transport=tls>")]
        while not stop.is_set():
            try:
                message = stream.read(timeout=1.0)
            except socket.timeout:
                continue
            except (OSError, ConnectionError):
                return
            if message.method in ("INVITE", "BYE", "OPTIONS"):
                body = sdp(GATEWAY_TLS_IP, 41000) if message.method == "INVITE" else ""
                stream.send(response(message, 200, "OK", to_tag="gw", extra=contact, body=body))

    while not stop.is_set():
        try:
            accepted = gateway.accept(timeout=0.2)
        except Exception:  # noqa: BLE001 - queue.Empty
            continue
        if not isinstance(accepted, str):
            threading.Thread(target=serve, args=(accepted,), daemon=True).start()


# -- the run --------------------------------------------------------------------------------
def run_case(case: str, switch, settings: dict, seconds: float, workers: int) -> dict:
    results = multiprocessing.Queue()
    deadline = time.monotonic() + seconds
    cpu_before = process_cpu_seconds(switch.pid)
    started = time.monotonic()
    processes = [multiprocessing.Process(target=worker,
                                         args=(case, i, settings, deadline, results))
                 for i in range(workers)]
    for process in processes:
        process.start()
    totals = [results.get(timeout=seconds + 60) for _ in processes]
    elapsed = time.monotonic() - started
    for process in processes:
        process.join(10)
    cpu = process_cpu_seconds(switch.pid) - cpu_before
    done = sum(d for d, _ in totals)
    failed = sum(f for _, f in totals)
    return {"case": case, "done": done, "failed": failed, "per_second": done / elapsed,
            "cpu_ms_per_op": 1000 * cpu / done if done else float("nan"),
            "per_core": done / cpu if cpu else float("nan"),
            "switch_cpu": cpu / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cpu", type=int, default=None, help="pin the switch to this CPU")
    parser.add_argument("--cases", default="register-udp,register-tls,register-tls-new,"
                                           "call-udp,call-tls")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    pki = Pki(workdir / "pki")
    cert, key = pki.issue("switch", "127.0.0.1")
    udp_gateway = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_gateway.bind((GATEWAY_UDP_IP, 0))
    tls_gateway = TlsGateway(GATEWAY_TLS_IP, *pki.issue("gateway", GATEWAY_TLS_IP))
    switch = BenchSwitch(
        workdir / "switch", free_port(), log_level="warn",
        sections={"trunks": {"probe_interval": 86400.0},
                  "guard": {"allow": ["127.0.0.0/8"]},
                  "tls": {"certificate": str(cert), "key": str(key),
                          "ca_file": str(pki.ca_file), "reload_interval": 0.0}})
    for i in range(USERS):
        switch.add_user(f"u{i:04d}", f"pw{i:04d}")
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("carrier-udp", (), allowed_sources=(CARRIER_UDP_IP,)),
                TrunkRow("carrier-tls", (GatewayRow(CARRIER_TLS_IP, 5061, transport="tls"),)),
                TrunkRow("out-udp", (GatewayRow(GATEWAY_UDP_IP, udp_gateway.getsockname()[1]),)),
                TrunkRow("out-tls", (GatewayRow(GATEWAY_TLS_IP, tls_gateway.port,
                                                transport="tls"),))],
        numbers=[NumberRow(DID["udp"], (("trunk", "out-udp"),)),
                 NumberRow(DID["tls"], (("trunk", "out-tls"),))]))
    stop = threading.Event()
    threading.Thread(target=serve_udp_gateway, args=(udp_gateway, stop), daemon=True).start()
    threading.Thread(target=serve_tls_gateway, args=(tls_gateway, stop), daemon=True).start()
    switch.start()
    pin(switch.pid, args.cpu)
    settings = {"sip_port": switch.sip_port, "tls_port": switch.tls_port,
                "ca_file": str(pki.ca_file), "domain": switch.domain}
    print(f"{os.cpu_count()} cores, {args.workers} workers, {args.seconds:g} s per case")
    print(f"{'case':18} {'ops':>7} {'failed':>6} {'ops/s':>8} {'switch CPU':>10} "
          f"{'ms CPU/op':>9} {'ops/core-s':>10}")
    try:
        for case in args.cases.split(","):
            result = run_case(case, switch, settings, args.seconds, args.workers)
            print(f"{case:18} {result['done']:7d} {result['failed']:6d} "
                  f"{result['per_second']:8.0f} {result['switch_cpu']:9.0%} "
                  f"{result['cpu_ms_per_op']:9.3f} {result['per_core']:10.0f}", flush=True)
    finally:
        stop.set()
        switch.close()
        tls_gateway.close()
        udp_gateway.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
