"""The built-in echo agent, served on a real site, driven by the `websockets` client
(another implementation) the way the switch drives a Twilio-profile agent."""

import base64
import json

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from twisted.web.server import Site
from websockets.sync.client import connect

from softswitch.edge.admin_site import build_root
from softswitch.edge.echo_agent import echo_agent_resource
from softswitch.metrics import Metrics


class EchoAgentTests(unittest.TestCase):
    def setUp(self):
        root = build_root(Metrics().registry, lambda: {"status": "ok"},
                          echo_agent=echo_agent_resource(reactor, delay=0.1))
        self.port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.url = f"ws://127.0.0.1:{self.port.getHost().port}/echo-agent"

    def test_media_comes_back_after_the_delay(self):
        def talk():
            with connect(self.url, open_timeout=5) as ws:
                ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
                                    "start": {"streamSid": "MZ1", "callSid": "CA1"}}))
                payload = base64.b64encode(bytes(range(160))).decode()
                ws.send(json.dumps({"event": "media", "sequenceNumber": "2", "streamSid": "MZ1",
                                    "media": {"track": "inbound", "chunk": "1",
                                              "timestamp": "0", "payload": payload}}))
                received = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
                ws.send(json.dumps({"event": "stop", "streamSid": "MZ1"}))
                return received, payload

        def check(result):
            (mark, media), payload = result
            self.assertEqual(mark["event"], "mark")
            self.assertEqual(media, {"event": "media", "streamSid": "MZ1",
                                     "media": {"payload": payload}})
        return deferToThread(talk).addCallback(check)
