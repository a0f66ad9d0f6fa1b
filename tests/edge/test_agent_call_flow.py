"""An agent call over real sockets: SIP in memory, but the real relay, real RTP over
loopback UDP from a phone, and a real agent server on the `websockets` library
speaking the Twilio profile. The caller's audio reaches the agent, the agent's audio
comes back as RTP, marks are acknowledged after playout, a BYE stops the agent."""

import base64
import json

from agent_call_case import (
    AGENT_AUDIO, CALLER_AUDIO, CARRIER, AgentCallCase, Phone, agent_handler, wait_for,
)
from twisted.internet import defer, reactor, task
from twisted.trial import unittest
from ws_agent_server import heard_audio

from softswitch.edge.media.relay import RtpRelay
from softswitch.media.rtp import payload_of
from softswitch.sdp import parse_sdp
from softswitch.services.media_control import RegionConfig

class AgentCallFlowTests(AgentCallCase):
    @defer.inlineCallbacks
    def test_audio_both_ways_marks_and_hangup(self):
        log = []
        switch, phone, relay_addr = yield self.call_agent(agent_handler(log), 36000,
                                                          event_pt=101)
        ok = self.ok
        self.assertEqual(parse_sdp(ok.body).media[0].formats, ["0", "101"])

        for seq in range(20):  # 400 ms of caller audio, 20 ms apart
            phone.send_rtp(seq, CALLER_AUDIO, relay_addr)
            yield task.deferLater(reactor, 0.02, lambda: None)

        heard = yield wait_for(lambda: heard_audio(log) or None)
        self.assertEqual([e["event"] for e in log[:2]], ["connected", "start"])
        self.assertEqual(heard[0], CALLER_AUDIO)  # (after silence from the answer on)
        marks = yield wait_for(lambda: [e for e in log if e["event"] == "mark"] or None)
        self.assertEqual(marks[0]["mark"]["name"], "greeting-done")
        payloads = [d[12:] for d, _ in phone.received]
        self.assertIn(AGENT_AUDIO[:160], payloads)  # the agent's voice, as RTP
        self.assertTrue(all(len(p) == 160 for p in payloads))

        switch.wire.take()
        ack = (f"ACK sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKa\n"
               f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
               "Call-ID: call-1@carrier\nCSeq: 1 ACK\nContent-Length: 0\n\n")
        self.assertEqual(switch.receive(ack, CARRIER), [])
        bye = (f"BYE sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKb\n"
               f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
               "Call-ID: call-1@carrier\nCSeq: 2 BYE\nContent-Length: 0\n\n")
        self.assertEqual([m.status for m, _ in switch.receive(bye, CARRIER)], [200])
        yield wait_for(lambda: any(e["event"] == "stop" for e in log) or None)
        record = yield wait_for(lambda: switch.records[0] if switch.records else None)
        self.assertEqual((record.agent, record.disconnect_side), ("bot", "caller"))
        self.assertGreater(record.agent_stats["caller_frames"], 0)
        self.assertEqual(self.relay.calls, 0)


class AgentCallHoldTests(AgentCallCase):
    def reinvite(self, switch, cseq, direction):
        ok = self.ok
        body = ("v=0\r\no=- 1 {0} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=audio {1} RTP/AVP 0\r\na={2}\r\n").format(cseq, self.phone_port, direction)
        sent = switch.receive(
            f"INVITE sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;"
            f"branch=z9hG4bKr{cseq}\nMax-Forwards: 70\nTo: {ok.headers.get('To')}\n"
            f"From: {ok.headers.get('From')}\nCall-ID: call-1@carrier\nCSeq: {cseq} INVITE\n"
            f"Content-Type: application/sdp\nContent-Length: {len(body)}\n\n{body}", CARRIER)
        [reply] = [m for m, _ in sent if not m.is_request and m.cseq.number == cseq]
        return parse_sdp(reply.body)

    @defer.inlineCallbacks
    def test_a_held_agent_call_is_kept_past_the_inactivity_timeout_until_it_resumes(self):
        clock, timeouts = task.Clock(), []
        log = []
        switch, phone, relay_addr = yield self.call_agent(
            agent_handler(log), 36600, relay_options=dict(
                clock=clock, inactivity_timeout=5.0, hold_timeout=100.0))
        self.relay.set_listener(timeouts.append)
        held = self.reinvite(switch, 2, "sendonly")
        self.assertEqual(held.media[0].direction, "recvonly")
        yield wait_for(lambda: any(e["event"] == "start" for e in log) or None)
        clock.advance(30)  # silence both ways, but on hold
        self.assertEqual(timeouts, [])
        phone.received.clear()
        yield task.deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(phone.received, [])  # no RTP to a caller who holds
        resumed = self.reinvite(switch, 3, "sendrecv")
        self.assertEqual(resumed.media[0].direction, "sendrecv")
        yield wait_for(lambda: phone.received or None)  # the agent's stream goes on
        clock.advance(6)
        self.assertEqual([t.call_id for t in timeouts], ["call-1@carrier;agent"])
        self.hang_up(switch, cseq=4)  # after the re-INVITEs' CSeqs 2 and 3


class LocalLegInjectionTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_packets_sent_to_the_callee_side_of_a_local_leg_never_reach_the_caller(self):
        from softswitch.edge.agent.media import AgentMedia
        relay = RtpRelay(reactor, {"default": RegionConfig("default", "127.0.0.1", "127.0.0.1",
                                                           36200, 36300)}, "default")
        self.addCleanup(relay.close)
        phone, stranger = Phone(), Phone()
        phone_port = reactor.listenUDP(0, phone, interface="127.0.0.1")
        stranger_port = reactor.listenUDP(0, stranger, interface="127.0.0.1")
        self.addCleanup(phone_port.stopListening)
        self.addCleanup(stranger_port.stopListening)
        offer = (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                 f"m=audio {phone_port.getHost().port} RTP/AVP 0\r\n").encode()
        leg = yield AgentMedia(relay).open_local("inject-1", offer, None)
        received = []
        leg.set_receiver(lambda data, first, *rest: received.append(payload_of(data, first)))
        caller_facing = parse_sdp(leg.answer_sdp).media[0].port
        for seq in range(3):
            phone.send_rtp(seq, CALLER_AUDIO, ("127.0.0.1", caller_facing))
        # Every other port of the relay call (the callee side) gets a stranger's RTP.
        for port in range(36200, 36300):
            if port not in (caller_facing, caller_facing + 1):
                for seq in range(5):
                    stranger.send_rtp(seq, b"\x00" * 160, ("127.0.0.1", port))
        yield task.deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(len(received), 3)  # only the caller's own packets, locally
        self.assertEqual(phone.received, [])  # nothing injected towards the caller


class AgentSocketLossTests(AgentCallCase):
    """A socket the agent drops is reopened once with the profile's start messages;
    an agent closing its socket normally (1000) ends the call."""

    @defer.inlineCallbacks
    def test_a_dropped_socket_is_reopened_with_connected_and_start_again(self):
        connections = []

        async def handle(websocket):
            log = []
            connections.append(log)
            async for message in websocket:
                log.append(json.loads(message))
                if len(connections) == 1 and log[-1]["event"] == "start":
                    await websocket.close(1011, "agent restarting")  # not a normal close
                    return

        switch, phone, relay_addr = yield self.call_agent(handle)
        yield wait_for(lambda: len(connections) == 2 and len(connections[1]) >= 2)
        first, second = connections
        self.assertEqual([e["event"] for e in second[:2]], ["connected", "start"])
        self.assertEqual(second[1]["sequenceNumber"], "1")  # a new stream's counters
        self.assertEqual(second[1]["streamSid"], first[1]["streamSid"])
        for seq in range(10):
            phone.send_rtp(seq, CALLER_AUDIO, relay_addr)
            yield task.deferLater(reactor, 0.02, lambda: None)
        heard = yield wait_for(lambda: heard_audio(second) or None)
        self.assertEqual(heard[0], CALLER_AUDIO)
        self.assertFalse([m for m, _ in switch.wire.sent if m.is_request and m.method == "BYE"])
        self.assertEqual([m.status for m, _ in self.hang_up(switch)], [200])
        yield wait_for(lambda: switch.records)

    @defer.inlineCallbacks
    def test_an_agent_closing_its_socket_normally_ends_the_call_with_bye(self):
        async def handle(websocket):
            async for message in websocket:
                if json.loads(message)["event"] == "start":
                    await websocket.close(1000, "done")
                    return

        switch, _, _ = yield self.call_agent(handle)
        bye = yield wait_for(lambda: next((m for m, _ in switch.wire.sent
                                           if m.is_request and m.method == "BYE"), None))
        self.assertEqual(bye.method, "BYE")
        self.hang_up(switch)  # (the ACK; the BYE crossing ours gets 481)
        record = yield wait_for(lambda: switch.records[0] if switch.records else None)
        self.assertEqual(record.disconnect_reason, "agent-closed")

    @defer.inlineCallbacks
    def test_audio_sent_just_before_a_normal_close_is_played_before_the_bye(self):
        # Twilio's samples send their goodbye and a mark, then close at once.
        words = b"".join(bytes([0x10 + k]) * 160 for k in range(50))  # 1 s, each frame known

        async def handle(websocket):
            async for message in websocket:
                event = json.loads(message)
                if event["event"] == "start":
                    sid = event["streamSid"]
                    await websocket.send(json.dumps({"event": "media", "streamSid": sid,
                                                     "media": {"payload": base64.b64encode(
                                                         words).decode()}}))
                    await websocket.send(json.dumps({"event": "mark", "streamSid": sid,
                                                     "mark": {"name": "bye-said"}}))
                    await websocket.close(1000, "done")
                    return

        switch, phone, _ = yield self.call_agent(handle)
        bye = yield wait_for(lambda: next((m for m, _ in switch.wire.sent
                                           if m.is_request and m.method == "BYE"), None))
        payloads = [d[12:] for d, _ in phone.received]
        said = [p for p in payloads if p[0] != 0xFF]  # (silence is 0xFF)
        self.assertEqual(said, [words[k * 160:(k + 1) * 160] for k in range(50)])
        self.assertEqual(bye.method, "BYE")
        self.hang_up(switch)
        record = yield wait_for(lambda: switch.records[0] if switch.records else None)
        self.assertEqual((record.disconnect_side, record.disconnect_reason),
                         ("agent", "agent-closed"))
        self.assertEqual(record.agent_stats["agent_frames_sent"], 50)
        self.assertEqual(record.agent_stats["marks_played"], 1)

    @defer.inlineCallbacks
    def test_a_caller_hanging_up_while_a_closed_agents_audio_plays_ends_it_at_once(self):
        async def handle(websocket):
            async for message in websocket:
                event = json.loads(message)
                if event["event"] == "start":
                    await websocket.send(json.dumps({
                        "event": "media", "streamSid": event["streamSid"],
                        "media": {"payload": base64.b64encode(b"\x22" * 8000 * 10).decode()}}))
                    await websocket.close(1000, "done")
                    return

        switch, phone, _ = yield self.call_agent(handle)
        yield wait_for(lambda: len(phone.received) >= 10)  # the agent's words are playing
        self.assertEqual([m.status for m, _ in self.hang_up(switch)], [200])
        record = yield wait_for(lambda: switch.records[0] if switch.records else None)
        self.assertEqual((record.disconnect_side, record.disconnect_reason), ("caller", "bye"))
        self.assertFalse([m for m, _ in switch.wire.sent if m.is_request and m.method == "BYE"])
        self.assertLess(record.agent_stats["agent_frames_sent"], 100)

    @defer.inlineCallbacks
    def test_the_audio_played_after_a_close_is_bounded_by_close_drain_timeout(self):
        async def handle(websocket):
            async for message in websocket:
                event = json.loads(message)
                if event["event"] == "start":
                    await websocket.send(json.dumps({
                        "event": "media", "streamSid": event["streamSid"],
                        "media": {"payload": base64.b64encode(b"\x22" * 8000 * 10).decode()}}))
                    await websocket.close(1000, "done")
                    return

        switch, phone, _ = yield self.call_agent(handle, close_drain_timeout=0.3)
        started = reactor.seconds()
        yield wait_for(lambda: next((m for m, _ in switch.wire.sent
                                     if m.is_request and m.method == "BYE"), None))
        self.assertLess(reactor.seconds() - started, 1.5)  # not the 10 s queued
        self.hang_up(switch)
        record = yield wait_for(lambda: switch.records[0] if switch.records else None)
        self.assertEqual((record.disconnect_side, record.disconnect_reason),
                         ("agent", "agent-closed"))
        self.assertLess(record.agent_stats["agent_frames_sent"], 60)
