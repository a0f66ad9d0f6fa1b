"""Webhook deliveries over HTTP (services.webhooks' sender): one POST per try with
twisted.web.client.Agent; the status code is the result, the response body is not
read beyond a small cap, and a try that takes longer than `timeout` seconds is
cancelled (a failed try, retried by the service). `WebhookMetrics` shows the
deliveries on /metrics, read from the service when scraped."""

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.internet import defer, protocol
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from ..services.webhooks import NO_WEBHOOKS, Webhooks

MAX_RESPONSE_BYTES = 16 * 1024  # read (and dropped) so the connection can be reused


class _Discard(protocol.Protocol):
    def __init__(self, finished: defer.Deferred):
        self._finished = finished
        self._seen = 0

    def dataReceived(self, data: bytes) -> None:
        self._seen += len(data)
        if self._seen > MAX_RESPONSE_BYTES:
            self.transport.stopProducing()

    def connectionLost(self, reason=None) -> None:
        if not self._finished.called:
            self._finished.callback(None)


@implementer(IBodyProducer)
class _Body:
    """A body already in memory (FileBodyProducer would pace it on the global
    reactor's cooperator)."""

    def __init__(self, data: bytes):
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer):
        consumer.write(self._data)
        return defer.succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


class HttpSender:
    def __init__(self, reactor, timeout: float = 5.0, user_agent: str = "softswitch"):
        self._reactor = reactor
        self._timeout = timeout
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = 4
        self._agent = Agent(reactor, connectTimeout=timeout, pool=self._pool)
        self._user_agent = user_agent

    def send(self, url: str, headers: dict, body: bytes) -> defer.Deferred:
        raw = Headers({name: [value] for name, value in headers.items()})
        raw.setRawHeaders("User-Agent", [self._user_agent])
        d = self._agent.request(b"POST", url.encode(), raw, _Body(body))

        def got(response):
            finished = defer.Deferred()
            response.deliverBody(_Discard(finished))
            return finished.addCallback(lambda _: response.code)

        d.addCallback(got)
        d.addTimeout(self._timeout, self._reactor)
        return d

    def close(self) -> defer.Deferred:
        return self._pool.closeCachedConnections()


class WebhookMetrics:
    """A prometheus collector over a services.webhooks.Webhooks."""

    def __init__(self, webhooks):
        self._webhooks = webhooks

    def collect(self):
        hooks = self._webhooks
        done = CounterMetricFamily("softswitch_webhook_deliveries",
                                   "Webhook deliveries that ended, by outcome",
                                   labels=["outcome"])
        for state, count in hooks.finished.items():
            done.add_metric([state], count)
        yield done
        yield CounterMetricFamily("softswitch_webhook_tries",
                                  "HTTP tries of webhook deliveries (retries included)",
                                  value=hooks.tries)
        yield GaugeMetricFamily("softswitch_webhook_pending",
                                "Webhook deliveries waiting or in flight", value=hooks.pending)


def build_webhooks(settings, reactor, snapshot, metrics=None):
    """The switch's webhooks from [webhooks] and the agents' own URLs (the routing
    snapshot's), or NO_WEBHOOKS without a secret to sign with."""
    secret = settings.webhook_secret
    if not secret:
        return NO_WEBHOOKS
    config = settings.webhooks

    def agent_url(name: str):
        agent = snapshot().agents.get(name)
        return None if agent is None else agent.webhook_url

    webhooks = Webhooks(reactor, HttpSender(reactor, config.timeout), secret=secret,
                        url=config.url, agent_url=agent_url,
                        max_pending=config.max_pending, max_attempts=config.max_attempts)
    if metrics is not None:
        metrics.registry.register(WebhookMetrics(webhooks))
    return webhooks
