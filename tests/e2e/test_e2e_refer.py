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
    seed_agents,
    write_audio_pcap,
)
from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
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
CALLER_FRAMES = chirp_frames(60)
HUMAN_FRAMES = chirp_frames(40, 1800, 600, amplitude=7000)


async def refer(agent):
    await asyncio.sleep(0.3)
    await agent.send({"event": "transfer", "streamSid": agent.call.stream_sid,
                      "transfer": {"target": TARGET, "mode": "refer",
                                   "headers": {"User-to-User": "42;encoding=hex"}}})


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    scripts.scripts["/refer"] = refer
    with AgentServer(scripts) as server:
        switch = CallSwitch(tmp_path_factory.mktemp("refer"),
                            sip={"drain_timeout": 1.0}, database={"reload_interval": 0.5},
                            sections={"agents": {"connect_timeout": 2.0, "echo_number": ""},
                                      "trunks": {"probe_interval": NO_PROBES}})
        humans_port = free_udp_port(GATEWAY_A_IP)
        seed_routing(switch.db_url, Routing(
            trunks=[TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                             allowed_sources=(CARRIER_IP,), number_format="nanp"),
                    TrunkRow("humans", (GatewayRow(GATEWAY_A_IP, humans_port),))],
            outbound=[OutboundRow("1415", ("humans",))]))
        seed_agents(switch.db_url, [AgentRow("refer", f"ws://127.0.0.1:{server.port}/refer")],
                    [(REFER_DID, (("agent", "refer"),))])
        switch.start()
        try:
            yield switch, scripts, humans_port
        finally:
            switch.close()


def caller(switch, workdir, scenario, talk_ms=1500, **keys):
    workdir.mkdir(parents=True, exist_ok=True)
    write_audio_pcap(workdir / "caller.pcap", CALLER_FRAMES)
    base, sink = caller_media(CARRIER_IP)
    keys = {"dialled": REFER_DID.removeprefix("+1"), "domain": switch.domain,
            "caller": CALLER, **keys}
    try:
        return run_call(switch.sip_target, scenario, workdir, ip=CARRIER_IP, keys=keys,
                        timeout=15, extra=("-d", talk_ms, "-mi", CARRIER_IP, "-mp", base))
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
