"""STIR/SHAKEN verification of calls from trunks (RFC 8224 §6.2, ATIS-1000074
§5.3.2): the Identity checked against the certificate its x5u serves, fetched by the
edge (a CertificateSource), and the number's screening route chosen by the verstat.
The INVITE waits for the fetch, which the edge bounds in time: a fetch that fails or
times out gives No-TN-Validation, never a call left hanging."""

import dataclasses
from typing import Protocol

from twisted.internet import defer
from twisted.logger import Logger

from ..sip.fields import parse_name_addr
from ..sip.message import Request
from ..sip.uri import number_part
from ..stir.verify import (
    FAILED,
    NO_VALIDATION,
    PASSED,
    VERSTATS,
    CallNumbers,
    Verification,
    finish_verification,
    start_verification,
)
from .numbers import NumberError, normalise

log = Logger()
SCREENING_CONDITIONS = ("failed", "unverified", "not-a")


class CertificateSource(Protocol):
    def certificate(self, url: str) -> defer.Deferred:
        """Fires with a stir.cert_cache.CertificateOutcome (never errbacks)."""

    def stats(self) -> dict:
        """Counters for metrics: fetches, cache hits and misses, cached entries."""


class CallVerification:
    def __init__(self, certificates: CertificateSource, clock, max_age: float = 60.0):
        self.certificates = certificates
        self._clock = clock
        self._max_age = max_age
        self.verified = dict.fromkeys(VERSTATS, 0)  # calls by verstat (metrics)

    def verify(self, request: Request, number_format: str = "e164") -> defer.Deferred:
        """Fires with the Verification of `request`'s Identity headers."""
        return self._verify(request, number_format).addCallback(self._count)

    def _count(self, verification: Verification) -> Verification:
        self.verified[verification.verstat] += 1
        return verification

    def _verify(self, request: Request, number_format: str) -> defer.Deferred:
        started = start_verification(request.headers.values("Identity"))
        if isinstance(started, Verification):
            return defer.succeed(started)
        numbers = call_numbers(request, number_format)

        def finish(certificate):
            return finish_verification(started, certificate, numbers, self._clock.seconds(),
                                       self._max_age)

        def trouble(failure):
            log.failure("verifying {call_id}", failure, call_id=request.call_id)
            return Verification(NO_VALIDATION, started.passport.attest, "verification error")

        return self.certificates.certificate(started.x5u).addCallback(finish) \
            .addErrback(trouble)


def call_numbers(request: Request, number_format: str) -> CallNumbers:
    """The caller's numbers (From and P-Asserted-Identity) and the callee's (Request-URI
    and To), as sent and in E.164 under the trunk's number format."""
    orig = [number_part(request.from_.uri)]
    for value in request.headers.values("P-Asserted-Identity")[:2]:
        try:
            orig.append(number_part(parse_name_addr(value.split(",")[0]).uri))
        except Exception:  # an unreadable PAI names no number
            continue
    dest = [number_part(request.ruri), number_part(request.to.uri)]
    return CallNumbers.of(_with_e164(orig, number_format), _with_e164(dest, number_format))


def _with_e164(numbers, number_format: str) -> list[str]:
    out = []
    for number in filter(None, numbers):
        out.append(number)
        try:
            out.append(normalise(number, number_format))
        except NumberError:
            pass
    return out


def takes_unverified_route(when: str | None, verification: Verification) -> bool:
    if when == "failed":
        return verification.verstat == FAILED
    if when == "unverified":
        return verification.verstat != PASSED
    if when == "not-a":
        return not (verification.verstat == PASSED and verification.attestation == "A")
    return False


def screened(plan, number, verification: Verification):
    """`plan` (call_routing.CallPlan) with the number's unverified route when the
    verstat calls for it, and the verification noted."""
    notes = {**plan.notes, "verification": verification}
    if number is not None and number.unverified_targets and \
            takes_unverified_route(number.unverified_when, verification):
        return dataclasses.replace(plan, targets=number.unverified_targets, notes=notes)
    return dataclasses.replace(plan, notes=notes)
