"""SIP over TLS at the edge, against real peers (Python's `ssl` module in a thread):
a listener presenting the configured certificate, outbound TLS checked against the
gateway's name and the trust store, mutual TLS, a certificate reload that new
connections see and open ones survive, and hostile peers (garbage before a
ClientHello, a handshake that never finishes) bounded."""

import socket
import ssl
import tempfile
import time
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from tls_pki import Pki

from softswitch.edge.sip.tls import SipTlsFactory, TlsDestination
from softswitch.edge.sip.tls_context import TlsContexts
from softswitch.metrics import Metrics
from softswitch.sip.message import Limits
from softswitch.sip.transport import Peer

OPTIONS = (b"OPTIONS sip:switch.test SIP/2.0\r\n"
           b"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
           b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:switch.test>\r\n"
           b"Call-ID: tls-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
           b"Content-Length: 0\r\n\r\n")
ANSWER = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
          b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:switch.test>;tag=2\r\n"
          b"Call-ID: tls-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


class Endpoint:
    """Records what arrives; answers each request over the connection it came on."""

    def __init__(self):
        self.received = []
        self.factory = None

    def message_received(self, raw, peer):
        self.received.append((raw, peer))
        if raw.startswith(b"OPTIONS") and self.factory is not None:
            self.factory.send(ANSWER, peer)


def dropped(metrics, reason):
    return metrics.registry.get_sample_value(
        "softswitch_sip_messages_dropped_total", {"reason": reason}) or 0


def handshakes(metrics, outcome):
    return metrics.registry.get_sample_value(
        "softswitch_sip_tls_handshakes_total", {"outcome": outcome}) or 0


def until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout

    def check(_=None):
        if condition():
            return None
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        return deferLater(reactor, 0.01, lambda: None).addCallback(check)
    return check()


def read_message(sock) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# -- deadlines and caps on a Clock ---------------------------------------------------
class Transport(StringTransport):
    def __init__(self, host, port):
        super().__init__(peerAddress=IPv4Address("TCP", host, port))
        self.aborted = False

    def abortConnection(self):
        self.aborted = True
        self.loseConnection()


def clocked_factory(tmp_path, **kwargs):
    pki = Pki(tmp_path)
    cert, key = pki.issue("switch", "switch.test")
    clock = Clock()
    metrics = Metrics()
    endpoint = Endpoint()
    options = dict(clock=clock, max_per_address=2, handshake_timeout=10.0)
    options.update(kwargs)
    factory = SipTlsFactory(endpoint, metrics, Limits(), 300.0, 4096,
                            TlsContexts(str(cert), str(key)), **options)
    return factory, clock, metrics


def open_connection(factory, host="192.0.2.7", port=40000):
    protocol = factory.buildProtocol(None)
    transport = Transport(host, port)
    protocol.makeConnection(transport)
    return protocol, transport


def test_a_handshake_that_never_finishes_is_aborted_at_its_deadline(tmp_path):
    factory, clock, metrics = clocked_factory(tmp_path)
    protocol, transport = open_connection(factory)
    assert protocol.peer == Peer("tls", "192.0.2.7", 40000)
    clock.advance(9.9)
    assert not transport.aborted
    clock.advance(0.1)
    assert transport.aborted
    assert dropped(metrics, "tls-handshake-timeout") == 1
    protocol.connectionLost(None)
    assert handshakes(metrics, "failed") == 1
    assert factory.connections_from("192.0.2.7") == 0
    assert clock.getDelayedCalls() == []


def test_a_finished_handshake_cancels_its_deadline(tmp_path):
    factory, clock, metrics = clocked_factory(tmp_path)
    protocol, transport = open_connection(factory)
    protocol.handshakeCompleted()
    clock.advance(60)
    assert not transport.aborted
    assert handshakes(metrics, "ok") == 1


def test_connections_still_in_their_handshake_count_towards_the_address_cap(tmp_path):
    factory, _, metrics = clocked_factory(tmp_path)
    opened = [open_connection(factory, port=40000 + i) for i in range(3)]
    assert [t.aborted for _, t in opened] == [False, False, True]
    assert dropped(metrics, "tcp-address-limit") == 1
    assert factory.connections_from("192.0.2.7") == 2


def test_messages_for_a_connection_wait_for_its_handshake(tmp_path):
    factory, _, _ = clocked_factory(tmp_path)
    protocol, transport = open_connection(factory)
    failed = []
    factory.send(ANSWER, protocol.peer, on_failure=lambda: failed.append(1))
    assert transport.value() == b""
    protocol.handshakeCompleted()
    assert transport.value() == ANSWER
    assert failed == []


def test_messages_waiting_on_a_handshake_that_fails_fail_their_transaction(tmp_path):
    factory, _, _ = clocked_factory(tmp_path)
    protocol, transport = open_connection(factory)
    failed = []
    factory.send(ANSWER, protocol.peer, on_failure=lambda: failed.append(1))
    transport.loseConnection()
    protocol.connectionLost(None)
    assert failed == [1]
    assert transport.value() == b""


def outbound(factory, host="192.0.2.60", port=5061):
    protocol = factory.buildProtocol(None)
    protocol.outbound = True
    transport = Transport(host, port)
    return protocol, transport


def test_an_outbound_connection_closed_before_any_answer_fails_what_it_carried(tmp_path):
    factory, _, _ = clocked_factory(tmp_path)
    peer = Peer("tls", "192.0.2.60", 5061)
    failed = []
    factory._pending[(peer.host, peer.port)] = [(OPTIONS, lambda: failed.append(1))]
    protocol, transport = outbound(factory)
    protocol.makeConnection(transport)
    protocol.handshakeCompleted()
    assert transport.value() == OPTIONS and failed == []
    transport.loseConnection()
    protocol.connectionLost(None)  # refused after the handshake (TLS 1.3 client auth)
    assert failed == [1]


def test_an_answered_outbound_connection_closing_later_fails_nothing(tmp_path):
    factory, _, _ = clocked_factory(tmp_path)
    failed = []
    factory._pending[("192.0.2.60", 5061)] = [(OPTIONS, lambda: failed.append(1))]
    protocol, transport = outbound(factory)
    protocol.makeConnection(transport)
    protocol.handshakeCompleted()
    protocol.dataReceived(ANSWER)
    transport.loseConnection()
    protocol.connectionLost(None)
    assert failed == []
    assert [raw for raw, _ in factory.endpoint.received] == [ANSWER]


def test_no_outbound_tls_to_an_address_that_is_no_tls_gateway(tmp_path):
    factory, clock, metrics = clocked_factory(tmp_path, reactor=object())
    failed = []
    factory.send(OPTIONS, Peer("tls", "192.0.2.50", 5061), on_failure=lambda: failed.append(1))
    assert failed == []  # not inside the sender: on the next turn, as a refused connect
    clock.advance(0)
    assert failed == [1]
    assert dropped(metrics, "tcp-connection-gone") == 1


# -- real TLS peers --------------------------------------------------------------------
class TlsPeerTests(unittest.TestCase):
    timeout = 30

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.dir = Path(directory.name)
        self.pki = Pki(self.dir)
        self.cert, self.key = self.pki.issue("switch", "switch.test", "127.0.0.1")
        self.metrics = Metrics()
        self.endpoint = Endpoint()
        self.gateways = {}
        self.contexts = TlsContexts(str(self.cert), str(self.key), ca_file=str(self.pki.ca_file))
        self.factory = SipTlsFactory(
            self.endpoint, self.metrics, Limits(), 300.0, 4096, self.contexts,
            names=lambda host, port: self.gateways.get((host, port)),
            handshake_timeout=1.0, reactor=reactor, clock=reactor, max_per_address=4)
        self.endpoint.factory = self.factory
        self.addCleanup(self.factory.close_all)

    def listen(self):
        port = reactor.listenTCP(0, self.factory.server_factory(), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port

    def client_context(self, client_cert=None):
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        if client_cert is not None:
            context.load_cert_chain(*client_cert)
        return context

    # inbound ------------------------------------------------------------------------
    def test_a_phone_talks_sip_over_the_listener_and_is_answered_on_its_connection(self):
        port = self.listen()

        def phone():
            with socket.create_connection(("127.0.0.1", port)) as raw, \
                    self.client_context().wrap_socket(raw, server_hostname="switch.test") as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
                tls.sendall(OPTIONS)
                return read_message(tls), tls.getsockname()

        def check(result):
            answer, (host, local_port) = result
            self.assertEqual(answer, ANSWER)
            self.assertEqual(self.endpoint.received,
                             [(OPTIONS, Peer("tls", "127.0.0.1", local_port))])
            self.assertTrue(self.endpoint.received[0][1].secure)
        return deferToThread(phone).addCallback(check)

    def test_tls_below_1_2_is_refused(self):
        port = self.listen()

        def old_phone():
            context = self.client_context()
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
            with socket.create_connection(("127.0.0.1", port)) as raw:
                try:
                    context.wrap_socket(raw, server_hostname="switch.test")
                except (ssl.SSLError, OSError):
                    return "refused"
            return "accepted"
        return deferToThread(old_phone).addCallback(self.assertEqual, "refused")

    def test_garbage_before_a_client_hello_closes_the_connection_and_delivers_nothing(self):
        port = self.listen()

        def scanner():
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.sendall(OPTIONS)  # plain SIP to a TLS port
                raw.settimeout(5)
                try:
                    while raw.recv(4096):
                        pass
                except OSError:
                    pass
            return time.monotonic()

        d = deferToThread(scanner)
        d.addCallback(lambda _: until(lambda: handshakes(self.metrics, "failed") == 1))
        d.addCallback(lambda _: self.assertEqual(self.endpoint.received, []))
        d.addCallback(lambda _: self.assertEqual(self.factory.connections_from("127.0.0.1"), 0))
        return d

    def test_a_peer_that_never_finishes_its_handshake_is_closed_at_the_deadline(self):
        port = self.listen()

        def silent():
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.settimeout(5)
                try:
                    data = raw.recv(4096)
                except OSError:
                    data = b""
            return data, time.monotonic() - started

        def check(result):
            data, elapsed = result
            self.assertEqual(data, b"")
            self.assertLess(elapsed, 3.0)  # handshake_timeout is 1 s
            self.assertEqual(dropped(self.metrics, "tls-handshake-timeout"), 1)
        return deferToThread(silent).addCallback(check)

    def test_a_reloaded_certificate_is_seen_by_new_connections_and_old_ones_go_on(self):
        port = self.listen()
        first_serial = Pki.serial(self.cert)
        phone = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(phone.close)
        state = {}

        def connect_first():
            tls = self.client_context().wrap_socket(phone, server_hostname="switch.test")
            state["tls"] = tls
            return _peer_serial(tls)

        def replace_files(serial):
            self.assertEqual(serial, first_serial)
            self.pki.issue("switch", "switch.test", "127.0.0.1")  # same paths, new pair
            self.assertTrue(self.contexts.check())
            self.assertFalse(self.contexts.check())  # nothing changed since

        def second_connection():
            with socket.create_connection(("127.0.0.1", port)) as raw, \
                    self.client_context().wrap_socket(raw, server_hostname="switch.test") as tls:
                serial = _peer_serial(tls)
            first = state["tls"]
            first.sendall(OPTIONS)  # the connection opened before the reload still works
            return serial, read_message(first)

        def check(result):
            serial, answer = result
            self.assertEqual(serial, Pki.serial(self.cert))
            self.assertNotEqual(serial, first_serial)
            self.assertEqual(answer, ANSWER)

        d = deferToThread(connect_first)
        d.addCallback(replace_files)
        d.addCallback(lambda _: deferToThread(second_connection))
        return d.addCallback(check)

    def test_an_unreadable_new_certificate_keeps_the_old_one(self):
        port = self.listen()
        first_serial = Pki.serial(self.cert)
        self.key.write_text("not a key\n")
        self.assertFalse(self.contexts.check())

        def connect():
            with socket.create_connection(("127.0.0.1", port)) as raw, \
                    self.client_context().wrap_socket(raw, server_hostname="switch.test") as tls:
                return _peer_serial(tls)
        return deferToThread(connect).addCallback(self.assertEqual, first_serial)

    # outbound ---------------------------------------------------------------------------
    def gateway(self, *names, require_client=False):
        """A TLS server (a carrier's gateway) in a thread; returns (port, its record)."""
        cert, key = self.pki.issue("gateway-" + "-".join(names), *names)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if require_client:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(str(self.pki.ca_file))
        server = socket.create_server(("127.0.0.1", 0))
        server.settimeout(5)
        self.addCleanup(server.close)
        record = {}

        def serve():
            try:
                raw, _ = server.accept()
            except OSError:
                return record
            with raw:
                try:
                    with context.wrap_socket(raw, server_side=True) as tls:
                        peer = tls.getpeercert()
                        record["client"] = dict(x[0] for x in peer["subject"]) if peer else None
                        record["data"] = read_message(tls)
                        tls.sendall(ANSWER)
                        read_message(tls)  # until the switch closes
                except (ssl.SSLError, OSError) as exc:
                    record["error"] = str(exc)
            return record
        return server.getsockname()[1], deferToThread(serve)

    def send_to_gateway(self, port, destination):
        self.gateways[("127.0.0.1", port)] = destination
        failed = []
        self.factory.send(OPTIONS, Peer("tls", "127.0.0.1", port),
                          on_failure=lambda: failed.append(1))
        return failed

    def test_a_gateway_certified_for_its_name_gets_the_request_and_answers_on_it(self):
        port, served = self.gateway("gw.carrier.test")
        failed = self.send_to_gateway(port, TlsDestination("gw.carrier.test"))
        d = until(lambda: self.endpoint.received)
        d.addCallback(lambda _: self.factory.close_all())
        d.addCallback(lambda _: served)

        def check(record):
            self.assertEqual(record.get("data"), OPTIONS)
            self.assertEqual(failed, [])
            self.assertEqual(self.endpoint.received,
                             [(ANSWER, Peer("tls", "127.0.0.1", port))])
        return d.addCallback(check)

    def test_a_gateway_configured_by_address_is_checked_against_that_address(self):
        port, served = self.gateway("127.0.0.1")
        self.send_to_gateway(port, TlsDestination("127.0.0.1"))
        d = until(lambda: self.endpoint.received)
        d.addCallback(lambda _: self.factory.close_all())
        d.addCallback(lambda _: served)
        return d.addCallback(lambda record: self.assertEqual(record.get("data"), OPTIONS))

    def test_a_gateway_with_a_certificate_for_another_name_is_refused(self):
        port, served = self.gateway("other.carrier.test")
        failed = self.send_to_gateway(port, TlsDestination("gw.carrier.test"))
        d = until(lambda: failed)
        d.addCallback(lambda _: served)

        def check(record):
            self.assertNotIn("data", record)
            self.assertEqual(failed, [1])
            self.assertEqual(handshakes(self.metrics, "failed"), 1)
        return d.addCallback(check)

    def test_mutual_tls_presents_the_trunk_client_certificate(self):
        port, served = self.gateway("gw.carrier.test", require_client=True)
        cert, key = self.pki.issue("trunk-client", "switch.test", client=True)
        # As given over the API: PEM text (a file path works the same way).
        self.send_to_gateway(port, TlsDestination("gw.carrier.test", cert.read_text(),
                                                  key.read_text()))
        d = until(lambda: self.endpoint.received)
        d.addCallback(lambda _: self.factory.close_all())
        d.addCallback(lambda _: served)

        def check(record):
            self.assertEqual(record.get("client"), {"commonName": "trunk-client"})
            self.assertEqual(record.get("data"), OPTIONS)
        return d.addCallback(check)

    def test_mutual_tls_with_the_client_certificate_in_files(self):
        port, served = self.gateway("gw.carrier.test", require_client=True)
        cert, key = self.pki.issue("trunk-files", "switch.test", client=True)
        self.send_to_gateway(port, TlsDestination("gw.carrier.test", str(cert), str(key)))
        d = until(lambda: self.endpoint.received)
        d.addCallback(lambda _: self.factory.close_all())
        d.addCallback(lambda _: served)
        return d.addCallback(lambda record: self.assertEqual(
            record.get("client"), {"commonName": "trunk-files"}))

    def test_a_gateway_demanding_a_client_certificate_refuses_a_trunk_without_one(self):
        port, served = self.gateway("gw.carrier.test", require_client=True)
        failed = self.send_to_gateway(port, TlsDestination("gw.carrier.test"))
        d = served

        def check(record):
            # Under TLS 1.3 the client's handshake is through before the server checks
            # its certificate: the refusal closes the connection before any answer,
            # which fails the request at once.
            self.assertNotIn("data", record)
            self.assertIn("certificate", record.get("error", ""))
            return until(lambda: failed == [1] and not self.factory._connections)
        return d.addCallback(check)


def _peer_serial(tls) -> int:
    from cryptography import x509
    return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def test_gateway_names_come_from_the_tls_gateways_of_the_snapshot():
    from softswitch.edge.sip.tls_service import GatewayNames
    from softswitch.services.routing import Gateway, RoutingSnapshot, Trunk
    by_name = Gateway("secure", "203.0.113.5", 5061, "tls", None, 1, 1.0,
                      domain="sip.carrier.test")
    by_address = Gateway("secure", "203.0.113.6", 5061, "tls", None, 1, 1.0)
    plain = Gateway("plain", "203.0.113.7", 5060, "udp", None, 1, 1.0)
    holder = {"now": RoutingSnapshot(trunks=[
        Trunk("secure", (by_name, by_address), tls_client_certificate="/c.pem",
              tls_client_key="/c.key"),
        Trunk("plain", (plain,))])}
    names = GatewayNames(lambda: holder["now"])
    assert names("203.0.113.5", 5061) == TlsDestination("sip.carrier.test", "/c.pem", "/c.key")
    assert names("203.0.113.6", 5061) == TlsDestination("203.0.113.6", "/c.pem", "/c.key")
    assert names("203.0.113.7", 5060) is None
    assert names("203.0.113.5", 5062) is None
    holder["now"] = RoutingSnapshot()  # a new snapshot is indexed again
    assert names("203.0.113.5", 5061) is None


def test_the_reloader_polls_the_files_and_a_change_is_loaded_once(tmp_path):
    from softswitch.edge.sip.tls_service import TlsReloader
    pki = Pki(tmp_path)
    cert, key = pki.issue("switch", "switch.test")
    contexts = TlsContexts(str(cert), str(key))
    clock = Clock()
    reloader = TlsReloader(clock, contexts, 10.0)
    reloader.startService()
    try:
        assert contexts.loads == 1
        clock.advance(10)
        assert contexts.loads == 1  # nothing changed
        pki.issue("switch", "switch.test")
        clock.advance(10)
        assert contexts.loads == 2
        clock.advance(10)
        assert contexts.loads == 2
    finally:
        reloader.stopService()
    assert clock.getDelayedCalls() == []


def test_a_key_that_does_not_match_the_certificate_is_a_start_up_error(tmp_path):
    import pytest
    from softswitch import config
    from softswitch.edge.sip.service import StartupError
    from softswitch.edge.sip.tls_service import make_tls
    pki = Pki(tmp_path)
    cert, _ = pki.issue("switch", "switch.test")
    _, other_key = pki.issue("other", "other.test")
    settings = config.validate({"tls": {"certificate": str(cert), "key": str(other_key)}})
    with pytest.raises(StartupError, match=r"^\[tls\] .* do not go together"):
        make_tls(settings.tls, settings.sip, Endpoint(), Metrics(), Limits(), Clock(),
                 lambda: None)


class ClientCertificateTests(unittest.TestCase):
    """[tls] verify_client: phones must present a certificate the trust store signed."""

    timeout = 30

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.pki = Pki(Path(directory.name))
        cert, key = self.pki.issue("switch", "switch.test")
        self.endpoint = Endpoint()
        self.factory = SipTlsFactory(
            self.endpoint, Metrics(), Limits(), 300.0, 4096,
            TlsContexts(str(cert), str(key), ca_file=str(self.pki.ca_file), verify_client=True),
            handshake_timeout=2.0, reactor=reactor, clock=reactor)
        self.endpoint.factory = self.factory
        self.addCleanup(self.factory.close_all)
        port = reactor.listenTCP(0, self.factory.server_factory(), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port

    def phone(self, client_cert):
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        if client_cert is not None:
            context.load_cert_chain(*client_cert)
        try:
            with socket.create_connection(("127.0.0.1", self.port)) as raw, \
                    context.wrap_socket(raw, server_hostname="switch.test") as tls:
                tls.sendall(OPTIONS)
                return read_message(tls)
        except (ssl.SSLError, OSError):
            return b""

    def test_a_phone_with_a_certificate_is_served(self):
        cert = self.pki.issue("phone", "phone.test", client=True)
        return deferToThread(self.phone, cert).addCallback(self.assertEqual, ANSWER)

    def test_a_phone_without_one_is_not(self):
        d = deferToThread(self.phone, None)
        d.addCallback(self.assertEqual, b"")
        return d.addCallback(lambda _: self.assertEqual(self.endpoint.received, []))


def test_a_cipher_string_openssl_refuses_is_a_start_up_error(tmp_path):
    import pytest
    from softswitch import config
    from softswitch.edge.sip.service import StartupError
    from softswitch.edge.sip.tls_service import make_tls
    settings = config.validate({"tls": {"ciphers": "NOT-A-CIPHER"}})
    with pytest.raises(StartupError, match=r"^\[tls\] "):
        make_tls(settings.tls, settings.sip, Endpoint(), Metrics(), Limits(), Clock(),
                 lambda: None)
    cert, key = Pki(tmp_path).issue("switch", "switch.test")
    assert TlsContexts(str(cert), str(key), ciphers="ECDHE+AESGCM:ECDHE+CHACHA20").serving
