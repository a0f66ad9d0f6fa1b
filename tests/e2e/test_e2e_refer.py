"""Transfers by SIP REFER end to end: SIPp is a carrier's caller whose call an agent
answers — an agent on the `websockets` library speaking the Twilio profile, which
asks for a transfer with `"mode": "refer"`.

- The carrier accepts (refer_uac_accept.xml): the switch's REFER (Refer-To the target
  at the carrier, Referred-By our number) is answered 202, the carrier's NOTIFYs
  (sipfrag 100 Trying, then 200 OK, subscription terminated) each get 200, and the
  switch then ends its legs: BYE to the caller, `stop` to the agent; the call record
  names the target, with disconnect_reason "refer".
- The carrier refuses (refer_uac_refuse_405.xml, _603.xml): the switch falls back to
  dialling the target itself and bridging: the humans' gateway (another SIPp) gets
  the INVITE and the caller's RTP through the relay.

Addresses: 127.0.0.1 the switch and the agent server; 127.0.0.2 the carrier;
127.0.0.3 the humans' gateway.
"""

import asyncio
import re
import time

import pytest
from ws_agent_server import AgentServer

from agents_support import (
    AgentRow,
    AgentScripts,
    caller_media,
    chirp_frames,
    find_in_order,
    seed_agents,
    write_audio_pcap,
)
from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    GATEWAY_B_IP,
    CallSwitch,
    GatewayRow,
    OutboundRow,
    Routing,
    TrunkRow,
    call_id_of,
    free_udp_port,
    requests_received,
    run_call,
    seed_routing,
    wait_cdr,
)
from far_end_support import MediaCallee, invite_of


def sipp_test(function):
    """An end-to-end test with SIPp (missing SIPp: a failure in CI, a loud skip else)."""
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


NO_PROBES = 86400.0
CALLER = "+12125550124"
TARGET = "+14155550199"
REFER_DID = "+14155550150"  # -> agent refer: transfer to TARGET by REFER
PBX_DID = "+14155550151"  # -> agent talker, called by the PBX (its trunk: allow_refer)
TALKER_DID = "+14155550152"  # -> agent talker, called by the carrier (no allow_refer)
AGENT_FRAMES = chirp_frames(200, 2500, 500, amplitude=6000)  # 4 s the agent says
CALLER_FRAMES = chirp_frames(60)
HUMAN_FRAMES = chirp_frames(40, 1800, 600, amplitude=7000)


async def refer(agent):
    await asyncio.sleep(0.3)
    await agent.send({"event": "transfer", "streamSid": agent.call.stream_sid,
                      "transfer": {"target": TARGET, "mode": "refer",
                                   "headers": {"User-to-User": "42;encoding=hex"}}})


async def talker(agent):
    """Says four seconds at once (paced out by the switch), then listens."""
    await asyncio.sleep(0.1)
    await agent.media(b"".join(AGENT_FRAMES), chunks=(1600,))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    scripts.scripts["/refer"] = refer
    scripts.scripts["/talker"] = talker
    with AgentServer(scripts) as server:
        switch = CallSwitch(tmp_path_factory.mktemp("refer"),
                            sip={"drain_timeout": 1.0}, database={"reload_interval": 0.5},
                            sections={"agents": {"connect_timeout": 2.0, "echo_number": ""},
                                      "trunks": {"probe_interval": NO_PROBES}})
        humans_port = free_udp_port(GATEWAY_A_IP)
        seed_routing(switch.db_url, Routing(
            trunks=[TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                             allowed_sources=(CARRIER_IP,), number_format="nanp"),
                    TrunkRow("humans", (GatewayRow(GATEWAY_A_IP, humans_port),)),
                    TrunkRow("pbx", (), allowed_sources=(GATEWAY_B_IP,), number_format="nanp",
                             allow_refer=True)],
            outbound=[OutboundRow("1415", ("humans",))]))
        url = f"ws://127.0.0.1:{server.port}"
        seed_agents(switch.db_url, [AgentRow("refer", f"{url}/refer"),
                                    AgentRow("talker", f"{url}/talker")],
                    [(REFER_DID, (("agent", "refer"),)), (PBX_DID, (("agent", "talker"),)),
                     (TALKER_DID, (("agent", "talker"),))])
        switch.start()
        try:
            yield switch, scripts, humans_port
        finally:
            switch.close()


def caller(switch, workdir, scenario, talk_ms=1500, did=REFER_DID, ip=CARRIER_IP, **keys):
    workdir.mkdir(parents=True, exist_ok=True)
    write_audio_pcap(workdir / "caller.pcap", CALLER_FRAMES)
    base, sink = caller_media(ip)
    keys = {"dialled": did.removeprefix("+1"), "domain": switch.domain,
            "caller": CALLER, **keys}
    try:
        return run_call(switch.sip_target, scenario, workdir, ip=ip, keys=keys,
                        timeout=15, extra=("-d", talk_ms, "-mi", ip, "-mp", base))
    finally:
        sink.close()


@sipp_test
def test_refer_accepted_then_the_switch_leaves(lab, tmp_path):
    switch, scripts, _ = lab
    scripts.calls.pop("/refer", None)
    result = caller(switch, tmp_path / "caller", "refer_uac_accept.xml")
    assert result.ok, result.describe()
    [refer] = requests_received(result, "REFER")
    # The target at the caller's carrier (its Contact), the agent's header embedded.
    assert re.fullmatch(rf"<sip:\{TARGET}@{CARRIER_IP}:\d+\?User-to-User=42%3Bencoding%3Dhex>",
                        refer.header("Refer-To")), refer.header("Refer-To")
    assert refer.header("Referred-By").startswith(f"<sip:{REFER_DID}@")
    [bye] = requests_received(result, "BYE")  # after the NOTIFY 200 OK
    record = wait_cdr(switch, call_id_of(result))
    assert record["transfer_target"] == TARGET
    assert record["disconnect_reason"] == "refer"
    agent = scripts.only_call("/refer")
    assert agent.first("stop") is not None


@sipp_test
@pytest.mark.parametrize("refusal", [405, 603])
def test_refer_refused_falls_back_to_bridging(lab, tmp_path, refusal):
    switch, scripts, humans_port = lab
    scripts.calls.pop("/refer", None)
    human = MediaCallee(tmp_path / "human", ip=GATEWAY_A_IP, port=humans_port,
                        frames=HUMAN_FRAMES)
    try:
        result = caller(switch, tmp_path / "caller", f"refer_uac_refuse_{refusal}.xml",
                        talk_ms=2500)
        time.sleep(0.1)
        callee = human.finish()
    except BaseException:
        human.stop()
        raise
    assert result.ok, result.describe()
    assert callee.ok, callee.describe()
    assert len(requests_received(result, "REFER")) == 1
    assert invite_of(callee).first_line.startswith(f"INVITE sip:{TARGET}@")
    assert human.sink.audio(), "no RTP reached the human through the relay"
    record = wait_cdr(switch, call_id_of(result))
    assert record["transfer_target"] == TARGET


@sipp_test
def test_refer_from_a_pbx_replaces_it_with_the_target(lab, tmp_path):
    """The PBX's REFER: 202, NOTIFY 100/180/200, BYE to the PBX; the target (the humans'
    gateway, dialled through the outbound route) hears the agent and the agent hears
    the target."""
    switch, scripts, humans_port = lab
    scripts.calls.pop("/talker", None)
    human = MediaCallee(tmp_path / "human", ip=GATEWAY_A_IP, port=humans_port,
                        frames=HUMAN_FRAMES, talk_ms=2000)
    try:
        result = caller(switch, tmp_path / "pbx", "refer_uas_pbx.xml", did=PBX_DID,
                        ip=GATEWAY_B_IP, target=TARGET)
        callee = human.finish()
    except BaseException:
        human.stop()
        raise
    assert result.ok, result.describe()
    assert callee.ok, callee.describe()
    notifies = requests_received(result, "NOTIFY")
    assert [n.text.replace("\r\n", "\n").split("\n\n", 1)[1].strip() for n in notifies] == [
        "SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK"]
    assert notifies[-1].header("Subscription-State").startswith("terminated")
    assert all(n.header("Event") == "refer" for n in notifies)
    invite = invite_of(callee)
    assert invite.first_line.startswith(f"INVITE sip:{TARGET}@{GATEWAY_A_IP}")
    # Audio both ways between the agent and the target, through the relay.
    heard = [p.payload for p in human.sink.audio()]
    assert heard, "no RTP reached the target"
    agent = scripts.only_call("/talker")
    # The target's whole pcap, in order, after what the PBX had said.
    assert min(find_in_order(agent.caller_audio(), CALLER_FRAMES + HUMAN_FRAMES)) >= 0
    # The agent's later words (it spoke 4 s from the start) reach the target.
    assert min(find_in_order(heard, AGENT_FRAMES[150:160])) >= 0
    record = wait_cdr(switch, call_id_of(result))
    assert record["transfer_target"] == TARGET


@sipp_test
def test_refer_from_a_trunk_without_allow_refer_is_refused(lab, tmp_path):
    switch, scripts, _ = lab
    scripts.calls.pop("/talker", None)
    result = caller(switch, tmp_path / "caller", "refer_uas_refused.xml", did=TALKER_DID,
                    talk_ms=500, target=TARGET)
    assert result.ok, result.describe()  # 403, then the call went on to the caller's BYE
    record = wait_cdr(switch, call_id_of(result))
    assert record["transfer_target"] is None
    assert record["disconnect_side"] == "caller"
