"""Bearer tokens on every route; token create and revoke; the verified-token cache."""

import re

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from admin_harness import TOKEN, ApiTestCase
from softswitch.admin.api import all_routes
from softswitch.admin.auth import TokenCache, bearer_token
from softswitch.store import tokens

SAMPLE_PARAMS = {"name": "x", "username": "x", "number": "+14155550100", "id": "1",
                 "call_id": "x@192.0.2.1", "address": "192.0.2.1",
                 "recording_id": "RE" + "0" * 32}
PUBLIC = {("GET", "/v1/openapi.json")}


def concrete(pattern: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS[m.group(1)], pattern)


class RouteTableAuthTests(ApiTestCase):
    bad_token_limit = 10_000  # every route is tried with a wrong token
    def test_the_public_routes_are_the_ones_we_mean(self):
        self.assertEqual({(r.method, r.pattern) for r in all_routes() if r.public}, PUBLIC)

    @defer.inlineCallbacks
    def test_every_non_public_route_needs_a_valid_token(self):
        routes = [r for r in all_routes() if not r.public]
        self.assertGreater(len(routes), 40)
        for route in routes:
            path = concrete(route.pattern)
            for token, invalid in ((None, False), ("wrong-token", True), ("", False)):
                response = yield self.request(route.method, path, {}, token=token)
                where = f"{route.method} {route.pattern} with token {token!r}"
                self.assertEqual(response.status, 401, where)
                challenge = response.header("WWW-Authenticate")
                self.assertTrue(challenge.startswith('Bearer realm="softswitch"'), where)
                self.assertEqual('error="invalid_token"' in challenge, invalid, where)
        self.assertEqual(self.changes, [])

    @defer.inlineCallbacks
    def test_other_schemes_are_not_a_bearer_token(self):
        response = yield self.get("/v1/trunks", token=None,
                                  headers={"Authorization": f"Basic {TOKEN}"})
        self.assertEqual(response.status, 401)
        response = yield self.get("/v1/trunks", token=None,
                                  headers={"Authorization": f"bearer  {TOKEN}"})
        self.assertEqual(response.status, 200)

    @defer.inlineCallbacks
    def test_the_openapi_document_is_public(self):
        response = yield self.get("/v1/openapi.json", token=None)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json["openapi"], "3.1.0")


class TokenTests(ApiTestCase):
    @defer.inlineCallbacks
    def test_a_created_token_works_once_shown_and_stops_when_revoked(self):
        created = yield self.post("/v1/tokens", {"name": "ops"})
        self.assertEqual(created.status, 201)
        secret = created.json["token"]
        self.assertEqual(created.header("Location"), f"/v1/tokens/{created.json['id']}")
        works = yield self.get("/v1/numbers", token=secret)
        self.assertEqual(works.status, 200)
        listed = yield self.get("/v1/tokens")
        self.assertEqual([t["name"] for t in listed.json["items"]], ["bootstrap", "ops"])
        self.assertNotIn(secret, listed.raw.decode())
        self.assertNotIn(tokens.hash_token(secret), listed.raw.decode())
        one = yield self.get(f"/v1/tokens/{created.json['id']}")
        self.assertNotIn("token", one.json)
        revoked = yield self.delete(f"/v1/tokens/{created.json['id']}")
        self.assertEqual(revoked.status, 204)
        # Cached a moment ago, refused now: revocation is immediate on this node.
        refused = yield self.get("/v1/numbers", token=secret)
        self.assertEqual(refused.status, 401)
        shown = yield self.get(f"/v1/tokens/{created.json['id']}")
        self.assertIsNotNone(shown.json["revoked_at"])

    @defer.inlineCallbacks
    def test_a_token_can_revoke_itself(self):
        created = yield self.created("/v1/tokens", {"name": "short-lived"})
        revoked = yield self.delete(f"/v1/tokens/{created['id']}", token=created["token"])
        self.assertEqual(revoked.status, 204)
        again = yield self.get("/v1/tokens", token=created["token"])
        self.assertEqual(again.status, 401)


class FakeDatabase:
    """Answers tokens.verify_token from a dict, counting the trips."""

    def __init__(self, valid: dict):
        self.valid = valid
        self.trips = 0
        self.pending = []

    def run(self, desc, fn, token):
        self.trips += 1
        d = defer.Deferred()
        self.pending.append((d, self.valid.get(token)))
        return d

    def answer_all(self):
        pending, self.pending = self.pending, []
        for d, row in pending:
            d.callback(row)


class TokenCacheTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.database = FakeDatabase({"good": {"id": 7}})
        self.cache = TokenCache(self.database, self.clock, ttl=5.0)

    def check(self, token):
        d = self.cache.check(token)
        self.database.answer_all()
        return self.successResultOf(d)

    def test_a_verified_token_skips_the_database_until_the_ttl(self):
        self.assertEqual(self.check("good"), 7)
        self.clock.advance(4.9)
        self.assertEqual(self.check("good"), 7)
        self.assertEqual(self.database.trips, 1)
        self.clock.advance(0.2)
        self.assertEqual(self.check("good"), 7)
        self.assertEqual(self.database.trips, 2)

    def test_revocation_elsewhere_takes_effect_within_the_ttl(self):
        self.check("good")
        del self.database.valid["good"]  # revoked by another node
        self.clock.advance(5.0)
        self.assertIsNone(self.check("good"))

    def test_forget_is_immediate_even_against_a_racing_verification(self):
        d = self.cache.check("good")  # verification in flight
        self.cache.forget(7)  # revoked here meanwhile
        self.database.answer_all()
        self.assertEqual(self.successResultOf(d), None)
        self.assertIsNone(self.check("good"))

    def test_bad_tokens_are_not_cached_and_bursts_share_one_trip(self):
        first, second = self.cache.check("bad"), self.cache.check("bad")
        self.assertEqual(self.database.trips, 1)
        self.database.answer_all()
        self.assertEqual((self.successResultOf(first), self.successResultOf(second)),
                         (None, None))
        self.check("bad")
        self.assertEqual(self.database.trips, 2)

    def test_a_database_failure_reaches_every_waiter(self):
        first, second = self.cache.check("good"), self.cache.check("good")
        d, _ = self.database.pending.pop()
        d.errback(RuntimeError("database down"))
        self.failureResultOf(first, RuntimeError)
        self.failureResultOf(second, RuntimeError)

    def test_the_ttl_cannot_exceed_five_seconds(self):
        self.assertRaises(ValueError, TokenCache, self.database, self.clock, ttl=30)

    def test_bearer_header_parsing(self):
        self.assertEqual(bearer_token(b"Bearer abc"), "abc")
        self.assertEqual(bearer_token(b"BEARER   abc  "), "abc")
        for header in (None, b"", b"Bearer", b"Bearer ", b"Basic abc", b"abc"):
            self.assertIsNone(bearer_token(header), header)
