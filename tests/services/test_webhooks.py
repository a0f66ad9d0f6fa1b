"""Call-event webhooks (services.webhooks) on a Clock with a sender that records each
try and is answered by the test: signatures, retries with backoff, the bounded queue,
the delivery states the API shows, and the events the call services send."""

import json

import pytest
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from softswitch.services.dialogs import CallRecord
from softswitch.services.webhooks import (
    NO_WEBHOOKS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Webhooks,
    emit_for,
    reporting_ends,
    sign,
    verify,
)

SECRET = "whsec-test"
GLOBAL, AGENT_URL = "http://hooks.example/all", "https://bot.example/events"


class Sender:
    def __init__(self):
        self.tries = []  # (url, headers, body, deferred)

    def send(self, url, headers, body):
        d = Deferred()
        self.tries.append((url, headers, body, d))
        return d

    def answer(self, index, status):
        self.tries[index][3].callback(status)


def hooks(clock=None, sender=None, **options):
    clock = clock or Clock()
    clock.advance(1_700_000_000)
    return Webhooks(clock, sender or Sender(), secret=SECRET, url=GLOBAL,
                    agent_url={"bot": AGENT_URL}.get, **options)


def test_signatures_are_hmac_sha256_over_the_timestamp_and_body_and_verify():
    value = sign(SECRET, 1700000000, b'{"a":1}')
    assert value.startswith("v1=") and len(value) == 3 + 64
    assert verify(SECRET, "1700000000", value, b'{"a":1}', now=1700000100)
    assert not verify(SECRET, "1700000000", value, b'{"a":2}', now=1700000100)
    assert not verify("other", "1700000000", value, b'{"a":1}', now=1700000100)
    assert not verify(SECRET, "1700000000", value, b'{"a":1}', now=1700001000)  # stale
    assert not verify(SECRET, "soon", value, b'{"a":1}', now=1700000000)


def test_an_event_goes_to_the_global_url_and_the_agents_signed_and_is_delivered():
    sender = Sender()
    webhooks = hooks(sender=sender)
    webhooks.emit("call.answered", "c1@x", {"caller": "+1202"}, agent="bot")
    assert [t[0] for t in sender.tries] == [GLOBAL, AGENT_URL]
    url, headers, body, _ = sender.tries[0]
    assert json.loads(body) == {"event": "call.answered", "call_id": "c1@x",
                                "at": 1_700_000_000, "agent": "bot",
                                "data": {"caller": "+1202"}}
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    assert verify(SECRET, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body,
                  now=1_700_000_000)
    assert headers["Softswitch-Event"] == "call.answered"
    sender.answer(0, 204)
    sender.answer(1, 200)
    first, second = sorted(webhooks.deliveries(), key=lambda d: d["id"])
    assert (first["state"], first["attempts"], first["last_status"]) == ("delivered", 1, 204)
    assert second["state"] == "delivered" and webhooks.pending == 0


def test_a_call_of_another_agent_goes_to_the_global_url_only_and_none_goes_nowhere():
    sender = Sender()
    webhooks = hooks(sender=sender)
    webhooks.emit("call.ended", "c1@x", {}, agent="other")
    webhooks.emit("call.ended", "c2@x", {}, agent=None)
    assert [t[0] for t in sender.tries] == [GLOBAL, GLOBAL]
    quiet = Webhooks(Clock(), sender, secret=SECRET, url="")
    quiet.emit("call.ended", "c3@x", {})
    assert len(sender.tries) == 2 and quiet.deliveries() == []


def test_failed_tries_are_retried_with_backoff_and_signed_anew_then_fail():
    clock, sender = Clock(), Sender()
    webhooks = hooks(clock, sender, max_attempts=3, backoff=(1.0, 4.0))
    webhooks.emit("call.ringing", "c1@x", {})
    sender.answer(0, 503)
    [row] = webhooks.deliveries()
    assert (row["state"], row["attempts"], row["next_attempt_at"]) == (
        "pending", 1, 1_700_000_001)
    clock.advance(0.9)
    assert len(sender.tries) == 1
    clock.advance(0.1)
    assert len(sender.tries) == 2 and sender.tries[1][1][TIMESTAMP_HEADER] == "1700000001"
    sender.tries[1][3].errback(ConnectionRefusedError("refused"))
    clock.advance(4.0)
    sender.answer(2, 500)
    [row] = webhooks.deliveries()
    assert (row["state"], row["attempts"], row["last_status"]) == ("failed", 3, 500)
    clock.advance(3600)
    assert len(sender.tries) == 3


def test_a_refused_connection_is_one_failed_try_with_its_error():
    clock = Clock()

    class Refusing:
        def send(self, url, headers, body):
            return fail(ConnectionRefusedError("Connection was refused"))

    webhooks = hooks(clock, Refusing(), max_attempts=2, backoff=(2.0,))
    webhooks.emit("call.ended", "c1@x", {})
    [row] = webhooks.deliveries()
    assert row["state"] == "pending" and "refused" in row["last_error"]
    clock.advance(2.0)
    [row] = webhooks.deliveries()
    assert (row["state"], row["attempts"]) == ("failed", 2)


def test_the_queue_is_bounded_the_oldest_waiting_delivery_is_dropped():
    sender = Sender()
    webhooks = Webhooks(Clock(), sender, secret=SECRET, url=GLOBAL, max_pending=3,
                        max_in_flight=1)
    for k in range(5):
        webhooks.emit("call.ended", f"c{k}@x", {})
    assert len(sender.tries) == 1  # one in flight, the others wait
    states = {d["call_id"]: d["state"] for d in webhooks.deliveries()}
    assert states == {"c0@x": "pending", "c1@x": "dropped", "c2@x": "dropped",
                      "c3@x": "pending", "c4@x": "pending"}
    assert webhooks.dropped == 2 and webhooks.pending == 3
    sender.answer(0, 200)
    assert [t[2] for t in sender.tries][1:] and json.loads(sender.tries[1][2])["call_id"] \
        == "c3@x"


def test_emit_never_raises_into_the_call_path():
    class Broken:
        def send(self, url, headers, body):
            raise RuntimeError("no network")

    webhooks = hooks(sender=Broken(), max_attempts=1)
    webhooks.emit("call.ended", "c1@x", {"odd": object()})  # (not JSON: str() of it)
    [row] = webhooks.deliveries()
    assert row["state"] == "failed" and "no network" in row["last_error"]


def test_the_history_keeps_the_latest_deliveries_newest_first():
    sender = Sender()
    webhooks = Webhooks(Clock(), sender, secret=SECRET, url=GLOBAL, history=3)
    for k in range(5):
        webhooks.emit("call.ended", f"c{k}@x", {})
        sender.answer(k, 200)
    assert [d["call_id"] for d in webhooks.deliveries()] == ["c4@x", "c3@x", "c2@x"]
    assert webhooks.delivery(5)["call_id"] == "c4@x" and webhooks.delivery(1) is None


def test_call_records_become_events():
    sender = Sender()
    webhooks = hooks(sender=sender)
    record = CallRecord("c1@x", "outbound", "+14155550100", "+12025550150", 1.0,
                        agent="bot", trunk="carrier")
    emit_for(webhooks, "call.transferred", record, target="+14155550199")
    body = json.loads(sender.tries[0][2])
    assert body["data"]["target"] == "+14155550199" and body["data"]["trunk"] == "carrier"
    written = []
    reporting_ends(written.append, webhooks)(record)
    assert written == [record]
    ended = json.loads(sender.tries[-1][2])
    assert ended["event"] == "call.ended" and ended["data"]["callee"] == "+12025550150"
    assert "amd_result" in ended["data"]


def test_a_secret_is_required():
    with pytest.raises(ValueError):
        Webhooks(Clock(), Sender(), secret="", url=GLOBAL)


def test_without_webhooks_the_call_path_builds_nothing():
    writer = [].append
    assert reporting_ends(writer, NO_WEBHOOKS) is writer
    emit_for(NO_WEBHOOKS, "call.ringing", None)  # (no record is even read)
