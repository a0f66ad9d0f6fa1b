"""/v1/registrations over store.registrations.list_active and get_active: unexpired
bindings only, by id, in pages; an expired or unknown id is 404."""

import time

from twisted.internet import defer

from admin_harness import ApiTestCase
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
