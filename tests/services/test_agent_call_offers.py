"""An agent route refuses an offer it cannot take before opening anything: hostile
bytes in the SDP give 400, an offer without G.711 gives 488, never 503 (issue 12)."""

import pytest
from memory_proxy import ProxyHarness, invite
from test_agent_calls import CARRIER, FakeSessions

from softswitch.services.agent_calls import AgentCalls
from softswitch.services.routing import Agent, Number, RoutingSnapshot, Target, Trunk, Gateway


@pytest.fixture
def switch():
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    sessions = FakeSessions()
    harness = ProxyHarness(RoutingSnapshot(
        trunks=[carrier], agents=[Agent("support-bot", "ws://127.0.0.1:9/", "twilio", 8000)],
        numbers=[Number("+14155550100", (Target("agent", "support-bot"),))]),
        agents=lambda h: AgentCalls(h.endpoint, h.clock, sessions,
                                    on_call_end=h.records.append, connect_timeout=5.0))
    harness.sessions = sessions
    return harness


def send(switch, sdp: bytes):
    text = invite("sip:4155550100@127.0.0.1", body="")
    head = text.replace("\n", "\r\n").encode().replace(b"Content-Length: 0", b"Content-Length: %d"
                                                       % len(sdp))
    switch.endpoint.message_received(head + sdp, CARRIER)
    return [m for m, _ in switch.wire.take()]


SDP = (b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
       b"m=audio 20000 RTP/AVP 0 101\r\n")


@pytest.mark.parametrize("m_line", [
    b"m=audio 20000 RTP/AVP\xff 0 101\r\n",  # reached the answer and raised: 503
    b"m=audio 20000 RTP/AVP 0 101\xff\r\n",
    b"m=au\xffdio 20000 RTP/AVP 0\r\n",
    b"m=audio 20000 RTP/AVP 0\r\nm=image 0 udptl t38\xfe\r\n",
])
def test_non_utf8_bytes_in_an_m_line_are_answered_400_without_opening_the_agent(switch, m_line):
    sdp = SDP.replace(b"m=audio 20000 RTP/AVP 0 101\r\n", m_line)
    answers = send(switch, sdp)
    assert [m.status for m in answers][-1] == 400
    assert answers[-1].headers.get("Warning").startswith('399 softswitch "SDP line ')
    assert switch.sessions.pending == []
    assert len(switch.proxy) == 0


def test_an_offer_without_a_codec_we_take_is_488_with_warning_305(switch):
    answers = send(switch, SDP.replace(b"RTP/AVP 0 101", b"RTP/AVP 18"))  # G.729 only
    assert answers[-1].status == 488
    assert answers[-1].headers.get("Warning").startswith("305 ")
    assert switch.sessions.pending == []
