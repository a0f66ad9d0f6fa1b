"""The agent WebSocket client against a server built on another implementation."""

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from ws_agent_server import AgentServer

from softswitch.edge.agent.websocket import AgentRefused, connect_agent
from softswitch.edge.polling.read_group import ReadGroup


class Recorder:
    def __init__(self):
        self.texts, self.binaries, self.closes = [], [], []
        self.waiter = None

    def _poke(self):
        if self.waiter is not None and not self.waiter.called:
            self.waiter.callback(None)

    def text_received(self, text):
        self.texts.append(text)
        self._poke()

    def binary_received(self, data):
        self.binaries.append(data)
        self._poke()

    def closed(self, code, reason):
        self.closes.append(code)
        self._poke()

    def wait(self, condition, timeout=5.0):
        d = Deferred()

        def check(_=None):
            if condition():
                if not d.called:
                    d.callback(None)
                return
            self.waiter = Deferred()
            self.waiter.addCallback(check)

        check()
        timer = reactor.callLater(timeout, lambda: d.called or d.errback(TimeoutError()))
        d.addBoth(lambda r: (timer.active() and timer.cancel(), r)[1])
        return d


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


class AgentSocketTests(unittest.TestCase):
    read_group = None

    def connect(self, url, headers, timeout):
        return connect_agent(reactor, url, headers, timeout, self.read_group)

    def serve(self, handler, **options) -> AgentServer:
        server = AgentServer(handler, **options).__enter__()
        # Join in a worker thread: the server waits for our connections to close,
        # which needs the reactor running.
        self.addCleanup(deferToThread, server.__exit__, None, None, None)
        return server

    def test_headers_text_binary_and_close(self):
        server = self.serve(echo)
        recorder = Recorder()

        def opened(socket):
            socket.listener = recorder
            socket.send_text("hello")
            socket.send_bytes(b"\x00\x01" * 4000)
            return recorder.wait(lambda: recorder.texts and recorder.binaries).addCallback(
                check, socket)

        def check(_, socket):
            self.assertEqual(recorder.texts, ["hello"])
            self.assertEqual(recorder.binaries, [b"\x00\x01" * 4000])
            headers = {k.lower(): v for k, v in server.requests[0].items()}
            self.assertEqual(headers["authorization"], "Bearer secret")
            self.assertEqual(headers[":path"], "/agent?x=1")
            socket.close()
            return recorder.wait(lambda: recorder.closes)

        d = self.connect(server.url, {"Authorization": "Bearer secret"}, 5)
        d.addCallback(opened)
        d.addCallback(lambda _: self.assertEqual(recorder.closes, [1000]))
        return d

    def test_a_refused_upgrade_fails_with_the_status(self):
        server = self.serve(echo, reject_status=403)
        d = self.assertFailure(self.connect(server.url, {}, 5), AgentRefused)
        return d.addCallback(lambda e: self.assertIn("403", str(e)))

    def test_connection_refused_fails(self):
        d = self.connect("ws://127.0.0.1:1/nothing", {}, 2)
        return self.assertFailure(d, AgentRefused)

    def test_bad_url_fails_at_once(self):
        return self.assertFailure(self.connect("http://x/", {}, 2), AgentRefused)

    def test_server_closing_is_reported(self):
        async def close_soon(websocket):
            await websocket.send("bye")
            await websocket.close(4000, "done")

        server = self.serve(close_soon)
        recorder = Recorder()

        def opened(socket):
            socket.listener = recorder
            return recorder.wait(lambda: recorder.closes)

        d = self.connect(server.url, {}, 5).addCallback(opened)
        return d.addCallback(lambda _: self.assertEqual(recorder.closes, [4000]))


class GroupedAgentSocketTests(AgentSocketTests):
    """The same, with the open sockets read by a ReadGroup instead of Twisted."""

    def setUp(self):
        self.read_group = ReadGroup(reactor)

    def test_an_open_socket_is_read_by_the_group_and_released_when_closed(self):
        server = self.serve(echo)
        recorder = Recorder()
        messages = [f"message {n} " * 50 for n in range(200)]

        def opened(socket):
            self.assertEqual(len(self.read_group), 1)
            socket.listener = recorder
            for message in messages:
                socket.send_text(message)
            return recorder.wait(lambda: len(recorder.texts) == len(messages)).addCallback(
                check, socket)

        def check(_, socket):
            self.assertEqual(recorder.texts, messages)
            socket.close()
            return recorder.wait(lambda: recorder.closes)

        def closed(_):
            return task.deferLater(reactor, 0.2, lambda: self.assertEqual(
                len(self.read_group), 0))

        return self.connect(server.url, {}, 5).addCallback(opened).addCallback(closed)
