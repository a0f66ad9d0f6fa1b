"""SDES-SRTP on the switch's own legs, end to end: outbound agent calls
(`POST /v1/calls`) through a trunk whose media_encryption is "sdes", a failover from a
plain trunk that answers 503 to an "sdes" one (outbound, and a call through the proxy
from an SRTP caller), and an "sdes" trunk answering plain RTP refused.

The far end is srtp_support.SrtpCallee (SIP by hand, its own libsrtp binding through
pylibsrtp): it answers the switch's SRTP offer with a key of its own, plays a second
of audio protected with it and unprotects what the switch sends with the key of the
switch's offer. The agent is a `websockets` server (Twilio profile) that says a
second once the call is answered. Checked: the offer each trunk gets (RTP/SAVP with
keys, or plain RTP/AVP), the far end's frames at the agent exactly, the agent's
frames at the far end in order, and not one packet that failed to authenticate.

The lab allows SDES over UDP ([media] allow_sdes_over_insecure): the far end speaks
UDP. Addresses: 127.0.0.1 the switch and the agent server, 127.0.0.4 the gateways."""

import asyncio
import time

import pytest
from ws_agent_server import AgentServer

from agents_support import AgentRow, AgentScripts, chirp_frames, find_in_order, seed_agents
from calls_support import (
    CARRIER_IP,
    GATEWAY_B_IP,
    CallSwitch,
    GatewayRow,
    NumberRow,
    OutboundRow,
    Routing,
    TrunkRow,
    free_udp_port,
    seed_routing,
)
from e2e_switch import wait_until
from far_end_support import AdminApi, create_api_token
from srtp_support import SrtpCallee, SrtpCaller

NO_PROBES = 86400.0
OURS = "+14155550100"
CALLEE = "+12025550150"  # the outbound route 1202: trunk "plain" (503), then "secure"
DID = "+14155550180"  # from the carrier: trunk "plain" (503), then "secure"
AGENT_FRAMES = chirp_frames(50, 2500, 500, amplitude=6000)  # 1 s the agent says
CALLEE_FRAMES = chirp_frames(50, 400, 2800, amplitude=7000)  # 1 s the far end says


async def dialer(agent):
    await asyncio.sleep(0.2)
    await agent.media(b"".join(AGENT_FRAMES))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    scripts.scripts.update({"/direct": dialer, "/failover": dialer, "/refused": dialer})
    with AgentServer(scripts) as server:
        switch = CallSwitch(tmp_path_factory.mktemp("srtp-outbound"),
                            sections={"media": {"allow_sdes_over_insecure": True},
                                      "agents": {"connect_timeout": 2.0, "echo_number": ""},
                                      "trunks": {"probe_interval": NO_PROBES}})
        plain_port, secure_port = free_udp_port(GATEWAY_B_IP), free_udp_port(GATEWAY_B_IP)
        seed_routing(switch.db_url, Routing(
            trunks=[TrunkRow("carrier", allowed_sources=(CARRIER_IP,)),
                    TrunkRow("plain", (GatewayRow(GATEWAY_B_IP, plain_port),)),
                    TrunkRow("secure", (GatewayRow(GATEWAY_B_IP, secure_port),),
                             media_encryption="sdes")],
            outbound=[OutboundRow("1202", ("plain", "secure"))],
            numbers=[NumberRow(DID, (("trunk", "plain"), ("trunk", "secure")))]))
        seed_agents(switch.db_url, [AgentRow(name, f"ws://127.0.0.1:{server.port}/{name}",
                                             caller_ids=(OURS,))
                                    for name in ("direct", "failover", "refused")], [])
        api = AdminApi(switch, create_api_token(switch.db_url))
        switch.start()
        try:
            yield switch, api, scripts, plain_port, secure_port
        finally:
            switch.close()


def offer_of(invite) -> str:
    return invite.text.replace("\r\n", "\n").split("\n\n", 1)[1]


def call_and_hear(api, scripts, agent: str, far: SrtpCallee, **extra) -> str:
    reply = api.post("/v1/calls", {"to": CALLEE, "from": OURS, "agent": agent, **extra})
    assert reply.status == 201, reply
    wait_until(lambda: len(far.payloads()) >= len(AGENT_FRAMES), 8.0,
               message="the agent's audio at the far end")
    time.sleep(0.8)  # the far end's second reaches the agent
    call = scripts.only_call(f"/{agent}")
    heard = [p for p in call.caller_audio() if p in set(CALLEE_FRAMES)]
    assert heard == CALLEE_FRAMES, f"{len(heard)} of {len(CALLEE_FRAMES)} far-end frames"
    found = find_in_order(far.payloads(), AGENT_FRAMES)
    assert all(at >= 0 for at in found), f"the agent's audio is missing: {found}"
    assert far.unprotect_failures == 0
    return reply.json["call_id"]


def test_an_outbound_call_through_an_sdes_trunk_is_srtp_both_ways(lab):
    switch, api, scripts, _, secure_port = lab
    far = SrtpCallee(GATEWAY_B_IP, secure_port, CALLEE_FRAMES)
    try:
        call_id = call_and_hear(api, scripts, "direct", far, trunk="secure")
        assert api.delete(f"/v1/calls/{call_id}").status == 204
    finally:
        far.close()
    offer = offer_of(far.invites[0])
    assert "m=audio" in offer and far.offer_proto == "RTP/SAVP", offer
    assert offer.count("a=crypto:") == 1 and far.offer_key != far.key
    record = api.cdr(call_id)
    stream = record["agent_stats"]["media"]["caller"]["streams"][0]  # the far end's side
    assert stream["srtp"] == "AES_CM_128_HMAC_SHA1_80" and stream["srtp_dropped"] == 0, record


def test_a_failover_from_a_plain_trunk_to_an_sdes_one_gets_an_srtp_offer(lab):
    switch, api, scripts, plain_port, secure_port = lab
    refusing = SrtpCallee(GATEWAY_B_IP, plain_port, [], answer="503")
    far = SrtpCallee(GATEWAY_B_IP, secure_port, CALLEE_FRAMES)
    try:
        call_id = call_and_hear(api, scripts, "failover", far)
        assert api.delete(f"/v1/calls/{call_id}").status == 204
    finally:
        far.close()
        refusing.close()
    plain_offer = offer_of(refusing.invites[0])
    assert "RTP/AVP" in plain_offer and "a=crypto" not in plain_offer, plain_offer
    assert far.offer_proto == "RTP/SAVP" and far.offer_key is not None
    # The same relay port in both offers: the offer was remade, not a new call.
    port = [line for line in plain_offer.splitlines() if line.startswith("m=")][0].split()[1]
    assert f"m=audio {port} RTP/SAVP" in offer_of(far.invites[0])
    record = api.cdr(call_id)
    assert (record["trunk"], record["attempts"]) == ("secure", 2), record


def test_a_proxied_call_failing_over_to_an_sdes_trunk_is_offered_srtp_there(lab):
    switch, api, scripts, plain_port, secure_port = lab
    refusing = SrtpCallee(GATEWAY_B_IP, plain_port, [], answer="503")
    far = SrtpCallee(GATEWAY_B_IP, secure_port, CALLEE_FRAMES)
    phone = SrtpCaller(CARRIER_IP, switch.sip_port)
    try:
        final = phone.invite(DID)
        assert final.status == 200, final.text
        sent = phone.play(AGENT_FRAMES)
        wait_until(lambda: sum(p in set(CALLEE_FRAMES) for p in phone.payloads())
                   >= len(CALLEE_FRAMES), 3.0, message="the far end's audio at the caller")
        assert phone.bye(DID).status == 200
    finally:
        phone.close()
        far.close()
        refusing.close()
    plain_offer = offer_of(refusing.invites[0])
    assert "RTP/AVP" in plain_offer and "a=crypto" not in plain_offer, plain_offer
    secure_offer = offer_of(far.invites[0])
    assert far.offer_proto == "RTP/SAVP" and far.offer_key not in (None, phone.key)
    port = [line for line in plain_offer.splitlines() if line.startswith("m=")][0].split()[1]
    assert f"m=audio {port} RTP/SAVP" in secure_offer, secure_offer
    assert [p for p in far.payloads() if p in set(AGENT_FRAMES)] == \
        [packet[12:] for packet in sent]
    assert [p for p in phone.payloads() if p in set(CALLEE_FRAMES)] == CALLEE_FRAMES
    assert far.unprotect_failures == 0 and phone.unprotect_failures == 0


def test_an_sdes_trunk_answering_plain_rtp_ends_the_outbound_call(lab):
    switch, api, scripts, _, secure_port = lab
    far = SrtpCallee(GATEWAY_B_IP, secure_port, CALLEE_FRAMES, answer="plain")
    try:
        reply = api.post("/v1/calls", {"to": CALLEE, "from": OURS, "agent": "refused",
                                       "trunk": "secure"})
        assert reply.status == 201, reply
        record = api.cdr(reply.json["call_id"])
    finally:
        far.close()
    assert far.offer_proto == "RTP/SAVP"
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("switch", "media"), \
        record
