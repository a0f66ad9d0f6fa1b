"""Agent sessions as the factory builds them: the real relay's local leg, an agent
socket that records what is sent, the slot ticker on a Clock. What the settings and
the agent's row put into each call: the bridge's jitter bounds and burst, and the
openai-realtime session's instructions and voice (again on a reopened socket)."""

import json
from types import MappingProxyType

from twisted.internet import reactor
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial import unittest

from softswitch.edge.agent.sessions import AgentSessionFactory
from softswitch.edge.media.relay import RtpRelay
from softswitch.edge.media.slot_ticker import SlotTicker
from softswitch.services.media_control import RegionConfig
from softswitch.services.routing import Agent

OFFER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 0\r\n")
INFO = {"caller": "+12125550123", "callee": "+14155550100", "did": "+14155550100"}


class RecordingSocket:
    """An open agent socket: the frames sent to it, in order."""

    def __init__(self):
        self.frames = []
        self.listener = None
        self.closed = False

    def send_frames(self, frames):
        self.frames.extend(frames)

    def close(self):
        self.closed = True


class Sessions(AgentSessionFactory):
    """The factory with agent sockets that open at once and record what they get."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sockets = []

    def _connector(self, agent):
        def connect(timeout):
            self.sockets.append(RecordingSocket())
            return succeed(self.sockets[-1])
        return connect


def agent(profile="twilio", **custom_parameters):
    return Agent("bot", "ws://127.0.0.1:9/", profile, 8000,
                 custom_parameters=MappingProxyType(custom_parameters))


class SessionCase(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.relay = RtpRelay(reactor, {"default": RegionConfig(
            "default", "127.0.0.1", "127.0.0.1", 36800, 36899)}, "default", clock=self.clock)
        self.addCleanup(self.relay.close)

    def begin(self, agent, info=INFO, **options):
        factory = Sessions(self.clock, self.relay, ticker=SlotTicker(self.clock), **options)
        session = self.successResultOf(factory.open("call-1@test", agent, dict(info), OFFER))
        session.begin(lambda reason: None, lambda target, warm: None)
        self.addCleanup(session.stop, "bye")
        return factory, session


class BridgeSettingsTests(SessionCase):
    def test_the_factorys_jitter_bounds_and_burst_reach_every_bridge(self):
        _, session = self.begin(agent(), jitter_min_ms=40, jitter_target_ms=100,
                                jitter_max_ms=400, max_burst=5)
        bridge = session._bridge
        jitter = bridge.jitter
        self.assertEqual((jitter.min_delay, jitter.initial_target, jitter.max_delay),
                         (0.04, 0.1, 0.4))
        self.assertEqual(bridge.pacer.max_burst, 5)

    def test_without_settings_the_bridges_defaults_apply(self):
        _, session = self.begin(agent())
        jitter = session._bridge.jitter
        self.assertEqual((jitter.min_delay, jitter.initial_target, jitter.max_delay),
                         (0.02, 0.06, 0.2))
        self.assertEqual(session._bridge.pacer.max_burst, 3)


class RealtimeSessionTests(SessionCase):
    def session_update(self, socket):
        update = json.loads(socket.frames[0])
        self.assertEqual(update["type"], "session.update")
        return update["session"]

    def test_the_agents_instructions_and_voice_reach_the_session_update(self):
        factory, _ = self.begin(agent("openai-realtime", instructions="You sell tyres.",
                                      voice="marin", tier="gold"))
        session = self.session_update(factory.sockets[0])
        self.assertEqual(session["instructions"], "You sell tyres.")
        self.assertEqual(session["audio"]["output"]["voice"], "marin")
        self.assertNotIn("tier", json.dumps(session))

    def test_a_calls_own_parameters_win_and_a_reopened_socket_gets_them_again(self):
        info = {**INFO, "custom_parameters": {"instructions": "Call about invoice 42."}}
        factory, live = self.begin(agent("openai-realtime", instructions="You sell tyres.",
                                         voice="cedar"), info)
        first = self.session_update(factory.sockets[0])
        self.assertEqual((first["instructions"], first["audio"]["output"]["voice"]),
                         ("Call about invoice 42.", "cedar"))
        live.closed(1006, "")  # dropped: reopened once, the profile starts over
        self.assertEqual(len(factory.sockets), 2)
        self.assertEqual(self.session_update(factory.sockets[1]), first)

    def test_a_twilio_agent_gets_them_as_plain_custom_parameters(self):
        factory, _ = self.begin(agent("twilio", instructions="x", voice="y"))
        start = json.loads(factory.sockets[0].frames[1])
        self.assertEqual(start["start"]["customParameters"]["voice"], "y")
