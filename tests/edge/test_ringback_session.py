"""What a cold transfer's caller hears, at the edge, on a Clock: a LiveAgentSession
(with its real AgentBridge and SlotTicker) whose agent is stopped for a transfer
sends the agent's queued audio, then ringback frames, until the human answers
(`release_media`) or the call ends (`stop`); for the human's early media it makes way
once the agent's audio is sent, falls silent when that media flows, and resumes the
ringback where it left off if that leg fails."""

import base64
import json

import pytest
from twisted.internet import defer, task

from softswitch.agent.events import CallInfo
from softswitch.edge.agent.metrics import AgentMediaMetrics
from softswitch.edge.agent.sessions import AgentSessionFactory, LiveAgentSession
from softswitch.edge.media.slot_ticker import SlotTicker
from softswitch.edge.media.ringback import prepare_ringback
from softswitch.media.g711 import SILENCE_ALAW, SILENCE_ULAW
from softswitch.media.tones import cadence_frames
from softswitch.services.routing import Agent

AGENT_SAYS = bytes([0x2A]) * 160 * 5  # 100 ms queued before the transfer
INFO = CallInfo("CA1", "MZ1", "AC1", "+12125550123", "+14155550100")


class Socket:
    def __init__(self):
        self.listener = None
        self.frames, self.closed = [], False

    def send_frames(self, frames):
        self.frames += frames

    def close(self):
        self.closed = True


class Leg:
    """The relay's local leg as the session uses it; packets to the caller are kept
    with the time they were sent."""

    answer_sdp = b"v=0\r\n"
    relay_call_id = "CA1;agent"
    event_pt = 101

    def __init__(self, clock, codec="PCMU"):
        self.clock = clock
        self.codec = codec
        self.payload_type = None  # (the static one of G.711)
        self.released = False
        self.far = 0  # RTP packets from the human (early media)
        self.sent = []

    def set_receiver(self, receiver):
        pass

    def send_packets(self, packets):
        self.sent += [(self.clock.seconds(), p) for p in packets]

    def far_packets(self):
        return self.far

    def detach(self):
        self.released = True

    def close(self):
        return defer.succeed(None)


class Call:
    def __init__(self, ringback="us", codec="PCMU"):
        self.clock = task.Clock()
        self.clock.advance(1000.0)
        self.ticker = SlotTicker(self.clock)
        self.socket = Socket()
        self.leg = Leg(self.clock, codec)
        self.ended = []
        self.session = LiveAgentSession(
            self.clock, self.ticker, Agent("bot", "ws://agent", "twilio", 8000), INFO,
            self.socket, self.leg, None, AgentMediaMetrics(), None, 5.0, ringback=ringback)
        self.session.begin(self.ended.append, lambda target, warm: None)
        self.session.text_received(json.dumps({"event": "media", "media": {
            "payload": base64.b64encode(AGENT_SAYS).decode()}}))

    def run(self, seconds):
        """Advance the clock in 1 ms steps (the ticker's grid); the payloads sent."""
        before = len(self.leg.sent)
        for _ in range(round(seconds * 1000)):
            self.clock.advance(0.001)
        return [p.payload for _, p in self.leg.sent[before:]]


def test_after_the_agents_queued_audio_the_caller_hears_ringback_until_the_answer():
    call = Call()
    said = call.run(0.045)  # slots at 0, 20 and 40 ms: three frames of the agent
    assert said == [AGENT_SAYS[:160]] * 3
    call.session.end_agent("transfer")
    call.session.ring_caller()
    assert call.socket.closed and json.loads(call.socket.frames[-1])["event"] == "stop"
    heard = call.run(2.5)
    ring = cadence_frames("us", "PCMU")
    assert heard[:2] == [AGENT_SAYS[:160]] * 2  # the agent's last words first
    assert heard[2:] == list(ring[:len(heard) - 2])  # then the ringback, from its start
    assert len(heard) == 125  # one frame per 20 ms slot, no gap
    call.session.release_media()  # the human answered: the relay has the caller
    assert call.run(1.0) == []
    assert len(call.ticker) == 0


def test_a_failed_cold_transfer_ends_the_ringback_with_the_call():
    call = Call()
    call.session.end_agent("transfer")
    call.session.ring_caller()
    assert len(call.run(0.5)) == 25
    call.session.stop("transfer-failed")
    assert call.run(1.0) == [] and len(call.ticker) == 0


@pytest.mark.parametrize("codec,silence", [("PCMU", SILENCE_ULAW), ("PCMA", SILENCE_ALAW)])
def test_the_tone_follows_the_config_and_the_calls_codec(codec, silence):
    call = Call(ringback="uk", codec=codec)
    call.session.end_agent("transfer")
    call.session.ring_caller()
    heard = call.run(0.3)[5:]
    assert heard == list(cadence_frames("uk", codec)[:len(heard)])
    quiet = Call(ringback="silence", codec=codec)
    quiet.session.end_agent("transfer")
    quiet.session.ring_caller()
    assert quiet.run(0.3)[5:] == [silence] * 10


def test_without_ring_caller_an_agent_gone_leaves_silence():
    call = Call()
    call.session.end_agent("agent-lost")
    assert call.run(0.2)[5:] == [SILENCE_ULAW] * 5


def test_early_media_waits_for_the_agents_last_words_then_silences_us_when_it_flows():
    call = Call()
    call.run(0.045)
    call.session.end_agent("transfer")
    call.session.ring_caller()
    played = call.session.early_media()  # a 183 with SDP came at once
    fired = []
    played.addCallback(lambda _: fired.append(len(call.leg.sent)))
    call.leg.far = 5  # (what the relay took before it was pointed is not counted)
    call.run(0.02)
    assert fired == []  # the agent's last two frames are still to go
    call.run(0.02)
    assert fired == [5]  # the relay may now be pointed at the human
    assert len(call.run(0.2)) == 10  # a 183 with no RTP yet: the ringback goes on
    assert call.leg.sent[5][1].payload == cadence_frames("us", "PCMU")[0]
    call.leg.far = 8  # the human's RTP arrives
    assert len(call.run(0.04)) <= 2  # within one slot
    assert call.run(1.0) == []
    sent_before = len(call.leg.sent)
    call.session.ring_caller()  # that leg failed, another still rings
    heard = call.run(0.2)
    ring = cadence_frames("us", "PCMU")
    position = ring.index(call.leg.sent[sent_before - 1][1].payload) + 1
    assert heard == list(ring[position:position + len(heard)])  # where it left off
    resumed = call.leg.sent[sent_before][1]
    assert resumed.marker  # the timestamp jumped over the paused slots
    call.session.stop("bye")
    assert call.run(0.5) == [] and len(call.ticker) == 0


def test_early_media_with_nothing_queued_makes_way_at_the_next_slot():
    call = Call()
    call.run(0.2)
    call.session.end_agent("transfer")
    call.session.ring_caller()
    played = call.session.early_media()
    assert not played.called
    call.run(0.02)
    assert played.called


def test_the_pause_holds_when_a_late_timer_serves_several_slots_at_once():
    call = Call()
    call.session.end_agent("transfer")
    call.session.ring_caller()
    call.run(0.2)
    call.session.early_media()
    call.run(0.02)
    call.leg.far = 1
    call.clock.advance(0.05)  # one late wake-up: the session's slots and the watch
    sent = len(call.leg.sent)
    assert call.run(1.0) == [] and len(call.leg.sent) == sent
    call.session.ring_caller()  # resumed...
    call.session.early_media()  # ...and the next leg's early media
    call.clock.advance(0.05)
    call.leg.far = 2
    call.clock.advance(0.1)
    assert call.run(1.0) == []


def test_the_early_media_watch_ends_with_the_call():
    call = Call()
    call.session.end_agent("transfer")
    call.session.early_media()
    call.run(0.1)
    call.session.release_media()
    call.run(0.1)
    assert len(call.ticker) == 0
    assert call.session.early_media().called  # (released: nothing to wait for)


def test_a_ringback_name_is_checked_when_the_switch_starts():
    prepare_ringback("eu")
    with pytest.raises(ValueError, match="ringback 'fr'"):
        prepare_ringback("fr")
    with pytest.raises(ValueError):
        AgentSessionFactory(task.Clock(), relay=None, ringback="fr")
