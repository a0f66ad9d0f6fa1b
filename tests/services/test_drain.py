"""Draining on SIGTERM (services.drain), Clock-driven: new INVITEs get 503 and new
outbound calls are refused, queued outbound calls fail at once with "shutdown" in
their records, and the drain waits for answered agent calls, transfers to a human and
outbound calls as for proxied calls — up to its timeout."""

import pytest
import test_agent_calls as inbound
from memory_proxy import ProxyHarness, invite
from twisted.internet.defer import Deferred
from test_outbound_calls import FAR_SDP, GW_A, Switch
from test_uac_leg import far_request, reply

from softswitch.services.calls.uac_leg import UacLeg
from softswitch.services.agent_calls import AgentCalls
from softswitch.services.drain import Drain
from softswitch.services.outbound_calls import SwitchDraining

TIMEOUT = 30.0


def fired(d) -> list:
    result = []
    d.addBoth(result.append)
    return result


@pytest.fixture
def agent_switch():
    sessions = inbound.FakeSessions()
    harness = ProxyHarness(inbound.snapshot(), users={"bob": "b"}, agents=lambda h: AgentCalls(
        h.endpoint, h.clock, sessions, on_call_end=h.records.append, **h.shared))
    harness.sessions = sessions
    return harness


def answer_agent_call(switch):
    inbound.call(switch)
    session = inbound.FakeSession()
    switch.sessions.pending[-1][-1].callback(session)
    [ok] = [m for m, _ in switch.wire.take()]
    assert ok.status == 200
    return ok, session


def caller_bye(ok) -> str:
    return (f"BYE sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKb\n"
            f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
            f"Call-ID: {ok.call_id}\nCSeq: 2 BYE\nContent-Length: 0\n\n")


def test_an_answered_agent_call_is_waited_for_and_new_calls_get_503(agent_switch):
    switch = agent_switch
    ok, session = answer_agent_call(switch)
    drain = Drain(switch.clock, switch.dispatcher, switch.proxy, timeout=TIMEOUT)
    done = fired(drain())
    assert drain.calls_in_progress() == 1 and done == []
    switch.clock.advance(10.0)
    assert done == []  # the agent call is still up
    sent = switch.receive(invite("sip:4155550100@127.0.0.1", branch="z9hG4bKnew",
                                 call_id="call-2@carrier", body=inbound.CALLER_SDP),
                          inbound.CARRIER)
    [refusal] = [m for m, _ in sent if m.call_id == "call-2@carrier"]
    assert refusal.status == 503 and refusal.headers.get("Retry-After")
    assert len(switch.sessions.pending) == 1  # no agent was asked for the new call
    switch.receive(caller_bye(ok), inbound.CARRIER)
    assert session.stopped == ["bye"]
    switch.clock.advance(0.25)
    assert done == [None] and switch.clock.seconds() < 1_700_000_000 + TIMEOUT


def test_the_drain_gives_up_after_its_timeout(agent_switch):
    switch = agent_switch
    answer_agent_call(switch)
    done = fired(Drain(switch.clock, switch.dispatcher, switch.proxy, timeout=5.0)())
    switch.clock.pump([0.25] * 19)
    assert done == []
    switch.clock.pump([0.25] * 2)
    assert done == [None] and len(switch.agents) == 1  # the call is left to the stop


def test_a_call_bridged_to_a_human_is_waited_for_until_the_human_hangs_up():
    switch = Switch()
    call_id, [(out, _)] = switch.originate()
    session = switch.session()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    session.connects[0].callback(None)
    session.on_transfer("+14155550199", False)
    [(human, peer)] = switch.invites()
    switch.receive(reply(human, 200, body=FAR_SDP, to_tag="h1", contact="sip:h@203.0.113.50"),
                   peer)
    done = fired(Drain(switch.clock, switch.dispatcher, switch.proxy, switch.outbound,
                       timeout=TIMEOUT)())
    switch.clock.advance(5.0)
    assert done == []
    human_leg = next(leg for leg in switch.agents.legs if leg.call_id == human.call_id)
    switch.receive(far_request(human_leg, "BYE"), peer)  # the human hangs up
    switch.clock.advance(0.25)
    assert done == [None]
    [record] = switch.records
    assert (record.call_id, record.transfer_target) == (call_id, "+14155550199")


def test_queued_outbound_calls_fail_and_the_others_are_waited_for():
    switch = Switch(max_cps=1)
    placed, [(out, _)] = switch.originate(trunk_name="first")
    queued = [switch.originate(trunk_name="first")[0] for _ in range(2)]
    drain = Drain(switch.clock, switch.dispatcher, switch.proxy, switch.outbound,
                  timeout=TIMEOUT)
    done = fired(drain())
    assert [(r.call_id, r.disconnect_side, r.disconnect_reason, r.final_code)
            for r in switch.records] == [(c, "switch", "shutdown", 503) for c in queued]
    with pytest.raises(SwitchDraining):
        switch.originate(trunk_name="first")
    assert [row["call_id"] for row in switch.outbound.active_calls()] == [placed]
    switch.clock.advance(2.0)
    assert [m for m, _ in switch.invites() if m.call_id != placed] == []  # never placed
    assert done == [] and drain.calls_in_progress() >= 1

    # Ringing, then answered: still waited for, until the far end hangs up.
    session = switch.session(0)
    switch.receive(reply(out, 180), GW_A)
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    session.connects[0].callback(None)
    switch.clock.advance(10.0)
    assert done == []
    leg = next(leg for leg in switch.agents.legs if isinstance(leg, UacLeg))
    switch.receive(far_request(leg, "BYE"), GW_A)
    switch.clock.advance(0.25)
    assert done == [None]
    assert (switch.records[-1].call_id, switch.records[-1].disconnect_reason) == (placed, "bye")
    assert switch.limiter.active("first", "outbound") == 0


def test_an_outbound_call_whose_media_is_still_opening_is_counted():
    switch = Switch()
    opening = []

    def open_outbound(call_id, agent, info):
        opening.append(Deferred())
        return opening[-1]

    switch.sessions.open_outbound = open_outbound
    switch.originate()
    assert opening and len(switch.proxy) == 0  # no leg yet: only the service knows it
    drain = Drain(switch.clock, switch.dispatcher, switch.proxy, switch.outbound,
                  timeout=TIMEOUT)
    assert drain.calls_in_progress() == 1
