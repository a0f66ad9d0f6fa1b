"""PASSporTs: what the switch signs, an independent decoder (plain PyJWT with the
certificate's public key) accepts; the examples of RFC 8225 and RFC 8588 read back."""

import base64
import json

import jwt
import pytest

from softswitch.stir.identity_header import (
    IdentityHeaderError,
    format_identity,
    parse_identity,
)
from softswitch.stir.passport import PassportError, canonical_tn, read_passport
from softswitch.stir.signing import Signer
from sti_pki import NOW, make_pki

X5U = "https://cert.example.org/passport.cer"


def b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


def token(header: dict, payload: dict, signature: bytes = b"\x00" * 64) -> str:
    dump = lambda v: json.dumps(v, separators=(",", ":")).encode()  # noqa: E731
    return f"{b64(dump(header))}.{b64(dump(payload))}.{b64(signature)}"


def test_a_signed_identity_is_accepted_by_plain_pyjwt_with_the_public_key():
    pki = make_pki()
    signer = Signer.from_pem(pki.sti.key_pem, X5U)
    value = signer.identity("A", "+1 415-555-0100", "+14155550199", NOW, "user:alice")
    assert value.endswith(f";info=<{X5U}>;alg=ES256;ppt=shaken")
    compact = value.split(";", 1)[0]
    claims = jwt.decode(compact, pki.sti.certificate.public_key(), algorithms=["ES256"],
                        options={"verify_iat": False})
    assert claims["attest"] == "A"
    assert claims["orig"] == {"tn": "14155550100"}
    assert claims["dest"] == {"tn": ["14155550199"]}
    assert claims["iat"] == int(NOW)
    assert len(claims["origid"]) == 36
    assert jwt.get_unverified_header(compact) == {
        "alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": X5U}
    # Keys in lexicographic order (RFC 8225 §9), no whitespace.
    payload = base64.urlsafe_b64decode(compact.split(".")[1] + "==")
    assert payload.startswith(b'{"attest":"A","dest":{"tn":["14155550199"]},"iat":')


def test_origid_is_stable_per_origination_point():
    pki = make_pki()
    signer = Signer.from_pem(pki.sti.key_pem, X5U)
    ids = [read_passport(signer.identity("A", "+14155550100", "+14155550199", NOW, s)
                         .split(";")[0]).origid for s in ("user:alice", "user:alice", "user:bob")]
    assert ids[0] == ids[1] != ids[2]


def test_the_signer_wants_a_p256_key_and_an_https_x5u():
    pki = make_pki()
    with pytest.raises(ValueError, match="https"):
        Signer.from_pem(pki.sti.key_pem, "http://cert.example.org/x.pem")
    signer = Signer.from_pem(pki.sti.key_pem, X5U)
    with pytest.raises(ValueError, match="telephone numbers"):
        signer.identity("A", "alice", "+14155550199", NOW, "user:alice")


def test_rfc8225_example_passport_is_read():
    # RFC 8225 §4 / Appendix A: header and claims as the RFC gives them.
    header = {"alg": "ES256", "typ": "passport", "x5u": "https://cert.example.org/passport.cer"}
    payload = {"dest": {"uri": ["sip:alice@example.com"]}, "iat": 1443208345,
               "orig": {"tn": "12155551212"}}
    passport = read_passport(token(header, payload))
    assert passport.orig_tn == "12155551212"
    assert passport.dest_tns == ()
    assert passport.iat == 1443208345
    assert passport.x5u == "https://cert.example.org/passport.cer"
    assert passport.ppt is None and passport.attest is None


def test_rfc8225_section_7_1_payload_with_iat_as_a_string_is_refused():
    # RFC 8225 erratum 5985: §7.1 encodes iat as "1443208345" (a string); a
    # NumericDate is a JSON number (§5.1.1).
    header = {"alg": "ES256", "typ": "passport", "x5u": "https://cert.example.org/passport.cer"}
    payload_b64 = ("eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY2VAZXhhbXBsZS5jb20iXX0sImlhdCI"
                   "6IjE0NDMyMDgzNDUiLCJvcmlnIjp7InRuIjoiMTIxNTU1NTEyMTIifX0")
    compact = token(header, {}).split(".")
    with pytest.raises(PassportError, match="iat"):
        read_passport(f"{compact[0]}.{payload_b64}.{compact[2]}")
    # The corrected payload of the erratum (iat a number, a trailing newline) reads.
    fixed = ("eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY2VAZXhhbXBsZS5jb20iXX0sImlhdCI"
             "6MTQ0MzIwODM0NSwib3JpZyI6eyJ0biI6IjEyMTU1NTUxMjEyIn19Cg")
    assert read_passport(f"{compact[0]}.{fixed}.{compact[2]}").iat == 1443208345


def test_rfc8588_example_shaken_passport_is_read():
    # RFC 8588 §6 (iat as a number, erratum 6656).
    header = {"alg": "ES256", "typ": "passport", "ppt": "shaken",
              "x5u": "https://cert.example.org/passport.cer"}
    payload = {"attest": "A", "dest": {"tn": ["12155550131"]}, "iat": 1443208345,
               "orig": {"tn": "12155550121"}, "origid": "123e4567-e89b-12d3-a456-426655440000"}
    value = format_identity(token(header, payload), header["x5u"])
    identity = parse_identity(value)
    assert identity.info == "https://cert.example.org/passport.cer"
    assert (identity.alg, identity.ppt) == ("ES256", "shaken")
    passport = read_passport(identity.token)
    assert passport.attest == "A"
    assert passport.orig_tn == "12155550121"
    assert passport.dest_tns == ("12155550131",)
    assert passport.origid == "123e4567-e89b-12d3-a456-426655440000"
    assert passport.ppt == "shaken"


@pytest.mark.parametrize("header, payload, why", [
    ({"alg": "RS256", "typ": "passport", "x5u": X5U}, {}, "alg"),
    ({"alg": "ES256", "typ": "JWT", "x5u": X5U}, {}, "typ"),
    ({"alg": "ES256", "typ": "passport"}, {}, "x5u"),
    ({"alg": "ES256", "typ": "passport", "x5u": X5U, "ppt": "shaken"},
     {"dest": {"tn": ["1"]}, "iat": 1, "orig": {"tn": "1"}, "origid": "x"}, "attest"),
    ({"alg": "ES256", "typ": "passport", "x5u": X5U, "ppt": "shaken"},
     {"attest": "D", "dest": {"tn": ["1"]}, "iat": 1, "orig": {"tn": "1"}, "origid": "x"},
     "attest"),
    ({"alg": "ES256", "typ": "passport", "x5u": X5U},
     {"dest": {"tn": ["1"]}, "iat": 1, "orig": {"tn": "alice"}}, "orig"),
    ({"alg": "ES256", "typ": "passport", "x5u": X5U},
     {"iat": 1, "orig": {"tn": "1"}}, "dest"),
])
def test_passports_that_are_not_usable_are_refused(header, payload, why):
    with pytest.raises(PassportError, match=why):
        read_passport(token(header, payload))


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "!!!.???.###", "x" * 5000,
                                     "eyJhbGciOiJFUzI1NiJ9.e30.e30"])
def test_garbage_tokens_raise_passport_error(garbage):
    with pytest.raises(PassportError):
        read_passport(garbage)


@pytest.mark.parametrize("value, why", [
    ("", "compact JWS"),
    ("abc;info=<https://x>", "compact JWS"),
    ("a..c;info=<https://x>", "compact-form"),
    ("a.b.c", "info"),
    ("a.b.c;info=https://x", "info"),
    ("a.b.c;info=<https://x>;" + "x" * 5000, "too long"),
])
def test_unreadable_identity_headers(value, why):
    with pytest.raises(IdentityHeaderError, match=why):
        parse_identity(value)


def test_identity_parameters_in_any_order_and_case_alg_defaulting_to_es256():
    identity = parse_identity(" a.b.c ; PPT=shaken ;info=<https://x.example/a;b.pem>")
    assert identity.info == "https://x.example/a;b.pem"
    assert identity.alg == "ES256" and identity.ppt == "shaken"


@pytest.mark.parametrize("text, canonical", [
    ("+1 (415) 555-0100", "14155550100"), ("14155550100", "14155550100"),
    ("alice", None), ("+", None), ("1" * 16, None), ("+١٢٣", None)])
def test_canonical_telephone_numbers(text, canonical):
    assert canonical_tn(text) == canonical
