"""The agent socket's frame handling once open: the hand-over from the handshake (frames
in the same read as the 101), the media fast path and everything left to wsproto."""

import pytest
from twisted.internet.testing import StringTransport
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from softswitch.edge.agent.websocket import AgentSocket


class Recorder:
    def __init__(self):
        self.received, self.closes = [], []

    def text_received(self, text):
        self.received.append(text)

    def binary_received(self, data):
        self.received.append(data)

    def closed(self, code, reason):
        self.closes.append(code)


def open_socket():
    socket = AgentSocket("agent.example", "/media", [("Authorization", "Bearer x")])
    transport = StringTransport()
    socket.makeConnection(transport)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(transport.value())
    transport.clear()
    request = next(server.events())
    assert isinstance(request, Request) and request.target == "/media"
    recorder = Recorder()
    socket.listener = recorder
    return socket, transport, server, recorder


def frames_from(server, transport):
    server.receive_data(transport.value())
    transport.clear()
    return list(server.events())


@pytest.mark.parametrize("cut", [0, 1, 5, 40, 41, 42, 80, 200, 330])
def test_frames_in_the_same_read_as_the_101_and_after_arrive_once_in_order(cut):
    socket, transport, server, recorder = open_socket()
    answer = server.send(AcceptConnection())
    stream = b"".join([server.send(TextMessage(data='{"event":"a"}')),
                       server.send(TextMessage(data="b" * 150)),
                       server.send(TextMessage(data="c" * 30, message_finished=False)),
                       server.send(TextMessage(data="d")),
                       server.send(BytesMessage(data=b"\x01" * 20)),
                       server.send(TextMessage(data="e"))])
    cut = min(cut, len(stream))
    socket.dataReceived(answer + stream[:cut])
    assert socket.opened.called and socket.is_open
    for at in range(cut, len(stream), 7):
        socket.dataReceived(stream[at:at + 7])
    assert recorder.received == ['{"event":"a"}', "b" * 150, "c" * 30 + "d", b"\x01" * 20, "e"]


def test_text_sent_is_masked_and_reads_back_as_sent():
    socket, transport, server, recorder = open_socket()
    socket.dataReceived(server.send(AcceptConnection()))
    socket.send_text("héllo")
    socket.send_frames(['{"event":"media"}', b"\x00\x01\x02", "x" * 70000])
    events = frames_from(server, transport)
    assert [(type(e), e.data) for e in events] == [
        (TextMessage, "héllo"), (TextMessage, '{"event":"media"}'),
        (BytesMessage, bytearray(b"\x00\x01\x02")), (TextMessage, "x" * 70000)]


def test_ping_is_answered_and_close_is_reported_and_echoed():
    socket, transport, server, recorder = open_socket()
    socket.dataReceived(server.send(AcceptConnection()))
    socket.dataReceived(server.send(Ping(payload=b"are you there")) +
                        server.send(TextMessage(data="after ping")))
    assert recorder.received == ["after ping"]
    assert [type(e) for e in frames_from(server, transport)] == [Pong]
    socket.dataReceived(server.send(CloseConnection(code=1000, reason="bye")) +
                        b"\x81\x05late!")  # data after a close is not delivered
    assert recorder.closes == [1000] and recorder.received == ["after ping"]
    assert not socket.is_open
    assert [type(e) for e in frames_from(server, transport)] == [CloseConnection]


def test_invalid_utf8_from_the_server_ends_the_connection():
    socket, transport, server, recorder = open_socket()
    socket.dataReceived(server.send(AcceptConnection()))
    socket.dataReceived(b"\x81\x02\xc3\x28")  # invalid UTF-8 in a text frame
    assert recorder.received == [] and recorder.closes == [1007]
    assert transport.disconnecting


def test_a_server_masking_its_frames_is_refused():
    socket, transport, server, recorder = open_socket()
    socket.dataReceived(server.send(AcceptConnection()))
    socket.dataReceived(b"\x81\x81\x00\x00\x00\x00a")
    assert recorder.received == [] and recorder.closes == [1002]
    assert transport.disconnecting
