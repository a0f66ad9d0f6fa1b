"""A write through the API reaches the routing snapshot the call path reads,
wired as tap.py wires it: no restart, no timer, and before the write is answered
(the API waits for the reload on_change returns). Reloads asked for while one runs
share the next one."""

from twisted.internet import defer

from admin_harness import ApiTestCase
from softswitch.edge.storage.snapshot_loader import SnapshotLoader
from softswitch.services.routing import SnapshotHolder


class SnapshotReloadTests(ApiTestCase):
    def setUp(self):
        super().setUp()
        self.holder = SnapshotHolder()
        self.loader = SnapshotLoader(self.database, self.holder)
        self.loader.load_now()
        self.reloads = []
        # The harness records kinds in self.changes; reload as tap.py does.
        self.api._context.on_change = self.on_change

    def on_change(self, kind):
        self.changes.append(kind)
        if kind != "tokens":
            self.reloads.append(self.loader.reload())
            return self.reloads[-1]

    @defer.inlineCallbacks
    def settled(self):
        yield defer.gatherResults(self.reloads)
        return self.holder.current

    @defer.inlineCallbacks
    def test_a_number_added_through_the_api_routes_the_next_call(self):
        yield self.seed()
        before = yield self.settled()
        self.assertIsNone(before.number("+14155550100"))
        yield self.created("/v1/numbers", {
            "number": "+1 415 555 0100",
            "route": [{"type": "agent", "agent": "support-bot"},
                      {"type": "trunk", "trunk": "carrier-a"}]})
        snapshot = yield self.settled()
        number = snapshot.number("+14155550100")
        self.assertIsNotNone(number)
        self.assertIn("support-bot", repr(number))
        self.assertIn("support-bot", snapshot.agents)
        yield self.http_patch("/v1/numbers/+14155550100", {"enabled": False})
        snapshot = yield self.settled()
        self.assertIsNone(snapshot.number("+14155550100"))

    @defer.inlineCallbacks
    def test_an_outbound_route_reaches_the_snapshot_with_plus_or_without(self):
        yield self.seed()
        yield self.created("/v1/routes", {"prefix": "+44", "trunks": ["carrier-a"]})
        snapshot = yield self.settled()
        self.assertEqual([t.name for t in snapshot.outbound_trunks("+442079460000")],
                         ["carrier-a"])
        self.assertEqual(snapshot.outbound_trunks("+14155550100"), [])

    @defer.inlineCallbacks
    def test_a_write_is_answered_once_the_snapshot_holds_it(self):
        yield self.seed()
        for i in range(5):
            number = f"+1415555010{i}"
            yield self.created("/v1/numbers", {
                "number": number, "route": [{"type": "trunk", "trunk": "carrier-a"}]})
            self.assertIsNotNone(self.holder.current.number(number))  # no settling
        reply = yield self.delete("/v1/numbers/+14155550100")
        self.assertEqual(reply.status, 204)
        self.assertIsNone(self.holder.current.number("+14155550100"))

    @defer.inlineCallbacks
    def test_reloads_asked_for_during_one_share_the_next(self):
        reads = []
        run = self.database.run

        def counting(desc, fn, *args, **kw):
            if desc == "routing.snapshot":
                reads.append(desc)
            return run(desc, fn, *args, **kw)
        self.database.run = counting
        self.addCleanup(setattr, self.database, "run", run)
        burst = [self.loader.reload() for _ in range(10)]
        yield defer.gatherResults(burst)
        self.assertEqual(len(reads), 2)  # the one running, then one for the other nine
        self.assertEqual(self.holder.current.version, self.loader._version)
        yield self.loader.reload()
        self.assertEqual(len(reads), 3)

    @defer.inlineCallbacks
    def test_allowed_sources_with_ports_reach_the_snapshot(self):
        yield self.created("/v1/trunks", {
            "name": "sbc", "gateways": [{"host": "192.0.2.10", "port": 5070}],
            "inbound": {"allowed_sources": ["198.51.100.7:5080", "[2001:DB8::7]:5080",
                                            "203.0.113.0/24"]}})
        got = yield self.get("/v1/trunks/sbc")
        self.assertEqual(got.json["inbound"]["allowed_sources"],
                         ["198.51.100.7:5080", "[2001:db8::7]:5080", "203.0.113.0/24"])
        snapshot = yield self.settled()
        self.assertEqual(snapshot.trunk_for_source("198.51.100.7", 5080).name, "sbc")
        self.assertIsNone(snapshot.trunk_for_source("198.51.100.7", 5060))
        self.assertEqual(snapshot.trunk_for_source("192.0.2.10", 5070).name, "sbc")
        self.assertIsNone(snapshot.trunk_for_source("192.0.2.10", 5060))  # a phone there
        self.assertEqual(snapshot.trunk_for_source("203.0.113.9", 40000).name, "sbc")

    @defer.inlineCallbacks
    def test_caller_ids_and_trunk_identity_settings_reach_the_snapshot(self):
        yield self.seed()
        user = yield self.http_patch("/v1/users/alice",
                                     {"caller_ids": ["+14155550150", "+14155550151"]})
        self.assertEqual(user.json["caller_ids"], ["+14155550150", "+14155550151"])
        agent = yield self.http_patch("/v1/agents/support-bot",
                                      {"caller_ids": ["+14155550160"]})
        self.assertEqual(agent.json["caller_ids"], ["+14155550160"])
        trunk = yield self.http_patch("/v1/trunks/carrier-a", {
            "trust_identity": False, "default_caller_id": "+14155550000",
            "topology_hiding": True})
        self.assertEqual((trunk.json["trust_identity"], trunk.json["default_caller_id"],
                          trunk.json["topology_hiding"]), (False, "+14155550000", True))
        snapshot = yield self.settled()
        self.assertEqual(snapshot.user_caller_ids["alice"], ("+14155550150", "+14155550151"))
        self.assertEqual(snapshot.agents["support-bot"].caller_ids, ("+14155550160",))
        carrier = snapshot.trunks["carrier-a"]
        self.assertEqual((carrier.trust_identity, carrier.default_caller_id,
                          carrier.topology_hiding), (False, "+14155550000", True))

    @defer.inlineCallbacks
    def test_caller_ids_are_validated_as_e164_and_unique(self):
        yield self.seed()
        for body in ({"caller_ids": ["alice"]}, {"caller_ids": ["+14155550150", "+14155550150"]},
                     {"caller_ids": ["+1415"]}, {"caller_ids": ["+1 415 555 0150"]}):
            response = yield self.http_patch("/v1/users/alice", body)
            self.assertEqual(response.status, 422, response.json)
            self.assertTrue(response.json["error"]["field"].startswith("caller_ids"),
                            response.json)
        response = yield self.http_patch("/v1/trunks/carrier-a", {"default_caller_id": "x"})
        self.assertEqual((response.status, response.json["error"]["field"]),
                         (422, "default_caller_id"), response.json)
