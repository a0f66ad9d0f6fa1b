"""Agent calls end to end: SIPp is the caller (a carrier's trunk, or a registered
phone), the switch answers as the UA and bridges the call over a real WebSocket to an
agent written here on the `websockets` library — another implementation than the
switch's wsproto client — speaking the Twilio Media Streams profile.

What crosses the wire is checked on both sides: the agent's messages (exactly the
profile's, in order, with their counters), the caller's audio as the agent decodes it
(a µ-law sweep made here, played by SIPp from a pcap, compared byte for byte), and the
RTP the switch sends the caller, caught by a UDP socket where SIPp's SDP points
(agents_support.MediaSink: SIPp 3.6 cannot record RTP; its play_pcap_audio sends from
the port the SDP names, which SIPp itself does not bind, so the switch latches to the
test's socket). Then the call records and a few /metrics samples.

Addresses: 127.0.0.1 the switch and the agent servers; 127.0.0.2 the carrier (a
trunk, known by its address); 127.0.0.3 the human agents' gateway (a SIPp UAS);
127.0.0.5 a registered phone.
"""

import asyncio
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from ws_agent_server import AgentServer

from agents_support import (
    SILENCE_FRAME,
    AgentRow,
    AgentScripts,
    caller_media,
    chirp_frames,
    closed_tcp_port,
    dominant_hz,
    find_in_order,
    seed_agents,
    write_audio_pcap,
    write_rtp_pcap,
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
from softswitch.edge.agent.demo import ECHO_AGENT, ensure_echo_number
from softswitch.store import agents as agent_store
from softswitch.store import migrate
from softswitch.store import numbers as number_store
from softswitch.store.database import Database



def sipp_test(function):
    """An end-to-end test with SIPp (missing SIPp: a failure in CI, a loud skip else)."""
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


NO_PROBES = 86400.0  # [trunks] probe_interval: no OPTIONS lands on the SIPp callee
CALLER = "+12125550123"
TENANT = {"tenant": "acme"}  # the talk agent's custom parameters
DTMF_PCAP = Path("/usr/share/sip-tester/dtmf_2833_5.pcap")  # shipped with SIPp

TALK_DID = "+14155550130"  # -> agent talk
BARGE_DID = "+14155550131"  # -> agent barge
KEYS_DID = "+14155550132"  # -> agent keys
GOODBYE_DID = "+14155550133"  # -> agent goodbye
LISTENER_DID = "+14155550134"  # -> agent listener
REFUSED_DID = "+14155550135"  # -> agent down (a closed port), then trunk humans
FORBIDDEN_DID = "+14155550136"  # -> agent forbidden (HTTP 403), then trunk humans
QUIET_DID = "+14155550137"  # -> agent quiet (listens)
ECHO_NUMBER = "+18005550100"  # [agents] echo_number: the built-in echo agent

CALLER_FRAMES = chirp_frames(75)  # 1.5 s, 300 -> 3000 Hz
AGENT_FRAMES = chirp_frames(50, 2500, 500, amplitude=6000)  # 1 s the agent says
ECHO_DELAY = 0.5  # the built-in echo agent's


# -- agents ------------------------------------------------------------------------------
async def talk(agent):
    """Says one second (in uneven chunks), then a mark."""
    await asyncio.sleep(0.2)
    await agent.media(b"".join(AGENT_FRAMES))
    await agent.mark("spoken")


async def barge(agent):
    """Starts three seconds of speech and a mark; the caller barges in after 0.6 s."""
    await agent.media(b"".join(chirp_frames(150, 800, 1600)), chunks=(1600,))
    await agent.mark("end-of-speech")
    await asyncio.sleep(0.6)
    await agent.clear()


async def goodbye(agent):
    """Says 0.4 s of goodbye and hangs up at once (the switch plays it first)."""
    await agent.media(b"".join(AGENT_FRAMES[:20]), chunks=(3200,))
    await agent.hangup("done")


SCRIPTS = {"/talk": talk, "/barge": barge, "/goodbye": goodbye}


@dataclass
class AgentLab:
    switch: CallSwitch
    scripts: AgentScripts
    forbidding: AgentServer
    humans_port: int


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    scripts.scripts.update(SCRIPTS)
    with AgentServer(scripts) as server, AgentServer(scripts, reject_status=403) as forbidding:
        switch = CallSwitch(tmp_path_factory.mktemp("agents"),
                            sip={"drain_timeout": 1.0}, database={"reload_interval": 0.5},
                            sections={"agents": {"connect_timeout": 2.0,
                                                 "echo_number": ECHO_NUMBER},
                                      "trunks": {"probe_interval": NO_PROBES}})
        switch.add_user("alice", "alice-pw")
        humans_port = free_udp_port(GATEWAY_A_IP)
        seed_routing(switch.db_url, Routing(trunks=[
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                     allowed_sources=(CARRIER_IP,), number_format="nanp"),
            TrunkRow("humans", (GatewayRow(GATEWAY_A_IP, humans_port),))]))

        def url(base, path):
            return f"ws://127.0.0.1:{base.port}{path}"

        seed_agents(switch.db_url, [
            AgentRow("talk", url(server, "/talk"), custom_parameters=TENANT),
            AgentRow("barge", url(server, "/barge")),
            AgentRow("keys", url(server, "/keys")),
            AgentRow("goodbye", url(server, "/goodbye")),
            AgentRow("listener", url(server, "/listener")),
            AgentRow("down", f"ws://127.0.0.1:{closed_tcp_port()}/agent"),
            AgentRow("forbidden", url(forbidding, "/forbidden")),
            AgentRow("quiet", url(server, "/quiet")),
        ], [
            (TALK_DID, (("agent", "talk"),)),
            (BARGE_DID, (("agent", "barge"),)),
            (KEYS_DID, (("agent", "keys"),)),
            (GOODBYE_DID, (("agent", "goodbye"),)),
            (LISTENER_DID, (("agent", "listener"),)),
            (REFUSED_DID, (("agent", "down"), ("trunk", "humans"))),
            (FORBIDDEN_DID, (("agent", "forbidden"), ("trunk", "humans"))),
            (QUIET_DID, (("agent", "quiet"),)),
        ])
        switch.start()
        try:
            yield AgentLab(switch, scripts, forbidding, humans_port)
        finally:
            switch.close()


@dataclass
class Call:
    result: object  # SippResult
    sink: object  # MediaSink
    call_id: str

    def answer_address(self) -> tuple[str, int]:
        """Where the switch's SDP answer says its media is."""
        ok = next(m for m in self.result.responses(200) if m.header("CSeq").endswith("INVITE"))
        return sdp_media(ok)


def place_call(lab: AgentLab, workdir: Path, did: str, *, caller_pcap: Path | None = None,
               frames: list[bytes] = CALLER_FRAMES, talk_ms: int = 1000,
               scenario: str = "agent_uac_talk.xml", ip: str = CARRIER_IP,
               auth: tuple[str, str] | None = None) -> Call:
    """One SIPp call to `did` playing `frames` (or a pcap); the switch's RTP to the
    caller is collected in the returned sink."""
    workdir.mkdir(parents=True, exist_ok=True)
    if caller_pcap is not None:
        shutil.copy(caller_pcap, workdir / "caller.pcap")
    else:
        write_audio_pcap(workdir / "caller.pcap", frames)
    base, sink = caller_media(ip)
    keys = {"dialled": did.removeprefix("+1"), "domain": lab.switch.domain, "caller": CALLER}
    if auth is not None:
        keys = {"dialled": did, "domain": lab.switch.domain, "user": auth[0]}
    try:
        result = run_call(lab.switch.sip_target, scenario, workdir, ip=ip, keys=keys,
                          timeout=15, auth=auth,
                          extra=("-d", talk_ms, "-mi", ip, "-mp", base))
        time.sleep(0.1)  # the last packets in flight
    finally:
        sink.close()
    assert result.ok, result.describe()
    return Call(result, sink, call_id_of(result))


def wait_closed(lab: AgentLab, path: str):
    """The one connection to `path`, once the switch has closed it."""
    def closed():
        call = lab.scripts.only_call(path)
        return call if call.closed_at is not None else None
    return wait_until(closed, 5.0, message=f"the agent connection {path} to close")


def sequence_numbers(call) -> list[int]:
    return [int(m["sequenceNumber"]) for m in call.events() if m["event"] != "connected"]


# -- one call both ways: what the agent gets, what the caller hears -------------------------
@pytest.fixture(scope="module")
def talked(lab, sipp, tmp_path_factory):
    """A carrier's caller plays 1.5 s of a sweep and stays 2.5 s; the agent says one
    second (in uneven chunks) and a mark."""
    call = place_call(lab, tmp_path_factory.mktemp("talk"), TALK_DID, talk_ms=2500)
    agent = wait_closed(lab, "/talk")
    return call, agent, wait_cdr(lab.switch, call.call_id)


@sipp_test
def test_the_agent_gets_connected_start_and_the_callers_audio_as_twilio_media(lab, talked):
    call, agent, record = talked
    assert statuses(call.result)[:3] == [100, 180, 200], call.result.describe()
    assert call.answer_address()[0] == "127.0.0.1"
    answer = call.result.responses(200)[0].text
    assert "RTP/AVP 0 101" in answer, answer  # PCMU chosen, telephone-event kept

    messages = agent.events()
    sid = agent.stream_sid
    assert messages[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert messages[1] == {
        "event": "start", "sequenceNumber": "1", "streamSid": sid,
        "start": {
            "accountSid": "ACsoftswitch", "streamSid": sid, "callSid": call.call_id,
            "tracks": ["inbound"],
            "customParameters": {"from": CALLER, "to": TALK_DID, "from_number": CALLER,
                                 "to_number": TALK_DID, "did": TALK_DID,
                                 "direction": "inbound", **TENANT},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    assert sid.startswith("MZ") and len(sid) == 34, sid
    assert sequence_numbers(agent) == list(range(1, len(messages))), \
        "every message after connected counts sequenceNumber up by one"
    media = agent.events("media")
    assert {m["media"]["track"] for m in media} == {"inbound"}
    assert {m["streamSid"] for m in media} == {sid}
    assert [int(m["media"]["chunk"]) for m in media] == list(range(1, len(media) + 1))
    stamps = [int(m["media"]["timestamp"]) for m in media]
    assert all(b - a == 20 for a, b in zip(stamps, stamps[1:])), stamps
    # 2.5 s answered, one 20 ms message per slot from the answer on
    assert 110 <= len(media) <= 140, len(media)
    assert messages[-1]["event"] == "stop", messages[-1]

    heard = agent.caller_audio()
    assert all(len(p) == 160 for p in heard)
    # Silence from the answer until the caller's first frame has been held (60 ms).
    lead = heard.index(CALLER_FRAMES[0])
    assert lead >= 3 and heard[:lead] == [SILENCE_FRAME] * lead, lead
    heard = heard[lead:]
    ours = [p for p in heard if p in set(CALLER_FRAMES)]
    assert ours == CALLER_FRAMES, (
        f"the caller's {len(CALLER_FRAMES)} frames arrive once each, in order "
        f"(got {len(ours)}); jitter stats {record['agent_stats']['jitter']}")
    after = heard[len(CALLER_FRAMES):]  # the caller went quiet: fades to silence
    assert after[2:] == [SILENCE_FRAME] * len(after[2:])
    middle = 37  # the sweep's middle frame: 300 + 2700 * 37.5 / 75 Hz
    assert abs(dominant_hz(heard[middle]) - 1650) < 150, dominant_hz(heard[middle])


@sipp_test
def test_the_agents_audio_reaches_the_caller_as_rtp_at_50_packets_a_second(lab, talked):
    call, agent, record = talked
    packets = call.sink.audio()
    assert packets, "no RTP from the switch"
    assert {p.source for p in packets} == {call.answer_address()}
    assert len({p.ssrc for p in packets}) == 1
    assert packets[0].marker
    seqs = [p.seq for p in packets]
    assert all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:])), "a gap in sequence"
    steps = [(b.timestamp - a.timestamp) % 2**32 for a, b in zip(packets, packets[1:])]
    assert all(s % 160 == 0 and s > 0 for s in steps)
    assert steps.count(160) >= 0.97 * len(steps), steps  # slots skipped only on a stall
    span = packets[-1].at - packets[0].at
    rate = (len(packets) - 1) / span
    assert 47 <= rate <= 53, f"{rate:.1f} packets/s over {span:.2f} s"
    gaps = [b.at - a.at for a, b in zip(packets, packets[1:])]
    assert max(gaps) < 0.1, f"a {max(gaps) * 1000:.0f} ms hole in the caller's audio"

    payloads = [p.payload for p in packets]
    assert all(len(p) == 160 for p in payloads)
    found = find_in_order(payloads, AGENT_FRAMES)
    assert all(at >= 0 for at in found), f"agent frames missing: {found}"
    assert found == sorted(found)
    # Paced: the agent's second (sent in a burst of uneven chunks) is heard over a second.
    first = next(i for i, p in enumerate(payloads) if AGENT_FRAMES[0][:80] in p)
    last = next(i for i, p in reversed(list(enumerate(payloads)))
                if AGENT_FRAMES[-1][-80:] in p)
    heard_for = packets[last].at - packets[first].at
    assert 0.9 <= heard_for <= 1.15, heard_for
    assert record["agent_stats"]["agent_frames_sent"] in (50, 51)


@sipp_test
def test_a_mark_is_acknowledged_only_once_the_audio_before_it_was_played(lab, talked):
    call, agent, record = talked
    [(sent_at, _)] = [(t, m) for t, m in agent.sent if m["event"] == "mark"]
    acked_at, ack = agent.first("mark")
    assert ack == {"event": "mark", "sequenceNumber": ack["sequenceNumber"],
                   "streamSid": agent.stream_sid, "mark": {"name": "spoken"}}
    assert acked_at - sent_at >= 0.9, "acknowledged before its second of audio was played"
    last_frame = max(p.at for p in call.sink.audio()
                     if AGENT_FRAMES[-1][-80:] in p.payload)
    assert -0.03 <= acked_at - last_frame <= 0.1, acked_at - last_frame
    stats = record["agent_stats"]
    assert (stats["marks_received"], stats["marks_played"]) == (1, 1)


@sipp_test
def test_the_call_record_names_the_agent_and_the_metrics_count_it(lab, talked):
    call, agent, record = talked
    assert (record["route_kind"], record["route_target"]) == ("agent", "talk"), record
    assert (record["agent"], record["profile"]) == ("talk", "twilio")
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye")
    assert (record["did"], record["caller"], record["final_code"]) == (TALK_DID, CALLER, 200)
    stats = record["agent_stats"]
    assert stats["caller_frames"] == len(agent.events("media"))
    assert stats["profile_errors"] == 0 and stats["late"] == 0, stats
    # Per-call latencies: every caller frame with a packet behind it, the jitter
    # buffer's hold included; the agent's chunks from arrival to their first RTP packet.
    caller_latency = stats["caller_audio_latency_ms"]
    assert caller_latency["count"] >= len(CALLER_FRAMES) - 2, caller_latency
    assert 0 < caller_latency["p50"] <= 250, caller_latency
    agent_latency = stats["agent_audio_latency_ms"]
    assert agent_latency["count"] >= 1 and agent_latency["max"] <= 1500, agent_latency
    assert 0.1 <= stats["first_agent_audio_s"] <= 1.5, stats
    switch = lab.switch
    assert switch.metric("softswitch_agent_frame_seconds_count") >= 100
    assert switch.metric("softswitch_agent_connect_seconds_count") >= 1
    assert switch.metric("softswitch_agent_caller_audio_latency_seconds_count") >= 70
    assert switch.metric("softswitch_agent_audio_latency_seconds_count") >= 1
    assert switch.metric("softswitch_agent_first_audio_seconds_count") >= 1
    assert switch.metric("softswitch_agent_marks_received_total") >= 1
    assert switch.metric("softswitch_agent_caller_frames_total") >= len(CALLER_FRAMES)


# -- barge-in, DTMF, hang-ups -------------------------------------------------------------
@sipp_test
def test_clear_drops_the_queued_audio_at_once_and_acknowledges_pending_marks(lab, tmp_path):
    call = place_call(lab, tmp_path, BARGE_DID, frames=CALLER_FRAMES[:25], talk_ms=2000)
    agent = wait_closed(lab, "/barge")
    [cleared_at] = [t for t, m in agent.sent if m["event"] == "clear"]
    [mark_sent_at] = [t for t, m in agent.sent if m["event"] == "mark"]
    acked_at, ack = agent.first("mark")
    assert ack["mark"] == {"name": "end-of-speech"}
    assert 0 <= acked_at - cleared_at < 0.15, "the pending mark is acknowledged on clear"
    assert acked_at - mark_sent_at < 1.0, "long before its three seconds would have played"

    packets = call.sink.audio()
    speech = [p for p in packets if p.payload != SILENCE_FRAME]
    assert speech, "the agent's speech was never heard"
    assert max(p.at for p in speech) < cleared_at + 0.1, "speech after the clear"
    assert 20 <= len(speech) <= 45, f"{len(speech)} frames of speech for 0.6 s before clear"
    after = [p for p in packets if p.at > cleared_at + 0.1]
    assert len(after) >= 40 and all(p.payload == SILENCE_FRAME for p in after)
    record = wait_cdr(lab.switch, call.call_id)
    stats = record["agent_stats"]
    assert stats["clears"] == 1 and stats["marks_played"] == 1, stats
    assert 2000 <= stats["cleared_ms"] <= 2700, stats


@sipp_test
def test_the_callers_rfc4733_digit_reaches_the_agent_as_a_dtmf_event(lab, tmp_path):
    assert DTMF_PCAP.exists(), f"{DTMF_PCAP} comes with SIPp (sip-tester)"
    call = place_call(lab, tmp_path, KEYS_DID, caller_pcap=DTMF_PCAP, talk_ms=1000)
    agent = wait_closed(lab, "/keys")
    [dtmf] = agent.events("dtmf")
    assert dtmf == {"event": "dtmf", "sequenceNumber": dtmf["sequenceNumber"],
                    "streamSid": agent.stream_sid,
                    "dtmf": {"track": "inbound_track", "digit": "5"}}
    assert sequence_numbers(agent) == list(range(1, len(agent.events())))
    assert wait_cdr(lab.switch, call.call_id)["agent_stats"]["dtmf_in"] == 1


@sipp_test
def test_the_agent_hangs_up_after_its_goodbye_is_played_and_the_caller_gets_bye(lab, tmp_path):
    call = place_call(lab, tmp_path, GOODBYE_DID, frames=CALLER_FRAMES[:10],
                      scenario="agent_uac_wait_bye.xml")
    [bye] = requests_received(call.result, "BYE")
    assert bye.header("Call-ID") == call.call_id
    agent = wait_closed(lab, "/goodbye")
    [(hangup_at, _)] = [(t, m) for t, m in agent.sent if m["event"] == "hangup"]
    stop_at, stop = agent.first("stop")
    assert agent.events()[-1] == stop
    assert stop["stop"]["callSid"] == call.call_id
    found = find_in_order([p.payload for p in call.sink.audio()], AGENT_FRAMES[:20])
    assert all(at >= 0 for at in found), "the goodbye was cut short"
    last_goodbye = max(p.at for p in call.sink.audio() if AGENT_FRAMES[19][-80:] in p.payload)
    assert stop_at >= last_goodbye - 0.03, "hung up before the goodbye was played"
    assert stop_at - hangup_at >= 0.35, stop_at - hangup_at
    assert agent.close_code == 1000
    record = wait_cdr(lab.switch, call.call_id)
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("agent", "done")


@sipp_test
def test_the_callers_bye_stops_the_agent_and_closes_its_socket(lab, tmp_path):
    call = place_call(lab, tmp_path, LISTENER_DID, frames=CALLER_FRAMES[:25], talk_ms=800)
    agent = wait_closed(lab, "/listener")
    stop_at, stop = agent.first("stop")
    assert agent.events()[-1] == stop, "nothing after stop"
    assert stop == {"event": "stop", "sequenceNumber": stop["sequenceNumber"],
                    "streamSid": agent.stream_sid,
                    "stop": {"accountSid": "ACsoftswitch", "callSid": call.call_id,
                             "reason": "bye"}}
    assert agent.close_code == 1000 and agent.closed_at - stop_at < 1.0
    record = wait_cdr(lab.switch, call.call_id)
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye")
    assert record["agent_stats"]["caller_frames"] > 0


@sipp_test
def test_a_caller_pausing_with_comfort_noise_gives_the_agent_steady_silence(lab, tmp_path):
    # A phone with silence suppression: 10 frames of speech, one RFC 3389 comfort noise
    # packet (PT 13, level 70 dBov), nothing for 1 s, then 10 more frames.
    first, second = CALLER_FRAMES[:10], CALLER_FRAMES[10:20]
    packets = [(k * 20, k + 1, k * 160, 0, frame, k == 0) for k, frame in enumerate(first)]
    packets.append((200, 11, 1600, 13, bytes([70]), False))
    packets += [(1200 + k * 20, 12 + k, 9600 + k * 160, 0, frame, k == 0)
                for k, frame in enumerate(second)]
    pcap = write_rtp_pcap(tmp_path / "cn.pcap", packets)
    call = place_call(lab, tmp_path / "call", QUIET_DID, caller_pcap=pcap, talk_ms=2000)
    agent = wait_closed(lab, "/quiet")
    media = agent.events("media")
    stamps = [int(m["media"]["timestamp"]) for m in media]
    assert stamps == list(range(0, 20 * len(media), 20)), "one frame per 20 ms from the answer"
    heard = agent.caller_audio()
    lead = heard.index(first[0])
    assert lead >= 3 and heard[:lead] == [SILENCE_FRAME] * lead, lead
    assert heard[lead:lead + 10] == first
    pause = heard[lead + 10:lead + 60]  # the CN packet's slot and the 49 after it
    assert pause == [SILENCE_FRAME] * 50, "comfort noise is silence, not faded speech"
    assert heard[lead + 60:lead + 70] == second, "the next talk-spurt on time"
    # This time no comfort noise: two faded repeats of the last frame, then silence.
    assert all(p == SILENCE_FRAME for p in heard[lead + 72:])
    stats = wait_cdr(lab.switch, call.call_id)["agent_stats"]
    assert (stats["comfort_noise_packets"], stats["caller_silence_frames"]) == (1, lead)
    assert stats["concealed"] == 0 and stats["rtp_ignored"] == 0


# -- an agent that cannot be reached: the route's next target -------------------------------
def failover_call(lab: AgentLab, workdir: Path, did: str):
    humans = SippAgent("call_uas_answer.xml", workdir, ip=GATEWAY_A_IP, port=lab.humans_port,
                       keys={"user": "human"}, timeout=10).wait_ready()
    try:
        caller = run_call(lab.switch.sip_target, "call_uac.xml", workdir, ip=CARRIER_IP,
                          keys={"dialled": did.removeprefix("+1"), "domain": lab.switch.domain,
                                "caller": CALLER}, timeout=10, extra=("-d", 300))
        callee = humans.finish()
    finally:
        humans.stop()
    assert caller.ok and callee.ok, caller.describe() + "\n" + callee.describe()
    assert requests_received(callee, "INVITE"), "the human was not called"
    record = wait_cdr(lab.switch, call_id_of(caller))
    assert (record["route_kind"], record["route_target"]) == ("trunk", "humans"), record
    assert record["final_code"] == 200
    return caller, record


def connect_failures(lab) -> float:
    return lab.switch.metric("softswitch_agent_socket_failures_total", stage="connect")


@sipp_test
def test_an_agent_that_refuses_the_connection_fails_over_to_the_next_target(lab, tmp_path):
    before = connect_failures(lab)
    started = time.monotonic()
    failover_call(lab, tmp_path, REFUSED_DID)
    assert time.monotonic() - started < 5, "failover waited for the connect timeout"
    assert connect_failures(lab) == before + 1


@sipp_test
def test_an_agent_answering_the_upgrade_with_403_fails_over_too(lab, tmp_path):
    before = connect_failures(lab)
    asked = len(lab.forbidding.requests)
    failover_call(lab, tmp_path, FORBIDDEN_DID)
    assert len(lab.forbidding.requests) == asked + 1, "the agent was asked once"
    assert lab.forbidding.requests[-1][":path"] == "/forbidden"
    assert connect_failures(lab) == before + 1
    assert lab.scripts.calls.get("/forbidden") is None  # never upgraded


# -- the echo demo number ---------------------------------------------------------------------
@sipp_test
def test_a_registered_phone_dialling_the_echo_number_hears_itself_half_a_second_later(
        lab, tmp_path):
    phone_port = free_udp_port(PHONE_IP)
    register_phone(lab.switch, tmp_path, "alice", "alice-pw", PHONE_IP, phone_port)
    frames = CALLER_FRAMES[:50]
    call = place_call(lab, tmp_path, ECHO_NUMBER, frames=frames, talk_ms=2000,
                      scenario="agent_uac_auth_talk.xml", ip=PHONE_IP,
                      auth=("alice", "alice-pw"))
    packets = call.sink.audio()
    payloads = [p.payload for p in packets]
    ours = [p for p in payloads if p in set(frames)]
    assert ours == frames, f"{len(ours)} of {len(frames)} frames came back, in order"
    first = payloads.index(frames[0])
    # The switch's RTP starts when it answers, the caller's pcap when it has the 200.
    delay = packets[first].at - packets[0].at
    assert ECHO_DELAY <= delay <= ECHO_DELAY + 0.4, f"echo after {delay:.3f} s"
    record = wait_cdr(lab.switch, call.call_id)
    assert (record["route_kind"], record["route_target"], record["agent"]) == \
        ("agent", ECHO_AGENT, ECHO_AGENT), record
    assert (record["direction"], record["did"]) == ("internal", ECHO_NUMBER)


def test_the_echo_number_is_made_once_and_an_operators_choices_are_kept(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrate.upgrade(url)
    database = Database(url, reactor=None)
    try:
        echo = "ws://127.0.0.1:8080/v1/echo-agent"
        assert "created" in database.run_sync(ensure_echo_number, "+10000000000", echo)
        database.run_sync(ensure_echo_number, "+10000000000", echo)
        rows = database.run_sync(number_store.list_numbers)
        assert [(r["number"], r["route"]) for r in rows] == [
            ("+10000000000", [{"type": "agent", "agent": ECHO_AGENT}])]
        # Made by an earlier version at /echo-agent (still served): left as it is.
        legacy = "ws://127.0.0.1:8080/echo-agent"
        database.run_sync(agent_store.update_agent, ECHO_AGENT, {"url": legacy})
        assert "moved" not in database.run_sync(ensure_echo_number, "+10000000000", echo)
        assert database.run_sync(agent_store.get_agent, ECHO_AGENT)["url"] == legacy
        # The admin listener moved: the agent follows it, to the /v1 path.
        moved = "ws://127.0.0.1:9090/v1/echo-agent"
        assert "moved" in database.run_sync(ensure_echo_number, "+10000000000", moved)
        assert database.run_sync(agent_store.get_agent, ECHO_AGENT)["url"] == moved
        # A number the operator routed elsewhere is kept as it is.
        database.run_sync(number_store.update_number, "+10000000000", {}, [])
        assert "kept" in database.run_sync(ensure_echo_number, "+10000000000", moved)
        assert database.run_sync(number_store.get_number, "+10000000000")["route"] == []
        # An agent named echo that is not the built-in one: nothing is touched.
        database.run_sync(agent_store.update_agent, ECHO_AGENT,
                          {"url": "wss://bots.example/echo", "profile": "raw"})
        assert "not set up" in database.run_sync(ensure_echo_number, "+19995550000", moved)
        assert database.run_sync(number_store.get_number, "+19995550000") is None
        assert database.run_sync(agent_store.get_agent, ECHO_AGENT)["url"] == \
            "wss://bots.example/echo"
    finally:
        database.engine.dispose()
