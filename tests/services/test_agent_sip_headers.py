"""SIP headers between the caller's INVITE and an agent (agent.sip_headers) in the
agent call service: the headers an agent names reach its session's call info, and
the headers it sets on hang-up go out on the BYE."""

from memory_proxy import ProxyHarness, invite
from twisted.internet.defer import Deferred, succeed

from softswitch.services.agent_calls import AgentCalls
from softswitch.services.routing import Agent, Gateway, Number, RoutingSnapshot, Target, Trunk
from softswitch.sip.transport import Peer

TRUSTED = Peer("udp", "198.51.100.7", 5060)
UNTRUSTED = Peer("udp", "198.51.100.8", 5060)
SDP = ("v=0\no=- 1 1 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\n"
       "m=audio 20000 RTP/AVP 0\n")
HEADERS = ("X-Customer-Id: 42\nUser-to-User: 00ff;encoding=hex\n"
           "P-Asserted-Identity: <sip:+12125550123@carrier.example>\n")


class Session:
    answer_sdp = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 40000 RTP/AVP 0\r\n"
    media_id = "call-1@carrier;agent"
    bye_headers = ()

    def begin(self, on_end, on_transfer):
        self.on_end = on_end

    def stop(self, reason):
        return succeed({})


class Sessions:
    def __init__(self):
        self.pending = []

    def open(self, call_id, agent, info, offer_sdp):
        d = Deferred()
        self.pending.append((info, d))
        return d


def harness():
    trunks = [Trunk("carrier", (Gateway("carrier", TRUSTED.host, 5060, "udp", None, 1, 10),)),
              Trunk("grey", (Gateway("grey", UNTRUSTED.host, 5060, "udp", None, 1, 10),),
                    trust_identity=False)]
    agent = Agent("bot", "ws://127.0.0.1:9/", "raw", 16000,
                  sip_headers=("X-Customer-Id", "User-to-User", "P-Asserted-Identity"))
    sessions = Sessions()
    switch = ProxyHarness(
        RoutingSnapshot(trunks=trunks, agents=[agent],
                        numbers=[Number("+14155550100", (Target("agent", "bot"),))]),
        agents=lambda h: AgentCalls(h.endpoint, h.clock, sessions,
                                    on_call_end=h.records.append, **h.shared))
    switch.sessions = sessions
    return switch


def test_the_headers_the_agent_names_reach_its_call_info_identity_only_if_trusted():
    switch = harness()
    switch.receive(invite("sip:+14155550100@127.0.0.1", extra=HEADERS, body=SDP), TRUSTED)
    [(info, _)] = switch.sessions.pending
    assert info["sip_headers"] == {
        "X-Customer-Id": "42", "User-to-User": "00ff;encoding=hex",
        "P-Asserted-Identity": "<sip:+12125550123@carrier.example>"}
    switch = harness()
    switch.receive(invite("sip:+14155550100@127.0.0.1", via_host=UNTRUSTED.host,
                          extra=HEADERS, body=SDP), UNTRUSTED)
    [(info, _)] = switch.sessions.pending
    assert info["sip_headers"] == {"X-Customer-Id": "42", "User-to-User": "00ff;encoding=hex"}


def test_the_headers_the_agent_set_on_its_hang_up_go_on_the_bye():
    switch = harness()
    switch.receive(invite("sip:+14155550100@127.0.0.1", body=SDP), TRUSTED)
    session = Session()
    switch.sessions.pending[0][1].callback(session)
    switch.wire.take()
    session.bye_headers = (("X-Outcome", "sale"), ("User-to-User", "01;encoding=hex"))
    session.on_end("done")
    [(bye, peer)] = switch.wire.take()
    assert bye.method == "BYE" and peer == TRUSTED
    assert bye.headers.get("X-Outcome") == "sale"
    assert bye.headers.get("User-to-User") == "01;encoding=hex"
