"""/v1/webhooks/deliveries over HTTP: the switch's webhook deliveries (a
services.webhooks.Webhooks on a Clock with a sender the test answers), newest first,
paged by id, one looked up; an API without webhooks lists none."""

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from admin_harness import ApiTestCase
from softswitch.services.webhooks import NO_WEBHOOKS, Webhooks


class Sender:
    def __init__(self):
        self.tries = []

    def send(self, url, headers, body):
        self.tries.append(Deferred())
        return self.tries[-1]


class WebhooksApiTests(ApiTestCase):
    def setUp(self):
        super().setUp()
        self.sender = Sender()
        clock = Clock()
        clock.advance(1_700_000_000)
        self.webhooks = Webhooks(clock, self.sender, secret="s", url="http://h.example/",
                                 backoff=(30.0,))
        self.api._context.webhooks = self.webhooks

    @defer.inlineCallbacks
    def test_deliveries_newest_first_paged_and_one_by_one(self):
        for k in range(3):
            self.webhooks.emit("call.ended", f"c{k}@x", {})
        self.sender.tries[0].callback(200)
        self.sender.tries[1].callback(500)
        listed = yield self.get("/v1/webhooks/deliveries?limit=2")
        self.assertEqual(listed.status, 200)
        self.assertEqual([d["id"] for d in listed.json["items"]], [3, 2])
        pending = listed.json["items"][1]
        self.assertEqual((pending["state"], pending["attempts"], pending["last_status"],
                          pending["next_attempt_at"]),
                         ("pending", 1, 500, "2023-11-14T22:13:50.000Z"))
        rest = yield self.get(f"/v1/webhooks/deliveries?limit=2&after={listed.json['next']}")
        [first] = rest.json["items"]
        self.assertEqual((first["id"], first["state"], first["url"], first["event"]),
                         (1, "delivered", "http://h.example/", "call.ended"))
        one = yield self.get("/v1/webhooks/deliveries/1")
        self.assertEqual(one.json, first)
        missing = yield self.get("/v1/webhooks/deliveries/99")
        self.assertEqual(missing.status, 404)

    @defer.inlineCallbacks
    def test_without_webhooks_there_are_none(self):
        self.api._context.webhooks = NO_WEBHOOKS
        listed = yield self.get("/v1/webhooks/deliveries")
        self.assertEqual(listed.json, {"items": [], "next": None})
