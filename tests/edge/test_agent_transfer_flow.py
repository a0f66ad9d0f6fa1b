"""Transfers and outbound agent calls over real sockets: SIP in memory, but the real
relay, real RTP over loopback UDP and a real agent server on the `websockets` library
speaking the Twilio profile.

- Transfer: the caller's RTP reaches the agent; the agent asks for a (warm) transfer;
  the human is dialled with the relay's ports; once it answers, the caller's RTP
  reaches the human's UDP socket and the human's RTP reaches the caller, with no
  re-INVITE to the caller; the agent gets its stop; the human's BYE hangs up the
  caller and frees the relay.
- Cold transfer with early media: once the agent is gone the caller hears our
  ringback; a 183 with SDP and no RTP leaves it on; the human's early RTP then
  reaches the caller through the relay and ours stops.
- Outbound: a call placed to a fake callee rings (the agent's socket opens), is
  answered with the callee's SDP, and the agent is bridged: RTP both ways.
"""

import base64
import json

from memory_proxy import DOMAIN, ProxyHarness, invite
from test_agent_call_flow import CALLER_AUDIO, Phone, wait_for
from twisted.internet import defer, reactor, task
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from ws_agent_server import AgentServer, heard_audio

from softswitch.edge.agent.sessions import AgentSessionFactory
from softswitch.edge.media.relay import RtpRelay
from softswitch.media.tones import cadence_frames
from softswitch.sdp import parse_sdp
from softswitch.services.agent_calls import AgentCalls
from softswitch.services.media_control import RegionConfig
from softswitch.services.outbound_calls import OutboundCalls
from softswitch.services.routing import (
    Agent,
    Gateway,
    Number,
    OutboundRoute,
    RoutingSnapshot,
    Target,
    Trunk,
)
from softswitch.services.transfers import Transfers
from softswitch.services.calls.legs import SipLegs
from softswitch.sip.transport import Peer

CARRIER = Peer("udp", "198.51.100.7", 5060)
HUMANS = Peer("udp", "203.0.113.50", 5060)
GATEWAY = Peer("udp", "203.0.113.1", 5060)
HUMAN_AUDIO = bytes((i * 7) % 256 for i in range(160))
AGENT_AUDIO = bytes([0x2A]) * 320


def transfer_agent(log):
    """Asks for a warm transfer after hearing the caller for a moment."""
    async def handle(websocket):
        media = 0
        async for message in websocket:
            event = json.loads(message)
            log.append(event)
            if event["event"] == "media":
                media += 1
                if media == 5:
                    await websocket.send(json.dumps({
                        "event": "transfer", "streamSid": event["streamSid"],
                        "transfer": {"target": "+14155550199", "warm": True}}))
            if event["event"] == "stop":
                await websocket.close()
                return
    return handle


def cold_transfer_agent(log):
    """Says 100 ms, then asks for a cold transfer."""
    async def handle(websocket):
        async for message in websocket:
            event = json.loads(message)
            log.append(event)
            if event["event"] == "start":
                await websocket.send(json.dumps({
                    "event": "media", "streamSid": event["streamSid"],
                    "media": {"payload": base64.b64encode(AGENT_AUDIO * 2).decode()}}))
                await websocket.send(json.dumps({
                    "event": "transfer", "streamSid": event["streamSid"],
                    "transfer": {"target": "+14155550199"}}))
            if event["event"] == "stop":
                await websocket.close()
                return
    return handle


def talking_agent(log):
    """Greets as soon as the call starts."""
    async def handle(websocket):
        async for message in websocket:
            event = json.loads(message)
            log.append(event)
            if event["event"] == "start":
                await websocket.send(json.dumps({
                    "event": "media", "streamSid": event["streamSid"],
                    "media": {"payload": base64.b64encode(AGENT_AUDIO).decode()}}))
            if event["event"] == "stop":
                await websocket.close()
                return
    return handle


def snapshot(agent_url):
    carrier = Trunk("carrier", (Gateway("carrier", CARRIER.host, 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    humans = Trunk("humans", (Gateway("humans", HUMANS.host, 5060, "udp", None, 1, 10),))
    out = Trunk("out", (Gateway("out", GATEWAY.host, 5060, "udp", None, 1, 10),))
    return RoutingSnapshot(
        trunks=[carrier, humans, out], agents=[Agent("bot", agent_url, "twilio", 8000)],
        numbers=[Number("+14155550100", (Target("agent", "bot"),))],
        outbound=[OutboundRoute("1415", ("humans",)), OutboundRoute("1202", ("out",))])


def sdp_for(port, eol="\r\n"):
    return eol.join(["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                     f"m=audio {port} RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", ""])


def response(request, status, to_tag, body="", contact=None):
    lines = [f"SIP/2.0 {status} Whatever"]
    lines += [f"Via: {v}" for v in request.headers.values("Via")]
    lines += [f"From: {request.headers.get('From')}",
              f"To: {request.headers.get('To')};tag={to_tag}",
              f"Call-ID: {request.call_id}", f"CSeq: {request.headers.get('CSeq')}"]
    if contact:
        lines.append(f"Contact: <{contact}>")
    if body:
        lines.append("Content-Type: application/sdp")
    lines += [f"Content-Length: {len(body)}", "", body]
    return "\r\n".join(lines)


def bye_from(leg_invite, to_tag, cseq=1):
    """The BYE a far end sends in the dialog of an INVITE it answered with `to_tag`."""
    return (f"BYE sip:x@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.9:5060;"
            f"branch=z9hG4bKbye{to_tag}\r\nMax-Forwards: 70\r\n"
            f"From: {leg_invite.headers.get('To')};tag={to_tag}\r\n"
            f"To: {leg_invite.headers.get('From')}\r\nCall-ID: {leg_invite.call_id}\r\n"
            f"CSeq: {cseq} BYE\r\nContent-Length: 0\r\n\r\n")


class Base(unittest.TestCase):
    timeout = 20

    def start(self, handler, ports):
        server = AgentServer(handler).__enter__()
        self.addCleanup(deferToThread, server.__exit__, None, None, None)
        self.relay = RtpRelay(reactor, {"default": RegionConfig(
            "default", "127.0.0.1", "127.0.0.1", *ports)}, "default")
        self.addCleanup(self.relay.close)
        self.factory = AgentSessionFactory(reactor, self.relay, connect_timeout=5)

        def agents(h):
            legs = SipLegs(h.shared["dialog_router"])
            self.transfers = Transfers(h.endpoint, reactor, h.holder, self.relay, legs,
                                       domain=DOMAIN)
            return AgentCalls(h.endpoint, reactor, self.factory, on_call_end=h.records.append,
                              legs=legs, transfers=self.transfers, **h.shared)

        self.switch = ProxyHarness(snapshot(server.url), clock=reactor, agents=agents)
        self.addCleanup(self.switch.endpoint.stop)
        self.agents = self.switch.agents

    def phone(self):
        phone = Phone()
        port = reactor.listenUDP(0, phone, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return phone, port.getHost().port

    def sent_request(self, method, peer):
        return next((m for m, p in self.switch.wire.sent
                     if m.is_request and m.method == method and p == peer), None)


class TransferFlowTests(Base):
    @defer.inlineCallbacks
    def test_the_caller_is_bridged_to_the_human_without_a_reinvite(self):
        log = []
        self.start(transfer_agent(log), (37000, 37100))
        caller, caller_port = self.phone()
        human, human_port = self.phone()
        sent = self.switch.receive(invite("sip:4155550100@127.0.0.1",
                                          body=sdp_for(caller_port, "\n")), CARRIER)
        self.assertEqual([m.status for m, _ in sent], [100, 180])
        ok = yield wait_for(lambda: next((m for m, _ in self.switch.wire.sent
                                          if not m.is_request and m.status == 200), None))
        relay_for_caller = ("127.0.0.1", parse_sdp(ok.body).media[0].port)
        ack = (f"ACK sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5060;"
               f"branch=z9hG4bKa\r\nMax-Forwards: 70\r\nTo: {ok.headers.get('To')}\r\n"
               f"From: {ok.headers.get('From')}\r\nCall-ID: call-1@carrier\r\n"
               "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
        self.switch.receive(ack, CARRIER)

        seq = 0
        out = None
        while out is None and seq < 100:  # the agent hears the caller, then transfers
            caller.send_rtp(seq, CALLER_AUDIO, relay_for_caller)
            seq += 1
            yield task.deferLater(reactor, 0.02, lambda: None)
            out = self.sent_request("INVITE", HUMANS)
        self.assertIsNotNone(out, "no INVITE to the human")
        self.assertEqual(heard_audio(log)[0], CALLER_AUDIO)
        offer = parse_sdp(out.body)
        relay_for_human = ("127.0.0.1", offer.media[0].port)
        self.assertEqual(offer.media[0].formats, ["0", "101"])
        self.assertNotEqual(relay_for_human, relay_for_caller)
        self.assertFalse(any(e["event"] == "stop" for e in log))  # warm: still on

        self.switch.receive(response(out, 180, "human1"), HUMANS)
        self.switch.receive(response(out, 200, "human1", sdp_for(human_port),
                                     contact=f"sip:h@{HUMANS.host}:{HUMANS.port}"), HUMANS)
        yield wait_for(lambda: any(e["event"] == "stop" for e in log) or None)
        yield task.deferLater(reactor, 0.05, lambda: None)  # our last packets, in flight
        caller.received.clear()

        for n in range(10):  # both talk at once
            caller.send_rtp(seq + n, CALLER_AUDIO, relay_for_caller)
            human.send_rtp(n, HUMAN_AUDIO, relay_for_human)
            yield task.deferLater(reactor, 0.02, lambda: None)
        yield wait_for(lambda: len(human.received) >= 10 or None)
        yield wait_for(lambda: len(caller.received) >= 10 or None)
        self.assertTrue(all(d[12:] == CALLER_AUDIO for d, _ in human.received))
        self.assertEqual(human.received[0][1], relay_for_human)  # from the relay's port
        heard = [d for d, _ in caller.received]
        while heard and heard[0][8:12] != b"\x00\x00\x12\x34":
            heard.pop(0)  # the bridge's last packet, sent before it let go, may trail in
        self.assertGreaterEqual(len(heard), 9)
        self.assertTrue(all(d[12:] == HUMAN_AUDIO for d in heard))
        self.assertEqual(caller.received[0][1], relay_for_caller)
        invites_to_caller = [m for m, p in self.switch.wire.sent
                             if m.is_request and m.method == "INVITE" and p == CARRIER]
        self.assertEqual(invites_to_caller, [])  # the caller was never re-INVITEd

        self.switch.wire.take()
        sent = self.switch.receive(bye_from(out, "human1"), HUMANS)
        self.assertEqual([(m.method if m.is_request else m.status, p) for m, p in sent],
                         [(200, HUMANS), ("BYE", CARRIER)])
        record = yield wait_for(lambda: self.switch.records[0] if self.switch.records
                                else None)
        self.assertEqual((record.transfer_target, record.disconnect_side),
                         ("+14155550199", "callee"))
        self.assertGreater(record.agent_stats["caller_frames"], 0)
        self.assertGreaterEqual(record.agent_stats["media"]["callee"]["streams"][0]["rtp"]
                                ["packets"], 10)
        self.assertEqual(self.relay.calls, 0)


class ColdTransferRingbackTests(Base):
    @defer.inlineCallbacks
    def test_ringback_then_the_humans_early_media_reach_the_caller(self):
        log = []
        self.start(cold_transfer_agent(log), (37400, 37500))
        caller, caller_port = self.phone()
        human, human_port = self.phone()
        self.switch.receive(invite("sip:4155550100@127.0.0.1",
                                   body=sdp_for(caller_port, "\n")), CARRIER)
        ok = yield wait_for(lambda: next((m for m, _ in self.switch.wire.sent
                                          if not m.is_request and m.status == 200), None))
        relay_for_caller = ("127.0.0.1", parse_sdp(ok.body).media[0].port)
        caller.send_rtp(0, CALLER_AUDIO, relay_for_caller)  # the relay latches on it
        out = yield wait_for(lambda: self.sent_request("INVITE", HUMANS))
        relay_for_human = ("127.0.0.1", parse_sdp(out.body).media[0].port)
        ring = set(cadence_frames("us", "PCMU"))
        yield wait_for(lambda: sum(d[12:] in ring for d, _ in caller.received) >= 5 or None)
        said = [d[12:] for d, _ in caller.received if d[12:] not in ring]
        self.assertEqual(said[:3], [AGENT_AUDIO[:160]] * 3)  # the agent's words came first

        self.switch.receive(response(out, 183, "human1", sdp_for(human_port)), HUMANS)
        heard = len(caller.received)
        yield task.deferLater(reactor, 0.1, lambda: None)
        self.assertTrue(all(d[12:] in ring for d, _ in caller.received[heard:]))
        self.assertGreaterEqual(len(caller.received) - heard, 3)  # no RTP yet: ringing on

        for n in range(15):  # the human's early media
            human.send_rtp(n, HUMAN_AUDIO, relay_for_human)
            yield task.deferLater(reactor, 0.02, lambda: None)
        early = [d[12:] for d, _ in caller.received if d[12:] == HUMAN_AUDIO]
        self.assertGreaterEqual(len(early), 10)
        last = max(i for i, (d, _) in enumerate(caller.received) if d[12:] == HUMAN_AUDIO)
        tail = [d[12:] for d, _ in caller.received[last - 8:last + 1]]
        self.assertEqual(tail, [HUMAN_AUDIO] * 9)  # ours fell silent: no interleaving
        self.assertTrue(all(addr == relay_for_caller for _, addr in caller.received))

        self.switch.receive(response(out, 200, "human1", sdp_for(human_port),
                                     contact=f"sip:h@{HUMANS.host}:{HUMANS.port}"), HUMANS)
        self.switch.wire.take()
        self.switch.receive(bye_from(out, "human1"), HUMANS)
        record = yield wait_for(lambda: self.switch.records[0] if self.switch.records
                                else None)
        self.assertEqual(record.transfer_target, "+14155550199")
        self.assertEqual(self.relay.calls, 0)


class OutboundFlowTests(Base):
    @defer.inlineCallbacks
    def test_an_outbound_call_is_answered_and_bridged_to_the_agent(self):
        log = []
        self.start(talking_agent(log), (37200, 37300))
        outbound = OutboundCalls(self.switch.endpoint, reactor, self.switch.holder,
                                 self.factory, self.agents.legs, domain=DOMAIN,
                                 on_call_end=self.switch.records.append)
        callee, callee_port = self.phone()
        call_id = outbound.originate("+12025550150", "+14155550100", "bot",
                                     custom_parameters={"lead": "42"})
        out = yield wait_for(lambda: self.sent_request("INVITE", GATEWAY))
        self.assertEqual(out.call_id, call_id)
        offer = parse_sdp(out.body)
        self.assertEqual(offer.media[0].formats, ["0", "8", "101"])
        relay_for_callee = ("127.0.0.1", offer.media[0].port)

        self.switch.receive(response(out, 180, "callee1"), GATEWAY)
        self.switch.receive(response(out, 200, "callee1", sdp_for(callee_port),
                                     contact=f"sip:c@{GATEWAY.host}:{GATEWAY.port}"), GATEWAY)
        start = yield wait_for(lambda: next((e for e in log if e["event"] == "start"), None))
        parameters = start["start"]["customParameters"]
        self.assertEqual((parameters["direction"], parameters["to"], parameters["lead"]),
                         ("outbound", "+12025550150", "42"))
        for seq in range(15):
            callee.send_rtp(seq, CALLER_AUDIO, relay_for_callee)
            yield task.deferLater(reactor, 0.02, lambda: None)
        heard = yield wait_for(lambda: heard_audio(log) or None)
        self.assertEqual(heard[0], CALLER_AUDIO)
        yield wait_for(lambda: any(d[12:] == AGENT_AUDIO[:160] for d, _ in callee.received)
                       or None)
        self.assertEqual(callee.received[0][1], relay_for_callee)

        self.switch.wire.take()
        self.assertTrue(outbound.hang_up(call_id))
        [(bye, peer)] = [(m, p) for m, p in self.switch.wire.take() if m.is_request]
        self.assertEqual((bye.method, peer), ("BYE", GATEWAY))
        yield wait_for(lambda: any(e["event"] == "stop" for e in log) or None)
        record = yield wait_for(lambda: self.switch.records[0] if self.switch.records
                                else None)
        self.assertEqual((record.direction, record.final_code, record.agent),
                         ("outbound", 200, "bot"))
        self.assertGreater(record.agent_stats["caller_frames"], 0)
        self.assertEqual(self.relay.calls, 0)
