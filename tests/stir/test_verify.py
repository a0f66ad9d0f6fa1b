"""Verification of an Identity against the certificate its x5u serves: every case
ends in the verstat ATIS-1000074 gives it."""

import pytest

from softswitch.stir.attestation import Origination, attestation_level
from softswitch.stir.cert_cache import CertCache, CertificateRefused, CertificateUnavailable
from softswitch.stir.certificates import (
    CertificateError,
    decode_tn_auth_list,
    encode_tn_auth_list,
    verify_sti_chain,
)
from softswitch.stir.signing import Signer
from softswitch.stir.verify import (
    FAILED,
    NO_VALIDATION,
    PASSED,
    CallNumbers,
    PendingVerification,
    finish_verification,
    start_verification,
)
from sti_pki import NOW, make_ca, make_pki, make_sti

X5U = "https://sti.example.net/sp.pem"
CALL = CallNumbers.of(["+14155550100"], ["+14155550199"])


@pytest.fixture(scope="module")
def pki():
    return make_pki()


def signed(pki, attest="A", orig="+14155550100", dest="+14155550199", now=NOW, key=None):
    return Signer.from_pem(key or pki.sti.key_pem, X5U).identity(attest, orig, dest, now,
                                                                 "user:alice")


def verify(pki, value, now=NOW, call=CALL, anchors=None, chain=None):
    pending = start_verification([value])
    assert isinstance(pending, PendingVerification)
    assert pending.x5u == X5U
    try:
        certificate = verify_sti_chain(chain or pki.chain_pem,
                                       anchors or [pki.root.certificate], now)
    except CertificateError as exc:
        certificate = CertificateRefused(str(exc))
    return finish_verification(pending, certificate, call, now)


def test_a_good_signature_passes_with_its_attestation(pki):
    for level in "ABC":
        result = verify(pki, signed(pki, level))
        assert (result.verstat, result.attestation) == (PASSED, level)


def test_iat_too_old_or_too_far_ahead_fails(pki):
    assert verify(pki, signed(pki, now=NOW - 61)).verstat == FAILED
    assert verify(pki, signed(pki, now=NOW + 61)).verstat == FAILED
    assert verify(pki, signed(pki, now=NOW - 59)).verstat == PASSED


def test_a_tampered_passport_fails(pki):
    value = signed(pki)
    token, rest = value.split(";", 1)
    header, payload, signature = token.split(".")
    other = signed(pki, orig="+14155550111").split(";")[0].split(".")[1]
    result = verify(pki, f"{header}.{other}.{signature};{rest}",
                    call=CallNumbers.of(["+14155550111"], ["+14155550199"]))
    assert result.verstat == FAILED and "signature" in result.reason
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert verify(pki, f"{header}.{payload}.{flipped};{rest}").verstat == FAILED


def test_a_key_that_is_not_the_certificates_fails(pki):
    stranger = make_sti(pki.intermediate)
    assert verify(pki, signed(pki, key=stranger.key_pem)).verstat == FAILED


def test_wrong_numbers_fail(pki):
    value = signed(pki)
    result = verify(pki, value, call=CallNumbers.of(["+14155550111"], ["+14155550199"]))
    assert result.verstat == FAILED and "orig" in result.reason
    result = verify(pki, value, call=CallNumbers.of(["+14155550100"], ["+14155550122"]))
    assert result.verstat == FAILED and "dest" in result.reason
    # The caller's number as a national one from the trunk, and as E.164 beside it.
    assert verify(pki, value, call=CallNumbers.of(
        ["4155550100", "+14155550100"], ["+14155550199"])).verstat == PASSED


def test_a_certificate_from_an_unknown_ca_fails(pki):
    other = make_pki()
    result = verify(pki, signed(pki, key=other.sti.key_pem), chain=other.chain_pem)
    assert result.verstat == FAILED and "trust anchor" in result.reason


def test_an_expired_certificate_fails(pki):
    old = make_sti(pki.intermediate, days=1)
    chain = old.pem + pki.intermediate.pem
    result = verify(pki, signed(pki, key=old.key_pem), chain=chain)
    assert result.verstat == FAILED


def test_a_certificate_without_tnauthlist_fails(pki):
    bare = make_sti(pki.intermediate, tn_auth_list=False)
    result = verify(pki, signed(pki, key=bare.key_pem), chain=bare.pem + pki.intermediate.pem)
    assert result.verstat == FAILED and "TNAuthList" in result.reason


def test_a_tnauthlist_of_numbers_must_cover_orig(pki):
    narrow = make_sti(pki.intermediate, spcs=(), ranges=[("14155550100", 10)])
    chain = narrow.pem + pki.intermediate.pem
    assert verify(pki, signed(pki, key=narrow.key_pem), chain=chain).verstat == PASSED
    result = verify(pki, signed(pki, key=narrow.key_pem, orig="+14155550111"), chain=chain,
                    call=CallNumbers.of(["+14155550111"], ["+14155550199"]))
    assert result.verstat == FAILED and "TNAuthList" in result.reason


def test_an_unreachable_certificate_gives_no_validation(pki):
    pending = start_verification([signed(pki)])
    result = finish_verification(pending, CertificateUnavailable("timeout"), CALL, NOW)
    assert (result.verstat, result.attestation) == (NO_VALIDATION, "A")


def test_no_identity_gives_no_validation_and_garbage_fails(pki):
    assert start_verification([]).verstat == NO_VALIDATION
    assert start_verification(["garbage"]).verstat == FAILED
    value = signed(pki)
    assert start_verification([value.replace("https://", "http://", 1)]).verstat == FAILED
    # The first readable SHAKEN Identity is the one verified.
    assert isinstance(start_verification(["garbage", value]), PendingVerification)


def test_tnauthlist_der_is_rfc8226():
    # TNAuthorizationList ::= SEQUENCE OF TNEntry; spc [0] EXPLICIT IA5String.
    assert encode_tn_auth_list(spcs=["1234"]) == bytes.fromhex("3008a006160431323334")
    auth = decode_tn_auth_list(bytes.fromhex("3008a006160431323334"))
    assert auth.spcs == ("1234",)
    with pytest.raises(CertificateError):
        decode_tn_auth_list(b"\x30\x03\x01\x01")


def test_chain_checks_want_anchors():
    pki = make_pki()
    with pytest.raises(CertificateError, match="anchors"):
        verify_sti_chain(pki.chain_pem, [], NOW)
    with pytest.raises(CertificateError, match="unreadable"):
        verify_sti_chain(b"not a certificate", [pki.root.certificate], NOW)
    with pytest.raises(CertificateError):  # a CA certificate is not an STI one
        verify_sti_chain(make_ca(issuer=pki.root).pem, [pki.root.certificate], NOW)


def test_the_cache_is_bounded_and_expires(pki):
    cache = CertCache(max_entries=2, ttl=100.0, failure_ttl=10.0)
    certificate = verify_sti_chain(pki.chain_pem, [pki.root.certificate], NOW)
    cache.put("https://a", certificate, NOW)
    cache.put("https://b", CertificateRefused("x"), NOW)
    assert cache.get("https://a", NOW + 99) is certificate
    cache.put("https://c", CertificateUnavailable("y"), NOW)  # b was least recent
    assert len(cache) == 2 and cache.get("https://b", NOW) is None
    assert cache.get("https://c", NOW + 10) is None  # a failure is kept less long
    assert cache.get("https://a", NOW + 100) is None
    # Never past the certificate's own expiry.
    cache.put("https://a", certificate, certificate.not_after - 5)
    assert cache.get("https://a", certificate.not_after) is None


def test_attestation_levels():
    ours = lambda number, source: number == "+14155550100"  # noqa: E731
    assert attestation_level(Origination(True, "+14155550100", "user:a"), ours) == "A"
    assert attestation_level(Origination(True, "+14155550111", "user:a"), ours) == "B"
    assert attestation_level(Origination(True, None, "user:a"), ours) == "B"
    assert attestation_level(Origination(False, "+14155550100", "trunk:t"), ours) == "C"
