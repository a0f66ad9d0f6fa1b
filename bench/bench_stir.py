"""STIR/SHAKEN: Identity headers signed and verified per second, on one core.

    python bench/bench_stir.py [--seconds 2] [--fetches 200]

- sign: `Signer.identity()` (claims, ES256 signature with PyJWT, the header value)
  as the proxy does for each branch to a signing trunk;
- verify, cache warm: reading the Identity and the PASSporT, the signature with the
  cached certificate's key, iat, numbers and TNAuthList (`start_verification` +
  `finish_verification`), what a call from a trunk costs when its x5u is cached;
- verify, cache cold (CPU): the same plus the certificate chain checked against the
  trust anchors (`verify_sti_chain`), what each new x5u costs besides its fetch;
- verify, cache cold (HTTPS): `--fetches` different x5u URLs fetched from a local
  HTTPS server (Python's http.server in a thread, on the same cores) through the
  switch's fetcher on the reactor, then verified: fetches per second, and the
  latency of one.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "support"))

from sti_pki import NOW, make_pki  # noqa: E402

from softswitch.stir.cert_cache import CertCache  # noqa: E402
from softswitch.stir.certificates import verify_sti_chain  # noqa: E402
from softswitch.stir.signing import Signer  # noqa: E402
from softswitch.stir.verify import (  # noqa: E402
    PASSED,
    CallNumbers,
    finish_verification,
    start_verification,
)

X5U = "https://sti.example.net/sp.pem"
ORIG, DEST = "+14155550100", "+12125550199"


def rate(label: str, seconds: float, step) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            step()
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            break
    per_second = count / (now - start)
    print(f"{label:<34} {per_second:>9,.0f}/s  ({1e6 / per_second:,.0f} µs each)")
    return per_second


def fetch_cold(pki, fetches: int) -> None:
    from twisted.internet import defer, reactor

    from softswitch.edge.agent.websocket import load_trust_root
    from softswitch.edge.stir.fetcher import CertificateFetcher
    from x5u_server import X5uServer

    server = X5uServer(Path(tempfile.mkdtemp()))
    for i in range(fetches):
        server.bodies[f"/sp{i}.pem"] = pki.chain_pem
    fetcher = CertificateFetcher(reactor, CertCache(fetches), [pki.root.certificate],
                                 timeout=5.0, max_fetches=fetches,
                                 trust_root=load_trust_root(str(server.ca_file)))
    latencies = []

    @defer.inlineCallbacks
    def run():
        start = time.perf_counter()
        for i in range(fetches):  # one at a time: the latency of each
            began = time.perf_counter()
            outcome = yield fetcher.certificate(server.url(f"/sp{i}.pem"))
            latencies.append(time.perf_counter() - began)
            assert not hasattr(outcome, "reason"), outcome
        elapsed = time.perf_counter() - start
        print(f"{'verify, cache cold (HTTPS fetch)':<34} {fetches / elapsed:>9,.0f}/s  "
              f"(median {sorted(latencies)[len(latencies) // 2] * 1e3:.1f} ms, "
              f"max {max(latencies) * 1e3:.1f} ms per x5u, {fetches} URLs in turn)")

    def done(_):
        server.close()
        reactor.stop()

    reactor.callWhenRunning(lambda: run().addBoth(done))
    reactor.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--fetches", type=int, default=200)
    args = parser.parse_args()
    pki = make_pki()
    signer = Signer.from_pem(pki.sti.key_pem, X5U)
    anchors = [pki.root.certificate]
    certificate = verify_sti_chain(pki.chain_pem, anchors, NOW)
    numbers = CallNumbers.of([ORIG], [DEST])
    value = signer.identity("A", ORIG, DEST, NOW, "user:alice")

    def warm():
        pending = start_verification([value])
        assert finish_verification(pending, certificate, numbers, NOW).verstat == PASSED

    def cold():
        pending = start_verification([value])
        fetched = verify_sti_chain(pki.chain_pem, anchors, NOW)
        assert finish_verification(pending, fetched, numbers, NOW).verstat == PASSED

    rate("sign (Identity header)", args.seconds,
         lambda: signer.identity("A", ORIG, DEST, NOW, "user:alice"))
    rate("verify, cache warm", args.seconds, warm)
    rate("verify, cache cold (CPU: chain)", args.seconds, cold)
    if args.fetches:
        fetch_cold(pki, args.fetches)


if __name__ == "__main__":
    main()
