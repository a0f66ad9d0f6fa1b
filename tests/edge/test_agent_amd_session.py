"""Answering-machine detection in a live agent session (edge.agent.sessions): the far
end's packets reach the detector from the answer, the agent is told, a "wait" call's
agent starts with the result and the audio it missed, and a far end that sends
nothing is decided at the timeout by the session's timer (a Clock)."""

import json

import numpy as np

from softswitch.agent.amd_watch import AmdOptions
from softswitch.edge.media.slot_ticker import SlotTicker
from softswitch.media.amd import AmdDecided, AmdParams
from softswitch.media.g711 import SILENCE_ULAW, ulaw_encode
from softswitch.media.rtp import RtpPacket

from test_agent_sessions import INFO, OFFER, SessionCase, Sessions, agent


def talk(seconds: float) -> list[bytes]:
    t = np.arange(int(seconds * 8000)) / 8000
    pitch = 2 * np.pi * np.cumsum(130 + 25 * np.sin(2 * np.pi * 0.8 * t)) / 8000
    voice = sum(np.sin(k * pitch) / k for k in range(1, 12))
    coded = ulaw_encode((3000 * voice).astype(np.int16))
    return [coded[i:i + 160] for i in range(0, len(coded) // 160 * 160, 160)]


class AmdSessionTests(SessionCase):
    def begin_amd(self, options, profile="twilio"):
        self.factory = factory = Sessions(self.clock, self.relay, ticker=SlotTicker(self.clock))
        session = self.successResultOf(factory.open("call-1@test", agent(profile),
                                                    dict(INFO, direction="outbound"), OFFER))
        self.decided = []
        session.begin(lambda reason: None, lambda target, warm: None, amd=options,
                      on_amd=self.decided.append)
        self.addCleanup(session.stop, "bye")
        return factory.sockets[0], session

    def play(self, session, frames, seq0=10, ts0=4000):
        for k, frame in enumerate(frames):
            data = bytes(RtpPacket(0, (seq0 + k) & 0xFFFF, ts0 + 160 * k, 0x1234, frame))
            self.clock.advance(0.02)
            session._rtp_received(data, data[0], data[1], seq0 + k, ts0 + 160 * k,
                                  self.clock.seconds())

    def events(self, socket):
        return [json.loads(f) for f in socket.frames]

    def test_a_waiting_agent_starts_with_the_result_and_the_audio_it_missed(self):
        socket, session = self.begin_amd(AmdOptions(mode="wait"))
        self.play(session, [SILENCE_ULAW] * 15 + talk(0.6) + [SILENCE_ULAW] * 30)
        self.assertEqual(socket.frames, [])  # not yet decided: nothing sent
        self.play(session, [SILENCE_ULAW] * 40, seq0=100, ts0=4000 + 160 * 90)
        self.assertEqual(self.decided, [AmdDecided("human", 300 + 600 + 1200, "end-silence")])
        events = self.events(socket)
        self.assertEqual([e["event"] for e in events[:2]], ["connected", "start"])
        self.assertEqual(events[1]["start"]["customParameters"]["AnsweredBy"], "human")
        self.assertIn({"answeredBy": "human", "result": "human", "decisionMs": 2100,
                       "reason": "end-silence"},
                      [e["amd"] for e in events if e["event"] == "amd"])
        media = [e for e in events if e["event"] == "media"]
        self.assertGreater(len(media), 80)  # what was said while it waited
        self.assertEqual(media[0]["media"]["timestamp"], "0")
        self.assertIsNone(session._amd)  # done: no more work per packet
        metrics = {m.name: m for m in self.factory.media_metrics.collect()}
        self.assertEqual({s.labels["result"]: s.value for s in
                          metrics["softswitch_amd_results"].samples}, {
                              "human": 1, "machine": 0, "unknown": 0})
        [count] = [s for s in metrics["softswitch_amd_decision_seconds"].samples
                   if s.name.endswith("_count")]
        self.assertEqual(count.value, 1)

    def test_an_async_agent_starts_at_once_and_hears_of_it_later(self):
        socket, session = self.begin_amd(AmdOptions(), profile="raw")
        start = json.loads(socket.frames[0])
        self.assertEqual(start["event"], "start")
        self.assertNotIn("answered_by", start["call"])
        self.play(session, [SILENCE_ULAW] * 10 + talk(3.0))
        told = [json.loads(f) for f in socket.frames if isinstance(f, str)][1:]
        self.assertEqual([(t["event"], t["result"], t["reason"]) for t in told],
                         [("amd", "machine", "long-greeting")])

    def test_a_far_end_that_sends_nothing_is_decided_by_the_timer(self):
        socket, session = self.begin_amd(AmdOptions(mode="wait",
                                                    params=AmdParams(timeout=4.0)))
        self.clock.advance(4.0)
        self.assertEqual(socket.frames, [])
        self.clock.advance(1.0)  # (the grace for packets in flight)
        self.assertEqual(self.decided, [AmdDecided("unknown", 4000, "timeout")])
        events = self.events(socket)
        self.assertEqual(events[1]["start"]["customParameters"]["AnsweredBy"], "unknown")
        self.assertIsNone(session._amd_timer)

    def test_stopping_the_call_cancels_the_timer(self):
        _, session = self.begin_amd(AmdOptions())
        session.stop("bye")
        self.assertIsNone(session._amd_timer)
        self.clock.advance(40)
        self.assertEqual(self.decided, [])
