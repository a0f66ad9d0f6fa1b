"""x5u certificates fetched over HTTPS with Twisted's asynchronous HTTP client
(services.stir_verification.CertificateSource): https only, no redirects, bounded in
time (`timeout`, then the INVITE goes on as No-TN-Validation) and size, at most
`max_fetches` at once, one fetch per URL however many calls wait for it, and the
outcome kept by URL in a bounded cache (stir.cert_cache)."""

from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent,
    BrowserLikePolicyForHTTPS,
    ResponseDone,
    ResponseNeverReceived,
)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH

from ...stir.cert_cache import CertCache, CertificateRefused, CertificateUnavailable
from ...stir.certificates import CertificateError, verify_sti_chain

log = Logger()
MAX_URL_LENGTH = 2048
ACCEPT = b"application/pem-certificate-chain, application/x-pem-file, */*"


class FetchFailed(Exception):
    """The x5u did not give a certificate body; str() says why."""


class _BoundedBody(Protocol):
    """Collects a response body up to `limit` bytes; more fails the fetch."""

    def __init__(self, finished: defer.Deferred, limit: int):
        self.finished = finished
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            if not self.finished.called:
                self.finished.errback(FetchFailed(f"certificate larger than {self.limit} bytes"))
            self.transport.stopProducing()
            return
        self.parts.append(data)

    def connectionLost(self, reason: Failure = None) -> None:
        if self.finished.called:
            return
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            self.finished.callback(b"".join(self.parts))
        else:
            self.finished.errback(FetchFailed(f"body cut short: {reason.getErrorMessage()}"))


class CertificateFetcher:
    def __init__(self, reactor, cache: CertCache, anchors: list, *, timeout: float = 2.0,
                 max_bytes: int = 65536, max_fetches: int = 64, trust_root=None,
                 agent=None):
        self._reactor = reactor
        self.cache = cache
        self._anchors = anchors
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_fetches = max_fetches
        self._agent = agent or Agent(reactor, BrowserLikePolicyForHTTPS(trust_root),
                                     connectTimeout=timeout)
        self._pending: dict[str, list[defer.Deferred]] = {}
        self.fetches = 0  # fetches started (what the cache and coalescing saved shows)

    def stats(self) -> dict:
        return {"fetches": self.fetches, "cache_hits": self.cache.hits,
                "cache_misses": self.cache.misses, "cached": len(self.cache)}

    def certificate(self, url: str) -> defer.Deferred:
        """Fires with the CertificateOutcome of `url`; never errbacks."""
        now = self._reactor.seconds()
        cached = self.cache.get(url, now)
        if cached is not None:
            return defer.succeed(cached)
        waiters = self._pending.get(url)
        if waiters is not None:
            waiting = defer.Deferred()
            waiters.append(waiting)
            return waiting
        if not url.lower().startswith("https://") or len(url) > MAX_URL_LENGTH \
                or not url.isascii() or any(c in url for c in " \r\n\t"):
            return defer.succeed(CertificateUnavailable("x5u is not an https URL"))
        if len(self._pending) >= self._max_fetches:
            return defer.succeed(CertificateUnavailable("too many certificate fetches at once"))
        waiting = defer.Deferred()
        self._pending[url] = [waiting]
        self.fetches += 1
        self._fetch(url).addBoth(self._fetched, url)
        return waiting

    def _fetch(self, url: str) -> defer.Deferred:
        d = defer.maybeDeferred(self._agent.request, b"GET", url.encode("ascii"),
                                Headers({b"Accept": [ACCEPT]}))
        d.addCallback(self._body)
        d.addTimeout(self._timeout, self._reactor)
        return d

    def _body(self, response) -> defer.Deferred:
        protocol = None

        def cancel(d):
            if protocol is not None and protocol.transport is not None:
                protocol.transport.stopProducing()

        finished = defer.Deferred(cancel)
        protocol = _BoundedBody(finished, self._max_bytes)
        response.deliverBody(protocol)
        refusal = None
        if response.code != 200:
            refusal = f"HTTP {response.code}"
        elif response.length is not UNKNOWN_LENGTH and response.length > self._max_bytes:
            refusal = f"certificate larger than {self._max_bytes} bytes"
        if refusal is not None:
            finished.addErrback(lambda failure: None)  # the body is dropped unread
            cancel(finished)
            raise FetchFailed(refusal)
        return finished

    def _fetched(self, result, url: str) -> None:
        now = self._reactor.seconds()
        if isinstance(result, Failure):
            if _timed_out(result):
                why = f"no answer in {self._timeout:g} s"
            else:
                why = result.getErrorMessage() or result.type.__name__
            log.info("x5u {url}: {why}", url=url, why=why)
            outcome = CertificateUnavailable(why)
        else:
            try:
                outcome = verify_sti_chain(result, self._anchors, now)
            except CertificateError as exc:
                log.info("x5u {url}: {why}", url=url, why=exc)
                outcome = CertificateRefused(str(exc))
        self.cache.put(url, outcome, now)
        for waiting in self._pending.pop(url, []):
            waiting.callback(outcome)


def _timed_out(failure: Failure) -> bool:
    """Our timeout cancelled the request (the Agent reports that as a response never
    received, for the cancellation)."""
    if failure.check(defer.TimeoutError, defer.CancelledError):
        return True
    if failure.check(ResponseNeverReceived):
        return any(r.check(defer.CancelledError) for r in failure.value.reasons)
    return False
