"""STIR/SHAKEN counters for /metrics, read at scrape time from the signer, the verifier
and its certificate fetcher (nothing per call touches prometheus_client)."""

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class StirMetrics:
    def __init__(self, signing=None, verification=None):
        self._signing = signing
        self._verification = verification

    def collect(self):
        if self._signing is not None:
            signed = CounterMetricFamily(
                "softswitch_stir_signed", "Calls to trunks given our Identity, by attestation",
                labels=["attestation"])
            for level, count in self._signing.signed.items():
                signed.add_metric([level], count)
            yield signed
            unsigned = CounterMetricFamily(
                "softswitch_stir_unsigned", "Calls to signing trunks left without an Identity "
                "(the caller presented no telephone number)")
            unsigned.add_metric([], self._signing.unsigned)
            yield unsigned
        if self._verification is not None:
            verified = CounterMetricFamily(
                "softswitch_stir_verified", "Calls from trunks verified, by verstat",
                labels=["verstat"])
            for verstat, count in self._verification.verified.items():
                verified.add_metric([verstat], count)
            yield verified
            stats = self._verification.certificates.stats()
            fetches = CounterMetricFamily("softswitch_stir_x5u_fetches",
                                          "x5u certificates fetched over HTTPS")
            fetches.add_metric([], stats["fetches"])
            yield fetches
            lookups = CounterMetricFamily(
                "softswitch_stir_x5u_cache_lookups", "x5u certificate cache lookups, by result",
                labels=["result"])
            lookups.add_metric(["hit"], stats["cache_hits"])
            lookups.add_metric(["miss"], stats["cache_misses"])
            yield lookups
            cached = GaugeMetricFamily("softswitch_stir_x5u_cached",
                                       "x5u certificates (and failures) in the cache")
            cached.add_metric([], stats["cached"])
            yield cached
