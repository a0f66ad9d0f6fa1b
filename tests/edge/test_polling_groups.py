"""Read groups serve their ready members in batches and call `between_reads` after
every READS_BETWEEN members (the slot ticker runs slots just due there), on real
loopback sockets."""

import socket

import pytest
from twisted.internet.error import CannotListenError

from softswitch.edge.polling.epoll_group import READS_BETWEEN
from softswitch.edge.polling.read_group import ReadGroup
from softswitch.edge.polling.udp_group import SocketGroup


class _Reactor:
    def addReader(self, reader):
        pass

    def removeReader(self, reader):
        pass


class _Receiver:
    def __init__(self, log):
        self.log = log

    def datagramReceived(self, data, addr):
        self.log.append(("datagram", data))


def test_socket_group_calls_between_reads_every_few_datagrams():
    log = []
    group = SocketGroup(_Reactor(), between_reads=lambda: log.append("between"))
    count = 2 * READS_BETWEEN + 3
    ports = [group.listen(0, _Receiver(log), "127.0.0.1") for _ in range(count)]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for n, port in enumerate(ports):
            sender.sendto(b"%d" % n, port._sock.getsockname())
        group.doRead()
    finally:
        sender.close()
        for port in ports:
            port.stopListening()
    datagrams = [entry for entry in log if entry != "between"]
    assert sorted(data for _, data in datagrams) == sorted(b"%d" % n for n in range(count))
    assert log.count("between") == count // READS_BETWEEN
    # ...each after READS_BETWEEN reads, before the next one (none after the last).
    assert log.index("between") == READS_BETWEEN


def test_read_group_calls_between_reads_every_few_sockets():
    log = []
    group = ReadGroup(_Reactor(), between_reads=lambda: log.append("between"))
    count = READS_BETWEEN + 1
    pairs = [socket.socketpair() for _ in range(count)]
    try:
        for n, (ours, theirs) in enumerate(pairs):
            ours.setblocking(False)
            # (take_over wants a Twisted TCP transport; the socket's entry is the same)
            group._add(ours.fileno(), (None, ours.recv, log.append))
            theirs.send(b"message %d" % n)
        group.doRead()
    finally:
        for ours, theirs in pairs:
            ours.close()
            theirs.close()
    assert sorted(entry for entry in log if entry != "between") == \
        sorted(b"message %d" % n for n in range(count))
    assert log.count("between") == 1 and log.index("between") == READS_BETWEEN


def test_without_between_reads_every_member_is_read():
    log = []
    group = SocketGroup(_Reactor())
    ports = [group.listen(0, _Receiver(log), "127.0.0.1") for _ in range(READS_BETWEEN * 2)]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for port in ports:
            sender.sendto(b"x", port._sock.getsockname())
        group.doRead()
    finally:
        sender.close()
        for port in ports:
            port.stopListening()
    assert len(log) == READS_BETWEEN * 2


def test_socket_group_binds_ip_literals_of_either_family_and_refuses_names():
    group = SocketGroup(_Reactor())
    for interface, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
        port = group.listen(0, _Receiver([]), interface)
        assert port._sock.family == family
        port.stopListening()
    for name in ("localhost", "300.1.1.1", ""):
        with pytest.raises(CannotListenError):
            group.listen(0, _Receiver([]), name)
    assert len(group) == 0
