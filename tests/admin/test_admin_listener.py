"""The admin listener's door over real sockets: tokens checked before bodies are read,
bodies capped, connections capped, request heads timed, bad tokens throttled."""

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase

from admin_harness import TOKEN, ApiTestCase
from softswitch.admin.resource import MAX_BODY_BYTES
from softswitch.admin.throttle import BadTokenThrottle

WAIT = 5.0  # seconds a test waits for the listener before it fails
HUGE = 500_000_000


class RawClient(Protocol):
    def __init__(self):
        self.data = b""
        self.closed = defer.Deferred()

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.closed.callback(self.data)

    @property
    def status(self) -> int:
        return int(self.data.split(b" ", 2)[1])


def head(method: str, path: str, token: str | None, **headers) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class RawClientCase(ApiTestCase):
    """Speaks to the admin listener over a raw TCP connection."""

    @defer.inlineCallbacks
    def connect(self):
        client = RawClient()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        yield connectProtocol(endpoint, client)
        self.addCleanup(lambda: client.transport.abortConnection())
        return client


class ListenerTests(RawClientCase):
    def listener_options(self):
        return {"max_connections": 4, "header_timeout": 0.5}


    def closed(self, client):
        return client.closed.addTimeout(WAIT, reactor)

    def refused(self, reason):
        return self.metrics.registry.get_sample_value(
            "softswitch_admin_refused_total", {"reason": reason}) or 0

    @defer.inlineCallbacks
    def test_a_bad_token_is_refused_before_the_body_is_read(self):
        client = yield self.connect()
        client.transport.write(head("POST", "/v1/users", "wrong-token", Content_Length=HUGE,
                                    Content_Type="application/json") + b"{" * 1000)
        data = yield self.closed(client)
        self.assertEqual(client.status, 401, data)
        self.assertIn(b'error="invalid_token"', data)
        self.assertIn(b"Connection: close", data)
        self.assertEqual(self.refused("bad-token"), 1)

    @defer.inlineCallbacks
    def test_a_missing_token_is_refused_before_the_body_is_read(self):
        client = yield self.connect()
        client.transport.write(head("PUT", "/v1/regions/eu", None, Content_Length=HUGE))
        yield self.closed(client)
        self.assertEqual(client.status, 401)

    @defer.inlineCallbacks
    def test_a_declared_body_over_the_cap_gets_413_at_once(self):
        client = yield self.connect()
        client.transport.write(head("POST", "/v1/users", TOKEN,
                                    Content_Length=MAX_BODY_BYTES + 1))
        data = yield self.closed(client)
        self.assertEqual(client.status, 413, data)
        self.assertEqual(self.refused("body-too-large"), 1)

    @defer.inlineCallbacks
    def test_a_chunked_body_is_capped_while_it_arrives(self):
        client = yield self.connect()
        client.transport.write(head("POST", "/v1/users", TOKEN, Transfer_Encoding="chunked"))
        chunk = b"x" * 65536
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            if client.closed.called:
                break
            client.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            yield deferLater(reactor, 0.01)
        yield self.closed(client)
        self.assertEqual(client.status, 413)

    @defer.inlineCallbacks
    def test_a_good_token_with_a_body_is_served(self):
        body = b'{"username": "bob", "password": "bob-password-1"}'
        client = yield self.connect()
        client.transport.write(head("POST", "/v1/users", TOKEN, Content_Length=len(body),
                                    Content_Type="application/json", Connection="close")
                               + body)
        data = yield self.closed(client)
        self.assertEqual(client.status, 201, data)

    @defer.inlineCallbacks
    def test_100_continue_comes_only_after_the_token_and_never_after_a_refusal(self):
        refused = yield self.connect()
        refused.transport.write(head("POST", "/v1/users", "wrong-token", Content_Length=10,
                                     Expect="100-continue"))
        data = yield self.closed(refused)
        self.assertTrue(data.startswith(b"HTTP/1.1 401 "), data)
        self.assertNotIn(b"100 Continue", data)
        body = b'{"username": "carol", "password": "carol-password-1"}'
        client = yield self.connect()
        client.transport.write(head("POST", "/v1/users", TOKEN, Content_Length=len(body),
                                    Expect="100-continue", Connection="close"))
        for _ in range(50):
            if client.data:
                break
            yield deferLater(reactor, 0.02)
        self.assertEqual(client.data, b"HTTP/1.1 100 Continue\r\n\r\n")
        client.transport.write(body)
        data = yield self.closed(client)
        self.assertIn(b"HTTP/1.1 201 ", data)

    @defer.inlineCallbacks
    def test_a_trickled_head_is_closed_at_the_header_deadline(self):
        client = yield self.connect()
        client.transport.write(b"GET /v1/users HTTP/1.1\r\nHost: x\r\n")
        for _ in range(20):
            if client.closed.called:
                break
            client.transport.write(b"X-Slow: 1\r\n")
            yield deferLater(reactor, 0.1)
        data = yield self.closed(client)
        self.assertEqual(data, b"")
        self.assertEqual(self.refused("header-timeout"), 1)

    @defer.inlineCallbacks
    def test_connections_beyond_the_cap_are_closed(self):
        held = []
        for _ in range(4):
            held.append((yield self.connect()))
        extra = yield self.connect()
        data = yield self.closed(extra)
        self.assertEqual(data, b"")
        for client in held:
            self.assertFalse(client.closed.called)
        self.assertEqual(self.refused("connection-limit"), 1)

    @defer.inlineCallbacks
    def test_repeated_bad_tokens_get_429_with_retry_after(self):
        for _ in range(self.bad_token_limit):
            response = yield self.get("/v1/users", token="guess")
            self.assertEqual(response.status, 401)
        blocked = yield self.get("/v1/users", token=TOKEN)
        self.assertEqual(blocked.status, 429)
        self.assertEqual(blocked.header("Retry-After"), "60")
        # Bodies too, before they are read.
        client = yield self.connect()
        client.transport.write(head("POST", "/v1/users", TOKEN, Content_Length=HUGE))
        data = yield self.closed(client)
        self.assertEqual(client.status, 429, data)
        self.assertIn(b"Retry-After: 60", data)
        self.assertEqual(self.refused("throttled"), 1)


class ThrottleTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.throttle = BadTokenThrottle(self.clock, limit=3, window=60, block=10,
                                         max_block=25, max_addresses=2)

    def test_blocks_after_the_limit_within_the_window(self):
        for _ in range(2):
            self.throttle.failed("192.0.2.1")
            self.clock.advance(1)
        self.assertEqual(self.throttle.retry_after("192.0.2.1"), 0)
        self.throttle.failed("192.0.2.1")
        self.assertEqual(self.throttle.retry_after("192.0.2.1"), 10)
        self.assertEqual(self.throttle.retry_after("192.0.2.2"), 0)
        self.clock.advance(9.5)
        self.assertEqual(self.throttle.retry_after("192.0.2.1"), 1)
        self.clock.advance(0.5)
        self.assertEqual(self.throttle.retry_after("192.0.2.1"), 0)

    def test_failures_spread_beyond_the_window_do_not_block(self):
        for _ in range(6):
            self.throttle.failed("192.0.2.1")
            self.clock.advance(31)
        self.assertEqual(self.throttle.retry_after("192.0.2.1"), 0)

    def test_each_block_doubles_up_to_the_maximum(self):
        lengths = []
        for _ in range(3):
            for _ in range(3):
                self.throttle.failed("192.0.2.1")
            lengths.append(self.throttle.retry_after("192.0.2.1"))
            self.clock.advance(lengths[-1])
        self.assertEqual(lengths, [10, 20, 25])

    def test_the_table_is_bounded(self):
        for i in range(100):
            self.throttle.failed(f"192.0.2.{i}")
        self.assertEqual(len(self.throttle), 2)


class TwilioPathTests(RawClientCase):
    """Twilio's REST paths carry Basic credentials their own resource checks: the door
    reads their small form bodies without a bearer token, and caps them."""

    def listener_options(self):
        return {"self_authenticating": ((b"/2010-04-01/", 8192),)}


    @defer.inlineCallbacks
    def test_a_basic_auth_form_reaches_past_the_door(self):
        client = yield self.connect()
        form = b"Status=completed"
        client.transport.write(
            head("POST", "/2010-04-01/Accounts/AC1/Calls/CA1.json", None,
                 Authorization="Basic QUMxOnRva2Vu", Content_Length=len(form),
                 Content_Type="application/x-www-form-urlencoded", Connection="close")
            + form)
        data = yield client.closed.addTimeout(WAIT, reactor)
        # No Twilio resource is mounted in this harness: the root's 404, not the
        # door's bearer-token 401, shows the request went through.
        self.assertEqual(client.status, 404, data)

    @defer.inlineCallbacks
    def test_a_large_body_on_the_twilio_path_gets_413(self):
        client = yield self.connect()
        client.transport.write(
            head("POST", "/2010-04-01/Accounts/AC1/Calls/CA1.json", None,
                 Authorization="Basic QUMxOnRva2Vu", Content_Length=HUGE)
            + b"x" * 1000)
        data = yield client.closed.addTimeout(WAIT, reactor)
        self.assertEqual(client.status, 413, data)
