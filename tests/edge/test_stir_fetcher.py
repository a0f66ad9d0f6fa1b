"""x5u certificates fetched over HTTPS from a local server (a real TLS peer): one
fetch however many calls wait, the outcome cached, and every way a fetch can go
wrong (timeout, too big, HTTP error, not https, an untrusted server) an outcome,
never an error."""

import tempfile
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.trial import unittest
from x5u_server import X5uServer

from softswitch.edge.agent.websocket import load_trust_root
from softswitch.edge.stir.fetcher import CertificateFetcher
from softswitch.stir.cert_cache import CertCache, CertificateRefused, CertificateUnavailable
from softswitch.stir.certificates import StiCertificate
from sti_pki import make_pki


class FetcherTests(unittest.TestCase):
    timeout = 30

    def setUp(self):
        self.directory = Path(tempfile.mkdtemp())
        self.server = X5uServer(self.directory)
        self.addCleanup(self.server.close)
        self.pki = make_pki(days=3650)
        self.server.bodies["/sp.pem"] = self.pki.chain_pem
        self.server.bodies["/other.pem"] = make_pki().chain_pem

    def fetcher(self, **options):
        options.setdefault("timeout", 1.0)
        return CertificateFetcher(reactor, CertCache(16), [self.pki.root.certificate],
                                  trust_root=load_trust_root(str(self.server.ca_file)),
                                  **options)

    @defer.inlineCallbacks
    def test_concurrent_calls_share_one_fetch_and_then_the_cache(self):
        fetcher = self.fetcher()
        url = self.server.url("/sp.pem")
        outcomes = yield defer.gatherResults([fetcher.certificate(url) for _ in range(5)])
        self.assertTrue(all(isinstance(o, StiCertificate) for o in outcomes))
        self.assertIs(outcomes[0], outcomes[4])
        again = yield fetcher.certificate(url)
        self.assertIs(again, outcomes[0])
        self.assertEqual(self.server.requests["/sp.pem"], 1)
        self.assertEqual(fetcher.fetches, 1)

    @defer.inlineCallbacks
    def test_a_certificate_of_another_ca_is_refused_and_remembered(self):
        fetcher = self.fetcher()
        outcome = yield fetcher.certificate(self.server.url("/other.pem"))
        self.assertIsInstance(outcome, CertificateRefused)
        yield fetcher.certificate(self.server.url("/other.pem"))
        self.assertEqual(self.server.requests["/other.pem"], 1)

    @defer.inlineCallbacks
    def test_a_slow_server_gives_unavailable_within_the_timeout(self):
        fetcher = self.fetcher(timeout=0.5)
        started = reactor.seconds()
        outcome = yield fetcher.certificate(self.server.url("/slow/sp.pem"))
        self.assertIsInstance(outcome, CertificateUnavailable)
        self.assertIn("no answer", outcome.reason)
        self.assertLess(reactor.seconds() - started, 2.0)

    @defer.inlineCallbacks
    def test_a_body_beyond_the_limit_is_refused(self):
        fetcher = self.fetcher(max_bytes=4096)
        outcome = yield fetcher.certificate(self.server.url("/huge"))
        self.assertIsInstance(outcome, CertificateUnavailable)
        self.assertIn("larger", outcome.reason)

    @defer.inlineCallbacks
    def test_http_errors_plain_http_and_untrusted_servers_are_unavailable(self):
        fetcher = self.fetcher()
        missing = yield fetcher.certificate(self.server.url("/missing.pem"))
        self.assertEqual(missing, CertificateUnavailable("HTTP 404"))
        plain = yield fetcher.certificate(f"http://localhost:{self.server.port}/sp.pem")
        self.assertIsInstance(plain, CertificateUnavailable)
        untrusted = CertificateFetcher(reactor, CertCache(4), [self.pki.root.certificate],
                                       timeout=2.0,
                                       trust_root=load_trust_root(str(self._other_ca())))
        outcome = yield untrusted.certificate(self.server.url("/sp.pem"))
        self.assertIsInstance(outcome, CertificateUnavailable)

    @defer.inlineCallbacks
    def test_fetches_at_once_are_bounded(self):
        fetcher = self.fetcher(max_fetches=1, timeout=0.5)
        first = fetcher.certificate(self.server.url("/slow/sp.pem"))
        second = yield fetcher.certificate(self.server.url("/other.pem"))
        self.assertEqual(second, CertificateUnavailable("too many certificate fetches at once"))
        yield first

    def _other_ca(self) -> Path:
        other = X5uServer(Path(tempfile.mkdtemp()))
        other.close()
        return other.ca_file
