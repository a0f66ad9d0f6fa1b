"""Regions change while the relay runs (RtpRelay.set_regions, fed by each routing
snapshot): a region added is used by the next call, a changed one gives new calls its
new ports and address while calls in progress keep theirs, a deleted one takes no new
call and lets its calls finish. Real loopback sockets, as in test_rtp_relay."""

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.protocol import DatagramProtocol

from softswitch.sdp import parse_sdp
from softswitch.services.media_control import RegionConfig, UnknownRegion
from test_rtp_relay import LOCAL, RelayTestCase, free_base, phone_sdp, relay_port, rtp


class RegionChangeTests(RelayTestCase):
    @inlineCallbacks
    def test_a_region_added_is_used_by_the_next_call(self):
        yield self.assertFailure(
            self.relay.offer("call-0", "a", phone_sdp(LOCAL, 4000), "west"), UnknownRegion)
        base = free_base()
        west = RegionConfig("west", "127.0.0.2", "198.51.100.7", base, base + 99)
        self.relay.set_regions({"local": self.region, "west": west})
        offer = yield self.relay.offer("call-1", "a", phone_sdp(LOCAL, 4000), "west")
        self.assertEqual(parse_sdp(offer).connection.address, "198.51.100.7")
        self.assertTrue(base <= relay_port(offer) <= base + 99)
        self.assertEqual(sorted(self.relay.region_names()), ["local", "west"])
        self.assertEqual(self.relay.port_pairs_in_use("west"), 2)  # one per leg

    @inlineCallbacks
    def test_a_changed_region_serves_new_calls_and_calls_in_progress_keep_their_ports(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect(call_id="old")
        base = free_base()
        changed = RegionConfig("local", LOCAL, "198.51.100.9", base, base + 99)
        self.relay.set_regions({"local": changed})
        # The call in progress: same ports, still relaying, a re-offer keeps them.
        alice.send(rtp(1), LOCAL, a_port)
        yield self.until(lambda: bob.received)
        reoffer = yield self.relay.offer("old", "alice-tag", phone_sdp(LOCAL, self.alice_port, 2))
        self.assertEqual(relay_port(reoffer), b_port)
        self.assertEqual(parse_sdp(reoffer).connection.address, LOCAL)
        # A new call: the new range and address.
        offer = yield self.relay.offer("new", "a", phone_sdp(LOCAL, 4000))
        self.assertTrue(base <= relay_port(offer) <= base + 99, relay_port(offer))
        self.assertEqual(parse_sdp(offer).connection.address, "198.51.100.9")
        self.assertEqual(self.relay.port_pairs_in_use("local"), 2)  # the new range's
        # The old call's ports are closed when it ends, whatever its region became.
        yield self.relay.delete("old")
        for port in (a_port, a_port + 1, b_port, b_port + 1):
            listening = reactor.listenUDP(port, DatagramProtocol(), interface=LOCAL)
            yield listening.stopListening()

    @inlineCallbacks
    def test_a_region_whose_address_changed_keeps_its_pairs_in_use(self):
        yield self.connect(call_id="old")
        moved = RegionConfig("local", LOCAL, "198.51.100.10", self.region.port_min,
                             self.region.port_max)
        self.relay.set_regions({"local": moved})
        self.assertEqual(self.relay.port_pairs_in_use("local"), 2)
        offer = yield self.relay.offer("new", "a", phone_sdp(LOCAL, 4000))
        self.assertEqual(parse_sdp(offer).connection.address, "198.51.100.10")
        self.assertEqual(self.relay.port_pairs_in_use("local"), 4)
        yield self.relay.delete("old")
        self.assertEqual(self.relay.port_pairs_in_use("local"), 2)

    @inlineCallbacks
    def test_a_deleted_region_takes_no_new_call_and_its_calls_finish(self):
        base = free_base()
        west = RegionConfig("west", LOCAL, LOCAL, base, base + 99)
        self.relay.set_regions({"local": self.region, "west": west})
        alice, bob, a_port, _, _, _ = yield self.connect(call_id="old", region="west")
        self.relay.set_regions({"local": self.region})
        yield self.assertFailure(
            self.relay.offer("new", "a", phone_sdp(LOCAL, 4000), "west"), UnknownRegion)
        alice.send(rtp(1), LOCAL, a_port)
        yield self.until(lambda: bob.received)
        stats = yield self.relay.delete("old")
        self.assertEqual(stats.region, "west")
        self.assertEqual(self.relay.region_names(), ["local"])

    def test_the_default_region_cannot_be_removed(self):
        with self.assertRaises(ValueError):
            self.relay.set_regions({})
