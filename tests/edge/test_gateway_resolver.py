"""Gateway host names resolved against a real DNS server on loopback (twisted.names),
the lookups run in a thread as on the database thread pool, so the reactor serves
the queries meanwhile."""

import socket
import time

from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread
from twisted.names import dns
from twisted.trial import unittest

from dns_zone import serve_zone
from softswitch.edge.storage.gateway_resolver import GatewayResolver, make_resolver
from softswitch.services.routing import GatewayRow

ZONE = "carrier.test"


def records():
    return {
        "_sip._udp.sip.carrier.test": [
            dns.Record_SRV(20, 0, 5080, "gw2.carrier.test", ttl=0),
            dns.Record_SRV(10, 0, 5070, "gw1.carrier.test", ttl=0)],
        "_sip._tcp.sip.carrier.test": [dns.Record_SRV(10, 0, 5090, "gw1.carrier.test", ttl=0)],
        "sip.carrier.test": [dns.Record_A("127.0.0.9", ttl=0)],
        "gw1.carrier.test": [dns.Record_A("127.0.0.11", ttl=0)],
        "gw2.carrier.test": [dns.Record_A("127.0.0.12", ttl=0),
                             dns.Record_AAAA("::1", ttl=0)],
        "a-only.carrier.test": [dns.Record_A("127.0.0.20", ttl=0),
                                dns.Record_A("127.0.0.21", ttl=0)],
        "v6-only.carrier.test": [dns.Record_AAAA("::1", ttl=0)],
    }


def row(host, port=None, transport="udp"):
    return GatewayRow("carrier", host, port, transport, None, 5, 10)


def hosts(gateways):
    return [(g.host, g.port, g.srv_rank) for g in gateways]


class GatewayResolverTests(unittest.TestCase):
    def setUp(self):
        self.server = serve_zone(reactor, ZONE, records())
        self.addCleanup(self.server.stop)
        self.resolver = GatewayResolver(make_resolver([self.server.address]), timeout=2.0)

    def expand(self, gateway_row, resolver=None):
        return deferToThread((resolver or self.resolver).expand, gateway_row)

    @defer.inlineCallbacks
    def test_srv_targets_by_priority_each_on_its_own_port(self):
        gateways = yield self.expand(row("sip.carrier.test"))
        self.assertEqual(hosts(gateways), [("127.0.0.11", 5070, 0), ("127.0.0.12", 5080, 1)])
        self.assertEqual({(g.priority, g.domain) for g in gateways},
                         {(5, "sip.carrier.test")})
        self.assertIn(("_sip._udp.sip.carrier.test", dns.SRV), self.server.queries)

    @defer.inlineCallbacks
    def test_the_transport_picks_the_srv_name(self):
        gateways = yield self.expand(row("sip.carrier.test", transport="tcp"))
        self.assertEqual(hosts(gateways), [("127.0.0.11", 5090, 0)])
        self.assertEqual({g.transport for g in gateways}, {"tcp"})

    @defer.inlineCallbacks
    def test_a_name_without_srv_records_falls_back_to_its_addresses_on_5060(self):
        gateways = yield self.expand(row("a-only.carrier.test"))
        self.assertEqual(hosts(gateways), [("127.0.0.20", 5060, 0), ("127.0.0.21", 5060, 0)])
        gateways = yield self.expand(row("a-only.carrier.test", transport="tls"))
        self.assertEqual({g.port for g in gateways}, {5061})

    @defer.inlineCallbacks
    def test_an_explicit_port_skips_srv(self):
        gateways = yield self.expand(row("sip.carrier.test", port=5062))
        self.assertEqual(hosts(gateways), [("127.0.0.9", 5062, 0)])
        self.assertNotIn(("_sip._udp.sip.carrier.test", dns.SRV), self.server.queries)

    @defer.inlineCallbacks
    def test_aaaa_only_when_there_is_no_a_record(self):
        gateways = yield self.expand(row("v6-only.carrier.test", port=5060))
        self.assertEqual(hosts(gateways), [("::1", 5060, 0)])

    @defer.inlineCallbacks
    def test_a_name_that_does_not_exist_is_left_out(self):
        gateways = yield self.expand(row("nowhere.carrier.test"))
        self.assertEqual(gateways, [])

    @defer.inlineCallbacks
    def test_a_dead_server_keeps_the_last_good_addresses(self):
        resolver = GatewayResolver(make_resolver([self.server.address]), timeout=0.3)
        first = yield self.expand(row("sip.carrier.test"), resolver)
        self.server.silent = True
        again = yield self.expand(row("sip.carrier.test"), resolver)
        self.assertEqual(hosts(again), hosts(first))
        never = yield self.expand(row("a-only.carrier.test"), resolver)
        self.assertEqual(never, [])

    @defer.inlineCallbacks
    def test_a_silent_server_costs_the_timeout_and_no_more(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        resolver = GatewayResolver(make_resolver([f"127.0.0.1:{silent.getsockname()[1]}"]),
                                   timeout=0.5)
        started = time.monotonic()
        gateways = yield self.expand(row("sip.carrier.test"), resolver)
        self.assertEqual(gateways, [])
        self.assertLess(time.monotonic() - started, 1.5)
