"""Answering-machine detection on an outbound call's packets (agent.amd_watch) and the
bridge's gated start: options from the API, media time from RTP timestamps, what the
agent is told and when a waiting agent starts."""

import json
from dataclasses import replace

import numpy as np
import pytest

from softswitch.agent.amd_watch import AmdOptions, AmdWatch, reported
from softswitch.agent.bridge import MAX_GATED_SLOTS, AgentBridge
from softswitch.agent.events import AmdReported, CallInfo
from softswitch.agent.profiles import make_profile
from softswitch.media.amd import AmdDecided, AmdParams, MachineEnded
from softswitch.media.g711 import SILENCE_ULAW, alaw_encode, ulaw_encode

INFO = CallInfo("CA1", "MZ1", "AC1", "+14155550100", "+12025550150", direction="outbound")


def speech_frames(seconds: float, law=ulaw_encode) -> list[bytes]:
    t = np.arange(int(seconds * 8000)) / 8000
    pitch = 2 * np.pi * np.cumsum(130 + 25 * np.sin(2 * np.pi * 0.8 * t)) / 8000
    voice = sum(np.sin(k * pitch) / k for k in range(1, 12))
    pcm = (3000 * voice * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2)).astype(np.int16)
    coded = law(pcm)
    return [coded[i:i + 160] for i in range(0, len(coded) // 160 * 160, 160)]


def feed(watch, frames, ts0=1000, pt=0, skip=()):
    events = []
    for k, frame in enumerate(frames):
        if k not in skip:
            events += watch.rtp(pt, (ts0 + 160 * k) & 0xFFFFFFFF, frame)
    return events


# -- options ------------------------------------------------------------------------------
def test_options_from_the_api_with_defaults_and_twilio_like_thresholds():
    assert AmdOptions.from_request({}) == AmdOptions()
    options = AmdOptions.from_request({"mode": "wait", "machine_action": "hangup",
                                       "detect_end": False, "timeout": 12.5,
                                       "speech_threshold": 3000, "max_words": 8})
    assert (options.mode, options.machine_action, options.detect_end) == ("wait", "hangup",
                                                                          False)
    assert options.params == AmdParams(timeout=12.5, speech_threshold=3000, max_words=8)
    assert options.to_dict()["speech_threshold"] == 3000


@pytest.mark.parametrize("body, field", [
    ({"mode": "later"}, "amd.mode"), ({"machine_action": "voicemail"}, "amd.machine_action"),
    ({"detect_end": 1}, "amd.detect_end"), ({"timeout": 0.5}, "amd.timeout"),
    ({"speech_threshold": 2400.5}, "amd.speech_threshold"),
    ({"silence_timeout": True}, "amd.silence_timeout"), ({"beep": 1}, "amd.beep"),
    ({"max_words": 1}, "amd.max_words")])
def test_bad_options_name_their_field(body, field):
    with pytest.raises(ValueError) as caught:
        AmdOptions.from_request(body)
    assert str(caught.value).startswith(field + ":")


def test_when_a_waiting_agent_starts_and_when_a_machine_hangs_up():
    human, unknown = AmdDecided("human", 2000, "end-silence"), AmdDecided("unknown", 5000,
                                                                          "silence")
    machine, end = AmdDecided("machine", 2900, "long-greeting"), MachineEnded(7000, "beep")
    default = AmdOptions(mode="wait")
    assert [default.releases(e) for e in (human, unknown, machine, end)] == [
        True, True, False, True]
    at_once = AmdOptions(mode="wait", detect_end=False)
    assert [at_once.releases(e) for e in (machine, end)] == [True, False]
    hangup = AmdOptions(mode="wait", machine_action="hangup")
    assert [hangup.releases(e) for e in (human, machine, end)] == [True, False, False]
    assert [hangup.hangs_up(e) for e in (human, machine, end)] == [False, True, False]
    assert not default.hangs_up(machine)


def test_reported_in_twilios_answered_by_words():
    assert reported(AmdDecided("machine", 2900, "words")) == AmdReported(
        "machine", "machine_start", 2900, "words")
    assert reported(AmdDecided("human", 2000, "end-silence")).answered_by == "human"
    assert [reported(MachineEnded(1, cause)).answered_by for cause in
            ("beep", "silence", "timeout")] == ["machine_end_beep", "machine_end_silence",
                                                "machine_end_other"]


# -- the watch ----------------------------------------------------------------------------
@pytest.mark.parametrize("law, pt", [(ulaw_encode, 0), (alaw_encode, 8)])
def test_a_short_answer_on_either_law_is_a_human_in_media_time(law, pt):
    frames = [law(np.zeros(160, np.int16))] * 20 + speech_frames(0.6, law) \
        + [law(np.zeros(160, np.int16))] * 80
    events = feed(AmdWatch(AmdOptions()), frames, ts0=0xFFFFF000, pt=pt)  # (wraps)
    assert events == [AmdDecided("human", 400 + 600 + 1200, "end-silence")]


def test_lost_packets_are_silence_and_late_or_repeated_ones_are_dropped():
    watch = AmdWatch(AmdOptions())
    frames = [SILENCE_ULAW] * 10 + speech_frames(0.6) + [SILENCE_ULAW] * 80
    # every silent frame after the speech lost: the gap is filled in media time
    events = feed(watch, frames, skip=set(range(41, 89)))
    assert events == [AmdDecided("human", 200 + 600 + 1200, "end-silence")]
    watch = AmdWatch(AmdOptions())
    feed(watch, [SILENCE_ULAW] * 5)
    assert watch.rtp(0, 1000 + 160 * 2, speech_frames(0.1)[0]) == []  # late
    assert watch.rtp(0, 1000 - 160, SILENCE_ULAW) == []  # before the first
    assert watch.detector.speech_ms == 0


def test_a_new_timestamp_base_either_way_goes_on_without_a_gap():
    for jump in (8000 * 3600, -8000 * 3600):
        watch = AmdWatch(AmdOptions())
        feed(watch, [SILENCE_ULAW] * 10 + speech_frames(0.3))
        events = feed(watch, speech_frames(0.3) + [SILENCE_ULAW] * 70,
                      ts0=(1000 + 160 * 25 + jump) & 0xFFFFFFFF)
        assert events == [AmdDecided("human", 200 + 600 + 1200, "end-silence")], jump


def test_other_payloads_are_not_for_the_detector():
    watch = AmdWatch(AmdOptions())
    assert watch.rtp(101, 1000, b"\x01\x0a\x00\xa0") == []
    assert watch.rtp(13, 1000, b"\x40") == []
    assert watch.rtp(0, 1000, SILENCE_ULAW[:80]) == []
    assert watch.detector.speech_ms == 0 and watch._last_ts is None


def test_a_stream_that_stops_expires_at_the_timeout():
    watch = AmdWatch(AmdOptions(params=AmdParams(timeout=8.0)))
    feed(watch, [SILENCE_ULAW] * 10)
    assert watch.expire() == [AmdDecided("unknown", 8000, "timeout")]
    assert watch.done and feed(watch, speech_frames(3.0)) == []


# -- the gated start ----------------------------------------------------------------------
def bridge(profile="twilio"):
    return AgentBridge(make_profile(profile), INFO, codec="PCMU", rtp_event_pt=101, now=10.0)


def test_a_gated_start_holds_the_callers_audio_until_release_then_sends_it_in_order():
    b = bridge()
    assert b.start(10.0, gated=True).ws == () and b.gated
    for k in range(5):
        b.rtp_received(0, 100 + k, 8000 + 160 * k, False, bytes([0x10 + k]) * 160,
                       10.0 + 0.02 * k)
    b.info_dtmf("7", 10.05)
    out = b.tick(10.0 + 0.02 * 10)
    assert out.ws == () and out.rtp  # the caller hears the call's silence meanwhile
    told = AmdReported("human", "human", 2200, "end-silence")
    assert b.report(told, 10.2).ws == ()
    released = b.release(_with_answer(INFO), (), 10.21)
    messages = [json.loads(m) for m in released.ws]
    assert [m["event"] for m in messages[:2]] == ["connected", "start"]
    assert messages[1]["start"]["customParameters"]["AnsweredBy"] == "human"
    events = [m["event"] for m in messages[2:]]
    assert events.count("media") == 11 and events[-1] == "amd" and "dtmf" in events
    sequence = [int(m["sequenceNumber"]) for m in messages[1:]]
    assert sequence == list(range(1, len(sequence) + 1))
    stamps = [int(m["media"]["timestamp"]) for m in messages if m["event"] == "media"]
    assert stamps == list(range(0, 220, 20))  # the media times they were heard at
    assert messages[-1]["amd"] == {"answeredBy": "human", "result": "human",
                                   "decisionMs": 2200, "reason": "end-silence"}
    assert not b.gated
    later = b.tick(10.0 + 0.02 * 11)
    assert [json.loads(m)["event"] for m in later.ws] == ["media"]


def _with_answer(info):
    return replace(info, answered_by="human")


def test_the_held_audio_is_bounded():
    b = bridge("raw")
    b.start(10.0, gated=True)
    for k in range(0, MAX_GATED_SLOTS + 100, 50):
        b.tick(10.0 + 0.02 * (k + 50))
    out = b.release(_with_answer(INFO), (), 20.0)
    start = json.loads(out.ws[0])
    assert start["call"]["answered_by"] == "human"
    assert len([f for f in out.ws if isinstance(f, bytes)]) == MAX_GATED_SLOTS


def test_reports_to_a_started_agent_go_at_once_in_each_profile():
    event = AmdReported("machine_end", "machine_end_beep", 7260, "beep")
    b = bridge("raw")
    b.start(10.0)
    [frame] = b.report(event, 10.5).ws
    assert json.loads(frame) == {"event": "amd", "result": "machine_end",
                                 "answered_by": "machine_end_beep", "at_ms": 7260,
                                 "reason": "beep"}
    b = AgentBridge(make_profile("openai-realtime"), INFO, codec="PCMU", now=10.0)
    b.start(10.0)
    item, response = (json.loads(f) for f in b.report(event, 10.5).ws)
    assert item["type"] == "conversation.item.create" and item["item"]["role"] == "system"
    assert "leave your message now" in item["item"]["content"][0]["text"]
    assert response == {"type": "response.create"}
    human = b.report(AmdReported("human", "human", 2000, "end-silence"), 10.6).ws
    assert len(human) == 1 and "a person answered" in human[0]


def test_nothing_is_reported_before_the_start_nor_released_without_a_gate():
    b = bridge()
    assert b.report(AmdReported("human", "human", 1, "x"), 10.0).ws == ()
    b.start(10.0)
    assert b.release(INFO, (), 10.1).ws == ()


def test_a_gated_agent_stopped_before_release_is_told_nothing():
    b = bridge()
    b.start(10.0, gated=True)
    b.tick(10.1)
    assert b.stop("machine", 10.2).ws == ()
