"""The relay's Prometheus metrics: packets, bytes, loss, drops by reason, timeouts and
port pairs by region, live calls added to what deleted calls left, on real sockets."""

from prometheus_client import CollectorRegistry, generate_latest
from test_rtp_relay import LOCAL, RelayTestCase, rtp
from twisted.internet.defer import inlineCallbacks

from softswitch.edge.media.metrics import RelayMetrics


class RelayMetricsTests(RelayTestCase):
    def setUp(self):
        super().setUp()
        self.registry = CollectorRegistry()
        self.registry.register(RelayMetrics(self.relay))

    def value(self, name, **labels):
        return self.registry.get_sample_value(name, {"region": "local", **labels})

    def test_an_idle_relay_shows_its_regions(self):
        self.assertEqual(self.value("softswitch_relay_calls"), 0)
        self.assertEqual(self.value("softswitch_relay_port_pairs_in_use"), 0)
        self.assertEqual(self.value("softswitch_relay_port_pairs_free"), 100)
        self.assertEqual(self.value("softswitch_relay_rtp_packets_received_total"), 0)
        text = generate_latest(self.registry).decode()
        self.assertIn('softswitch_relay_packets_dropped_total{reason="stranger",region="local"} 0.0',
                      text)

    @inlineCallbacks
    def test_live_and_deleted_calls_add_up_and_counters_never_go_back(self):
        alice, bob, a_port, b_port, _, _ = yield self.connect()
        stranger, _ = self.phone()
        for seq in list(range(5)) + [7, 8]:  # 5 and 6 lost on the way
            alice.send(rtp(seq, ssrc=0xA), LOCAL, a_port)
        for seq in range(3):
            bob.send(rtp(100 + seq, ssrc=0xB), LOCAL, b_port)
        yield self.until(lambda: len(bob.received) == 7 and len(alice.received) == 3)
        stranger.send(rtp(50, ssrc=0xC), LOCAL, a_port)  # injection: dropped
        yield self.until(lambda: self.value("softswitch_relay_packets_dropped_total",
                                            reason="stranger") == 1)
        self.assertEqual(self.value("softswitch_relay_calls"), 1)
        self.assertEqual(self.value("softswitch_relay_port_pairs_in_use"), 2)
        self.assertEqual(self.value("softswitch_relay_rtp_packets_received_total"), 10)
        self.assertEqual(self.value("softswitch_relay_rtp_bytes_received_total"), 10 * 172)
        self.assertEqual(self.value("softswitch_relay_rtp_packets_lost_total"), 2)
        self.assertEqual(self.value("softswitch_relay_packets_forwarded_total"), 10)

        yield self.relay.delete("call-1")
        self.assertEqual(self.value("softswitch_relay_calls"), 0)
        self.assertEqual(self.value("softswitch_relay_port_pairs_in_use"), 0)
        self.assertEqual(self.value("softswitch_relay_rtp_packets_received_total"), 10)
        self.assertEqual(self.value("softswitch_relay_rtp_packets_lost_total"), 2)
        self.assertEqual(self.value("softswitch_relay_packets_dropped_total",
                                    reason="stranger"), 1)
        self.assertEqual(self.value("softswitch_relay_stream_jitter_seconds_count"), 2)

        alice, bob, a_port, b_port, _, _ = yield self.connect(call_id="call-2")
        alice.send(rtp(0, ssrc=0xD), LOCAL, a_port)
        yield self.until(lambda: len(bob.received) == 1)
        self.assertEqual(self.value("softswitch_relay_rtp_packets_received_total"), 11)
        self.assertEqual(self.value("softswitch_relay_calls"), 1)

    @inlineCallbacks
    def test_media_timeouts_are_counted(self):
        yield self.connect()
        self.relay.set_listener(lambda event: None)
        self.clock.advance(60)
        self.assertEqual(self.value("softswitch_relay_media_timeouts_total"), 1)
