"""Transfer to a human (services.transfers), Clock-driven: an agent call answered by
AgentCalls asks for a transfer; the human is dialled as a UAC leg with the caller's
offer as the relay rewrites it; on answer the relay is re-pointed and the agent let
go, with no re-INVITE to the caller; then BYE either way ends both; failures tell a
warm agent or end a cold call."""

import pytest
from memory_proxy import DOMAIN, ProxyHarness, invite
from test_uac_leg import far_request, reply
from twisted.internet.defer import Deferred, succeed

from softswitch.sdp import parse_sdp
from softswitch.services.calls.uac_leg import UacLeg
from softswitch.services.agent_calls import AgentCalls
from softswitch.services.attempts import MAX_FORKS
from softswitch.services.limits import TrunkLimiter
from softswitch.services.routing import (
    Agent,
    Gateway,
    Number,
    OutboundRoute,
    RoutingSnapshot,
    Target,
    Trunk,
)
from softswitch.services.calls.bridged import BridgedSession, restrict_offer
from softswitch.services.transfers import Transfers
from softswitch.services.calls.legs import SipLegs
from softswitch.sip.transport import Peer

CARRIER = Peer("udp", "198.51.100.7", 5060)
HUMANS = Peer("udp", "203.0.113.50", 5060)
HUMANS_2 = Peer("udp", "203.0.113.51", 5060)
PBX = Peer("udp", "203.0.113.60", 5060)
MEDIA_ID = "call-1@carrier;agent"
CALLER_SDP = ("v=0\no=- 1 1 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\n"
              "m=audio 20000 RTP/AVP 8 0 18 101\na=rtpmap:101 telephone-event/8000\n"
              "a=fmtp:101 0-15\na=rtpmap:18 G729/8000\nm=video 20002 RTP/AVP 96\n")
CALLER_WIRE = CALLER_SDP.replace("\n", "\r\n").encode()  # as the INVITE carried it
# What the relay makes of the caller's offer for its other side.
RELAY_OFFER = CALLER_SDP.replace("198.51.100.7", "127.0.0.1").replace("20000", "36002") \
    .replace("\n", "\r\n").encode()
HUMAN_SDP = ("v=0\r\no=- 5 5 IN IP4 203.0.113.70\r\ns=-\r\nc=IN IP4 203.0.113.70\r\nt=0 0\r\n"
             "m=audio 50000 RTP/AVP 0 101\r\nm=video 0 RTP/AVP 96\r\n")
OUR_ANSWER = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 36000 RTP/AVP 0 101\r\n"


class FakeSession:
    answer_sdp = OUR_ANSWER
    media_id = MEDIA_ID

    def __init__(self):
        self.stopped, self.agent_ended, self.failures = [], [], []
        self.released = False
        self.rings = []  # "ring": ring_caller(), "early": early_media()
        self.played = []  # early_media()'s Deferreds, fired by the test
        self.holds, self.reoffers = [], []  # hold(held), reoffer(sdp)

    def begin(self, on_end, on_transfer):
        self.on_end, self.on_transfer = on_end, on_transfer

    def dtmf(self, digit):
        pass

    def stop(self, reason):
        self.stopped.append(reason)
        return succeed({"frames_to_agent": 10})

    def end_agent(self, reason):
        self.agent_ended.append(reason)

    def release_media(self):
        self.released = True

    def ring_caller(self):
        self.rings.append("ring")

    def early_media(self):
        self.rings.append("early")
        self.played.append(Deferred())
        return self.played[-1]

    def transfer_failed(self, target, code, outcome):
        self.failures.append((target, code, outcome))

    def hold(self, held):
        self.holds.append(held)

    def reoffer(self, sdp):
        self.reoffers.append(sdp)
        return succeed(None)


class FakeSessions:
    def __init__(self):
        self.pending = []

    def open(self, call_id, agent, info, offer_sdp):
        d = Deferred()
        self.pending.append(d)
        return d


class Stats:
    def to_dict(self):
        return {"region": "default", "caller": "stats"}


class FakeMedia:
    """MediaControl as the transfer uses it: the commands, in order."""

    def __init__(self):
        self.commands = []
        self.refuse_answer = False

    def offer(self, call_id, from_tag, sdp, region=None, **options):
        self.commands.append(("offer", call_id, from_tag, sdp))
        return succeed(RELAY_OFFER)

    def answer(self, call_id, from_tag, to_tag, sdp):
        self.commands.append(("answer", call_id, from_tag, to_tag, sdp))
        if self.refuse_answer:
            from twisted.internet.defer import fail

            from softswitch.services.media_control import MediaRejected
            return fail(MediaRejected("no"))
        return succeed(b"rewritten")

    def delete(self, call_id, from_tag=None, to_tag=None):
        self.commands.append(("delete", call_id))
        return succeed(Stats())


def snapshot():
    carrier = Trunk("carrier", (Gateway("carrier", CARRIER.host, 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    humans = Trunk("humans", (Gateway("humans", HUMANS.host, 5060, "udp", None, 1, 10),
                              Gateway("humans", HUMANS_2.host, 5060, "udp", None, 2, 10)),
                   auth_username="acct", auth_password="pw", max_concurrent=1)
    pbx = Trunk("pbx", (Gateway("pbx", PBX.host, 5060, "udp", None, 1, 10),))
    return RoutingSnapshot(
        trunks=[carrier, humans, pbx], users=["alice"],
        agents=[Agent("bot", "ws://127.0.0.1:9/", "twilio", 8000)],
        numbers=[Number("+14155550100", (Target("agent", "bot"),))],
        outbound=[OutboundRoute("1415", ("humans",))])


class Switch(ProxyHarness):
    def __init__(self):
        self.sessions = FakeSessions()
        self.media = FakeMedia()

        def agents(h):
            legs = SipLegs(h.shared["dialog_router"])
            self.limiter = TrunkLimiter(h.clock)
            self.transfers = Transfers(h.endpoint, h.clock, h.holder, self.media, legs,
                                       location=h.location, domain=DOMAIN,
                                       limiter=self.limiter, ring_timeout=20.0)
            return AgentCalls(h.endpoint, h.clock, self.sessions, on_call_end=h.records.append,
                              legs=legs, transfers=self.transfers, **h.shared)

        super().__init__(snapshot(), users={"alice": "a"}, agents=agents)

    def answered_call(self):
        """An inbound call answered by the agent: (session, our 200, caller ACKed)."""
        self.receive(invite("sip:4155550100@127.0.0.1", body=CALLER_SDP), CARRIER)
        self.session = FakeSession()
        self.sessions.pending[0].callback(self.session)
        [ok] = [m for m, _ in self.wire.take()]
        self.ok = ok
        ack = caller_request(ok, "ACK", 1)
        assert self.receive(ack, CARRIER) == []
        return self.session

    def transfer(self, target="+14155550199", warm=True):
        self.session.on_transfer(target, warm)
        return [(m, p) for m, p in self.wire.take() if m.is_request]


def caller_request(ok, method, cseq):
    return (f"{method} sip:x@127.0.0.1 SIP/2.0\n"
            f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKc{method}{cseq}\n"
            f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
            f"Call-ID: call-1@carrier\nCSeq: {cseq} {method}\nContent-Length: 0\n\n")


@pytest.fixture
def switch():
    return Switch()


def answer_human(switch, invite_to_human, peer=HUMANS, to_tag="human1"):
    sent = switch.receive(reply(invite_to_human, 200, body=HUMAN_SDP, to_tag=to_tag,
                                contact=f"sip:agent7@{peer.host}:{peer.port}"), peer)
    return [(m, p) for m, p in sent if m.is_request]


def test_warm_transfer_rings_the_human_with_the_callers_offer_and_bridges_on_answer(switch):
    session = switch.answered_call()
    [(out, peer)] = switch.transfer(warm=True)
    assert peer == HUMANS and out.uri == "sip:+14155550199@203.0.113.50:5060"
    # The agent presents its own caller ID (the DID routed to it), not the caller's
    # number (services.caller_id), and asserts it to the trusted trunk.
    assert out.from_.uri.user == "+14155550100"
    assert out.headers.get("P-Asserted-Identity") == f"<sip:+14155550100@{DOMAIN}>"
    assert switch.media.commands == [("offer", MEDIA_ID, "caller", CALLER_WIRE)]
    offered = parse_sdp(out.body)
    assert offered.media[0].formats == ["0", "101"]  # what the caller uses with us
    assert offered.media[0].port == 36002 and offered.media[1].port == 0
    assert session.agent_ended == []  # warm: the agent talks on while it rings

    switch.receive(reply(out, 180, to_tag="human1"), HUMANS)
    assert not session.released
    sent = answer_human(switch, out)
    assert [(m.method, p) for m, p in sent] == [("ACK", HUMANS)]  # nothing to the caller
    assert switch.media.commands[-1] == ("answer", MEDIA_ID, "caller", out.from_tag,
                                         HUMAN_SDP.encode())
    assert session.released and session.stopped == ["transfer"]
    call = switch.agents.calls["call-1@carrier"]
    assert isinstance(call.session, BridgedSession)
    assert call.human is not None and call.human in list(switch.agents.legs)
    assert len(switch.agents.legs) == 2  # the caller's leg and the human's, for their BYE
    assert call.record.transfer_target == "+14155550199"
    assert switch.records == []


def test_the_humans_bye_hangs_up_the_caller_and_ends_the_media(switch):
    switch.answered_call()
    [(out, _)] = switch.transfer()
    answer_human(switch, out)
    human = out.headers.get("To") + ";tag=human1"
    bye = (f"BYE sip:x@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.50:5060;"
           f"branch=z9hG4bKhb\nMax-Forwards: 70\nFrom: {human}\nTo: {out.headers.get('From')}\n"
           f"Call-ID: {out.call_id}\nCSeq: 1 BYE\nContent-Length: 0\n\n")
    sent = switch.receive(bye, HUMANS)
    assert [(m.status if not m.is_request else m.method, p) for m, p in sent] == [
        (200, HUMANS), ("BYE", CARRIER)]
    [record] = switch.records
    assert (record.disconnect_side, record.disconnect_reason) == ("callee", "bye")
    assert record.transfer_target == "+14155550199"
    assert record.agent_stats == {"frames_to_agent": 10, "media": Stats().to_dict()}
    assert switch.media.commands[-1] == ("delete", MEDIA_ID)
    assert len(switch.agents) == 0 and switch.limiter.active("humans", "outbound") == 0


def test_the_callers_bye_hangs_up_the_human(switch):
    switch.answered_call()
    [(out, _)] = switch.transfer(warm=False)
    answer_human(switch, out)
    sent = switch.receive(caller_request(switch.ok, "BYE", 2), CARRIER)
    assert [(m.status if not m.is_request else m.method, p) for m, p in sent] == [
        (200, CARRIER), ("BYE", HUMANS)]
    [bye] = [m for m, _ in sent if m.is_request]
    assert bye.to_tag == "human1" and bye.uri == "sip:agent7@203.0.113.50:5060"
    [record] = switch.records
    assert record.disconnect_side == "caller" and record.transfer_target == "+14155550199"
    assert ("delete", MEDIA_ID) in switch.media.commands


def test_cold_transfer_stops_the_agent_before_dialling(switch):
    session = switch.answered_call()
    [(out, _)] = switch.transfer(warm=False)
    assert session.agent_ended == ["transfer"] and not session.released
    answer_human(switch, out)
    assert session.released and session.stopped == ["transfer"]


def test_a_busy_human_in_a_warm_transfer_leaves_the_agent_on_and_tells_it(switch):
    session = switch.answered_call()
    [(out, _)] = switch.transfer(warm=True)
    sent = switch.receive(reply(out, 486, to_tag="human1"), HUMANS)
    assert [m.method for m, _ in sent if m.is_request] == ["ACK"]  # no BYE to the caller
    assert session.failures == [("+14155550199", 486, "busy")]
    assert not session.released and session.stopped == [] and switch.records == []
    assert switch.limiter.active("humans", "outbound") == 0
    [(again, _)] = switch.transfer(warm=True)  # the agent may try again
    assert again.method == "INVITE" and again.call_id != out.call_id


def test_no_answer_in_a_cold_transfer_ends_the_call(switch):
    session = switch.answered_call()
    [(out, _)] = switch.transfer(warm=False)
    switch.receive(reply(out, 180, to_tag="human1"), HUMANS)
    switch.clock.advance(20.0)
    sent = [(m.method, p) for m, p in switch.wire.take() if m.is_request]
    assert sorted(sent, key=str) == sorted([("CANCEL", HUMANS), ("BYE", CARRIER)], key=str)
    [record] = switch.records
    assert (record.disconnect_side, record.disconnect_reason) == ("switch", "transfer-failed")
    assert record.transfer_target is None and session.stopped == ["transfer-failed"]


def test_a_gateway_failing_moves_on_to_the_next(switch):
    switch.answered_call()
    [(out, _)] = switch.transfer()
    sent = switch.receive(reply(out, 503, to_tag="gw"), HUMANS)
    [nxt] = [(m, p) for m, p in sent if m.method == "INVITE"]
    assert nxt[1] == HUMANS_2 and nxt[0].body == out.body


def test_the_trunk_credentials_answer_the_humans_gateway_challenge(switch):
    switch.answered_call()
    [(out, _)] = switch.transfer()
    sent = switch.receive(reply(out, 407, extra='Proxy-Authenticate: Digest realm="h", '
                                                'nonce="n"'), HUMANS)
    [again] = [m for m, _ in sent if m.method == "INVITE"]
    assert 'username="acct"' in again.headers.get("Proxy-Authorization")


def test_the_caller_hanging_up_while_the_human_rings_cancels_it(switch):
    session = switch.answered_call()
    [(out, _)] = switch.transfer()
    switch.receive(reply(out, 180, to_tag="human1"), HUMANS)
    sent = switch.receive(caller_request(switch.ok, "BYE", 2), CARRIER)
    assert [(m.method, p) for m, p in sent if m.is_request] == [("CANCEL", HUMANS)]
    assert session.stopped == ["bye"] and switch.limiter.active("humans", "outbound") == 0
    sent = answer_human(switch, out)  # the answer crossed the CANCEL
    assert [m.method for m, _ in sent] == ["ACK", "BYE"]


def test_an_agent_hanging_up_during_a_warm_transfer_turns_it_cold(switch):
    session = switch.answered_call()
    [(out, _)] = switch.transfer(warm=True)
    session.on_end("done")
    assert [m for m, _ in switch.wire.take() if m.is_request] == []  # the caller stays
    assert session.agent_ended == ["done"]
    answer_human(switch, out)
    assert session.released


def test_a_user_target_rings_every_contact_and_the_first_answer_wins(switch):
    switch.bind("alice", "sip:alice@10.0.0.5:5062", "udp:192.0.2.30:40000")
    switch.bind("alice", "sip:alice@10.0.0.6:5062", "udp:192.0.2.31:40001")
    switch.answered_call()
    sent = switch.transfer("user:alice")
    assert sorted(p.host for _, p in sent) == ["192.0.2.30", "192.0.2.31"]
    [(first, p1), (second, p2)] = sorted(sent, key=lambda s: s[1].host)
    switch.receive(reply(second, 180, to_tag="a2"), p2)
    after = answer_human(switch, first, peer=p1, to_tag="a1")
    assert [(m.method, p) for m, p in after] == [("ACK", p1), ("CANCEL", p2)]
    assert after[0][0].uri == "sip:agent7@192.0.2.30:40000"


def test_a_user_target_rings_at_most_max_forks_of_its_contacts(switch):
    for n in range(MAX_FORKS + 2):
        switch.bind("alice", f"sip:alice@10.0.1.{n}:5062", f"udp:192.0.2.{100 + n}:5060")
    switch.answered_call()
    sent = switch.transfer("user:alice")
    assert len(sent) == MAX_FORKS and all(m.method == "INVITE" for m, _ in sent)


def test_a_trunk_target_dials_the_calls_number(switch):
    switch.answered_call()
    [(out, peer)] = switch.transfer("trunk:pbx")
    assert peer == PBX and out.uri == "sip:+14155550100@203.0.113.60:5060"
    assert switch.transfer("+14155550199") == []  # ignored: one is dialling


def test_a_trunk_target_with_a_number_dials_that_number(switch):
    switch.answered_call()
    [(out, _)] = switch.transfer("trunk:pbx/+14155550111")
    assert out.uri == "sip:+14155550111@203.0.113.60:5060"


def test_no_route_fails_at_once_warm(switch):
    session = switch.answered_call()
    assert switch.transfer("+33123456789", warm=True) == []
    assert session.failures == [("+33123456789", 404, "failed")]
    assert switch.records == [] and session.agent_ended == []


def test_an_unknown_user_fails_a_cold_transfer_with_a_bye(switch):
    session = switch.answered_call()
    assert [(m.method, p) for m, p in switch.transfer("user:nobody", warm=False)] == [
        ("BYE", CARRIER)]
    assert session.failures == [] and session.stopped == ["transfer-failed"]
    assert switch.records[0].disconnect_reason == "transfer-failed"


def test_a_human_answer_the_relay_refuses_keeps_the_agent(switch):
    session = switch.answered_call()
    switch.media.refuse_answer = True
    [(out, _)] = switch.transfer(warm=True)
    sent = answer_human(switch, out)
    assert [m.method for m, _ in sent] == ["ACK", "BYE"]
    assert not session.released and session.failures == [("+14155550199", 488, "failed")]


def test_the_trunk_concurrency_limit_skips_a_full_trunk(switch):
    switch.answered_call()
    held = switch.limiter.acquire(switch.holder().trunks["humans"], "outbound")
    assert switch.transfer("+14155550199", warm=True) == []
    assert switch.session.failures == [("+14155550199", 503, "failed")]
    held.release()


def test_restrict_offer_keeps_the_callers_codec_and_telephone_event():
    restricted = parse_sdp(restrict_offer(RELAY_OFFER, CALLER_SDP.encode()))
    audio, video = restricted.media
    assert audio.formats == ["0", "101"] and video.port == 0  # PCMU first, as the agent
    assert audio.attribute_values("rtpmap") == ["101 telephone-event/8000"]
    assert audio.attribute_values("fmtp") == ["101 0-15"]
    assert restrict_offer(b"garbage", CALLER_SDP.encode()) == b"garbage"


def test_restrict_offer_follows_the_codec_preference_the_agent_answered_with():
    wide = CALLER_SDP.replace("RTP/AVP 8 0 18 101", "RTP/AVP 8 9 0 101")
    relay = wide.replace("\n", "\r\n").encode()
    by_default = parse_sdp(restrict_offer(relay, wide.encode()))
    assert by_default.media[0].formats == ["9", "101"]  # G.722, as the agent answered
    narrow = parse_sdp(restrict_offer(relay, wide.encode(), ("PCMA", "PCMU")))
    assert narrow.media[0].formats == ["8", "101"]


def test_in_dialog_requests_to_the_human_leg_are_answered(switch):
    switch.answered_call()
    [(out, _)] = switch.transfer()
    answer_human(switch, out)
    leg = next(leg for leg in switch.agents.legs if isinstance(leg, UacLeg))
    [(ok, _)] = switch.receive(far_request(leg, "OPTIONS", cseq=2), HUMANS)
    assert ok.status == 200


def test_a_hold_after_the_bridge_is_answered_recvonly_and_the_relay_follows_it(switch):
    switch.answered_call()
    # (our answer as the caller has it: a second stream declined)
    switch.agents.calls["call-1@carrier"].sip.local_sdp = (
        b"v=0\r\no=softswitch 1 1 IN IP4 127.0.0.1\r\ns=softswitch\r\n"
                          b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 36000 RTP/AVP 0 101\r\n"
                          b"a=sendrecv\r\nm=video 0 RTP/AVP 96\r\n")
    [(out, _)] = switch.transfer(warm=False)
    answer_human(switch, out)
    held = CALLER_SDP.replace("m=video", "a=sendonly\nm=video").replace("o=- 1 1", "o=- 1 2")
    wire = held.replace("\n", "\r\n")
    reinvite = caller_request(switch.ok, "INVITE", 3).replace(
        "Content-Length: 0\n\n",
        f"Content-Type: application/sdp\nContent-Length: {len(wire)}\n\n{held}")
    [(reply_, peer)] = switch.receive(reinvite, CARRIER)
    assert reply_.status == 200 and peer == CARRIER
    answer = parse_sdp(reply_.body)
    assert answer.direction_of(answer.media[0]) == "recvonly"
    assert answer.media[1].port == 0  # the refused stream stays refused
    assert switch.media.commands[-1] == ("offer", MEDIA_ID, "caller", wire.encode())
