"""/v1/bans and /v1/guard over HTTP: the guard's bans listed a page at a time,
looked up, made and lifted by operators, with the guard's own bans beside them."""

import time
from datetime import datetime

from twisted.internet import defer

from admin_harness import ApiTestCase


class BansApiTests(ApiTestCase):
    def setUp(self):
        super().setUp()
        self.guard = self.api._context.guard
        self.policy = self.guard.policy

    def guess(self, host: str, times: int):
        for _ in range(times):
            self.policy.auth_failed(host, "alice", "REGISTER", "bad-password", time.time())

    @defer.inlineCallbacks
    def test_an_automatic_ban_is_listed_and_looked_up(self):
        self.guess("203.0.113.7", self.policy.config.auth_failures)
        listed = yield self.get("/v1/bans")
        self.assertEqual(listed.status, 200)
        [ban] = listed.json["items"]
        self.assertIsNone(listed.json["next"])
        self.assertEqual((ban["address"], ban["reason"], ban["offences"], ban["dropped"]),
                         ("203.0.113.7", "auth", 1, 0))
        lasted = (datetime.fromisoformat(ban["expires_at"])
                  - datetime.fromisoformat(ban["banned_at"])).total_seconds()
        self.assertAlmostEqual(lasted, 600, places=2)
        self.assertTrue(ban["banned_at"].endswith("Z"))
        self.assertTrue(590 < ban["remaining"] <= 600)
        one = yield self.get("/v1/bans/203.0.113.7")
        self.assertEqual(one.json, ban | {"remaining": one.json["remaining"]})
        missing = yield self.get("/v1/bans/198.51.100.1")
        self.assertEqual(missing.status, 404)

    @defer.inlineCallbacks
    def test_operators_ban_and_unban_addresses_and_networks(self):
        made = yield self.post("/v1/bans", {"address": "198.51.100.0/24", "seconds": 120})
        self.assertEqual(made.status, 201)
        self.assertEqual(made.header("Location"), "/v1/bans/198.51.100.0%2F24")
        self.assertEqual((made.json["address"], made.json["reason"]),
                         ("198.51.100.0/24", "manual"))
        self.assertEqual(self.policy.check(b"OPTIONS x", "198.51.100.9", time.time()),
                         "banned")
        got = yield self.get("/v1/bans/198.51.100.0%2F24")
        self.assertEqual(got.json["dropped"], 1)
        single = yield self.post("/v1/bans", {"address": "2001:db8::1", "seconds": 60.5})
        self.assertEqual(single.json["address"], "2001:db8::1")
        counters = yield self.get("/v1/guard")
        self.assertEqual(counters.json["bans_active"], 2)
        self.assertEqual(counters.json["bans_total"], {"auth": 0, "flood": 0, "manual": 2})
        self.assertEqual(counters.json["dropped"], {"banned": 1, "rate": 0, "scanner": 0})

        gone = yield self.delete("/v1/bans/198.51.100.0%2F24")
        self.assertEqual(gone.status, 204)
        again = yield self.delete("/v1/bans/198.51.100.0%2F24")
        self.assertEqual(again.status, 404)
        listed = yield self.get("/v1/bans")
        self.assertEqual([b["address"] for b in listed.json["items"]], ["2001:db8::1"])

    @defer.inlineCallbacks
    def test_bad_bans_are_refused_with_the_field_at_fault(self):
        for body in ({"address": "not-an-ip", "seconds": 60},
                     {"address": "192.0.2.1", "seconds": 0},
                     {"address": "192.0.2.1", "seconds": 10 ** 9},
                     {"address": "192.0.2.1"}):
            reply = yield self.post("/v1/bans", body)
            self.assertEqual(reply.status, 422, body)
        nothing = yield self.get("/v1/bans/not-an-address")
        self.assertEqual(nothing.status, 404)

    @defer.inlineCallbacks
    def test_the_allow_list_cannot_be_banned(self):
        from softswitch.services.guard import GuardConfig, GuardPolicy
        self.guard.policy = GuardPolicy(GuardConfig(allow=("192.0.2.0/24",)))
        reply = yield self.post("/v1/bans", {"address": "192.0.0.0/16", "seconds": 60})
        self.assertEqual(reply.status, 409)
        self.assertEqual(reply.error["field"], "address")

    @defer.inlineCallbacks
    def test_the_list_pages_by_address(self):
        for i in range(5):
            yield self.post("/v1/bans", {"address": f"192.0.2.{i}", "seconds": 60})
        first = yield self.get("/v1/bans?limit=2")
        self.assertEqual([b["address"] for b in first.json["items"]],
                         ["192.0.2.0", "192.0.2.1"])
        rest = yield self.get(f"/v1/bans?limit=10&after={first.json['next']}")
        self.assertEqual([b["address"] for b in rest.json["items"]],
                         ["192.0.2.2", "192.0.2.3", "192.0.2.4"])
        self.assertIsNone(rest.json["next"])
        # A cursor is the last address shown: past every address, the page is empty.
        past = yield self.get("/v1/bans?after=xyz")
        self.assertEqual((past.status, past.json["items"]), (200, []))
