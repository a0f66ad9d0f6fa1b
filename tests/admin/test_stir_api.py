"""STIR/SHAKEN over the admin API: a trunk signs or leaves it to the carrier, a number
has an unverified route (targets checked like the route's, kept apart from it), and
both reach the routing snapshot the call path reads."""

from twisted.internet import defer

from admin_harness import ApiTestCase
from softswitch.edge.storage.snapshot_loader import SnapshotLoader
from softswitch.services.routing import SnapshotHolder, Target

SCREENING = {"when": "not-a", "route": [{"type": "agent", "agent": "support-bot"},
                                        {"type": "reject", "code": 603}]}


class StirApiTests(ApiTestCase):
    def setUp(self):
        super().setUp()
        self.holder = SnapshotHolder()
        self.loader = SnapshotLoader(self.database, self.holder)
        self.loader.load_now()
        self.reloads = []
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
    def test_a_trunk_signs_or_not(self):
        yield self.seed()
        got = yield self.get("/v1/trunks/carrier-a")
        self.assertEqual(got.json["stir_shaken"], "off")
        patched = yield self.http_patch("/v1/trunks/carrier-a", {"stir_shaken": "sign"})
        self.assertEqual(patched.json["stir_shaken"], "sign")
        snapshot = yield self.settled()
        self.assertEqual(snapshot.trunks["carrier-a"].stir_shaken, "sign")
        bad = yield self.http_patch("/v1/trunks/carrier-a", {"stir_shaken": "maybe"})
        self.assertEqual(bad.status, 422, bad.json)

    @defer.inlineCallbacks
    def test_a_number_with_an_unverified_route(self):
        yield self.seed()
        created = yield self.post("/v1/numbers", {
            "number": "+14155550100", "route": [{"type": "user", "user": "alice"}],
            "unverified_route": SCREENING})
        self.assertEqual(created.status, 201, created.json)
        self.assertEqual(created.json["route"], [{"type": "user", "user": "alice"}])
        self.assertEqual(created.json["unverified_route"], SCREENING)
        snapshot = yield self.settled()
        number = snapshot.number("+14155550100")
        self.assertEqual(number.targets, (Target("user", "alice"),))
        self.assertEqual(number.unverified_targets, (Target("agent", "support-bot"),
                                                      Target("reject", None, 603)))
        self.assertEqual(number.unverified_when, "not-a")
        # A PATCH of something else keeps it; null removes it.
        patched = yield self.http_patch("/v1/numbers/+14155550100", {"description": "main"})
        self.assertEqual(patched.json["unverified_route"], SCREENING)
        patched = yield self.http_patch("/v1/numbers/+14155550100", {"unverified_route": None})
        self.assertIsNone(patched.json["unverified_route"])
        snapshot = yield self.settled()
        self.assertEqual(snapshot.number("+14155550100").unverified_targets, ())
        listed = yield self.get("/v1/numbers")
        self.assertIsNone(listed.json["items"][0]["unverified_route"])

    @defer.inlineCallbacks
    def test_unverified_route_targets_are_checked(self):
        yield self.seed()
        missing = yield self.post("/v1/numbers", {
            "number": "+14155550100", "route": [{"type": "user", "user": "alice"}],
            "unverified_route": {"route": [{"type": "agent", "agent": "nobody"}]}})
        self.assertEqual(missing.status, 422, missing.json)
        self.assertIn("unverified_route.route.0.agent", str(missing.json))
        for bad in ({"when": "sometimes", "route": [{"type": "reject", "code": 603}]},
                    {"route": []},
                    {"route": [{"type": "reject", "code": 603},
                               {"type": "user", "user": "alice"}]}):
            refused = yield self.post("/v1/numbers", {
                "number": "+14155550101", "route": [{"type": "reject", "code": 404}],
                "unverified_route": bad})
            self.assertEqual(refused.status, 422, (bad, refused.json))
        # The agent of an unverified route is still referenced: not deleted.
        yield self.created("/v1/numbers", {
            "number": "+14155550102", "route": [{"type": "reject", "code": 404}],
            "unverified_route": {"route": [{"type": "agent", "agent": "support-bot"}]}})
        gone = yield self.delete("/v1/agents/support-bot")
        self.assertEqual(gone.status, 409, gone.json)
