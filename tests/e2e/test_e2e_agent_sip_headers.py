"""SIP headers to and from an agent end to end (agent.sip_headers): a SIPp carrier's
INVITE carries X-Customer-Id and User-to-User; a Twilio-profile agent on the
`websockets` library, configured with those names in `sip_headers`, finds them in its
start message's customParameters; it hangs up with {"X-Outcome": "sale"} on the BYE
the caller gets, or transfers with {"X-Intent": "billing"} on the INVITE a SIPp human
gets.

Addresses: 127.0.0.1 the switch and the agent server; 127.0.0.2 the carrier;
127.0.0.3 the humans' gateway.
"""

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from ws_agent_server import AgentServer

from agents_support import (
    AgentRow,
    AgentScripts,
    caller_media,
    chirp_frames,
    seed_agents,
    write_audio_pcap,
)
from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    CallSwitch,
    GatewayRow,
    Routing,
    SippAgent,
    TrunkRow,
    free_udp_port,
    requests_received,
    run_call,
    seed_routing,
)
from e2e_switch import wait_until

pytestmark = [pytest.mark.sipp, pytest.mark.usefixtures("sipp")]

NO_PROBES = 86400.0
CALLER = "+12125550123"
HANGUP_DID = "+14155550161"  # -> agent "outcome": hangs up with X-Outcome
TRANSFER_DID = "+14155550162"  # -> agent "intent": transfers with X-Intent
HUMAN_NUMBER = "+14155550199"
ASKED = ("X-Customer-Id", "User-to-User")
CALLER_FRAMES = chirp_frames(50)


async def outcome(agent):
    await asyncio.sleep(0.2)
    await agent.send({"event": "hangup", "streamSid": agent.call.stream_sid,
                      "hangup": {"reason": "done", "headers": {"X-Outcome": "sale"}}})


async def intent(agent):
    await asyncio.sleep(0.2)
    await agent.send({"event": "transfer", "streamSid": agent.call.stream_sid,
                      "transfer": {"target": f"trunk:humans/{HUMAN_NUMBER}",
                                   "headers": {"X-Intent": "billing",
                                               "User-to-User": "00ff;encoding=hex"}}})


@dataclass
class Lab:
    switch: CallSwitch
    scripts: AgentScripts
    humans_port: int


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    scripts.scripts.update({"/outcome": outcome, "/intent": intent})
    with AgentServer(scripts) as server:
        switch = CallSwitch(tmp_path_factory.mktemp("agent-headers"),
                            sip={"drain_timeout": 1.0}, database={"reload_interval": 0.5},
                            sections={"agents": {"connect_timeout": 2.0, "echo_number": ""},
                                      "trunks": {"probe_interval": NO_PROBES}})
        humans_port = free_udp_port(GATEWAY_A_IP)
        seed_routing(switch.db_url, Routing(trunks=[
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                     allowed_sources=(CARRIER_IP,), number_format="nanp"),
            TrunkRow("humans", (GatewayRow(GATEWAY_A_IP, humans_port),))]))
        url = f"ws://127.0.0.1:{server.port}"
        seed_agents(switch.db_url, [
            AgentRow("outcome", f"{url}/outcome", sip_headers=ASKED),
            AgentRow("intent", f"{url}/intent", sip_headers=ASKED),
        ], [(HANGUP_DID, (("agent", "outcome"),)), (TRANSFER_DID, (("agent", "intent"),))])
        switch.start()
        try:
            yield Lab(switch, scripts, humans_port)
        finally:
            switch.close()


def place(lab: Lab, workdir: Path, did: str, scenario: str, talk_ms: int = 300):
    workdir.mkdir(parents=True, exist_ok=True)
    write_audio_pcap(workdir / "caller.pcap", CALLER_FRAMES)
    base, sink = caller_media(CARRIER_IP)
    keys = {"dialled": did.removeprefix("+1"), "domain": lab.switch.domain, "caller": CALLER}
    try:
        return run_call(lab.switch.sip_target, scenario, workdir, ip=CARRIER_IP, keys=keys,
                        timeout=15, extra=("-d", talk_ms, "-mi", CARRIER_IP, "-mp", base))
    finally:
        sink.close()


def start_parameters(lab: Lab, path: str) -> dict:
    call = wait_until(lambda: lab.scripts.calls.get(path, [None])[0], 5.0,
                      message=f"the agent {path} to be called")
    start = wait_until(lambda: next((m for _, m in call.received
                                     if m.get("event") == "start"), None), 5.0,
                       message="the start message")
    return start["start"]["customParameters"]


def test_the_invites_headers_reach_the_agent_and_its_hangup_headers_reach_the_caller(
        lab, tmp_path):
    result = place(lab, tmp_path, HANGUP_DID, "agent_uac_headers.xml")
    assert result.ok, result.describe()
    parameters = start_parameters(lab, "/outcome")
    assert parameters["X-Customer-Id"] == "cust-4711", parameters
    assert parameters["User-to-User"] == "56a390f3d2b7310023a2;encoding=hex;purpose=call"
    assert "X-Ignored" not in parameters and parameters["from"] == CALLER, parameters
    [bye] = requests_received(result, "BYE")
    assert bye.header("X-Outcome") == "sale", bye.text


def test_the_agents_transfer_headers_reach_the_humans_invite(lab, tmp_path):
    human = SippAgent("call_uas_answer.xml", tmp_path / "human", ip=GATEWAY_A_IP,
                      port=lab.humans_port, keys={"user": "human"}, extra=("-d", "300"),
                      timeout=15.0)
    try:
        human.wait_ready()
        caller = place(lab, tmp_path, TRANSFER_DID, "agent_uac_talk.xml", talk_ms=2000)
        callee = human.finish()
    except BaseException:
        human.stop()
        raise
    assert caller.ok, caller.describe()
    assert callee.ok, callee.describe()
    [invite] = requests_received(callee, "INVITE")
    assert invite.header("X-Intent") == "billing", invite.text
    assert invite.header("User-to-User") == "00ff;encoding=hex", invite.text
