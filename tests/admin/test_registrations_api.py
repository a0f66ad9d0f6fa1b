"""/v1/registrations: unexpired bindings only, by id, in pages; an expired or unknown
id is 404. Read from the registrar's memory when a switch runs behind the API, from
store.registrations.list_active and get_active when none does."""

import time

from twisted.internet import defer
from twisted.internet.task import Clock

from admin_harness import ApiTestCase
from memory_switch import MemoryStore
from softswitch.admin.registrations_view import LiveRegistrations
from softswitch.services.location import Binding, LocationService
from softswitch.store import registrations


def binding(user: str, host: str, expires_at: float) -> dict:
    return {"aor": f"sip:{user}@switch.test", "contact": f"sip:{user}@{host}",
            "expires_at": expires_at, "call_id": f"{user}-{host}", "cseq": 1, "node": "n1"}


class RegistrationQueryTests(ApiTestCase):
    def setUp(self):
        super().setUp()
        self.now = time.time()
        self.database.run_sync(registrations.upsert_bindings, [
            binding("alice", f"192.0.2.{i}", self.now + 300) for i in range(1, 6)
        ] + [binding("bob", "192.0.2.9", self.now + 300),
             binding("carol", "192.0.2.10", self.now - 1)])
        rows = self.database.run_sync(registrations.load_active, self.now - 60)
        self.ids = {row["contact"]: row["id"] for row in rows}  # carol's expired one too

    def test_store_queries(self):
        everything = self.database.run_sync(registrations.list_active, self.now)
        self.assertEqual([row["id"] for row in everything],
                         sorted(i for contact, i in self.ids.items() if "carol" not in contact))
        alice = self.database.run_sync(registrations.list_active, self.now, "sip:alice@switch.test",
                                       None, 2)
        self.assertEqual([row["contact"] for row in alice],
                         ["sip:alice@192.0.2.1", "sip:alice@192.0.2.2"])
        after = self.database.run_sync(registrations.list_active, self.now, None,
                                       alice[-1]["id"], 100)
        self.assertEqual(len(after), 4)
        one = self.database.run_sync(registrations.get_active, alice[0]["id"], self.now)
        self.assertEqual(one["contact"], "sip:alice@192.0.2.1")
        later = self.now + 301
        self.assertIsNone(self.database.run_sync(registrations.get_active, alice[0]["id"], later))
        self.assertEqual(self.database.run_sync(registrations.list_active, later), [])

    @defer.inlineCallbacks
    def test_pages_of_one_aor(self):
        seen, after = [], None
        while True:
            query = "?aor=sip:alice@switch.test&limit=2" + (f"&after={after}" if after else "")
            response = yield self.get(f"/v1/registrations{query}")
            self.assertEqual(response.status, 200)
            seen += [item["contact"] for item in response.json["items"]]
            after = response.json["next"]
            if after is None:
                break
        self.assertEqual(seen, [f"sip:alice@192.0.2.{i}" for i in range(1, 6)])

    @defer.inlineCallbacks
    def test_an_expired_binding_is_not_found(self):
        expired = yield self.get(f"/v1/registrations/{self.ids['sip:carol@192.0.2.10']}")
        self.assertEqual(expired.status, 404)
        self.assertIn("registration", expired.error["message"])
        current = yield self.get(f"/v1/registrations/{self.ids['sip:bob@192.0.2.9']}")
        self.assertEqual((current.status, current.json["aor"]), (200, "sip:bob@switch.test"))


class LiveRegistrationTests(ApiTestCase):
    """With a switch behind it the API reads the registrar's memory: a binding is
    listed as soon as the registrar holds it, before (and whether or not) the batched
    write reaches the database."""

    def registrations_view(self):
        self.clock = Clock()
        self.clock.advance(time.time())
        self.store = MemoryStore()  # holds the write-through: the table stays empty
        self.location = LocationService(self.clock, self.store)
        return LiveRegistrations(self.location, self.clock, "node-1")

    def bind(self, user, host, expires=300.0, **extra):
        self.location.apply([Binding(
            aor=f"sip:{user}@switch.test", contact=f"sip:{user}@{host}",
            expires_at=self.clock.seconds() + expires, call_id=f"{user}-{host}", cseq=1,
            **extra)], [])

    @defer.inlineCallbacks
    def test_a_binding_is_listed_the_moment_the_registrar_holds_it(self):
        instance = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"
        self.bind("alice", "192.0.2.1:5060", q=0.5, received="udp:192.0.2.1:5060",
                  user_agent="baresip", instance_id=instance, path=("<sip:edge.test;lr>",))
        listed = yield self.get("/v1/registrations")
        self.assertEqual(listed.status, 200)
        [item] = listed.json["items"]
        self.assertEqual({k: v for k, v in item.items() if k not in ("id", "expires_at")}, {
            "aor": "sip:alice@switch.test", "contact": "sip:alice@192.0.2.1:5060", "q": 0.5,
            "path": ["<sip:edge.test;lr>"], "received": "udp:192.0.2.1:5060",
            "user_agent": "baresip", "instance_id": instance, "reg_id": None,
            "node": "node-1", "call_id": "alice-192.0.2.1:5060", "cseq": 1})
        self.assertEqual(self.database.run_sync(registrations.list_active, time.time()), [])
        one = yield self.get(f"/v1/registrations/{item['id']}")
        self.assertEqual((one.status, one.json), (200, item))

    @defer.inlineCallbacks
    def test_pages_ids_that_survive_a_refresh_and_expiry(self):
        for i in range(1, 6):
            self.bind("alice", f"192.0.2.{i}")
        self.bind("bob", "192.0.2.9", expires=60)
        seen, after = [], None
        while True:
            query = "?aor=sip:alice@switch.test&limit=2" + (f"&after={after}" if after else "")
            response = yield self.get(f"/v1/registrations{query}")
            seen += [(item["id"], item["contact"]) for item in response.json["items"]]
            after = response.json["next"]
            if after is None:
                break
        self.assertEqual([contact for _, contact in seen],
                         [f"sip:alice@192.0.2.{i}" for i in range(1, 6)])
        everyone = yield self.get("/v1/registrations")
        bob = everyone.json["items"][-1]
        self.assertEqual(bob["contact"], "sip:bob@192.0.2.9")
        self.bind("alice", "192.0.2.1", expires=900)  # a refresh keeps its id
        again = yield self.get(f"/v1/registrations/{seen[0][0]}")
        self.assertEqual((again.status, again.json["contact"]), (200, seen[0][1]))
        self.clock.advance(61)  # bob's binding expires
        gone = yield self.get(f"/v1/registrations/{bob['id']}")
        self.assertEqual(gone.status, 404)
        self.assertIn("registration", gone.error["message"])
        left = yield self.get("/v1/registrations")
        self.assertEqual(len(left.json["items"]), 5)
        unknown = yield self.get("/v1/registrations/999")
        self.assertEqual(unknown.status, 404)

    def test_ids_of_gone_bindings_are_dropped_when_they_outnumber_live_ones(self):
        view = LiveRegistrations(self.location, self.clock, "node-1")
        for i in range(1100):
            self.bind("churn", f"192.0.2.{i % 250}:{5000 + i}", expires=60)
            view.list(None, None, 10)
            self.location.apply([], [("sip:churn@switch.test",
                                      f"sip:churn@192.0.2.{i % 250}:{5000 + i}")])
        self.bind("alice", "192.0.2.1")
        [row] = view.list(None, None, 10)
        self.assertEqual(row["id"], 1101)
        self.assertLessEqual(len(view._ids), 1025)
