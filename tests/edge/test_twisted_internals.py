"""Twisted's private attributes that the edge reads (softswitch.edge.twisted_internals),
checked on real Twisted objects: a Twisted upgrade that renames or drops one fails here."""

import socket

from twisted.internet import reactor, tcp
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import ClientFactory, DatagramProtocol, Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web import http

from softswitch.edge.twisted_internals import (
    plain_socket, port_socket, request_disconnected, request_line_path, writes_idle)


class HeadProbe(http.Request):
    """Records what the edge would read when the head is in (admin guard's gotLength)."""
    paths: list = []

    def gotLength(self, length):
        HeadProbe.paths.append(request_line_path(self.channel))
        HeadProbe.requests.append(self)
        super().gotLength(length)


class HttpChannelTests(unittest.TestCase):
    def setUp(self):
        HeadProbe.paths, HeadProbe.requests = [], []
        self.channel = http.HTTPChannel()
        self.channel.requestFactory = HeadProbe
        self.channel.makeConnection(StringTransport())

    def test_the_request_line_path_is_known_before_the_body(self):
        self.channel.dataReceived(b"POST /2010-04-01/Accounts/AC1/Calls/CA1.json HTTP/1.1\r\n"
                                  b"Host: switch\r\nContent-Length: 5\r\n\r\n")
        self.assertEqual(HeadProbe.paths, [b"/2010-04-01/Accounts/AC1/Calls/CA1.json"])
        self.assertEqual(request_line_path(self.channel), b"/2010-04-01/Accounts/AC1/Calls/CA1.json")

    def test_no_path_outside_a_request_head(self):
        self.assertEqual(request_line_path(self.channel), b"")

    def test_a_request_knows_its_connection_is_gone(self):
        self.channel.dataReceived(b"POST /v1/users HTTP/1.1\r\nHost: switch\r\n"
                                  b"Content-Length: 5\r\n\r\nab")
        [request] = HeadProbe.requests
        self.assertIs(request_disconnected(request), False)
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.assertIs(request_disconnected(request), True)


class UdpPortTests(unittest.TestCase):
    def test_a_listening_port_hands_out_its_socket(self):
        port = reactor.listenUDP(0, DatagramProtocol(), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        sock = port_socket(port)
        self.assertIsInstance(sock, socket.socket)
        self.assertEqual(sock.getsockname()[1], port.getHost().port)
        self.assertEqual(sock.fileno(), port.fileno())


class Tracked(Protocol):
    """Reports its connection made and lost through the factory's Deferreds."""

    def connectionMade(self):
        self.factory.made.append(self)
        self.lost = Deferred()

    def connectionLost(self, reason=None):
        self.lost.callback(None)


class TcpConnectionTests(unittest.TestCase):
    def setUp(self):
        self.server = Factory.forProtocol(Tracked)
        self.server.made = []
        self.listening = reactor.listenTCP(0, self.server, interface="127.0.0.1")
        self.addCleanup(self.listening.stopListening)

    def connect(self, check):
        client = ClientFactory.forProtocol(Tracked)
        client.made = []
        endpoint = reactor.connectTCP("127.0.0.1", self.listening.getHost().port, client)
        done = Deferred()

        def poll():
            if not (client.made and self.server.made):
                reactor.callLater(0.001, poll)
                return
            protocol = client.made[0]
            try:
                check(protocol)
            finally:
                protocol.transport.loseConnection()
                gatherResults([protocol.lost, self.server.made[0].lost]).chainDeferred(done)
        reactor.callLater(0, poll)
        self.addCleanup(endpoint.disconnect)
        return done

    def test_the_attributes_the_read_group_and_agent_socket_use_exist(self):
        self.assertIs(tcp.Connection.TLS, False)  # set True by startTLS
        for name in ("startReading", "stopReading", "getHandle", "fileno"):
            self.assertTrue(callable(getattr(tcp.Connection, name)), name)

        def check(protocol):
            transport = protocol.transport
            self.assertIsInstance(transport, tcp.Connection)
            sock = plain_socket(transport)
            self.assertIsInstance(sock, socket.socket)
            self.assertEqual(sock.fileno(), transport.fileno())
            self.assertTrue(transport.connected)
            self.assertTrue(writes_idle(transport))
            transport.write(b"x" * 100)  # queued until the reactor finds it writable
            self.assertEqual(transport._tempDataBuffer, [b"x" * 100])
            self.assertFalse(writes_idle(transport))
        return self.connect(check)

    def test_a_transport_that_is_not_plain_tcp_has_no_plain_socket(self):
        self.assertIsNone(plain_socket(StringTransport()))

        def check(protocol):
            protocol.transport.TLS = True  # what startTLS sets
            try:
                self.assertIsNone(plain_socket(protocol.transport))
            finally:
                protocol.transport.TLS = False
        return self.connect(check)
