"""Outbound registration to carriers on a Clock with a fake SIP stack: the test plays
the carrier's registrar and answers each REGISTER through its handler."""

import random

import pytest
from twisted.internet.task import Clock

from softswitch.metrics import Metrics
from softswitch.services.routing import Gateway, RoutingSnapshot, Trunk
from softswitch.services.trunk_registration import TrunkRegistrations, refresh_delay
from softswitch.sip.digest import build_challenge, compute_ha1, parse_credentials, verify
from softswitch.sip.message import make_response, parse_message
from softswitch.sip.transport import Peer

GW = Peer("udp", "203.0.113.1", 5060)
CONTACT = "sip:acct@192.0.2.1:5060"


class FakeStack:
    def __init__(self):
        self.sent = []  # [request, peer, handler]
        self.branches = 0

    def via_for(self, peer, branch=None):
        self.branches += 1
        return (f"SIP/2.0/{peer.transport.upper()} 192.0.2.1:5060;"
                f"branch={branch or f'z9hG4bKr{self.branches}'};rport")

    def local_uri(self, peer, user=None):
        transport = "" if peer.transport == "udp" else f";transport={peer.transport}"
        return f"sip:{user + '@' if user else ''}192.0.2.1:5060{transport}"

    def send_request(self, request, peer, handler):
        self.sent.append([parse_message(bytes(request)), peer, handler])
        return len(self.sent)

    def take(self):
        sent, self.sent = self.sent, []
        return sent

    def only(self):
        sent = self.take()
        assert len(sent) == 1, sent
        return sent[0]


def reply(entry, status, extra=()):
    request, _, handler = entry
    response = make_response(request, status, to_tag="reg")
    for name, value in extra:
        response.headers.add(name, value)
    handler.response_received(None, parse_message(bytes(response)))


def challenge_401(entry, header="WWW-Authenticate"):
    reply(entry, 401 if header == "WWW-Authenticate" else 407,
          [(header, build_challenge("carrier.example", "n0nce", "SHA-256", opaque="o"))])


def ok(entry, expires=600, contact=CONTACT, extra=()):
    contacts = [] if contact is None else [("Contact", f"<{contact}>;expires={expires}")]
    reply(entry, 200, contacts + list(extra))


def trunk(name="carrier", gateways=None, **overrides):
    values = dict(auth_username="acct", auth_password="pw", register=True)
    values.update(overrides)
    gateways = gateways or (Gateway(name, "203.0.113.1", 5060, "udp", None, 1, 1),)
    return Trunk(name, gateways, **values)


def snapshot(*trunks):
    return RoutingSnapshot(trunks=trunks)


@pytest.fixture
def clock():
    clock = Clock()
    clock.advance(1_000_000)
    return clock


@pytest.fixture
def stack():
    return FakeStack()


@pytest.fixture
def metrics():
    return Metrics()


@pytest.fixture
def regs(clock, stack, metrics):
    return TrunkRegistrations(clock, stack, expires=600, metrics=metrics,
                              rng=random.Random(3), jitter=0)


def sample(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels)


def register(regs, stack, *trunks, expires=600):
    """Bring the trunks up: challenge, answer, 200."""
    regs.set_snapshot(snapshot(*trunks))
    for entry in stack.take():
        challenge_401(entry)
        ok(stack.only(), expires)


def test_happy_path_with_a_challenge(clock, stack, regs, metrics):
    regs.set_snapshot(snapshot(trunk()))
    assert regs.status("carrier")["state"] == "registering"
    first = stack.only()
    request, peer, _ = first
    assert peer == GW
    assert request.method == "REGISTER" and request.uri == "sip:203.0.113.1"
    assert request.headers.get("To") == "<sip:acct@203.0.113.1>"
    assert request.from_.uri.user == "acct" and request.from_tag
    assert request.contacts[0].address.uri.user == "acct"
    assert str(request.contacts[0].address.uri) == CONTACT
    assert request.headers.get("Expires") == "600"
    assert request.headers.get("Max-Forwards") == "70"
    assert request.cseq.number == 1 and "Authorization" not in request.headers

    challenge_401(first)
    second = stack.only()
    retry = second[0]
    assert retry.call_id == request.call_id and retry.from_tag == request.from_tag
    assert retry.cseq.number == 2
    assert retry.top_via.branch != request.top_via.branch
    credentials = parse_credentials(retry.headers.get("Authorization"))
    assert credentials.realm == "carrier.example" and credentials.opaque == "o"
    assert credentials.uri == "sip:203.0.113.1" and credentials.username == "acct"
    assert verify(credentials, "REGISTER", compute_ha1("acct", "carrier.example", "pw",
                                                       "SHA-256"))

    ok(second, 600)
    status = regs.status("carrier")
    assert status["state"] == "registered" and status["last_error"] is None
    assert status["expires_at"] == clock.seconds() + 600
    assert status["gateway"] == "203.0.113.1:5060"
    assert sample(metrics, "softswitch_trunk_registered", trunk="carrier") == 1
    assert sample(metrics, "softswitch_trunk_registration_attempts_total", result="ok") == 1


def test_a_proxy_challenge_gets_proxy_authorization(stack, regs):
    regs.set_snapshot(snapshot(trunk()))
    challenge_401(stack.only(), header="Proxy-Authenticate")
    retry = stack.only()[0]
    assert "Authorization" not in retry.headers
    assert 'username="acct"' in retry.headers.get("Proxy-Authorization")


def test_provisional_responses_are_ignored(stack, regs):
    regs.set_snapshot(snapshot(trunk()))
    entry = stack.only()
    reply(entry, 100)
    assert regs.status("carrier")["state"] == "registering" and not stack.sent
    ok(entry)
    assert regs.status("carrier")["state"] == "registered"


@pytest.mark.parametrize("granted, delay", [(600, 480), (3600, 2880), (120, 90), (60, 30),
                                            (30, 5), (10, 5), (4, 2)])
def test_refresh_delay_is_80_percent_or_30_seconds_early_whichever_is_sooner(granted, delay):
    assert refresh_delay(granted) == pytest.approx(delay)


def test_refresh_goes_out_on_time_with_the_same_call_id(clock, stack, regs):
    regs.set_snapshot(snapshot(trunk()))
    first = stack.only()
    ok(first, 120)
    assert regs.status("carrier")["next_attempt_at"] == clock.seconds() + 90
    clock.advance(89)
    assert not stack.sent
    clock.advance(1)
    refresh = stack.only()
    assert refresh[0].call_id == first[0].call_id and refresh[0].cseq.number == 2
    assert regs.status("carrier")["state"] == "registered"  # still, while refreshing
    ok(refresh, 3600)
    clock.advance(2879)
    assert not stack.sent
    clock.advance(1)
    assert stack.only()[0].cseq.number == 3


def test_the_granted_expiry_is_read_from_our_contact_then_the_expires_header(clock, stack,
                                                                             regs):
    regs.set_snapshot(snapshot(trunk()))
    entry = stack.only()
    reply(entry, 200, [("Contact", "<sip:other@198.51.100.5>;expires=3600"),
                       ("Contact", f"<{CONTACT}>;expires=300"), ("Expires", "900")])
    assert regs.status("carrier")["expires_at"] == clock.seconds() + 300
    clock.advance(refresh_delay(300))
    ok(stack.only(), contact=None, extra=[("Expires", "900")])
    assert regs.status("carrier")["expires_at"] == clock.seconds() + 900
    clock.advance(refresh_delay(900))
    ok(stack.only(), contact=None)  # nothing said: what we asked for
    assert regs.status("carrier")["expires_at"] == clock.seconds() + 600


def test_backoff_on_timeouts_doubles_up_to_the_cap_and_resets_after_success(clock, stack,
                                                                            regs, metrics):
    regs.set_snapshot(snapshot(trunk()))
    gaps, states = [], set()
    for _ in range(8):
        stack.only()[2].timed_out(None)
        states.add(regs.status("carrier")["state"])
        start = clock.seconds()
        while not stack.sent:
            clock.advance(1)
        gaps.append(clock.seconds() - start)
    assert gaps == [5, 10, 20, 40, 80, 160, 300, 300]
    assert states == {"failed"}
    status = regs.status("carrier")  # retrying now
    assert status["state"] == "registering" and status["last_error"] == "timeout"
    assert sample(metrics, "softswitch_trunk_registered", trunk="carrier") == 0
    assert sample(metrics, "softswitch_trunk_registration_attempts_total",
                  result="timeout") == 8
    ok(stack.only())
    clock.advance(480)
    stack.only()[2].transport_failed(None)
    assert regs.status("carrier")["last_error"] == "transport error"
    clock.advance(5)
    assert len(stack.take()) == 1


def test_backoff_is_jittered(clock, stack):
    regs = TrunkRegistrations(clock, stack, rng=random.Random(9))
    regs.set_snapshot(snapshot(trunk()))
    stack.only()[2].timed_out(None)
    delay = regs.status("carrier")["next_attempt_at"] - clock.seconds()
    assert 4 <= delay <= 6 and delay != 5


def test_a_second_challenge_is_a_failure(stack, regs, metrics):
    regs.set_snapshot(snapshot(trunk()))
    challenge_401(stack.only())
    challenge_401(stack.only())
    assert not stack.sent
    status = regs.status("carrier")
    assert status["state"] == "failed" and status["last_error"].startswith("401")
    assert sample(metrics, "softswitch_trunk_registration_attempts_total",
                  result="auth_failed") == 1


def test_a_challenge_we_cannot_answer_is_a_failure(stack, regs):
    regs.set_snapshot(snapshot(trunk()))
    reply(stack.only(), 401, [("WWW-Authenticate", 'Basic realm="x"')])
    assert not stack.sent and regs.status("carrier")["state"] == "failed"


def test_a_rejection_honours_retry_after(clock, stack, regs, metrics):
    regs.set_snapshot(snapshot(trunk()))
    reply(stack.only(), 503, [("Retry-After", "120 (maintenance)")])
    assert regs.status("carrier")["next_attempt_at"] == clock.seconds() + 120
    assert regs.status("carrier")["last_error"].startswith("503")
    assert sample(metrics, "softswitch_trunk_registration_attempts_total",
                  result="rejected") == 1


def test_interval_too_brief_is_retried_with_min_expires(clock, stack, regs):
    regs.set_snapshot(snapshot(trunk()))
    challenge_401(stack.only())
    reply(stack.only(), 423, [("Min-Expires", "1800")])
    retry = stack.only()
    assert retry[0].headers.get("Expires") == "1800" and retry[0].cseq.number == 3
    challenge_401(retry)
    ok(stack.only(), 1800)
    assert regs.status("carrier")["expires_at"] == clock.seconds() + 1800


def test_unregister_when_the_trunk_is_removed(clock, stack, regs, metrics):
    register(regs, stack, trunk(), trunk("other"))
    regs.set_snapshot(snapshot(trunk("other")))
    bye = stack.only()
    request = bye[0]
    assert request.headers.get("Expires") == "0"
    assert str(request.contacts[0].address.uri) == CONTACT
    assert regs.status("carrier") is None
    assert sample(metrics, "softswitch_trunk_registered", trunk="carrier") is None
    challenge_401(bye)
    again = stack.only()
    assert again[0].call_id == request.call_id and again[0].headers.get("Authorization")
    reply(again, 200)
    clock.advance(3600)
    assert [e[0].call_id for e in stack.take()] != [request.call_id]
    assert regs.statuses()[0]["trunk"] == "other"


@pytest.mark.parametrize("change", [dict(enabled=False), dict(register=False),
                                    dict(auth_username=None)])
def test_unregister_when_the_trunk_stops_registering(stack, regs, change):
    register(regs, stack, trunk())
    regs.set_snapshot(snapshot(trunk(**change)))
    assert stack.only()[0].headers.get("Expires") == "0"
    assert regs.status("carrier") is None


def test_new_credentials_unregister_the_old_binding_and_register_anew(stack, regs):
    register(regs, stack, trunk())
    old_call_id = regs._registrations["carrier"].call_id
    regs.set_snapshot(snapshot(trunk(auth_password="new")))
    bye, fresh = stack.take()
    assert bye[0].headers.get("Expires") == "0" and bye[0].call_id == old_call_id
    assert fresh[0].headers.get("Expires") == "600" and fresh[0].call_id != old_call_id


def test_unrelated_changes_keep_the_registration(stack, regs):
    register(regs, stack, trunk())
    regs.set_snapshot(snapshot(trunk(max_cps=5, max_concurrent=10)))
    assert not stack.sent and regs.status("carrier")["state"] == "registered"


def test_answers_after_removal_are_ignored(clock, stack, regs):
    regs.set_snapshot(snapshot(trunk()))
    pending = stack.only()
    regs.set_snapshot(snapshot())
    bye = stack.only()  # the REGISTER might have landed: unregister anyway
    ok(pending)
    reply(bye, 200)
    clock.advance(7200)
    assert not stack.sent and regs.status("carrier") is None


def test_only_registering_trunks_with_credentials_register_to_their_first_gateway(stack, regs):
    second = Gateway("a", "203.0.113.2", 5060, "udp", None, 2, 1)
    first = Gateway("a", "203.0.113.3", 5070, "tcp", None, 1, 1)
    regs.set_snapshot(snapshot(trunk("a", gateways=(second, first)),
                               trunk("b", register=False), trunk("c", auth_password=None),
                               trunk("d", enabled=False)))
    request, peer, _ = stack.only()
    assert peer == Peer("tcp", "203.0.113.3", 5070)
    assert request.uri == "sip:203.0.113.3:5070;transport=tcp"
    assert request.headers.get("To") == "<sip:acct@203.0.113.3:5070>"
    assert request.contacts[0].address.uri.params["transport"] == "tcp"


def test_a_domain_can_be_configured(stack, clock):
    regs = TrunkRegistrations(clock, stack, domain_for=lambda trunk, gw: "sip.carrier.example")
    regs.set_snapshot(snapshot(trunk()))
    request, peer, _ = stack.only()
    assert peer == GW and request.uri == "sip:sip.carrier.example"
    assert request.headers.get("From").startswith("<sip:acct@sip.carrier.example>")


def test_stop_unregisters_and_fires_when_answered_or_timed_out(clock, stack, regs):
    register(regs, stack, trunk("a"), trunk("b"))
    done = regs.stop()
    first, second = stack.take()
    assert not done.called
    reply(first, 200)
    assert not done.called
    second[2].timed_out(None)
    assert done.called
    regs.set_snapshot(snapshot(trunk("a")))  # stopped: nothing more
    clock.advance(3600)
    assert not stack.sent
