"""The built-in echo agent, served on a real site, driven by the `websockets` client
(another implementation) the way the switch drives a Twilio-profile agent: at
/v1/echo-agent, and at /echo-agent where databases of earlier versions point; the
rest of /v1 is still the API's."""

import base64
import json

from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from twisted.web.client import Agent, readBody
from twisted.web.resource import Resource
from twisted.web.server import Site
from websockets.sync.client import connect

from softswitch.edge.admin.site import build_root
from softswitch.edge.agent.echo import echo_agent_resource
from softswitch.metrics import Metrics


class PathEcho(Resource):
    """Stands for the API: a leaf that answers with the path it was asked for."""

    isLeaf = True

    def render_GET(self, request):
        return request.path


class EchoAgentTests(unittest.TestCase):
    path = "/v1/echo-agent"

    def setUp(self):
        root = build_root(Metrics().registry, lambda: {"status": "ok"}, api=PathEcho(),
                          echo_agent=echo_agent_resource(reactor, delay=0.1))
        self.port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.base = f"127.0.0.1:{self.port.getHost().port}"
        self.url = f"ws://{self.base}{self.path}"

    def test_the_rest_of_v1_is_the_apis(self):
        def check(bodies):
            self.assertEqual(bodies, [b"/v1/agents/echo", b"/v1"])
        gets = [Agent(reactor).request(b"GET", f"http://{self.base}{path}".encode())
                for path in ("/v1/agents/echo", "/v1")]
        return defer.gatherResults([d.addCallback(readBody) for d in gets]).addCallback(check)

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


class LegacyPathTests(EchoAgentTests):
    path = "/echo-agent"
