"""SIP over TLS end to end: the real switch with a `tls:` listener and a certificate
from a test CA, phones and carriers' gateways as Python `ssl` peers.

A phone registers over TLS and is reached over its own connection; calls go
phone -> switch -> trunk (the switch opens TLS to the gateway, checking the
gateway's certificate against its address and the test CA) and trunk -> switch ->
phone; a gateway whose certificate names another host is refused; a gateway that
demands a client certificate gets the trunk's; the switch's certificate is replaced
during a call (SIGHUP): the call goes on, new connections see the new certificate.

Addresses: 127.0.0.1 the switch; 127.0.0.3 the secure carrier (its gateway, which
also calls in); 127.0.0.4 a gateway known by the name wrong.carrier.test whose
certificate names another host; 127.0.0.9 a gateway known by the name
sip.carrier.test with a certificate for it; 127.0.0.6 a gateway demanding mutual TLS;
127.0.0.5 the phones; 127.0.0.7 a hostile peer; 127.0.0.8 a UDP gateway. The names
are served by a DNS server on loopback (`[trunks] dns_servers`).
"""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from calls_support import (
    CallSwitch,
    GatewayRow,
    NumberRow,
    OutboundRow,
    Routing,
    TrunkRow,
    seed_routing,
    wait_cdr,
)
from e2e_sip import digest_authorization
from e2e_switch import free_port, wait_until
from softswitch.store import tables as t
from tls_pki import Pki
from tls_support import (
    Dialog,
    TlsGateway,
    answer_bye,
    connect,
    register,
    request,
    ring_and_answer,
    sdp,
)

SECURE_GW_IP = "127.0.0.3"
WRONG_GW_IP = "127.0.0.4"
PHONE_IP = "127.0.0.5"
MUTUAL_GW_IP = "127.0.0.6"
HOSTILE_IP = "127.0.0.7"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
ALICE_DID = "+14155550300"
SECURE_OUT = "+15550001999"
WRONG_OUT = "+15550002999"
MUTUAL_OUT = "+15550003999"
PLAIN_OUT = "+15550004999"  # a trunk whose gateway is UDP
PLAIN_GW_IP = "127.0.0.8"
NAMED_GW_IP = "127.0.0.9"
NAMED_OUT = "+15550005999"
DNS_SERVER = Path(__file__).with_name("dns_server_process.py")
DEMANDING_GW_IP = "127.0.0.10"
DEMANDING_OUT = "+15550006999"  # a gateway demanding a certificate the trunk does not have
CALLER = "+12125550123"
HANDSHAKE_TIMEOUT = 1.0
PER_ADDRESS = 4


class TlsSwitch(CallSwitch):
    """A switch listening on UDP and TCP at its own port, and on TLS at `tls_port`."""

    def __init__(self, workdir, tls_port: int, **kwargs):
        super().__init__(workdir, **kwargs)
        self.tls_port = tls_port

    def _write_config(self) -> None:
        self.sip_overrides["listen"] = [f"udp:127.0.0.1:{self.sip_port}",
                                        f"tcp:127.0.0.1:{self.sip_port}",
                                        f"tls:127.0.0.1:{self.tls_port}"]
        super()._write_config()


class TlsLab:
    def __init__(self, switch, tls_port, pki, switch_cert, gateways):
        self.switch = switch
        self.tls_port = tls_port
        self.pki = pki
        self.switch_cert = switch_cert
        self.gateways = gateways

    def phone(self):
        return connect(self.tls_port, self.pki.ca_file, source_ip=PHONE_IP)

    def registered(self, user):
        stream = self.phone()
        register(stream, user, USERS[user], self.switch.domain)
        return stream


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tls")
    pki = Pki(workdir / "pki")
    switch_cert, switch_key = pki.issue("switch", "127.0.0.1", "switch.e2e.test")
    client_cert, client_key = pki.issue("switch-client", "switch.e2e.test", client=True)
    gateways = {
        "secure": TlsGateway(SECURE_GW_IP, *pki.issue("secure-gw", SECURE_GW_IP)),
        "wrong": TlsGateway(WRONG_GW_IP, *pki.issue("wrong-gw", "other.carrier.test")),
        "named": TlsGateway(NAMED_GW_IP, *pki.issue("named-gw", "sip.carrier.test")),
        "demanding": TlsGateway(DEMANDING_GW_IP, *pki.issue("demanding-gw", DEMANDING_GW_IP),
                                require_client_ca=pki.ca_file),
        "mutual": TlsGateway(MUTUAL_GW_IP, *pki.issue("mutual-gw", MUTUAL_GW_IP),
                             require_client_ca=pki.ca_file),
    }
    tls_port = free_port()
    dns = subprocess.Popen([sys.executable, str(DNS_SERVER), json.dumps({
        "zone": "carrier.test", "a": {"wrong.carrier.test": [WRONG_GW_IP],
                                      "sip.carrier.test": [NAMED_GW_IP]}})],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    dns_port = dns.stdout.readline().strip()
    assert dns_port.isdigit(), f"the DNS server did not start: {dns_port!r}"
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a UDP gateway, for sips:
    plain.bind((PLAIN_GW_IP, 0))
    plain_port = plain.getsockname()[1]
    switch = TlsSwitch(
        workdir / "switch", tls_port,
        sip={"drain_timeout": 1.0, "tcp_max_connections_per_address": PER_ADDRESS},
        database={"reload_interval": 0.3},
        sections={"trunks": {"probe_interval": 86400.0,
                             "dns_servers": [f"127.0.0.1:{dns_port}"]},
                  "tls": {"certificate": str(switch_cert), "key": str(switch_key),
                          "ca_file": str(pki.ca_file), "reload_interval": 0.0,
                          "handshake_timeout": HANDSHAKE_TIMEOUT}})
    for user, password in USERS.items():
        switch.add_user(user, password)

    def gw(name, host=None):
        return (GatewayRow(host or gateways[name].ip, gateways[name].port, transport="tls"),)

    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("secure", gw("secure")), TrunkRow("wrong", gw("wrong", "wrong.carrier.test")),
                TrunkRow("named", gw("named", "sip.carrier.test")),
                TrunkRow("demanding", gw("demanding")),
                TrunkRow("mutual", gw("mutual")),
                TrunkRow("plain", (GatewayRow(PLAIN_GW_IP, plain_port),))],
        numbers=[NumberRow(ALICE_DID, (("user", "alice"),))],
        outbound=[OutboundRow("15550001", ("secure",)), OutboundRow("15550002", ("wrong",)),
                  OutboundRow("15550003", ("mutual",)), OutboundRow("15550004", ("plain",)),
                  OutboundRow("15550005", ("named",)),
                  OutboundRow("15550006", ("demanding",))]))
    engine = sa.create_engine(switch.db_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:  # the trunk's client certificate, as files
        conn.execute(t.trunks.update().where(t.trunks.c.name == "mutual").values(
            tls_client_certificate=str(client_cert), tls_client_key=str(client_key)))
    engine.dispose()
    switch.start()
    lab = TlsLab(switch, tls_port, pki, switch_cert, gateways)
    lab.plain = plain
    yield lab
    switch.close()
    plain.close()
    dns.stdin.close()  # its end of file stops it
    dns.wait(10)
    for gateway in gateways.values():
        gateway.close()


def call_out(lab, phone, number, scheme="sip"):
    """alice calls `number` over her TLS connection: INVITE, 407, INVITE with
    credentials; the dialog (its INVITE sent)."""
    domain = lab.switch.domain
    dialog = Dialog(phone, f"{scheme}:{number}@{domain}", f"{scheme}:alice@{domain}",
                    f"{scheme}:{number}@{domain}")
    dialog.invite(sdp(PHONE_IP, 40000))
    challenge = phone.expect(status=407)
    dialog.ack_failure(challenge)
    dialog.cseq += 1
    authorization = digest_authorization(challenge.header("Proxy-Authenticate"), "alice",
                                         USERS["alice"], "INVITE", dialog.uri)
    dialog.invite(sdp(PHONE_IP, 40000), [("Proxy-Authorization", authorization)])
    return dialog


# -- registration -------------------------------------------------------------------------
def test_a_phone_registers_over_tls_and_its_binding_names_its_connection(lab):
    phone = lab.registered("bob")
    try:
        host, port = phone.local
        rows = wait_until(lambda: lab.switch.registration_rows(lab.switch.aor("bob")), 5,
                          message="bob's binding")
        assert rows[0]["received"] == f"tls:{host}:{port}", rows
        assert phone.peer_serial() == Pki.serial(lab.switch_cert)
        assert phone.tls.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        phone.close()


# -- phone -> switch -> trunk ---------------------------------------------------------------
def test_a_phone_calls_out_through_a_tls_trunk_checked_against_its_address(lab):
    phone = lab.registered("alice")
    try:
        dialog = call_out(lab, phone, SECURE_OUT)
        gateway = lab.gateways["secure"].stream()
        invite = ring_and_answer(gateway, SECURE_GW_IP, 41000, "gw1")
        assert invite.first_line.startswith(f"INVITE sip:{SECURE_OUT}@{SECURE_GW_IP}:"), \
            invite.text
        assert ";transport=tls" in invite.first_line
        assert invite.header("Via").startswith("SIP/2.0/TLS "), invite.text
        answer = phone.expect(status=200)
        dialog.answered(answer)
        gateway.expect(method="ACK")
        dialog.send_bye()
        answer_bye(gateway)
        phone.expect(status=200)
        record = wait_cdr(lab.switch, dialog.call_id)
        assert record["final_code"] == 200 and record["trunk"] == "secure", record
    finally:
        phone.close()


def test_a_gateway_known_by_name_is_checked_against_that_name(lab):
    phone = lab.registered("alice")
    try:
        dialog = call_out(lab, phone, NAMED_OUT)
        gateway = lab.gateways["named"].stream()
        invite = ring_and_answer(gateway, NAMED_GW_IP, 41000, "gw4")
        # The Request-URI names the gateway as configured; the packet went to its address.
        assert invite.first_line.startswith(f"INVITE sip:{NAMED_OUT}@sip.carrier.test:"), \
            invite.text
        dialog.answered(phone.expect(status=200))
        gateway.expect(method="ACK")
        dialog.send_bye()
        answer_bye(gateway)
        phone.expect(status=200)
    finally:
        phone.close()


def test_a_gateway_whose_certificate_names_another_host_is_refused(lab):
    phone = lab.registered("alice")
    try:
        call_out(lab, phone, WRONG_OUT)
        final = phone.expect()
        assert final.status >= 500, final.text  # the only gateway cannot be reached
        refused = lab.gateways["wrong"].accept()
        assert isinstance(refused, str), "the switch went on with a wrong certificate"
    finally:
        phone.close()


def test_a_gateway_demanding_mutual_tls_gets_the_trunk_certificate(lab):
    phone = lab.registered("alice")
    try:
        dialog = call_out(lab, phone, MUTUAL_OUT)
        mutual = lab.gateways["mutual"]
        gateway = mutual.accept()
        assert not isinstance(gateway, str), gateway
        assert mutual.client_subject(gateway) == {"commonName": "switch-client"}
        ring_and_answer(gateway, MUTUAL_GW_IP, 41000, "gw2")
        dialog.answered(phone.expect(status=200))
        gateway.expect(method="ACK")
        dialog.send_bye()
        answer_bye(gateway)
        phone.expect(status=200)
    finally:
        phone.close()


def test_a_gateway_refusing_the_trunk_without_a_client_certificate_fails_the_call_at_once(lab):
    phone = lab.registered("alice")
    try:
        started = time.monotonic()
        call_out(lab, phone, DEMANDING_OUT)
        final = phone.expect()
        assert final.status >= 500, final.text
        assert time.monotonic() - started < 5, "waited for a timer instead of the refusal"
        refused = lab.gateways["demanding"].accept()
        assert isinstance(refused, str) and "certificate" in refused, refused
    finally:
        phone.close()


# -- sips: ------------------------------------------------------------------------------------
def test_a_sips_call_goes_over_tls_with_a_sips_record_route(lab):
    phone = lab.registered("alice")
    try:
        dialog = call_out(lab, phone, SECURE_OUT, scheme="sips")
        gateway = lab.gateways["secure"].stream()  # the connection kept since the last call
        invite = ring_and_answer(gateway, SECURE_GW_IP, 41000, "gw3")
        assert invite.header("Record-Route").startswith("<sips:"), invite.text
        answer = phone.expect(status=200)
        assert all(r.startswith("<sips:") for r in answer.headers("Record-Route")), answer.text
        dialog.answered(answer)
        gateway.expect(method="ACK")
        dialog.send_bye()
        answer_bye(gateway)
        phone.expect(status=200)
    finally:
        phone.close()


def test_a_sips_call_is_never_sent_to_a_gateway_without_tls(lab):
    phone = lab.registered("alice")
    try:
        dialog = call_out(lab, phone, PLAIN_OUT, scheme="sips")
        final = phone.expect()
        assert final.status >= 400, final.text
        dialog.ack_failure(final)
        lab.plain.settimeout(0.5)
        with pytest.raises(socket.timeout):
            lab.plain.recvfrom(65536)
    finally:
        phone.close()


# -- trunk -> switch -> phone, and a certificate reload in the middle ---------------------------
def test_a_carrier_calls_a_phone_over_tls_and_the_call_outlives_a_certificate_reload(lab):
    phone = lab.registered("alice")
    carrier = connect(lab.tls_port, lab.pki.ca_file, source_ip=SECURE_GW_IP)
    try:
        old_serial = carrier.peer_serial()
        dialog = Dialog(carrier, f"sip:{ALICE_DID}@127.0.0.1", f"sip:{CALLER}@{SECURE_GW_IP}",
                        f"sip:{ALICE_DID}@127.0.0.1")
        dialog.invite(sdp(SECURE_GW_IP, 42000))
        invite = ring_and_answer(phone, PHONE_IP, 43000, "alice1")
        assert invite.header("Via").startswith("SIP/2.0/TLS "), invite.text
        dialog.answered(carrier.expect(status=200))
        phone.expect(method="ACK")

        # The certificate files are replaced and the switch told (SIGHUP).
        lab.pki.issue("switch", "127.0.0.1", "switch.e2e.test")
        new_serial = Pki.serial(lab.switch_cert)
        os.kill(lab.switch.pid, signal.SIGHUP)

        def new_connection_serial():
            probe = lab.phone()
            try:
                return probe.peer_serial()
            finally:
                probe.close()
        wait_until(lambda: new_connection_serial() == new_serial, 5,
                   message="a new connection to present the new certificate")
        assert new_serial != old_serial

        # The call set up before goes on over the connections it had.
        dialog.send_bye()
        answer_bye(phone)
        carrier.expect(status=200)
    finally:
        carrier.close()
        phone.close()


# -- hostile peers ------------------------------------------------------------------------------
def test_handshakes_that_never_finish_are_closed_and_count_towards_the_address_cap(lab):
    sockets = []
    started = time.monotonic()
    closed_at = []
    try:
        for _ in range(PER_ADDRESS + 2):
            try:
                sockets.append(socket.create_connection(
                    ("127.0.0.1", lab.tls_port), timeout=5, source_address=(HOSTILE_IP, 0)))
            except ConnectionResetError:  # over the cap and reset before connect returned
                closed_at.append(time.monotonic() - started)
        for sock in reversed(sockets):  # the last ones opened are over the cap
            try:
                data = sock.recv(1)
            except OSError:
                data = b""
            assert data == b""
            closed_at.append(time.monotonic() - started)
        # The ones over the cap are refused at once; the others at the deadline.
        assert sorted(closed_at)[:2] == [pytest.approx(0, abs=0.5)] * 2, closed_at
        assert max(closed_at) < HANDSHAKE_TIMEOUT + 2, closed_at
    finally:
        for sock in sockets:
            sock.close()
    assert lab.switch.metric("softswitch_sip_messages_dropped_total",
                             reason="tls-handshake-timeout") >= PER_ADDRESS


def test_plain_sip_sent_to_the_tls_port_is_dropped_and_the_switch_serves_on(lab):
    with socket.create_connection(("127.0.0.1", lab.tls_port), timeout=5,
                                  source_address=(HOSTILE_IP, 0)) as raw:
        raw.sendall(request("OPTIONS", "sip:127.0.0.1", [("Via", "SIP/2.0/TCP x;branch=z9hG4bK1"),
                                                          ("Call-ID", "plain")]).encode())
        try:
            while raw.recv(4096):
                pass
        except OSError:
            pass
    phone = lab.registered("bob")  # still serving TLS
    phone.close()


def test_tls_below_1_2_is_refused_by_the_switch(lab):
    context = ssl.create_default_context(cafile=str(lab.pki.ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", lab.tls_port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, OSError)):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
