"""A trunk written through the API with a gateway host name and no port reaches the
routing snapshot as the addresses DNS SRV gives (a real DNS server on loopback), the
lookups done off the reactor as tap.py does them."""

from twisted.internet import defer, reactor
from twisted.names import dns

from admin_harness import ApiTestCase
from dns_zone import serve_zone
from softswitch.edge.storage.gateway_resolver import GatewayResolver, make_resolver
from softswitch.edge.storage.snapshot_loader import SnapshotLoader
from softswitch.services.routing import SnapshotHolder


class SnapshotDnsTests(ApiTestCase):
    def setUp(self):
        super().setUp()
        self.dns = serve_zone(reactor, "carrier.test", {
            "_sip._udp.sip.carrier.test": [
                dns.Record_SRV(20, 0, 5080, "gw2.carrier.test", ttl=0),
                dns.Record_SRV(10, 0, 5070, "gw1.carrier.test", ttl=0)],
            "sip.carrier.test": [dns.Record_A("127.0.0.9", ttl=0)],
            "gw1.carrier.test": [dns.Record_A("127.0.0.11", ttl=0)],
            "gw2.carrier.test": [dns.Record_A("127.0.0.12", ttl=0)],
        })
        self.addCleanup(self.dns.stop)
        self.holder = SnapshotHolder()
        resolver = GatewayResolver(make_resolver([self.dns.address]), timeout=2.0)
        self.loader = SnapshotLoader(self.database, self.holder, resolver=resolver)

    @defer.inlineCallbacks
    def test_srv_gateways_reach_the_snapshot_in_order_and_identify_the_trunk(self):
        created = yield self.created("/v1/trunks", {
            "name": "carrier", "gateways": [{"host": "sip.carrier.test"}]})
        self.assertIsNone(created["gateways"][0]["port"])
        yield self.created("/v1/trunks", {
            "name": "pinned", "gateways": [{"host": "sip.carrier.test", "port": 5062}]})
        yield self.loader.reload()
        snapshot = self.holder.current
        self.assertEqual(
            [(g.host, g.port, g.srv_rank) for g in snapshot.trunks["carrier"].gateways],
            [("127.0.0.11", 5070, 0), ("127.0.0.12", 5080, 1)])
        self.assertEqual([(g.host, g.port) for g in snapshot.trunks["pinned"].gateways],
                         [("127.0.0.9", 5062)])
        self.assertEqual(snapshot.trunk_for_source("127.0.0.12", 5080).name, "carrier")
