"""Agents written for Twilio, unchanged, against the switch: the real `pipecat-ai`
(its runner's parsing of the start message, its TwilioFrameSerializer both ways and
its automatic hang-up over the REST API) and the real `twilio` package (its
RequestValidator on the upgrade's X-Twilio-Signature, its REST client fetching and
hanging up a call at the switch's Twilio-compatible base URL).

`twilio` is in the `test` extra, `pipecat-ai` is installed by .ci/setup (without its
soxr pin); without them these tests fail under CI (env CI set) and are skipped loudly
elsewhere."""

import asyncio
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from agent_call_case import CALLER_AUDIO, AgentCallCase, wait_for
from prometheus_client import CollectorRegistry
from twisted.internet import defer, reactor, task
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from twisted.web.server import Site

from softswitch.admin.calls_view import CallsView
from softswitch.admin.twilio_api import TwilioApiResource
from softswitch.edge.admin.site import build_root

try:
    from twilio.base.exceptions import TwilioRestException
    from twilio.request_validator import RequestValidator
    from twilio.rest import Client
except ImportError as exc:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI"):
        raise AssertionError(f"twilio is required under CI: {exc}") from None
    pytest.skip(f"NOT RUN: twilio missing ({exc}); pip install -e '.[test]'",
                allow_module_level=True)
try:
    from pipecat.frames.frames import EndFrame, InputAudioRawFrame, OutputAudioRawFrame
    from pipecat.processors.frame_processor import FrameProcessorSetup
    from pipecat.runner.utils import parse_telephony_websocket
    from pipecat.serializers.twilio import TwilioFrameSerializer
    PIPECAT_MISSING = None
except ImportError as exc:  # pragma: no cover - .ci/setup installs it
    if os.environ.get("CI"):
        raise AssertionError(f"pipecat-ai is required under CI: {exc}") from None
    PIPECAT_MISSING = f"NOT RUN: pipecat-ai missing ({exc}); run .ci/setup"

SID = "AC" + "5f" * 16
TOKEN = "0123456789abcdef0123456789abcdef"


class TwilioCompatTests(AgentCallCase):
    timeout = 30

    def serve_twilio_api(self, switch) -> str:
        """The admin site's Twilio paths on a loopback port; the base URL."""
        resource = TwilioApiResource(CallsView(switch.proxy),
                                     lambda: self.snapshot.agents.values(), reactor)
        site = _ClosingSite(build_root(CollectorRegistry(), lambda: {"status": "ok"},
                                       twilio_api=resource))
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(site.close_all)
        self.addCleanup(port.stopListening)
        return f"http://127.0.0.1:{port.getHost().port}"

    @defer.inlineCallbacks
    def test_a_pipecat_agent_hears_the_caller_talks_and_hangs_up_over_rest(self):
        if PIPECAT_MISSING:
            raise unittest.SkipTest(PIPECAT_MISSING)
        seen = {}
        base = {}
        words = (8000 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype("<i2")

        async def handle(websocket):
            # What pipecat's development runner does with a Twilio connection.
            transport, call_data = await parse_telephony_websocket(
                SimpleNamespace(iter_text=websocket.__aiter__))
            seen.update(transport=transport, call_data=call_data)
            while "url" not in base:  # (served once the call is set up)
                await asyncio.sleep(0.01)
            serializer = TwilioFrameSerializer(
                call_data.stream_id, call_data.call_id, account_sid=SID, auth_token=TOKEN,
                base_url=base["url"])
            await serializer.setup(FrameProcessorSetup(None, None, None,
                                                       audio_in_sample_rate=16000))
            await websocket.send(await serializer.serialize(
                OutputAudioRawFrame(words.tobytes(), 16000, 1)))  # 1 s of speech
            frames = []
            async for message in websocket:
                frame = await serializer.deserialize(message)
                if isinstance(frame, InputAudioRawFrame):
                    frames.append(frame)
                    if len(frames) == 10:  # heard the caller: say goodbye (EndFrame)
                        seen["frames"] = frames
                        await serializer.serialize(EndFrame())  # pipecat's auto hang-up
                if json.loads(message)["event"] == "stop":
                    return

        switch, phone, relay_addr = yield self.call_agent(
            handle, agent_options={"account_sid": SID, "auth_token": TOKEN})
        base["url"] = self.serve_twilio_api(switch)
        for seq in range(15):
            phone.send_rtp(seq, CALLER_AUDIO, relay_addr)
            yield task.deferLater(reactor, 0.02, lambda: None)
        bye = yield wait_for(lambda: next((m for m, _ in switch.wire.sent
                                           if m.is_request and m.method == "BYE"), None),
                             timeout=10)
        self.assertEqual(bye.method, "BYE")
        self.assertEqual(seen["transport"], "twilio")
        call_data = seen["call_data"]
        self.assertEqual((call_data.from_number, call_data.to_number, call_data.call_id),
                         ("+12125550123", "+14155550100", "call-1@carrier"))
        self.assertEqual(call_data.body["direction"], "inbound")
        self.assertEqual({f.sample_rate for f in seen["frames"]}, {16000})
        # The goodbye was played in full before the BYE (the REST hang-up waits for it;
        # after the BYE the switch sends nothing more, so late readings cannot add any).
        yield wait_for(lambda: sum(d[12:] != b"\xff" * 160 for d, _ in phone.received) >= 48,
                       timeout=2)
        self.hang_up(switch)
        record = yield wait_for(lambda: switch.records[0] if switch.records else None)
        self.assertEqual((record.disconnect_side, record.disconnect_reason),
                         ("agent", "twilio-api"))

    @defer.inlineCallbacks
    def test_the_upgrade_signature_validates_with_twilios_request_validator(self):
        async def handle(websocket):
            async for message in websocket:
                if json.loads(message)["event"] == "start":
                    await asyncio.sleep(0)

        switch, _, _ = yield self.call_agent(
            handle, agent_options={"account_sid": SID, "auth_token": TOKEN})
        self.addCleanup(self.hang_up, switch)
        [request] = self.agent_server.requests
        url = self.snapshot.agents["bot"].url
        signature = request["X-Twilio-Signature"]
        self.assertTrue(RequestValidator(TOKEN).validate(url, {}, signature))
        self.assertFalse(RequestValidator("f" * 32).validate(url, {}, signature))
        self.assertFalse(RequestValidator(TOKEN).validate(url + "&y=2", {}, signature))

    @defer.inlineCallbacks
    def test_twilios_rest_client_fetches_and_hangs_up_a_call(self):
        log = []

        async def handle(websocket):
            async for message in websocket:
                log.append(json.loads(message))

        switch, _, _ = yield self.call_agent(
            handle, agent_options={"account_sid": SID, "auth_token": TOKEN})
        base = self.serve_twilio_api(switch)
        start = yield wait_for(lambda: next((e for e in log if e["event"] == "start"), None))
        self.assertEqual(start["start"]["accountSid"], SID)

        def client(token=TOKEN):
            c = Client(SID, token)
            c.api.base_url = base
            return c

        call_sid = start["start"]["callSid"]
        call = yield deferToThread(lambda: client().calls(call_sid).fetch())
        self.assertEqual((call.sid, call.status, call._from, call.to),
                         (call_sid, "in-progress", "+12125550123", "+14155550100"))
        for attempt, status, code in (
                (lambda: client("0" * 32).calls(call_sid).fetch(), 401, 20003),
                (lambda: client().calls("nope@nowhere").update(status="completed"), 404, 20404),
                (lambda: client().calls(call_sid).update(url="https://x.example/t"), 400, 20001),
                (lambda: client().calls(call_sid).update(
                    twiml="<Response><Say>hi</Say></Response>"), 400, 20001)):
            failure = yield deferToThread(_raised, attempt)
            self.assertIsInstance(failure, TwilioRestException)
            self.assertEqual((failure.status, failure.code), (status, code), failure.msg)
        ended = yield deferToThread(lambda: client().calls(call_sid).update(
            twiml="<?xml version='1.0'?><Response><Hangup/></Response>"))
        self.assertEqual(ended.status, "completed")
        yield wait_for(lambda: next((m for m, _ in switch.wire.sent
                                     if m.is_request and m.method == "BYE"), None))
        self.hang_up(switch)
        record = yield wait_for(lambda: switch.records[0] if switch.records else None)
        self.assertEqual((record.disconnect_side, record.disconnect_reason),
                         ("agent", "twilio-api"))
        gone = yield deferToThread(_raised, lambda: client().calls(call_sid).fetch())
        self.assertEqual((gone.status, gone.code), (404, 20404))


class _ClosingSite(Site):
    """A Site that can drop its clients' kept-alive connections at the end."""

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        self.__dict__.setdefault("opened", []).append(protocol)
        return protocol

    def close_all(self):
        for protocol in self.__dict__.get("opened", []):
            transport = protocol._channel.transport  # (the HTTP/1.1 channel's)
            if transport is not None:
                transport.abortConnection()


def _raised(attempt):
    try:
        attempt()
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return exc
    raise AssertionError("no error")
