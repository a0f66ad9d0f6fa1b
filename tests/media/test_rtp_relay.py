"""The in-process RTP relay on real loopback UDP sockets: two phones talk through it
both ways; strangers are not forwarded; NAT'd phones are latched; re-offers keep
ports; delete frees them; regions bind on their own address; inactivity is reported
(timed with a task.Clock)."""

import random
import time

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest

from softswitch.edge.media.relay import RtpRelay
from softswitch.media.latch import LatchPolicy
from softswitch.media.rtcp import ReceiverReport, ReportBlock, SenderReport
from softswitch.media.rtp import RtpPacket
from softswitch.sdp import parse_sdp
from softswitch.services.media_control import (
    CallMediaStats,
    MediaControl,
    MediaRejected,
    MediaTimedOut,
    PortsExhausted,
    RegionConfig,
    UnknownCall,
    UnknownRegion,
    UnknownTag,
)

LOCAL = "127.0.0.1"


class Phone(DatagramProtocol):
    noisy = False

    def __init__(self):
        self.received = []

    def datagramReceived(self, data, addr):
        self.received.append((data, addr))

    def send(self, data, host, port):
        self.transport.write(data, (host, port))

    @property
    def payloads(self):
        return [data for data, _ in self.received]


def rtp(seq: int, ssrc: int = 0x1234, payload: bytes = b"\xff" * 160, pt: int = 0) -> bytes:
    return bytes(RtpPacket(pt, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc, payload))


def phone_sdp(host: str, port: int, version: int = 1, direction: str = "sendrecv",
              rtcp_port: int | None = None, media: str | None = None) -> bytes:
    family = "IP6" if ":" in host else "IP4"
    lines = ["v=0", f"o=- 42 {version} IN {family} {host}", "s=-", f"c=IN {family} {host}",
             "t=0 0",
             media or f"m=audio {port} RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
             "a=rtpmap:101 telephone-event/8000", "a=ptime:20", f"a={direction}"]
    if rtcp_port is not None:
        lines.append(f"a=rtcp:{rtcp_port}")
    return ("\r\n".join(lines) + "\r\n").encode()


def free_base() -> int:
    """An even base for a test port range, away from 20000-30000 (the switch's default
    media range, used by other switches on a shared box)."""
    return random.randrange(40000, 59000, 2)


def relay_port(sdp: bytes, index: int = 0) -> int:
    return parse_sdp(sdp).media[index].port


class RelayTestCase(unittest.TestCase):
    timeout = 20

    def setUp(self):
        self.clock = Clock()
        base = free_base()
        self.region = RegionConfig("local", LOCAL, LOCAL, base, base + 199)
        self.relay = self.make_relay({"local": self.region}, "local")

    relay_reactor = reactor

    def make_relay(self, regions, default, **kwargs):
        kwargs.setdefault("latch_policy", LatchPolicy(learn_packets=2, learn_seconds=5.0))
        relay = RtpRelay(self.relay_reactor, regions, default, clock=self.clock, **kwargs)
        self.addCleanup(relay.close)
        return relay

    def phone(self, host: str = LOCAL) -> tuple[Phone, int]:
        phone = Phone()
        port = reactor.listenUDP(0, phone, interface=host)
        self.addCleanup(port.stopListening)
        return phone, port.getHost().port

    @inlineCallbacks
    def until(self, condition, timeout: float = 3.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.fail("condition not reached in time")
            yield deferLater(reactor, 0.002, lambda: None)

    @inlineCallbacks
    def settle(self, seconds: float = 0.05):
        yield deferLater(reactor, seconds, lambda: None)

    @inlineCallbacks
    def connect(self, relay=None, call_id="call-1", region=None, host=LOCAL):
        """Alice calls Bob through the relay; returns both phones and the relay ports
        (alice sends to `a_port`, bob to `b_port`) and both rewritten SDPs."""
        relay = relay or self.relay
        alice, alice_port = self.phone(host)
        bob, bob_port = self.phone(host)
        offer = yield relay.offer(call_id, "alice-tag", phone_sdp(host, alice_port), region)
        answer = yield relay.answer(call_id, "alice-tag", "bob-tag", phone_sdp(host, bob_port))
        self.alice, self.bob = alice, bob
        self.alice_port, self.bob_port = alice_port, bob_port
        return alice, bob, relay_port(answer), relay_port(offer), offer, answer


class MediaFlowTests(RelayTestCase):
    def test_the_relay_is_a_media_control(self):
        self.assertIsInstance(self.relay, MediaControl)

    @inlineCallbacks
    def test_offer_and_answer_point_at_the_relay(self):
        alice, bob, a_port, b_port, offer, answer = yield self.connect()
        for body in (offer, answer):
            sdp = parse_sdp(body)
            self.assertEqual(sdp.connection.address, LOCAL)
            self.assertEqual(sdp.origin.address, LOCAL)
            self.assertEqual(sdp.media[0].formats, ["0", "101"])
            self.assertIsNone(sdp.media[0].rtcp)  # RTCP is on port + 1
        for port in (a_port, b_port):
            self.assertEqual(port % 2, 0)
            self.assertTrue(self.region.port_min <= port < self.region.port_max)
        self.assertNotEqual(a_port, b_port)
        self.assertEqual(self.relay.port_pairs_in_use("local"), 2)

    @inlineCallbacks
    def test_rtp_flows_both_ways(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect()
        for seq in range(10):
            alice.send(rtp(seq, ssrc=0xA), LOCAL, a_port)
            bob.send(rtp(1000 + seq, ssrc=0xB), LOCAL, b_port)
        yield self.until(lambda: len(alice.received) == 10 and len(bob.received) == 10)
        self.assertEqual(bob.payloads, [rtp(seq, ssrc=0xA) for seq in range(10)])
        self.assertEqual(alice.payloads, [rtp(1000 + seq, ssrc=0xB) for seq in range(10)])
        # Each phone hears the other from the relay port it sends to (symmetric RTP).
        self.assertEqual({addr for _, addr in bob.received}, {(LOCAL, b_port)})
        self.assertEqual({addr for _, addr in alice.received}, {(LOCAL, a_port)})

        stats = yield self.relay.query("call-1")
        self.assertIsInstance(stats, CallMediaStats)
        caller, callee = stats.caller.streams[0], stats.callee.streams[0]
        self.assertEqual((stats.caller.tag, stats.callee.tag), ("alice-tag", "bob-tag"))
        self.assertEqual(caller.peer, (LOCAL, self.alice_port))
        self.assertEqual(callee.peer, (LOCAL, self.bob_port))
        self.assertEqual((caller.rtp.packets, caller.rtp.bytes), (10, 1720))
        self.assertEqual((caller.rtp.expected, caller.rtp.lost), (10, 0))
        self.assertEqual(caller.rtp.ssrc, 0xA)
        self.assertEqual(callee.rtp.packets, 10)
        self.assertEqual((caller.forwarded, callee.forwarded), (10, 10))
        self.assertEqual(caller.local_port, a_port)
        self.assertEqual(stats.to_dict()["caller"]["streams"][0]["rtp"]["packets"], 10)

    @inlineCallbacks
    def test_injected_packets_from_a_third_address_are_not_forwarded(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect()
        alice.send(rtp(1), LOCAL, a_port)
        bob.send(rtp(1, ssrc=0xB), LOCAL, b_port)
        yield self.until(lambda: alice.received and bob.received)
        mallory, _ = self.phone("127.0.0.4")  # another host
        for seq in range(5):
            mallory.send(rtp(100 + seq, ssrc=0xBAD, payload=b"evil"), LOCAL, a_port)
            mallory.send(rtp(200 + seq, ssrc=0xBAD, payload=b"evil"), LOCAL, b_port)
            mallory.send(b"\x80\xc9\x00\x01\x00\x00\x0b\xad", LOCAL, a_port + 1)
        yield self.settle(0.1)
        alice.send(rtp(2), LOCAL, a_port)
        yield self.until(lambda: len(bob.received) == 2)
        yield self.settle()
        self.assertEqual(bob.payloads, [rtp(1), rtp(2)])
        self.assertEqual(len(alice.received), 1)
        self.assertFalse(any(b"evil" in data for data, _ in alice.received + bob.received))
        stats = yield self.relay.query("call-1")
        self.assertEqual(stats.caller.streams[0].dropped_foreign, 10)  # 5 RTP + 5 RTCP
        self.assertEqual(stats.callee.streams[0].dropped_foreign, 5)
        self.assertEqual(stats.caller.streams[0].rtp.packets, 2)

    @inlineCallbacks
    def test_packets_before_the_callee_answers_are_not_forwarded(self):
        alice, alice_port = self.phone()
        offer = yield self.relay.offer("call-1", "alice-tag", phone_sdp(LOCAL, alice_port))
        mallory, _ = self.phone()
        for seq in range(5):
            mallory.send(rtp(seq, payload=b"early"), LOCAL, relay_port(offer))
        yield self.settle(0.1)
        self.assertEqual(alice.received, [])
        stats = yield self.relay.query("call-1")
        self.assertEqual(stats.callee.streams[0].dropped_learning, 5)

    @inlineCallbacks
    def test_a_natted_phone_is_latched_from_its_packets(self):
        alice, alice_port = self.phone()
        bob, bob_port = self.phone()
        # Alice is behind a NAT: her SDP carries her private address.
        offer = yield self.relay.offer("call-1", "alice-tag", phone_sdp("10.0.0.5", 4000))
        answer = yield self.relay.answer("call-1", "alice-tag", "bob-tag",
                                         phone_sdp(LOCAL, bob_port))
        a_port, b_port = relay_port(answer), relay_port(offer)
        # Before she is latched, Bob's audio goes to the SDP address (lost, unreachable).
        for seq in range(3):
            alice.send(rtp(seq, ssrc=0xA), LOCAL, a_port)
        yield self.until(lambda: len(bob.received) == 2)
        # learn_packets=2: the first packet was dropped while learning, the second latched.
        self.assertEqual(bob.payloads, [rtp(1, ssrc=0xA), rtp(2, ssrc=0xA)])
        bob.send(rtp(7, ssrc=0xB), LOCAL, b_port)
        yield self.until(lambda: alice.received)
        self.assertEqual(alice.received, [(rtp(7, ssrc=0xB), (LOCAL, a_port))])
        stats = yield self.relay.query("call-1")
        self.assertEqual(stats.caller.streams[0].peer, (LOCAL, alice_port))
        self.assertEqual(stats.caller.streams[0].advertised, ("10.0.0.5", 4000))
        self.assertEqual(stats.caller.streams[0].dropped_learning, 1)

    @inlineCallbacks
    def test_rtcp_goes_through_the_plus_one_ports_and_its_reports_are_kept(self):
        alice, alice_port = self.phone()
        bob, bob_port = self.phone()
        alice_rtcp, alice_rtcp_port = self.phone()
        bob_rtcp, bob_rtcp_port = self.phone()
        offer = yield self.relay.offer("call-1", "alice-tag",
                                       phone_sdp(LOCAL, alice_port, rtcp_port=alice_rtcp_port))
        answer = yield self.relay.answer("call-1", "alice-tag", "bob-tag",
                                         phone_sdp(LOCAL, bob_port, rtcp_port=bob_rtcp_port))
        a_port, b_port = relay_port(answer), relay_port(offer)
        self.assertEqual(parse_sdp(offer).media[0].rtcp.port, b_port + 1)
        for seq in range(5):
            bob.send(rtp(seq, ssrc=0xB), LOCAL, b_port)
        yield self.until(lambda: len(alice.received) == 5)
        report = bytes(ReceiverReport(0xA, (ReportBlock(0xB, 64, 2, 4, 80),)))
        sender = bytes(SenderReport(0xB, 1, 2, 5, 800))
        alice_rtcp.send(report, LOCAL, a_port + 1)
        bob_rtcp.send(sender, LOCAL, b_port + 1)
        yield self.until(lambda: bob_rtcp.received and alice_rtcp.received)
        self.assertEqual(bob_rtcp.received, [(report, (LOCAL, b_port + 1))])
        self.assertEqual(alice_rtcp.received, [(sender, (LOCAL, a_port + 1))])
        stats = yield self.relay.query("call-1")
        bob_stream = stats.callee.streams[0]
        self.assertEqual(bob_stream.rtp.reported_fraction_lost, 0.25)
        self.assertEqual(bob_stream.rtp.reported_cumulative_lost, 2)
        self.assertEqual(bob_stream.rtp.reported_jitter_ms, 10.0)
        self.assertEqual(bob_stream.rtp.sender_packet_count, 5)
        self.assertEqual(stats.caller.streams[0].rtcp_packets, 1)

    @inlineCallbacks
    def test_rtcp_from_the_latched_rtp_host_latches_at_once(self):
        alice, alice_port = self.phone()
        bob, bob_port = self.phone()
        bob_rtcp, _ = self.phone()  # NAT: its RTCP leaves from an unadvertised port
        offer = yield self.relay.offer("call-1", "alice-tag",
                                       phone_sdp(LOCAL, alice_port, rtcp_port=alice_port + 1))
        yield self.relay.answer("call-1", "alice-tag", "bob-tag", phone_sdp(LOCAL, bob_port))
        b_port = relay_port(offer)
        bob.send(rtp(1), LOCAL, b_port)
        yield self.until(lambda: alice.received)
        report = bytes(ReceiverReport(0xB))
        bob_rtcp.send(report, LOCAL, b_port + 1)  # learn_packets=2, yet the first counts
        yield self.settle(0.1)
        stats = yield self.relay.query("call-1")
        self.assertEqual(stats.callee.streams[0].rtcp_packets, 1)
        self.assertEqual(stats.callee.streams[0].dropped_learning, 0)

    @inlineCallbacks
    def test_garbage_is_dropped_and_counted_and_the_call_goes_on(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect()
        for junk in (b"", b"x", b"\x80" * 11, b"\x00" * 20, b"GET / HTTP/1.0\r\n\r\n"):
            alice.send(junk, LOCAL, a_port)
        alice.send(b"\x80\x00", LOCAL, a_port + 1)
        alice.send(rtp(1), LOCAL, a_port)
        yield self.until(lambda: bob.received)
        yield self.settle()
        self.assertEqual(bob.payloads, [rtp(1)])
        stats = yield self.relay.query("call-1")
        self.assertEqual(stats.caller.streams[0].malformed, 6)

    @inlineCallbacks
    def test_a_non_rtp_stream_is_forwarded_as_it_is(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect()
        t38 = "m=image {port} udptl t38"
        offer = yield self.relay.offer("call-1", "alice-tag", phone_sdp(
            LOCAL, self.alice_port, 2, media=t38.format(port=self.alice_port)))
        yield self.relay.answer("call-1", "alice-tag", "bob-tag", phone_sdp(
            LOCAL, self.bob_port, 2, media=t38.format(port=self.bob_port)))
        self.assertEqual(relay_port(offer), b_port)
        udptl = b"\x00\x01\x00\x0b\x02fax page data"
        alice.send(udptl, LOCAL, a_port)
        yield self.until(lambda: bob.received)
        self.assertEqual(bob.payloads, [udptl])


class OfferAnswerTests(RelayTestCase):
    @inlineCallbacks
    def test_reoffer_keeps_the_ports_and_bumps_the_version_only_on_change(self):
        alice, bob, a_port, b_port, offer, answer = yield self.connect()
        # Alice puts Bob on hold, then resumes: same ports, versions +1 each time.
        hold = yield self.relay.offer("call-1", "alice-tag",
                                      phone_sdp(LOCAL, self.alice_port, 2, "sendonly"))
        self.assertEqual(relay_port(hold), b_port)
        self.assertEqual(parse_sdp(hold).origin.version, parse_sdp(offer).origin.version + 1)
        self.assertEqual(parse_sdp(hold).media[0].direction, "sendonly")
        held = yield self.relay.answer("call-1", "alice-tag", "bob-tag",
                                       phone_sdp(LOCAL, self.bob_port, 2, "recvonly"))
        self.assertEqual(relay_port(held), a_port)
        # A session refresh with an unchanged body keeps the version.
        again = yield self.relay.offer("call-1", "alice-tag",
                                       phone_sdp(LOCAL, self.alice_port, 3, "sendonly"))
        self.assertEqual(parse_sdp(again).origin.version, parse_sdp(hold).origin.version)
        # Bob re-INVITEs: his offer goes to Alice, pointing at her port.
        reinvite = yield self.relay.offer("call-1", "bob-tag",
                                          phone_sdp(LOCAL, self.bob_port, 3))
        self.assertEqual(relay_port(reinvite), a_port)
        reply = yield self.relay.answer("call-1", "bob-tag", "alice-tag",
                                        phone_sdp(LOCAL, self.alice_port, 4))
        self.assertEqual(relay_port(reply), b_port)
        self.assertEqual(self.relay.port_pairs_in_use("local"), 2)
        # Media still flows both ways on the same ports.
        alice.send(rtp(1), LOCAL, a_port)
        bob.send(rtp(2), LOCAL, b_port)
        yield self.until(lambda: alice.received and bob.received)

    @inlineCallbacks
    def test_nothing_is_sent_to_a_side_that_holds_until_it_resumes(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect()
        alice.send(rtp(1), LOCAL, a_port)
        bob.send(rtp(2), LOCAL, b_port)
        yield self.until(lambda: alice.received and bob.received)
        # Alice holds (sendonly, music on hold); Bob answers recvonly but keeps sending.
        yield self.relay.offer("call-1", "alice-tag",
                               phone_sdp(LOCAL, self.alice_port, 2, "sendonly"))
        yield self.relay.answer("call-1", "alice-tag", "bob-tag",
                                phone_sdp(LOCAL, self.bob_port, 2, "recvonly"))
        heard_by_alice = len(alice.received)
        for seq in range(3, 8):
            bob.send(rtp(seq), LOCAL, b_port)
        alice.send(rtp(100, payload=b"\x11" * 160), LOCAL, a_port)  # the music
        yield self.until(lambda: len(bob.received) == 2)
        yield deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(len(alice.received), heard_by_alice)  # Bob's RTP was dropped
        # Alice resumes: Bob is heard again, from the same latched address.
        yield self.relay.offer("call-1", "alice-tag",
                               phone_sdp(LOCAL, self.alice_port, 3, "sendrecv"))
        yield self.relay.answer("call-1", "alice-tag", "bob-tag",
                                phone_sdp(LOCAL, self.bob_port, 3, "sendrecv"))
        bob.send(rtp(8), LOCAL, b_port)
        yield self.until(lambda: len(alice.received) == heard_by_alice + 1)
        self.assertEqual(alice.payloads[-1], rtp(8))

    @inlineCallbacks
    def test_a_new_stream_in_a_reoffer_gets_new_ports(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect()
        body = phone_sdp(LOCAL, self.alice_port, 2) + \
            f"m=video {self.alice_port + 2} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n".encode()
        out = yield self.relay.offer("call-1", "alice-tag", body)
        self.assertEqual(relay_port(out, 0), b_port)
        self.assertNotIn(relay_port(out, 1), (a_port, b_port))
        self.assertEqual(self.relay.port_pairs_in_use("local"), 4)

    @inlineCallbacks
    def test_another_branch_answering_repoints_the_callee_leg(self):
        alice, alice_port = self.phone()
        gw1, gw1_port = self.phone()
        gw2, gw2_port = self.phone()
        offer = yield self.relay.offer("call-1", "alice-tag", phone_sdp(LOCAL, alice_port))
        b_port = relay_port(offer)
        early = yield self.relay.answer("call-1", "alice-tag", "gw1", phone_sdp(LOCAL, gw1_port))
        a_port = relay_port(early)
        gw1.send(rtp(1, ssrc=1, payload=b"ringback"), LOCAL, b_port)
        yield self.until(lambda: alice.received)
        # Gateway 1 fails; the proxy re-offers to gateway 2 (same ports) and it answers.
        again = yield self.relay.offer("call-1", "alice-tag", phone_sdp(LOCAL, alice_port))
        self.assertEqual(relay_port(again), b_port)
        final = yield self.relay.answer("call-1", "alice-tag", "gw2", phone_sdp(LOCAL, gw2_port))
        self.assertEqual(relay_port(final), a_port)
        gw1.send(rtp(2, ssrc=1, payload=b"stale"), LOCAL, b_port)
        yield self.settle(0.1)
        gw2.send(rtp(1, ssrc=2, payload=b"hello"), LOCAL, b_port)
        alice.send(rtp(1), LOCAL, a_port)
        yield self.until(lambda: len(alice.received) == 2 and gw2.received)
        yield self.settle()
        self.assertEqual([RtpPacket.parse(d).payload for d in alice.payloads],
                         [b"ringback", b"hello"])
        self.assertEqual(gw1.received, [])
        # Deleting the losing branch does nothing; the call's media stays.
        stats = yield self.relay.delete("call-1", "alice-tag", "gw1")
        self.assertEqual(stats.callee.tag, "gw2")
        self.assertEqual(self.relay.calls, 1)

    @inlineCallbacks
    def test_errors_carry_sip_status_hints(self):
        alice, alice_port = self.phone()
        failure = yield self.assertFailure(self.relay.offer("c", "t", b"v=0\r\nnonsense\r\n"),
                                           MediaRejected)
        self.assertEqual(failure.status_hint, 488)
        self.assertIn("SDP line 2", str(failure))
        yield self.assertFailure(self.relay.offer("c", "t", phone_sdp(LOCAL, 4000), "mars"),
                                 UnknownRegion)
        yield self.assertFailure(self.relay.answer("nope", "a", "b", phone_sdp(LOCAL, 4000)),
                                 UnknownCall)
        yield self.assertFailure(self.relay.query("nope"), UnknownCall)
        yield self.assertFailure(self.relay.delete("nope"), UnknownCall)
        yield self.relay.offer("c", "t", phone_sdp(LOCAL, alice_port))
        yield self.assertFailure(self.relay.offer("c", "stranger", phone_sdp(LOCAL, 4000)),
                                 UnknownTag)
        yield self.assertFailure(self.relay.answer("c", "stranger", "x", phone_sdp(LOCAL, 4000)),
                                 UnknownTag)
        two = phone_sdp(LOCAL, 4000) + b"m=video 4002 RTP/AVP 96\r\n"
        rejected = yield self.assertFailure(self.relay.answer("c", "t", "x", two), MediaRejected)
        self.assertIn("answer has 2 m= lines", str(rejected))
        self.assertEqual(self.relay.calls, 1)


class PortTests(RelayTestCase):
    @inlineCallbacks
    def test_delete_frees_the_ports_and_returns_the_stats(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect()
        alice.send(rtp(1), LOCAL, a_port)
        yield self.until(lambda: bob.received)
        self.assertEqual(self.relay.port_pairs_in_use("local"), 2)
        stats = yield self.relay.delete("call-1")
        self.assertEqual(stats.caller.streams[0].rtp.packets, 1)
        self.assertEqual(self.relay.port_pairs_in_use("local"), 0)
        self.assertEqual(self.relay.calls, 0)
        # The sockets are closed: the ports can be bound again.
        for port in (a_port, a_port + 1, b_port, b_port + 1):
            listening = reactor.listenUDP(port, DatagramProtocol(), interface=LOCAL)
            yield listening.stopListening()

    @inlineCallbacks
    def test_exhausted_range_fails_with_503_and_leaks_nothing(self):
        base = free_base()
        small = RegionConfig("small", LOCAL, LOCAL, base, base + 5)  # 3 pairs
        relay = self.make_relay({"small": small}, "small")
        yield relay.offer("call-1", "a", phone_sdp(LOCAL, 4000))
        self.assertEqual(relay.port_pairs_in_use("small"), 2)
        error = yield self.assertFailure(relay.offer("call-2", "a", phone_sdp(LOCAL, 4002)),
                                         PortsExhausted)
        self.assertEqual(error.status_hint, 503)
        self.assertIn(f"{base}-{base + 5}", str(error))
        yield self.settle()
        self.assertEqual(relay.port_pairs_in_use("small"), 2)
        self.assertEqual(relay.calls, 1)
        yield relay.delete("call-1")
        yield relay.offer("call-3", "a", phone_sdp(LOCAL, 4000))

    @inlineCallbacks
    def test_ports_taken_by_someone_else_are_skipped(self):
        while True:
            base = free_base()
            try:
                squatter = reactor.listenUDP(base, DatagramProtocol(), interface=LOCAL)
            except CannotListenError:
                continue
            break
        self.addCleanup(squatter.stopListening)
        relay = self.make_relay({"r": RegionConfig("r", LOCAL, LOCAL, base, base + 9)}, "r")
        offer = yield relay.offer("call-1", "a", phone_sdp(LOCAL, 4000))
        self.assertNotEqual(relay_port(offer), base)


class RegionTests(RelayTestCase):
    @inlineCallbacks
    def test_each_region_binds_its_own_address_and_advertises_its_own(self):
        base = free_base()
        regions = {
            "a": RegionConfig("a", "127.0.0.2", "127.0.0.2", base, base + 99),
            "b": RegionConfig("b", "127.0.0.3", "198.51.100.33", base, base + 99),
        }
        relay = self.make_relay(regions, "a")
        alice, bob, a_port, b_port, offer, answer = yield self.connect(relay, "call-b", "b")
        for body in (offer, answer):
            self.assertEqual(parse_sdp(body).connection.address, "198.51.100.33")
        self.assertEqual(relay.port_pairs_in_use("b"), 2)
        self.assertEqual(relay.port_pairs_in_use("a"), 0)
        # Region B's sockets are bound on 127.0.0.3 only.
        stray, _ = self.phone()
        stray.send(rtp(1), "127.0.0.2", a_port)
        yield self.settle()
        alice.send(rtp(2), "127.0.0.3", a_port)
        yield self.until(lambda: bob.received)
        self.assertEqual(bob.received, [(rtp(2), ("127.0.0.3", b_port))])
        # The default region serves calls that name none, on 127.0.0.2.
        other = yield relay.offer("call-a", "x", phone_sdp(LOCAL, 4000))
        self.assertEqual(parse_sdp(other).connection.address, "127.0.0.2")
        self.assertEqual(relay.port_pairs_in_use("a"), 2)
        stats = yield relay.query("call-a")
        self.assertEqual(stats.region, "a")


class UdpOnlyReactor:
    """The real reactor seen only through listenUDP: the relay falls back from its epoll
    socket group to one Twisted UDP port per socket."""

    def __init__(self, real):
        self._real = real

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        return self._real.listenUDP(port, protocol, interface, maxPacketSize)


class ListenUdpMediaFlowTests(MediaFlowTests):
    relay_reactor = UdpOnlyReactor(reactor)


class ListenUdpPortTests(PortTests):
    relay_reactor = UdpOnlyReactor(reactor)


class Ipv6Tests(RelayTestCase):
    @inlineCallbacks
    def test_an_ipv6_region_relays_between_ipv6_phones(self):
        base = free_base()
        relay = self.make_relay({"v6": RegionConfig("v6", "::1", "::1", base, base + 99)}, "v6")
        alice, bob, a_port, b_port, offer, _ = yield self.connect(relay, host="::1")
        self.assertEqual(parse_sdp(offer).connection.addrtype, "IP6")
        alice.send(rtp(1), "::1", a_port)
        bob.send(rtp(2), "::1", b_port)
        yield self.until(lambda: alice.received and bob.received)
        self.assertEqual(bob.received[0], (rtp(1), ("::1", b_port)))
        stats = yield relay.query("call-1")
        self.assertEqual(stats.caller.streams[0].peer, ("::1", self.alice_port))


class ListenUdpIpv6Tests(Ipv6Tests):
    relay_reactor = UdpOnlyReactor(reactor)


class InactivityTests(RelayTestCase):
    def setUp(self):
        super().setUp()
        self.events = []
        self.relay.set_listener(self.events.append)

    @inlineCallbacks
    def test_no_rtp_either_way_times_out(self):
        yield self.connect()
        self.clock.advance(59)
        self.assertEqual(self.events, [])
        self.clock.advance(1)
        self.assertEqual(self.events, [MediaTimedOut("call-1", 60.0)])
        self.clock.advance(600)
        self.assertEqual(len(self.events), 1)  # reported once

    @inlineCallbacks
    def test_rtp_in_one_direction_keeps_the_call_alive(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect()
        self.clock.advance(50)
        bob.send(rtp(1), LOCAL, b_port)
        yield self.until(lambda: alice.received)
        self.clock.advance(50)
        self.assertEqual(self.events, [])
        self.clock.advance(10)
        self.assertEqual(self.events, [MediaTimedOut("call-1", 60.0)])

    @inlineCallbacks
    def test_no_timeout_before_the_answer_and_none_after_delete(self):
        alice, alice_port = self.phone()
        yield self.relay.offer("call-1", "alice-tag", phone_sdp(LOCAL, alice_port))
        self.clock.advance(120)
        self.assertEqual(self.events, [])
        yield self.relay.answer("call-1", "alice-tag", "bob-tag", phone_sdp(LOCAL, 4000))
        yield self.relay.delete("call-1")
        self.clock.advance(120)
        self.assertEqual(self.events, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @inlineCallbacks
    def test_a_call_on_hold_uses_the_hold_timeout(self):
        yield self.connect()
        self.clock.advance(30)
        yield self.relay.offer("call-1", "alice-tag",
                               phone_sdp(LOCAL, self.alice_port, 2, "inactive"))
        self.clock.advance(100)
        self.assertEqual(self.events, [])
        # Resuming brings the normal timeout back, counted from the resume.
        yield self.relay.offer("call-1", "alice-tag", phone_sdp(LOCAL, self.alice_port, 3))
        self.clock.advance(59)
        self.assertEqual(self.events, [])
        self.clock.advance(1)
        self.assertEqual(self.events, [MediaTimedOut("call-1", 60.0)])

    @inlineCallbacks
    def test_a_side_without_an_address_until_it_answers_is_timed_from_its_answer(self):
        # An outbound agent call: the far end is an unspecified-address placeholder
        # while it rings (on hold to the relay), then answers with its own SDP.
        yield self.relay.offer("call-1", "far", phone_sdp("0.0.0.0", 9))
        yield self.relay.answer("call-1", "far", "local", phone_sdp(LOCAL, 4000))
        self.clock.advance(100)  # it rings
        self.assertEqual(self.events, [])
        yield self.relay.offer("call-1", "far", phone_sdp(LOCAL, 4002, 2))
        self.clock.advance(59)
        self.assertEqual(self.events, [])
        self.clock.advance(1)
        self.assertEqual(self.events, [MediaTimedOut("call-1", 60.0)])

    @inlineCallbacks
    def test_a_failing_listener_does_not_raise_into_the_reactor(self):
        def broken(event):
            raise RuntimeError("listener bug")
        self.relay.set_listener(broken)
        yield self.connect()
        self.clock.advance(60)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
