"""Mid-call handoff of live agent sessions (edge.agent.handoff), on a Clock: the real
relay's local leg, agent sockets that record what they get and open when the test
says, the caller's RTP fed packet by packet. What the new agent hears (its start
naming the old agent, then every caller frame from the switch on, with its media
time), what the old one hears (goodbye, closed), and the failures: an unreachable new
agent leaves the call with the old one, a dropped socket goes to the backup agent."""

import base64
import json
import struct
from types import MappingProxyType

from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.trial import unittest

from softswitch.agent.bridge_handoff import MAX_HANDOFF_SLOTS
from softswitch.edge.agent.sessions import AgentSessionFactory
from softswitch.edge.media.relay import RtpRelay
from softswitch.edge.media.slot_ticker import SlotTicker
from softswitch.services.calls.handoff import HandoffFailed
from softswitch.services.media_control import RegionConfig
from softswitch.services.routing import Agent

OFFER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 0\r\n")
INFO = {"caller": "+12125550123", "callee": "+14155550100", "did": "+14155550100"}


class RecordingSocket:
    def __init__(self, agent):
        self.agent = agent
        self.frames = []
        self.listener = None
        self.closed = False

    def send_frames(self, frames):
        self.frames.extend(frames)

    def close(self):
        self.closed = True

    def messages(self):
        return [json.loads(f) for f in self.frames if isinstance(f, str)]


class Sessions(AgentSessionFactory):
    """Agent sockets that open when `open_next(name)` (or at once, `instant`)."""

    def __init__(self, *args, instant=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sockets = []
        self.pending = {}
        self.instant = set(instant)

    def _connector(self, agent):
        def connect(timeout):
            if agent.name in self.instant:
                self.sockets.append(RecordingSocket(agent.name))
                return defer.succeed(self.sockets[-1])
            d = self.pending[agent.name] = defer.Deferred()
            return d
        return connect

    def open_next(self, name):
        self.sockets.append(RecordingSocket(name))
        self.pending.pop(name).callback(self.sockets[-1])

    def refuse_next(self, name):
        self.pending.pop(name).errback(ConnectionRefusedError("refused"))


def agent(name, profile="twilio"):
    return Agent(name, f"ws://127.0.0.1:9/{name}", profile, 8000,
                 custom_parameters=MappingProxyType({"tier": name}))


def rtp(seq, payload):
    header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234)
    return header + payload


class HandoffCase(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.relay = RtpRelay(reactor, {"default": RegionConfig(
            "default", "127.0.0.1", "127.0.0.1", 36900, 36999)}, "default", clock=self.clock)
        self.addCleanup(self.relay.close)
        self.ended = []
        self.seq = 0

    def begin(self, first="first", info=INFO, profile="twilio"):
        self.factory = Sessions(self.clock, self.relay, ticker=SlotTicker(self.clock),
                                instant={first})
        self.session = self.successResultOf(self.factory.open(
            "call-1@test", agent(first, profile), dict(info), OFFER))
        self.session.begin(self.ended.append, lambda target, warm: None)
        self.addCleanup(self.session.stop, "bye")
        return self.session

    def speak(self, frames):
        """One caller packet per 20 ms slot, each frame a distinct byte value."""
        for value in frames:
            self.seq += 1
            data = rtp(self.seq, bytes([value]) * 160)
            self.session._rtp_received(data, data[0], data[1], self.seq, self.seq * 160,
                                       self.clock.seconds())
            self.clock.advance(0.02)

    def heard(self, socket):
        self.clock.advance(0.2)  # (what the jitter buffer still holds goes out)
        return [(int(m["media"]["timestamp"]), base64.b64decode(m["media"]["payload"]))
                for m in socket.messages() if m.get("event") == "media"]


class ApiHandoffTests(HandoffCase):
    def test_the_new_agent_hears_what_the_caller_said_during_the_switch(self):
        session = self.begin()
        old = self.factory.sockets[0]
        self.speak(range(10, 20))
        done = session.handoff(agent("second"), "escalation")
        self.speak(range(20, 45))  # 0.5 s while the new agent's socket opens
        self.factory.open_next("second")
        self.successResultOf(done)
        new = self.factory.sockets[1]
        self.speak(range(45, 50))
        # The old agent: its goodbye, closed; it heard nothing said after the switch began.
        self.assertTrue(old.closed)
        self.assertEqual(old.messages()[-1]["stop"]["reason"], "handoff")
        self.assertIsNone(old.listener)
        old_heard = [audio[0] for _, audio in self.heard(old)]
        self.assertFalse(set(old_heard) & set(range(20, 50)))
        # The new agent: connected, start naming the old agent, then every frame from
        # the switch on, in order and with media times 20 ms apart.
        messages = new.messages()
        self.assertEqual([m["event"] for m in messages[:2]], ["connected", "start"])
        parameters = messages[1]["start"]["customParameters"]
        self.assertEqual((parameters["HandoffFrom"], parameters["HandoffReason"],
                          parameters["tier"]), ("first", "escalation", "second"))
        self.assertNotEqual(messages[1]["streamSid"], old.messages()[1]["streamSid"])
        heard = self.heard(new)
        spoken = [audio[0] for _, audio in heard if audio[0] != 0xFF]
        spoken = spoken[:spoken.index(49) + 1]  # (then the buffer's concealment)
        # Every frame the caller spoke reached exactly one agent, once, in order.
        self.assertEqual([a for a in old_heard if a != 0xFF] + spoken, list(range(10, 50)))
        times = [t for t, _ in heard]
        self.assertEqual(times, list(range(times[0], times[0] + 20 * len(times), 20)))
        self.assertEqual(session.handoffs[0]["from"], "first")
        self.assertEqual(session.handoffs[0]["to"], "second")
        self.assertEqual(session.agent_name, "second")
        # Frames after the handoff reach the new agent's listener, not the old one's.
        self.assertIs(new.listener, session)

    def test_an_unreachable_agent_leaves_the_call_with_the_old_one_losing_nothing(self):
        session = self.begin()
        old = self.factory.sockets[0]
        done = session.handoff(agent("second"), "escalation")
        self.speak(range(30, 40))
        self.factory.refuse_next("second")
        failure = self.failureResultOf(done, HandoffFailed)
        self.assertEqual(failure.value.status, 502)
        self.speak(range(40, 45))
        self.assertFalse(old.closed)
        self.assertIs(old.listener, session)
        spoken = [audio[0] for _, audio in self.heard(old) if audio[0] != 0xFF]
        self.assertEqual(sorted(set(range(30, 45)) - set(spoken)), [], spoken)
        self.assertEqual(session.agent_name, "first")
        self.assertEqual(self.ended, [])
        # (and a second handoff can be asked for later)
        again = session.handoff(agent("second"), "retry")
        self.factory.open_next("second")
        self.successResultOf(again)

    def test_one_handoff_at_a_time_and_not_to_the_agent_on_the_call(self):
        session = self.begin()
        session.handoff(agent("second"), "x")
        self.assertEqual(self.failureResultOf(session.handoff(agent("third"), "y"),
                                              HandoffFailed).value.status, 409)
        self.assertEqual(self.failureResultOf(
            self.begin("solo").handoff(agent("solo"), "y"), HandoffFailed).value.status, 409)

    def test_the_held_audio_is_bounded_and_what_was_pushed_out_counted(self):
        session = self.begin()
        session.handoff(agent("second"), "slow")
        self.speak([100] * (MAX_HANDOFF_SLOTS + 25))
        self.assertEqual(session._bridge.held_dropped, 25)
        self.assertEqual(len(session._bridge._gated), MAX_HANDOFF_SLOTS)
        self.factory.open_next("second")
        stats = self.successResultOf(session.stop("bye"))
        self.assertEqual(stats["handoff_dropped_frames"], 25)
        self.assertEqual(stats["handoffs"][0]["to"], "second")

    def test_a_raw_agent_is_told_in_its_start_who_handed_over(self):
        session = self.begin(profile="raw")
        raw = Agent("second", "ws://127.0.0.1:9/r", "raw", 16000)
        session.handoff(raw, "billing")
        self.speak([50] * 3)
        self.factory.open_next("second")
        start = json.loads(self.factory.sockets[1].frames[0])
        self.assertEqual(start["call"]["handoff"], {"from": "first", "reason": "billing"})
        self.assertEqual(start["format"]["sample_rate"], 16000)
        binary = [f for f in self.factory.sockets[1].frames if isinstance(f, bytes)]
        self.assertTrue(binary and all(len(f) == 640 for f in binary))  # 20 ms at 16 kHz

    def test_the_agents_own_handoff_message_asks_the_call(self):
        session = self.begin()
        asked = []
        session.on_handoff = lambda name, reason: asked.append((name, reason))
        session.text_received(json.dumps({"event": "handoff", "streamSid": "x",
                                          "handoff": {"agent": "billing",
                                                      "reason": "invoice"}}))
        self.assertEqual(asked, [("billing", "invoice")])


class RecoveryTests(HandoffCase):
    def test_a_socket_lost_beyond_its_reconnect_goes_to_the_backup_agent(self):
        info = {**INFO, "backup_agent": agent("spare")}
        session = self.begin(info=info)
        self.factory.instant.discard("first")
        self.speak(range(10, 15))
        session.closed(1006, "")  # dropped: one reconnect is tried
        self.speak(range(15, 25))
        self.factory.refuse_next("first")  # ... and fails: the backup is dialled
        self.speak(range(25, 35))
        self.factory.open_next("spare")
        spare = self.factory.sockets[-1]
        start = spare.messages()[1]["start"]["customParameters"]
        self.assertEqual((start["HandoffFrom"], start["HandoffReason"]),
                         ("first", "agent-lost"))
        spoken = {audio[0] for _, audio in self.heard(spare)}
        self.assertTrue(set(range(15, 35)) <= spoken)
        self.assertEqual(self.ended, [])
        self.assertEqual(session.handoffs[0]["reason"], "agent-lost")

    def test_without_a_backup_the_call_ends_as_before(self):
        session = self.begin()
        self.factory.instant.discard("first")
        session.closed(1006, "")
        self.factory.refuse_next("first")
        self.assertEqual(self.ended, ["agent-lost"])

    def test_an_unreachable_backup_ends_the_call_with_the_reason(self):
        session = self.begin(info={**INFO, "backup_agent": agent("spare")})
        self.factory.instant.discard("first")
        session.closed(1006, "")
        self.factory.refuse_next("first")
        self.factory.refuse_next("spare")
        self.assertEqual(self.ended, ["agent-lost"])

    def test_a_reconnect_delivers_what_the_caller_said_meanwhile(self):
        session = self.begin()
        self.factory.instant.discard("first")
        session.closed(1006, "")
        self.speak(range(60, 70))
        self.factory.open_next("first")
        again = self.factory.sockets[-1]
        self.assertEqual(again.messages()[1]["event"], "start")
        self.assertNotIn("HandoffFrom", again.messages()[1]["start"]["customParameters"])
        self.assertTrue(set(range(60, 70)) <= {a[0] for _, a in self.heard(again)})
