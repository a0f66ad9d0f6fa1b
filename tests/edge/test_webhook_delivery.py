"""Webhook deliveries over real HTTP (edge.webhooks.HttpSender under
services.webhooks.Webhooks, on the reactor): a receiver that checks every signature
gets each event once; a receiver that is down is retried, then failed; a receiver
that answers 500 is retried until it answers 200."""

import json
import socket

from prometheus_client import CollectorRegistry, generate_latest
from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from twisted.web import resource, server

from softswitch.edge.webhooks import HttpSender, WebhookMetrics
from softswitch.services.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhooks, verify

SECRET = "whsec-edge"


class Receiver(resource.Resource):
    isLeaf = True

    def __init__(self, statuses=()):
        super().__init__()
        self.received = []  # (headers, body, valid signature)
        self._statuses = list(statuses)

    def render_POST(self, request):
        body = request.content.read()
        stamp = request.getHeader(TIMESTAMP_HEADER) or ""
        signature = request.getHeader(SIGNATURE_HEADER) or ""
        valid = verify(SECRET, stamp, signature, body, now=reactor.seconds())
        self.received.append((request.getHeader("Softswitch-Delivery"), body, valid))
        request.setResponseCode(self._statuses.pop(0) if self._statuses else 200)
        return b"thanks"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DeliveryTests(unittest.TestCase):
    def listen(self, receiver) -> str:
        port = reactor.listenTCP(0, server.Site(receiver), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return f"http://127.0.0.1:{port.getHost().port}/hook"

    def hooks(self, url, **options):
        sender = HttpSender(reactor, timeout=2.0)
        self.addCleanup(sender.close)
        return Webhooks(reactor, sender, secret=SECRET, url=url, **options)

    @defer.inlineCallbacks
    def settled(self, webhooks, timeout=5.0):
        for _ in range(int(timeout / 0.02)):
            if webhooks.pending == 0:
                return webhooks.deliveries()
            yield task.deferLater(reactor, 0.02, lambda: None)
        self.fail(f"deliveries still pending: {webhooks.deliveries()}")

    @defer.inlineCallbacks
    def test_a_listening_receiver_gets_every_event_once_with_a_valid_signature(self):
        receiver = Receiver()
        webhooks = self.hooks(self.listen(receiver))
        for k in range(3):
            webhooks.emit("call.ended", f"c{k}@x", {"k": k})
        rows = yield self.settled(webhooks)
        self.assertEqual([r["state"] for r in rows], ["delivered"] * 3)
        self.assertEqual(sorted(json.loads(body)["data"]["k"] for _, body, _ in
                                receiver.received), [0, 1, 2])
        self.assertTrue(all(valid for _, _, valid in receiver.received))

    @defer.inlineCallbacks
    def test_a_receiver_that_is_down_is_retried_then_failed(self):
        webhooks = self.hooks(f"http://127.0.0.1:{closed_port()}/hook", max_attempts=3,
                              backoff=(0.05, 0.1))
        webhooks.emit("call.ended", "c1@x", {})
        [row] = yield self.settled(webhooks)
        self.assertEqual((row["state"], row["attempts"], row["last_status"]),
                         ("failed", 3, None))
        self.assertIn("refused", row["last_error"].lower())

    @defer.inlineCallbacks
    def test_a_receiver_that_errs_is_retried_until_it_takes_the_event(self):
        receiver = Receiver(statuses=[500, 503])
        webhooks = self.hooks(self.listen(receiver), backoff=(0.05,))
        webhooks.emit("call.amd", "c1@x", {"amd": {"result": "human"}})
        [row] = yield self.settled(webhooks)
        self.assertEqual((row["state"], row["attempts"], row["last_status"]),
                         ("delivered", 3, 200))
        self.assertEqual({delivery for delivery, _, _ in receiver.received}, {"1"})
        self.assertTrue(all(valid for _, _, valid in receiver.received))


class MetricsTests(unittest.TestCase):
    def test_the_collector_reads_outcomes_tries_and_pending(self):
        class Refusing:
            def send(self, url, headers, body):
                return defer.fail(ConnectionRefusedError())

        clock = task.Clock()
        webhooks = Webhooks(clock, Refusing(), secret=SECRET, url="http://h/", max_attempts=2,
                            backoff=(1.0,))
        webhooks.emit("call.ended", "c1@x", {})
        webhooks.emit("call.ended", "c2@x", {})
        clock.advance(1.0)
        webhooks.emit("call.ended", "c3@x", {})
        registry = CollectorRegistry()
        registry.register(WebhookMetrics(webhooks))
        text = generate_latest(registry).decode()
        self.assertIn('softswitch_webhook_deliveries_total{outcome="failed"} 2.0', text)
        self.assertIn("softswitch_webhook_tries_total 5.0", text)
        self.assertIn("softswitch_webhook_pending 1.0", text)
