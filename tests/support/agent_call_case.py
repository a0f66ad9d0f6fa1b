"""An agent call over real sockets for tests: SIP in memory (memory_proxy), the real
relay, a phone sending real RTP over loopback UDP, and a real agent server on the
`websockets` library (ws_agent_server)."""

import base64
import json
import struct

from memory_proxy import ProxyHarness, invite
from twisted.internet import defer, reactor, task
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from ws_agent_server import AgentServer

from softswitch.edge.agent.sessions import AgentSessionFactory
from softswitch.edge.media.relay import RtpRelay
from softswitch.sdp import parse_sdp
from softswitch.services.agent_calls import AgentCalls
from softswitch.services.media_control import RegionConfig
from softswitch.services.routing import Agent, Gateway, Number, RoutingSnapshot, Target, Trunk
from softswitch.sip.transport import Peer

CARRIER = Peer("udp", "198.51.100.7", 5060)
AGENT_AUDIO = bytes([0x55]) * 480  # 60 ms the agent says
CALLER_AUDIO = bytes(range(0, 160))


class Phone(DatagramProtocol):
    def __init__(self):
        self.received = []

    def datagramReceived(self, data, addr):
        self.received.append((data, addr))

    def send_rtp(self, seq, payload, addr):
        header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234)
        self.transport.write(header + payload, addr)


def agent_handler(log):
    async def handle(websocket):
        async for message in websocket:
            event = json.loads(message)
            log.append(event)
            if event["event"] == "start":
                sid = event["streamSid"]
                await websocket.send(json.dumps({"event": "media", "streamSid": sid, "media": {
                    "payload": base64.b64encode(AGENT_AUDIO).decode()}}))
                await websocket.send(json.dumps({"event": "mark", "streamSid": sid,
                                                 "mark": {"name": "greeting-done"}}))
            if event["event"] == "stop":
                await websocket.close()
                return
    return handle


class AgentCallCase(unittest.TestCase):
    """A switch with a relay and one number routed to an agent served by `handler`."""

    timeout = 20

    @defer.inlineCallbacks
    def call_agent(self, handler, first_port=36400, event_pt=None, agent_options=None,
                   relay_options=None, **factory_options):
        server = self.agent_server = AgentServer(handler).__enter__()
        self.addCleanup(deferToThread, server.__exit__, None, None, None)
        relay = RtpRelay(reactor, {"default": RegionConfig("default", "127.0.0.1", "127.0.0.1",
                                                           first_port, first_port + 100)}, "default",
                         **(relay_options or {}))
        self.addCleanup(relay.close)
        self.relay = relay
        snapshot = RoutingSnapshot(
            trunks=[Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1,
                                              10),), number_format="nanp")],
            agents=[Agent("bot", server.url, "twilio", 8000, **(agent_options or {}))],
            numbers=[Number("+14155550100", (Target("agent", "bot"),))])
        self.snapshot = snapshot
        switch = ProxyHarness(snapshot, clock=reactor, agents=lambda h: AgentCalls(
            h.endpoint, reactor,
            AgentSessionFactory(reactor, relay, connect_timeout=5, **factory_options),
            on_call_end=h.records.append, **h.shared))
        self.addCleanup(switch.endpoint.stop)
        phone = Phone()
        phone_port = reactor.listenUDP(0, phone, interface="127.0.0.1")
        self.addCleanup(phone_port.stopListening)
        events = "" if event_pt is None else f" {event_pt}"
        offer = ("v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n"
                 f"m=audio {phone_port.getHost().port} RTP/AVP 0{events}\n")
        if event_pt is not None:
            offer += f"a=rtpmap:{event_pt} telephone-event/8000\n"
        sent = switch.receive(invite("sip:4155550100@127.0.0.1", body=offer), CARRIER)
        self.assertEqual([m.status for m, _ in sent], [100, 180])
        ok = yield wait_for(lambda: next((m for m, _ in switch.wire.sent
                                          if not m.is_request and m.status == 200), None))
        relay_addr = ("127.0.0.1", parse_sdp(ok.body).media[0].port)
        self.ok = ok
        self.phone_port = phone_port.getHost().port
        return switch, phone, relay_addr

    def hang_up(self, switch, cseq: int = 2):
        """ACK the 200, then BYE with `cseq` (above any in-dialog request sent)."""
        ok = self.ok
        dialog = (f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}"
                  "\nCall-ID: call-1@carrier\n")
        switch.receive("ACK sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;"
                       f"branch=z9hG4bKa\n{dialog}CSeq: 1 ACK\nContent-Length: 0\n\n", CARRIER)
        return switch.receive("BYE sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;"
                              f"branch=z9hG4bKb\n{dialog}CSeq: {cseq} BYE\nContent-Length: 0\n\n",
                              CARRIER)



@defer.inlineCallbacks
def wait_for(probe, timeout=5.0, step=0.02):
    waited = 0.0
    while waited < timeout:
        value = probe()
        if value:
            return value
        yield task.deferLater(reactor, step, lambda: None)
        waited += step
    raise AssertionError("condition not met in time")
