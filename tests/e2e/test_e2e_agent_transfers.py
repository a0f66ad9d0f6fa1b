"""Transfers to a human end to end: SIPp is a carrier's caller (playing a pcap of a
known sweep) whose call an agent answers — an agent on the `websockets` library
speaking the Twilio profile, which asks for a transfer with the profile's documented
extension ({"event": "transfer", "transfer": {"target", "warm"}}). The human is
another SIPp: the gateway of a trunk of humans, or a phone registered as a user.

What is checked on the wire: the human's INVITE carries the caller's offer as the
relay rewrites it (the relay's address, the caller's codec and telephone-event); no
re-INVITE reaches the caller; the caller's RTP reaches the human through the relay and
the human's reaches the caller (MediaSinks where each side's SDP points); the agent
gets its `stop` (at once for a cold transfer, once the human answers for a warm one)
and its socket is closed; while the human of a cold transfer rings, the caller hears
the agent's last words then the switch's ringback (or the human's early media, when
its 183 brings some), and the ringback stops on the answer; a BYE from either side ends both legs; the call record
names the transfer target. A warm transfer to a busy or silent human leaves the agent
on the call, told with the profile's `transfer-failed` event.

Addresses: 127.0.0.1 the switch and the agent server; 127.0.0.2 the carrier;
127.0.0.3 the humans' gateway; 127.0.0.5 a registered phone.
"""

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ws_agent_server import AgentServer

from agents_support import (
    AgentRow,
    AgentScripts,
    caller_media,
    chirp_frames,
    find_in_order,
    seed_agents,
    ulaw_decode,
    write_audio_pcap,
)
from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    PHONE_IP,
    CallSwitch,
    GatewayRow,
    Routing,
    SippAgent,
    TrunkRow,
    call_id_of,
    free_udp_port,
    register_phone,
    requests_received,
    run_call,
    sdp_media,
    seed_routing,
    statuses,
    wait_cdr,
)
from e2e_switch import wait_until
from far_end_support import MediaCallee, invite_of, sdp_body, wall, when
from softswitch.media.tones import cadence_frames


def sipp_test(function):
    """An end-to-end test with SIPp (missing SIPp: a failure in CI, a loud skip else)."""
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


NO_PROBES = 86400.0  # [trunks] probe_interval: no OPTIONS lands on the SIPp humans
TRANSFER_RING_TIMEOUT = 1.0  # [agents] transfer_ring_timeout: a silent human fails fast
CALLER = "+12125550124"
HUMAN_NUMBER = "+14155550199"

COLD_DID = "+14155550140"  # -> agent cold: cold transfer to trunk:humans (this DID)
WARM_DID = "+14155550141"  # -> agent warm: warm transfer to trunk:humans/HUMAN_NUMBER
BUSY_DID = "+14155550142"  # -> agent busy: warm transfer, the human answers 486
SILENT_DID = "+14155550143"  # -> agent silent: warm transfer, the human never answers
USER_DID = "+14155550144"  # -> agent to-bob: cold transfer to user:bob (a phone)
EARLY_DID = "+14155550145"  # -> agent cold-early: cold, the human's 183 has early media

CALLER_FRAMES = chirp_frames(100)  # 2 s the caller says, 300 -> 3000 Hz
AGENT_FRAMES = chirp_frames(50, 2500, 500, amplitude=6000)  # 1 s the agent says
HUMAN_FRAMES = chirp_frames(40, 1800, 600, amplitude=7000)  # 0.8 s the human says
EARLY_FRAMES = chirp_frames(35, 900, 1500, amplitude=5000)  # 0.7 s the human's carrier plays
RINGBACK = cadence_frames("us", "PCMU")  # [agents] transfer_ringback (default "us")
RING_TONE = set(RINGBACK[:100])  # its first burst (2 s), not the silence after


# -- agents ------------------------------------------------------------------------------
async def cold(agent):
    """Says 0.3 s, then asks for a cold transfer to the humans' trunk."""
    await asyncio.sleep(0.2)
    await agent.media(b"".join(AGENT_FRAMES[:15]))
    await agent.transfer("trunk:humans")


async def warm(agent):
    """Asks for a warm transfer and keeps talking while the human's phone rings."""
    await asyncio.sleep(0.2)
    await agent.transfer(f"trunk:humans/{HUMAN_NUMBER}", warm=True)
    await agent.media(b"".join(AGENT_FRAMES * 2), chunks=(1600,))


async def warm_refused(agent):
    """Asks for a warm transfer; once told it failed, says one second of apology."""
    await asyncio.sleep(0.2)
    await agent.transfer("trunk:humans", warm=True)
    await agent.wait_for("transfer-failed")
    await agent.media(b"".join(AGENT_FRAMES))


async def to_bob(agent):
    await asyncio.sleep(0.2)
    await agent.transfer("user:bob")


SCRIPTS = {"/cold": cold, "/warm": warm, "/busy": warm_refused, "/silent": warm_refused,
           "/to-bob": to_bob, "/cold-early": cold}


@dataclass
class Lab:
    switch: CallSwitch
    scripts: AgentScripts
    humans_port: int


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    scripts.scripts.update(SCRIPTS)
    with AgentServer(scripts) as server:
        switch = CallSwitch(tmp_path_factory.mktemp("transfers"),
                            sip={"drain_timeout": 1.0}, database={"reload_interval": 0.5},
                            sections={"agents": {"connect_timeout": 2.0, "echo_number": "",
                                                 "transfer_ring_timeout":
                                                     TRANSFER_RING_TIMEOUT},
                                      "trunks": {"probe_interval": NO_PROBES}})
        switch.add_user("bob", "bob-pw")
        humans_port = free_udp_port(GATEWAY_A_IP)
        seed_routing(switch.db_url, Routing(trunks=[
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                     allowed_sources=(CARRIER_IP,), number_format="nanp"),
            TrunkRow("humans", (GatewayRow(GATEWAY_A_IP, humans_port),))]))
        url = f"ws://127.0.0.1:{server.port}"
        seed_agents(switch.db_url, [
            AgentRow("cold", f"{url}/cold"), AgentRow("warm", f"{url}/warm"),
            AgentRow("busy", f"{url}/busy"), AgentRow("silent", f"{url}/silent"),
            AgentRow("to-bob", f"{url}/to-bob"), AgentRow("cold-early", f"{url}/cold-early"),
        ], [
            (COLD_DID, (("agent", "cold"),)), (WARM_DID, (("agent", "warm"),)),
            (BUSY_DID, (("agent", "busy"),)), (SILENT_DID, (("agent", "silent"),)),
            (USER_DID, (("agent", "to-bob"),)), (EARLY_DID, (("agent", "cold-early"),)),
        ])
        switch.start()
        try:
            yield Lab(switch, scripts, humans_port)
        finally:
            switch.close()


@dataclass
class Call:
    result: object  # the caller's SippResult
    sink: object  # MediaSink: the switch's RTP to the caller
    call_id: str

    def answer_address(self) -> tuple[str, int]:
        ok = next(m for m in self.result.responses(200) if m.header("CSeq").endswith("INVITE"))
        return sdp_media(ok)


def call_with_human(lab: Lab, workdir: Path, did: str, human, *, talk_ms: int = 2500,
                    scenario: str = "agent_uac_talk.xml"):
    """The carrier's caller plays CALLER_FRAMES to `did` while `human` (a MediaCallee or
    a SippAgent, already listening) takes the transfer; (Call, the human's result)."""
    workdir.mkdir(parents=True, exist_ok=True)
    write_audio_pcap(workdir / "caller.pcap", CALLER_FRAMES)
    base, sink = caller_media(CARRIER_IP)
    keys = {"dialled": did.removeprefix("+1"), "domain": lab.switch.domain, "caller": CALLER}
    try:
        result = run_call(lab.switch.sip_target, scenario, workdir, ip=CARRIER_IP, keys=keys,
                          timeout=15, extra=("-d", talk_ms, "-mi", CARRIER_IP, "-mp", base))
        time.sleep(0.1)  # the last packets in flight
        callee = human.finish()
    except BaseException:
        human.stop()
        raise
    finally:
        sink.close()
    assert result.ok, result.describe()
    assert callee.ok, callee.describe()
    return Call(result, sink, call_id_of(result)), callee


def humans(lab: Lab, workdir: Path, **options) -> MediaCallee:
    return MediaCallee(workdir / "human", ip=GATEWAY_A_IP, port=lab.humans_port,
                       frames=HUMAN_FRAMES, **options)


def wait_closed(lab: Lab, path: str):
    def closed():
        call = lab.scripts.only_call(path)
        return call if call.closed_at is not None else None
    return wait_until(closed, 5.0, message=f"the agent connection {path} to close")


def answered_at(callee) -> float:
    """When the human sent its 200 to the INVITE (SIPp's clock: wall time)."""
    return when(callee, lambda m: m.direction == "sent" and m.is_response
                and m.status == 200 and m.header("CSeq").endswith("INVITE"))


def invited_at(callee) -> float:
    return when(callee, lambda m: m.direction == "received" and m.method == "INVITE")


def contiguous_caller_frames(payloads: list[bytes]) -> list[bytes]:
    """The caller's frames among `payloads`, checked to be one unbroken run of
    CALLER_FRAMES in order (the relay forwards, it does not re-frame)."""
    ours = [p for p in payloads if p in set(CALLER_FRAMES)]
    assert ours, "none of the caller's frames"
    start = CALLER_FRAMES.index(ours[0])
    assert ours == CALLER_FRAMES[start:start + len(ours)], "frames lost or out of order"
    return ours


def assert_bridged_media(call: Call, human: MediaCallee, callee) -> None:
    """The caller's RTP reaches the human from the relay's address of the human's
    INVITE, up to the caller's last frame; the human's whole pcap reaches the caller
    from the address the caller was answered with."""
    relay = sdp_media(invite_of(callee))
    packets = human.sink.audio()
    assert packets, "no RTP reached the human"
    assert {p.source for p in packets} == {relay}, (relay, {p.source for p in packets})
    heard = contiguous_caller_frames([p.payload for p in packets])
    assert heard[-1] == CALLER_FRAMES[-1] and len(heard) >= 40, len(heard)
    to_caller = call.sink.audio()
    assert {p.source for p in to_caller} == {call.answer_address()}
    found = find_in_order([p.payload for p in to_caller], HUMAN_FRAMES)
    assert all(at >= 0 for at in found), f"the human's frames missing: {found}"


def peaks_hz(payloads: list[bytes], count: int) -> list[float]:
    """The `count` strongest frequencies of µ-law audio (decoded here, not by the
    switch's tables), 1 Hz apart at most."""
    samples = np.array([s for p in payloads for s in ulaw_decode(p)], dtype=float)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), 8000))
    peaks = []
    for _ in range(count):
        peak = int(np.argmax(spectrum))
        peaks.append(float(peak))  # (8000 points at 8 kHz: bin k is k Hz)
        spectrum[max(0, peak - 15):peak + 15] = 0
    return sorted(peaks)


def assert_ringback_while_the_human_rang(call: Call, callee) -> None:
    """Between the agent's last frame and the human's first, the caller got our
    ringback (440 + 480 Hz from the cadence's start, paced), within the human's
    ringing; after the answer, none."""
    to_caller = call.sink.audio()
    payloads = [p.payload for p in to_caller]
    last_word = payloads.index(AGENT_FRAMES[14])
    answered = payloads.index(HUMAN_FRAMES[0])
    ringing = to_caller[last_word + 1:answered]
    assert [p.payload for p in ringing] == list(RINGBACK[:len(ringing)]), "not our ringback"
    assert len(ringing) >= 10, f"{len(ringing)} frames of ringback"
    assert peaks_hz([p.payload for p in ringing], 2) == pytest.approx([440, 480], abs=2)
    assert invited_at(callee) - 0.05 <= wall(ringing[0].at)
    assert wall(ringing[-1].at) <= answered_at(callee) + 0.1
    assert not set(payloads[answered:]) & RING_TONE, "ringback after the answer"


# -- cold: the agent leaves, the human is dialled, the caller's media moves over ------------
@sipp_test
def test_a_cold_transfer_bridges_the_caller_to_a_human_on_a_trunk(lab, tmp_path):
    human = humans(lab, tmp_path, ring_ms=700)  # longer than what the agent has queued
    call, callee = call_with_human(lab, tmp_path, COLD_DID, human)
    assert statuses(call.result)[:3] == [100, 180, 200], call.result.describe()
    assert requests_received(call.result, "INVITE") == [], "a re-INVITE reached the caller"

    invite = invite_of(callee)
    assert invite.first_line == f"INVITE sip:{COLD_DID}@{GATEWAY_A_IP}:{lab.humans_port} " \
                                "SIP/2.0", invite.text
    # Through a trunk the agent presents its own number, the DID routed to it, not the
    # caller's (services.caller_id: docs/caller-id.md).
    assert f"sip:{COLD_DID}@" in invite.header("From"), invite.text
    assert invite.header("P-Asserted-Identity") == f"<sip:{COLD_DID}@{lab.switch.domain}>", \
        invite.text
    relay = sdp_media(invite)
    assert relay[0] == "127.0.0.1" and relay != call.answer_address(), invite.text
    assert "o=carrier 53655765 " in sdp_body(invite), "the caller's own offer, re-addressed"
    [m_line] = [line for line in sdp_body(invite).split("\n") if line.startswith("m=")]
    assert m_line.split()[3:] == ["0", "101"], invite.text  # the caller's PCMU + events
    assert_bridged_media(call, human, callee)
    # What the agent had queued was played while the human's phone rang.
    found = find_in_order([p.payload for p in call.sink.audio()], AGENT_FRAMES[:15])
    assert all(at >= 0 for at in found), f"the agent's last words were cut: {found}"
    assert_ringback_while_the_human_rang(call, callee)  # then ringback, until the answer

    agent = wait_closed(lab, "/cold")
    stop_at, stop = agent.first("stop")
    assert agent.events()[-1] == stop, "nothing after stop"
    assert stop["stop"] == {"accountSid": "ACsoftswitch", "callSid": call.call_id,
                            "reason": "transfer"}
    assert agent.close_code == 1000
    assert wall(stop_at) <= invited_at(callee) + 0.05, "cold: the agent goes before dialling"

    [bye] = requests_received(callee, "BYE")  # the caller's BYE reached the human
    assert bye.header("Call-ID") == invite.header("Call-ID") != call.call_id
    record = wait_cdr(lab.switch, call.call_id)
    assert (record["route_kind"], record["route_target"], record["agent"]) == (
        "agent", "cold", "cold"), record
    assert record["transfer_target"] == "trunk:humans"
    assert (record["final_code"], record["disconnect_side"], record["disconnect_reason"]) == (
        200, "caller", "bye"), record


@sipp_test
def test_a_cold_transfer_plays_the_humans_early_media_instead_of_ringback(lab, tmp_path):
    (tmp_path / "human").mkdir()
    write_audio_pcap(tmp_path / "human" / "early.pcap", EARLY_FRAMES, ssrc=0xEA71E001)
    human = humans(lab, tmp_path, ring_ms=800, scenario="media_uas_early_media.xml")
    call, callee = call_with_human(lab, tmp_path, EARLY_DID, human)
    assert [m.status for m in callee.sent() if m.is_response][:2] == [183, 200]
    payloads = [p.payload for p in call.sink.audio()]
    # The agent's last words are not cut: the relay takes the early media after them.
    said = [payloads.index(frame) for frame in AGENT_FRAMES[:15]]
    assert said == sorted(said), "the agent's last words were cut"
    early = [payloads.index(f) for f in EARLY_FRAMES if f in payloads]
    assert len(early) >= 10 and early == sorted(early) and early[0] > said[-1], early
    # Our ringback made way within a slot of the early media's first packet: a frame
    # or two of it at most, none once the early media flows.
    window = payloads[early[0]:early[-1] + 1]
    slipped = [i for i, p in enumerate(window) if p not in EARLY_FRAMES]
    assert all(i < 3 and window[i] in RING_TONE for i in slipped), slipped
    rang = [i for i, p in enumerate(payloads) if p in RING_TONE]
    assert len(rang) <= 3 and all(i < early[2] for i in rang), (rang, early[:3])
    assert_bridged_media(call, human, callee)
    assert wait_closed(lab, "/cold-early").first("stop")[1]["stop"]["reason"] == "transfer"
    record = wait_cdr(lab.switch, call.call_id)
    assert record["transfer_target"] == "trunk:humans"


# -- warm: the agent stays until the human answers ----------------------------------------
@sipp_test
def test_a_warm_transfer_keeps_the_agent_until_the_human_answers(lab, tmp_path):
    human = humans(lab, tmp_path, ring_ms=700, talk_ms=1200)  # (under TRANSFER_RING_TIMEOUT)
    call, callee = call_with_human(lab, tmp_path, WARM_DID, human,
                                   scenario="agent_uac_wait_bye.xml")
    assert requests_received(call.result, "INVITE") == [], "a re-INVITE reached the caller"
    invite = invite_of(callee)
    assert invite.first_line.startswith(f"INVITE sip:{HUMAN_NUMBER}@{GATEWAY_A_IP}:")

    agent = wait_closed(lab, "/warm")
    [(asked_at, _)] = [(t, m) for t, m in agent.sent if m["event"] == "transfer"]
    answered = answered_at(callee)
    assert answered - wall(asked_at) >= 0.65, "the human rang for 0.7 s"
    stop_at, stop = agent.first("stop")
    assert stop["stop"]["reason"] == "transfer"
    assert answered - 0.05 <= wall(stop_at) <= answered + 0.5, (
        f"stop {wall(stop_at) - answered:+.3f} s from the human's answer")
    ringing = [t for t, m in agent.received if m["event"] == "media"
               and wall(asked_at) + 0.1 < wall(t) < answered - 0.1]
    assert len(ringing) >= 20, "the agent kept hearing the caller while the human rang"
    # The caller heard the agent while the human rang, then the human.
    to_caller = [p.payload for p in call.sink.audio()]
    assert all(at >= 0 for at in find_in_order(to_caller, AGENT_FRAMES[:25]))
    assert_bridged_media(call, human, callee)

    # The human hung up: the caller got a BYE from the switch.
    [bye] = requests_received(call.result, "BYE")
    assert bye.header("Call-ID") == call.call_id
    record = wait_cdr(lab.switch, call.call_id)
    assert record["transfer_target"] == f"trunk:humans/{HUMAN_NUMBER}"
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("callee", "bye"), record


# -- a warm transfer that fails: the agent stays on and is told -----------------------------
def assert_agent_stayed_on(lab: Lab, call: Call, path: str, code: int, reason: str):
    agent = wait_closed(lab, path)
    failed_at, failed = agent.first("transfer-failed")
    assert failed == {"event": "transfer-failed", "sequenceNumber": failed["sequenceNumber"],
                      "streamSid": agent.stream_sid,
                      "transfer": {"target": "trunk:humans", "code": code, "reason": reason}}
    numbers = [int(m["sequenceNumber"]) for m in agent.events() if m["event"] != "connected"]
    assert numbers == list(range(1, len(numbers) + 1))
    later = [t for t, m in agent.received if m["event"] == "media" and t > failed_at + 0.1]
    assert len(later) >= 25, "the caller's audio still reaches the agent"
    # The agent's apology, said once it was told, reached the caller.
    found = find_in_order([p.payload for p in call.sink.audio()], AGENT_FRAMES)
    assert all(at >= 0 for at in found), found
    stop = agent.events()[-1]
    assert (stop["event"], stop["stop"]["reason"]) == ("stop", "bye")
    record = wait_cdr(lab.switch, call.call_id)
    assert record["transfer_target"] is None, record
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye")
    return agent, failed_at


@sipp_test
def test_a_busy_human_leaves_the_caller_with_the_agent_which_is_told(lab, tmp_path):
    human = SippAgent("call_uas_486.xml", tmp_path / "human", ip=GATEWAY_A_IP,
                      port=lab.humans_port, timeout=10).wait_ready()
    call, callee = call_with_human(lab, tmp_path, BUSY_DID, human, talk_ms=2500)
    assert [m.method for m in callee.received() if not m.is_response] == ["INVITE", "ACK"]
    assert requests_received(call.result, "INVITE") == []
    assert_agent_stayed_on(lab, call, "/busy", 486, "busy")


@sipp_test
def test_a_human_who_does_not_answer_in_transfer_ring_timeout_is_cancelled(lab, tmp_path):
    human = SippAgent("call_uas_ring.xml", tmp_path / "human", ip=GATEWAY_A_IP,
                      port=lab.humans_port, keys={"user": "human"}, timeout=10).wait_ready()
    call, callee = call_with_human(lab, tmp_path, SILENT_DID, human, talk_ms=3000)
    assert [m.method for m in callee.received() if not m.is_response] == [
        "INVITE", "CANCEL", "ACK"]
    agent, failed_at = assert_agent_stayed_on(lab, call, "/silent", 408, "no-answer")
    rang_for = wall(failed_at) - invited_at(callee)
    assert TRANSFER_RING_TIMEOUT - 0.05 <= rang_for <= TRANSFER_RING_TIMEOUT + 0.5, rang_for


# -- to a registered user ----------------------------------------------------------------------
@sipp_test
def test_a_transfer_to_a_user_rings_the_phone_it_registered(lab, tmp_path):
    phone_port = free_udp_port(PHONE_IP)
    register_phone(lab.switch, tmp_path, "bob", "bob-pw", PHONE_IP, phone_port)
    phone = MediaCallee(tmp_path / "phone", ip=PHONE_IP, port=phone_port,
                        frames=HUMAN_FRAMES, ring_ms=100, user="bob")
    call, callee = call_with_human(lab, tmp_path, USER_DID, phone, talk_ms=2500)
    invite = invite_of(callee)
    assert invite.first_line == f"INVITE sip:bob@{PHONE_IP}:{phone_port} SIP/2.0", invite.text
    assert requests_received(call.result, "INVITE") == []
    assert_bridged_media(call, phone, callee)
    assert requests_received(callee, "BYE")
    agent = wait_closed(lab, "/to-bob")
    assert agent.events()[-1]["stop"]["reason"] == "transfer"
    record = wait_cdr(lab.switch, call.call_id)
    assert record["transfer_target"] == "user:bob"
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye")
