"""edge.media.recording_source over a real RtpRelay on loopback UDP: the media control
announces an answered call (recorded at once when its number says so) and ends it on
delete; a recording taps both directions' RTP, forwarding goes on unchanged."""

import random
import struct
import time

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest

from softswitch.edge.media.recording_source import RecordingMediaControl
from softswitch.edge.media.relay import RtpRelay
from softswitch.media.recording import FRAME_BYTES
from softswitch.services.media_control import RegionConfig

LOCAL = "127.0.0.1"
RECORDED, PLAIN = "+14155550100", "+14155550199"


class Phone(DatagramProtocol):
    noisy = False

    def __init__(self):
        self.received = []

    def datagramReceived(self, data, addr):
        self.received.append(data)


class Recordings:
    """What the media control tells the recorder (services.recordings' two calls)."""

    def __init__(self):
        self.began, self.ended = [], []

    def call_began(self, call_id, source, *, record):
        self.began.append((call_id, source, record))

    def call_ended(self, call_id):
        self.ended.append(call_id)


def sdp(port: int) -> bytes:
    return (f"v=0\r\no=- 1 1 IN IP4 {LOCAL}\r\ns=-\r\nc=IN IP4 {LOCAL}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").encode()


def rtp(seq: int, ssrc: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, ssrc) + payload


def media_port(body: bytes) -> int:
    line = next(x for x in body.split(b"\r\n") if x.startswith(b"m=audio"))
    return int(line.split()[1])


class RecordingRelayTests(unittest.TestCase):
    timeout = 20

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1000.0)
        base = random.randrange(40000, 50000, 200)
        relay = RtpRelay(reactor, {"local": RegionConfig("local", LOCAL, LOCAL, base,
                                                         base + 199)}, "local",
                         clock=self.clock)
        self.addCleanup(relay.close)
        self.recordings = Recordings()
        self.control = RecordingMediaControl(relay, self.recordings,
                                             lambda number: number == RECORDED, self.clock)

    def phone(self):
        phone = Phone()
        port = reactor.listenUDP(0, phone, interface=LOCAL)
        self.addCleanup(port.stopListening)
        return phone, port.getHost().port

    @inlineCallbacks
    def connect(self, did: str):
        alice, alice_port = self.phone()
        bob, bob_port = self.phone()
        self.control.call_planned("c1", did)
        offer = yield self.control.offer("c1", "a", sdp(alice_port))
        self.assertEqual(self.recordings.began, [])
        answer = yield self.control.answer("c1", "a", "b", sdp(bob_port))
        return alice, bob, media_port(answer), media_port(offer)

    @inlineCallbacks
    def until(self, condition, timeout: float = 3.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.fail("condition not reached in time")
            yield deferLater(reactor, 0.002, lambda: None)

    @inlineCallbacks
    def test_a_call_to_a_recorded_number_is_announced_as_recorded_and_ended_on_delete(self):
        yield self.connect(RECORDED)
        [(call_id, source, record)] = self.recordings.began
        self.assertEqual((call_id, record), ("c1", True))
        yield self.control.answer("c1", "a", "b", sdp(9))  # a re-answer: announced once
        self.assertEqual(len(self.recordings.began), 1)
        yield self.control.delete("c1")
        self.assertEqual(self.recordings.ended, ["c1"])

    @inlineCallbacks
    def test_other_calls_are_announced_for_recording_on_request_only(self):
        yield self.connect(PLAIN)
        self.assertEqual([r for _, _, r in self.recordings.began], [False])

    @inlineCallbacks
    def test_the_tap_records_both_directions_while_packets_are_still_forwarded(self):
        alice, bob, a_port, b_port = yield self.connect(PLAIN)
        [(_, source, _)] = self.recordings.began
        writes = []

        class Recorder:  # a SlotRecorder's input, kept
            def write(self, channel, slot, frame):
                writes.append((channel, slot, frame))

        source.attach(Recorder())
        for seq in range(5):
            alice.transport.write(rtp(seq, 0xA, bytes([seq + 1]) * FRAME_BYTES),
                                  (LOCAL, a_port))
            bob.transport.write(rtp(seq, 0xB, bytes([seq + 100]) * FRAME_BYTES),
                                (LOCAL, b_port))
        yield self.until(lambda: len(alice.received) == 5 and len(bob.received) == 5)
        self.assertEqual(sorted(w for w in writes if w[0] == 0),
                         [(0, seq, bytes([seq + 1]) * FRAME_BYTES) for seq in range(5)])
        self.assertEqual(sorted(w for w in writes if w[0] == 1),
                         [(1, seq, bytes([seq + 100]) * FRAME_BYTES) for seq in range(5)])
        source.attach(None)
        alice.transport.write(rtp(9, 0xA, b"\x01" * FRAME_BYTES), (LOCAL, a_port))
        yield self.until(lambda: len(bob.received) == 6)
        self.assertEqual(len(writes), 10)
