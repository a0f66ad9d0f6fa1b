"""Verification of an inbound call's Identity (RFC 8224 §6.2, ATIS-1000074 §5.3.2),
in two steps around the certificate fetch: `start_verification` reads the headers
and names the x5u to fetch (or already has the answer), `finish_verification` checks
the signature, the freshness of `iat`, the numbers and the TNAuthList against the
certificate the edge fetched. The result is a verstat (3GPP TS 24.229 §7.2A.20)
and the attestation level."""

from dataclasses import dataclass

import jwt

from .cert_cache import CertificateOutcome, CertificateRefused, CertificateUnavailable
from .certificates import StiCertificate
from .identity_header import (
    MAX_IDENTITY_HEADERS,
    IdentityHeaderError,
    parse_identity,
)
from .passport import ALGORITHM, PPT_SHAKEN, Passport, PassportError, canonical_tn, read_passport

PASSED = "TN-Validation-Passed"
FAILED = "TN-Validation-Failed"
NO_VALIDATION = "No-TN-Validation"
VERSTATS = (PASSED, FAILED, NO_VALIDATION)
DEFAULT_MAX_AGE = 60.0  # seconds an iat may be from now (ATIS-1000074 §5.3.1)


@dataclass(frozen=True, slots=True)
class Verification:
    verstat: str
    attestation: str | None = None  # A, B or C when the PASSporT said so
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.verstat == PASSED


NOT_SIGNED = Verification(NO_VALIDATION, reason="no Identity header")


@dataclass(frozen=True, slots=True)
class PendingVerification:
    """An Identity waiting for its certificate (at `x5u`)."""

    token: str
    passport: Passport

    @property
    def x5u(self) -> str:
        return self.passport.x5u


@dataclass(frozen=True, slots=True)
class CallNumbers:
    """The numbers a PASSporT must name: the caller's (From, P-Asserted-Identity) and
    the callee's, each as given and as normalised to E.164."""

    orig: tuple[str, ...]
    dest: tuple[str, ...]

    @classmethod
    def of(cls, orig, dest) -> "CallNumbers":
        return cls(_canonical_set(orig), _canonical_set(dest))


def _canonical_set(numbers) -> tuple[str, ...]:
    return tuple(dict.fromkeys(filter(None, (canonical_tn(n) for n in numbers if n))))


def start_verification(identity_values: list[str]) -> Verification | PendingVerification:
    """The first SHAKEN Identity of a request, ready to verify, or the verdict when
    there is nothing to fetch: none at all (No-TN-Validation), or none readable
    (TN-Validation-Failed: RFC 8224's 438 Invalid Identity Header)."""
    if not identity_values:
        return NOT_SIGNED
    failure = None
    for value in identity_values[:MAX_IDENTITY_HEADERS]:
        try:
            identity = parse_identity(value)
            passport = read_passport(identity.token)
        except (IdentityHeaderError, PassportError) as exc:
            failure = failure or str(exc)
            continue
        if passport.ppt != PPT_SHAKEN or (identity.ppt not in (None, PPT_SHAKEN)):
            failure = failure or "not a SHAKEN PASSporT"
            continue
        if identity.alg != ALGORITHM:
            failure = failure or f"alg {identity.alg} is not {ALGORITHM}"
            continue
        if identity.info != passport.x5u:
            # ATIS-1000074 §5.3.1: info names the same certificate as x5u.
            failure = failure or "info and x5u differ"
            continue
        if not passport.x5u.lower().startswith("https://"):
            failure = failure or "x5u is not https"
            continue
        return PendingVerification(identity.token, passport)
    return Verification(FAILED, reason=failure or "no usable Identity")


def finish_verification(pending: PendingVerification, certificate: CertificateOutcome,
                        call: CallNumbers, now: float,
                        max_age: float = DEFAULT_MAX_AGE) -> Verification:
    passport = pending.passport
    attest = passport.attest
    if isinstance(certificate, CertificateUnavailable):
        return Verification(NO_VALIDATION, attest, f"certificate unavailable: {certificate.reason}")
    if isinstance(certificate, CertificateRefused):
        return Verification(FAILED, attest, f"certificate refused: {certificate.reason}")
    assert isinstance(certificate, StiCertificate)
    try:
        # iat is checked against `now` below, not against PyJWT's wall clock.
        jwt.decode(pending.token, certificate.public_key, algorithms=[ALGORITHM],
                   options={"verify_iat": False, "verify_exp": False, "verify_nbf": False,
                            "verify_aud": False, "verify_iss": False})
    except jwt.PyJWTError as exc:
        return Verification(FAILED, attest, f"signature: {exc}")
    if abs(now - passport.iat) > max_age:
        return Verification(FAILED, attest, f"iat {passport.iat} is {now - passport.iat:.0f} s "
                                            "from now")
    if passport.orig_tn not in call.orig:
        return Verification(FAILED, attest, "orig does not match the caller")
    if call.dest and not set(passport.dest_tns) & set(call.dest):
        return Verification(FAILED, attest, "dest does not match the callee")
    if not certificate.authorization.covers(passport.orig_tn):
        return Verification(FAILED, attest, "certificate TNAuthList does not cover orig")
    return Verification(PASSED, attest)
