"""The SDP and session SIP the field sends, on agent calls, end to end: SIPp is a
carrier's caller, the switch answers as the UA, the agent is a real WebSocket server
(Twilio profile). Hold and resume (RFC 3264 §6.1), delayed offer (an INVITE or
re-INVITE without SDP) and session timers (RFC 4028).

Proxied calls (a trunk route, media anchored) pass the same through: delayed offer
with the relay rewriting the offer in the 200 and the answer in the ACK, and session
timer headers and 422 unchanged.

Outbound calls (`POST /v1/calls`) negotiate session timers as UAC with SIPp gateways.

Addresses: 127.0.0.1 the switch and the agent server; 127.0.0.2 the carrier;
127.0.0.3 the "pbx" trunk's gateway (a SIPp callee); 127.0.0.4 the outbound trunks'
gateways (SIPp callees).
"""

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from ws_agent_server import AgentServer

from agents_support import AgentRow, AgentScripts, caller_media, chirp_frames, \
    seed_agents, write_audio_pcap
from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    GATEWAY_B_IP,
    SWITCH_IP,
    CallSwitch,
    SippAgent,
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
from e2e_switch import wait_until
from far_end_support import AdminApi, create_api_token


def sipp_test(function):
    """An end-to-end test with SIPp (missing SIPp: a failure in CI, a loud skip else)."""
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


NO_PROBES = 86400.0
CALLER = "+12125550123"
HOLD_DID = "+14155550140"  # -> agent holder
TIMER_DID = "+14155550141"  # -> agent timed
DELAYED_DID = "+14155550142"  # -> agent delayed
PBX_DID = "+14155550143"  # -> trunk pbx (proxied, media anchored)
SILENT_FAR = "+12025550150"  # outbound -> trunk far-silent
REFRESHED_FAR = "+12026660150"  # outbound -> trunk far-refreshed


@dataclass
class Lab:
    switch: CallSwitch
    scripts: AgentScripts
    pbx_port: int  # trunk "pbx": a SIPp callee on GATEWAY_A_IP
    far_ports: tuple[int, int]  # trunks "far-silent", "far-refreshed" on GATEWAY_B_IP
    api: AdminApi


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    with AgentServer(scripts) as server:
        switch = CallSwitch(tmp_path_factory.mktemp("session-sdp"),
                            sip={"drain_timeout": 1.0}, database={"reload_interval": 0.5},
                            sections={"agents": {"connect_timeout": 2.0},
                                      "trunks": {"probe_interval": NO_PROBES},
                                      # The timer callers send no RTP for 70 s.
                                      "media": {"inactivity_timeout": 300.0}})
        pbx_port = free_udp_port(GATEWAY_A_IP)
        far_ports = (free_udp_port(GATEWAY_B_IP), free_udp_port(GATEWAY_B_IP))
        seed_routing(switch.db_url, Routing(trunks=[
            # SIPp calls from ephemeral ports: the carrier is known by its address.
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),), allowed_sources=(CARRIER_IP,),
                     number_format="nanp"),
            TrunkRow("pbx", (GatewayRow(GATEWAY_A_IP, pbx_port),)),
            TrunkRow("far-silent", (GatewayRow(GATEWAY_B_IP, far_ports[0]),)),
            TrunkRow("far-refreshed", (GatewayRow(GATEWAY_B_IP, far_ports[1]),))],
            outbound=[OutboundRow(SILENT_FAR[:8], ("far-silent",)),
                      OutboundRow(REFRESHED_FAR[:8], ("far-refreshed",))]))
        seed_agents(switch.db_url, [
            AgentRow("holder", f"ws://127.0.0.1:{server.port}/holder"),
            AgentRow("timed", f"ws://127.0.0.1:{server.port}/timed"),
            AgentRow("delayed", f"ws://127.0.0.1:{server.port}/delayed"),
        ], [
            (HOLD_DID, (("agent", "holder"),)),
            (TIMER_DID, (("agent", "timed"),)),
            (DELAYED_DID, (("agent", "delayed"),)),
            (PBX_DID, (("trunk", "pbx"),)),
        ])
        switch.start()
        try:
            api = AdminApi(switch, create_api_token(switch.db_url))
            yield Lab(switch, scripts, pbx_port, far_ports, api)
        finally:
            switch.close()


def wait_closed(lab: Lab, path: str):
    def closed():
        call = lab.scripts.only_call(path)
        return call if call.closed_at is not None else None
    return wait_until(closed, 5.0, message=f"the agent connection {path} to close")


# -- hold and resume ------------------------------------------------------------------------
@sipp_test
def test_a_hold_is_answered_recvonly_the_agent_told_and_no_audio_sent_until_resume(
        lab, tmp_path):
    write_audio_pcap(tmp_path / "caller.pcap", chirp_frames(25))
    base, sink = caller_media(CARRIER_IP)
    keys = {"dialled": HOLD_DID.removeprefix("+1"), "domain": lab.switch.domain,
            "caller": CALLER}
    try:
        # -d: each re-INVITE (and the BYE) 800 ms after the last.
        result = run_call(lab.switch.sip_target, "agent_uac_hold.xml", tmp_path,
                          ip=CARRIER_IP, keys=keys, timeout=15,
                          extra=("-d", 800, "-mi", CARRIER_IP, "-mp", base))
        time.sleep(0.1)
    finally:
        sink.close()
    assert result.ok, result.describe()  # the 200s carried recvonly, inactive, sendrecv
    agent = wait_closed(lab, "/holder")
    kinds = [m["event"] for m in agent.events() if m["event"] != "media"]
    assert kinds == ["connected", "start", "hold", "resume", "stop"], kinds
    held_at, hold = agent.first("hold")
    resumed_at, resume = agent.first("resume")
    assert hold == {"event": "hold", "sequenceNumber": hold["sequenceNumber"],
                    "streamSid": agent.stream_sid}
    assert resume["streamSid"] == agent.stream_sid
    assert 1.4 <= resumed_at - held_at <= 2.0, resumed_at - held_at  # two -d pauses

    packets = sink.audio()
    before = [p for p in packets if p.at < held_at - 0.05]
    during = [p for p in packets if held_at + 0.05 < p.at < resumed_at - 0.05]
    after = [p for p in packets if p.at > resumed_at + 0.05]
    assert len(before) >= 20, len(before)
    assert during == [], f"{len(during)} packets sent to a caller on hold"
    assert len(after) >= 20, len(after)
    # The stream pauses and goes on without a gap in sequence numbers (the caller's
    # jitter buffer sees a pause, not a loss); the marker flags the timestamp jump.
    packets.sort(key=lambda p: p.at)
    gap = max(range(len(packets) - 1), key=lambda i: packets[i + 1].at - packets[i].at)
    paused, resumed = packets[gap], packets[gap + 1]
    assert resumed.at - paused.at >= 1.3, resumed.at - paused.at
    assert resumed.seq == (paused.seq + 1) & 0xFFFF and resumed.marker
    assert resumed.ssrc == paused.ssrc
    assert resumed.timestamp - paused.timestamp >= 8000 * 1.3  # media time went on

    record = wait_cdr(lab.switch, call_id_of(result))
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye")


# -- delayed offer --------------------------------------------------------------------------
@sipp_test
def test_an_invite_without_sdp_reaches_the_agent_with_our_offer_and_the_acks_answer(
        lab, tmp_path):
    frames = chirp_frames(25)
    write_audio_pcap(tmp_path / "caller.pcap", frames)
    base, sink = caller_media(CARRIER_IP)
    keys = {"dialled": DELAYED_DID.removeprefix("+1"), "domain": lab.switch.domain,
            "caller": CALLER}
    try:
        result = run_call(lab.switch.sip_target, "agent_uac_delayed_offer.xml", tmp_path,
                          ip=CARRIER_IP, keys=keys, timeout=15,
                          extra=("-d", 1000, "-mi", CARRIER_IP, "-mp", base))
        time.sleep(0.1)
    finally:
        sink.close()
    assert result.ok, result.describe()  # offers in both 200s
    agent = wait_closed(lab, "/delayed")
    kinds = [m["event"] for m in agent.events() if m["event"] != "media"]
    assert kinds == ["connected", "start", "hold", "stop"], kinds
    # The caller's audio reached the agent (the ACK's answer pointed the media at it),
    # and the switch's RTP reached the caller until the ACK of the re-INVITE held it.
    heard = agent.caller_audio()
    assert sum(1 for frame in heard if frame in frames) >= 20
    held_at, _ = agent.first("hold")
    packets = sink.audio()
    assert len([p for p in packets if p.at < held_at]) >= 40
    assert [p for p in packets if p.at > held_at + 0.05] == []
    record = wait_cdr(lab.switch, call_id_of(result))
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye")


# -- session timers (RFC 4028) ----------------------------------------------------------------
@sipp_test
def test_session_timers_refreshed_by_either_side_keep_calls_up_and_silent_ones_end(
        lab, tmp_path):
    """Five calls at once, each ~70 s (Session-Expires 90 s is the shortest RFC 4028
    allows). The switch as UAS (agent calls from a carrier): a caller that refreshes
    by UPDATE after 30 s, one that never refreshes (the switch's BYE comes 32 s before
    the 90 s are up), one without timer support refreshed by the switch's re-INVITE
    at 45 s. The switch as UAC (outbound calls): a gateway whose 200 makes the switch
    the refresher (its UPDATE comes at 45 s), and one that takes the role and goes
    silent."""
    keys = {"dialled": TIMER_DID.removeprefix("+1"), "domain": lab.switch.domain,
            "caller": CALLER}
    runs = {}
    placed = {}
    try:
        for scenario, port in (("call_uas_timer_silent.xml", lab.far_ports[0]),
                               ("call_uas_timer_refreshed.xml", lab.far_ports[1])):
            runs[scenario] = SippAgent(scenario, tmp_path, ip=GATEWAY_B_IP, port=port,
                                       keys={"user": "far"}, timeout=100,
                                       extra=("-d", 25000)).wait_ready()
        for scenario, to in (("call_uas_timer_silent.xml", SILENT_FAR),
                             ("call_uas_timer_refreshed.xml", REFRESHED_FAR)):
            reply = lab.api.post("/v1/calls", {"to": to, "from": TIMER_DID, "agent": "timed"})
            assert reply.status == 201, reply
            placed[scenario] = reply.json["call_id"]
        for scenario, pause_ms in (("agent_uac_timer_refresh.xml", 40000),
                                   ("agent_uac_timer_silent.xml", 0),
                                   ("agent_uac_timer_refreshed.xml", 25000)):
            base, sink = caller_media(CARRIER_IP)
            sink.close()  # (no RTP here: only free ports for SIPp)
            runs[scenario] = SippAgent(
                scenario, tmp_path, ip=CARRIER_IP, target=lab.switch.sip_target, keys=keys,
                timeout=100, extra=("-d", pause_ms, "-mi", CARRIER_IP, "-mp", base))
        results = {name: agent.finish() for name, agent in runs.items()}
    finally:
        for agent in runs.values():
            agent.stop()
    for result in results.values():
        assert result.ok, result.describe()

    refresh = wait_cdr(lab.switch, call_id_of(results["agent_uac_timer_refresh.xml"]))
    assert (refresh["disconnect_side"], refresh["disconnect_reason"]) == ("caller", "bye")
    assert refresh["end_at"] - refresh["answer_at"] >= 68

    silent = wait_cdr(lab.switch, call_id_of(results["agent_uac_timer_silent.xml"]))
    assert (silent["disconnect_side"], silent["disconnect_reason"]) == (
        "switch", "session-expired")
    assert 57 <= silent["end_at"] - silent["answer_at"] <= 62  # 90 - min(32, 90 / 3)

    ours = results["agent_uac_timer_refreshed.xml"]
    [reinvite] = requests_received(ours, "INVITE")
    assert reinvite.header("Session-Expires") == "90;refresher=uac"
    assert reinvite.header("Content-Type") == "application/sdp" and "m=audio" in reinvite.text
    refreshed = wait_cdr(lab.switch, call_id_of(ours))
    assert (refreshed["disconnect_side"], refreshed["disconnect_reason"]) == ("caller", "bye")
    assert refreshed["end_at"] - refreshed["answer_at"] >= 68

    # Outbound: the far end that let its role lapse got BYE with session-expired...
    gone = lab.api.cdr(placed["call_uas_timer_silent.xml"])
    assert (gone["disconnect_side"], gone["disconnect_reason"]) == ("callee", "session-expired")
    assert 57 <= answered_for(gone) <= 62
    # ...and the one the switch refreshed hung up itself after 70 s.
    [update] = requests_received(results["call_uas_timer_refreshed.xml"], "UPDATE")
    assert "timer" in update.header("Supported")
    kept = lab.api.cdr(placed["call_uas_timer_refreshed.xml"])
    assert (kept["disconnect_side"], kept["disconnect_reason"]) == ("callee", "bye")
    assert answered_for(kept) >= 68


# -- proxied calls ---------------------------------------------------------------------------
def proxied_call(lab: Lab, workdir: Path, caller_scenario: str, callee_scenario: str,
                 pause_ms: int = 300):
    callee = SippAgent(callee_scenario, workdir, ip=GATEWAY_A_IP, port=lab.pbx_port,
                       keys={"user": "pbx"}, timeout=15).wait_ready()
    try:
        caller = run_call(lab.switch.sip_target, caller_scenario, workdir, ip=CARRIER_IP,
                          keys={"dialled": PBX_DID.removeprefix("+1"),
                                "domain": lab.switch.domain, "caller": CALLER},
                          timeout=15, extra=("-d", pause_ms))
        answered = callee.finish()
    finally:
        callee.stop()
    assert caller.ok and answered.ok, caller.describe() + "\n" + answered.describe()
    return caller, answered


def connection_address(message) -> str:
    [line] = [l for l in message.text.splitlines() if l.strip().startswith("c=")]
    return line.split()[-1]


@sipp_test
def test_a_delayed_offer_passes_the_proxy_with_both_sdps_anchored_on_the_relay(lab, tmp_path):
    caller, callee = proxied_call(lab, tmp_path, "call_uac_delayed_offer.xml",
                                  "call_uas_delayed_offer.xml")
    invites = requests_received(callee, "INVITE")
    assert len(invites) == 2 and all("m=audio" not in m.text for m in invites)
    offers = [m for m in caller.responses(200) if m.header("CSeq").endswith("INVITE")]
    answers = requests_received(callee, "ACK")
    assert len(offers) == 2 and len(answers) == 2
    # The caller sees the relay, not the callee; the callee sees the relay, not the caller.
    assert [connection_address(m) for m in offers] == [SWITCH_IP, SWITCH_IP]
    assert [connection_address(m) for m in answers] == [SWITCH_IP, SWITCH_IP]
    record = wait_cdr(lab.switch, call_id_of(caller))
    assert (record["route_kind"], record["disconnect_reason"]) == ("trunk", "bye")


@sipp_test
def test_session_timer_headers_and_422_pass_the_proxy_unchanged(lab, tmp_path):
    caller, callee = proxied_call(lab, tmp_path, "call_uac_timer.xml", "call_uas_timer.xml")
    [refused] = caller.responses(422)
    assert refused.header("Min-SE") == "120"
    [first, second] = requests_received(callee, "INVITE")
    assert (first.header("Session-Expires"), first.header("Min-SE")) == ("90", "90")
    assert (second.header("Session-Expires"), second.header("Min-SE")) == ("120", "120")
    assert "timer" in second.header("Supported")
    [ok] = [m for m in caller.responses(200) if m.header("CSeq").endswith("INVITE")]
    assert ok.header("Session-Expires") == "120;refresher=uac"
    assert ok.header("Require") == "timer"
    [update] = requests_received(callee, "UPDATE")
    assert update.header("Session-Expires") == "120;refresher=uac"


def answered_for(record: dict) -> float:
    """Seconds from answer to end of a call record from the API (RFC 3339 times)."""
    end, answer = (datetime.fromisoformat(record[k]) for k in ("end_at", "answer_at"))
    return (end - answer).total_seconds()
