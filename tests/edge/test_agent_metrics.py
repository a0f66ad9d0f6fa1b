"""Agent media metrics: counted in the bridges, added up when /metrics is scraped."""

import base64
import json

from prometheus_client import CollectorRegistry, generate_latest

from softswitch.agent.bridge import AgentBridge
from softswitch.agent.events import CallInfo
from softswitch.agent.profiles import make_profile
from softswitch.edge.agent.metrics import AgentMediaMetrics

INFO = CallInfo("CA1", "MZ1", "AC1", "+12125550123", "+14155550100")


def talk(bridge, start, seconds, lose_every=0):
    """The caller talks for `seconds` (packets 2 ms into their slots), the agent
    answers 100 ms after the start with 200 ms of audio and a mark, then clears."""
    now = start
    bridge.start(now)
    slots = int(seconds / 0.02)
    for k in range(slots):
        now = start + k * 0.02
        bridge.tick(now)
        if not (lose_every and k % lose_every == lose_every - 1):
            bridge.rtp_received(0, k, 160 * k, False, b"\x11" * 160, now + 0.002)
        if k == 5:
            payload = base64.b64encode(b"\x22" * 1600).decode()
            bridge.ws_text(json.dumps({"event": "media", "media": {"payload": payload}}),
                           now + 0.001)
            bridge.ws_text(json.dumps({"event": "mark", "mark": {"name": "m"}}), now + 0.001)
        if k == slots - 5:
            bridge.ws_text(json.dumps({"event": "clear"}), now + 0.001)


def bridge():
    return AgentBridge(make_profile("twilio"), INFO, now=0.0)


def test_live_and_ended_calls_add_up_at_scrape_time():
    registry = CollectorRegistry()
    metrics = AgentMediaMetrics()
    registry.register(metrics)
    first, second = bridge(), bridge()
    metrics.begun(first)
    metrics.begun(second)
    talk(first, 10.0, 2.0)
    talk(second, 10.0, 2.0, lose_every=10)
    sample = registry.get_sample_value
    assert sample("softswitch_agent_calls_active") == 2
    live_frames = sample("softswitch_agent_caller_frames_total")
    assert live_frames == first.caller_frames + second.caller_frames > 0
    assert sample("softswitch_agent_concealed_frames_total") == second.jitter.concealed > 0
    assert sample("softswitch_agent_marks_received_total") == 2
    assert sample("softswitch_agent_marks_played_total") == 2
    assert sample("softswitch_agent_clears_total") == 2
    caller_count = sample("softswitch_agent_caller_audio_latency_seconds_count")
    assert caller_count == first.caller_latency.count + second.caller_latency.count
    assert sample("softswitch_agent_audio_latency_seconds_count") == 2
    assert sample("softswitch_agent_first_audio_seconds_count") == 2
    assert sample("softswitch_agent_jitter_depth_seconds_gcount") == 2

    metrics.ended(first)
    metrics.ended(first)  # (twice: counted once)
    assert sample("softswitch_agent_calls_active") == 1
    assert sample("softswitch_agent_caller_frames_total") == live_frames
    assert sample("softswitch_agent_caller_audio_latency_seconds_count") == caller_count
    assert sample("softswitch_agent_first_audio_seconds_count") == 2
    metrics.ended(second)
    assert sample("softswitch_agent_calls_active") == 0
    assert sample("softswitch_agent_caller_frames_total") == live_frames
    assert sample("softswitch_agent_jitter_depth_seconds_gcount") == 0


def test_the_exposition_is_well_formed():
    registry = CollectorRegistry()
    metrics = AgentMediaMetrics()
    registry.register(metrics)
    metrics.slot_seconds.observe(0.00003)
    text = generate_latest(registry).decode()
    assert "# TYPE softswitch_agent_frame_seconds histogram" in text
    assert 'softswitch_agent_frame_seconds_bucket{le="5e-05"} 1.0' in text
    assert "softswitch_agent_jitter_depth_seconds_gcount 0.0" in text


def test_calls_are_counted_by_the_caller_codec_and_the_agent_format():
    registry = CollectorRegistry()
    metrics = AgentMediaMetrics()
    registry.register(metrics)
    calls = [AgentBridge(make_profile("raw", sample_rate=16000), INFO, codec="G722", now=0.0),
             AgentBridge(make_profile("raw", sample_rate=16000), INFO, codec="G722", now=0.0),
             AgentBridge(make_profile("raw", sample_rate=24000), INFO, codec="OPUS",
                         payload_type=111, now=0.0),
             bridge()]
    for call in calls:
        metrics.begun(call)
    metrics.ended(calls[0])  # an ended call stays counted
    sample = registry.get_sample_value
    name = "softswitch_agent_calls_by_codec_total"
    assert sample(name, {"codec": "G722", "agent_format": "pcm16/16000"}) == 2
    assert sample(name, {"codec": "OPUS", "agent_format": "pcm16/24000"}) == 1
    assert sample(name, {"codec": "PCMU", "agent_format": "mulaw/8000"}) == 1
