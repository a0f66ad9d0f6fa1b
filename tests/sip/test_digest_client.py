"""The client side of digest: answering a carrier's challenge, checked against the
switch's own server-side verification."""

import hashlib

import pytest

from softswitch.sip.digest import (
    NonceManager,
    NonceStatus,
    authorization_for,
    build_challenge,
    compute_ha1,
    parse_challenge,
    parse_credentials,
    parse_nc,
    select_challenge,
    verify,
)
from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError

URI = "sip:carrier.example"


def answer(challenge, method="REGISTER", uri=URI, user="acct", password="pw", nc=1):
    value = authorization_for(challenge, user, password, method, uri, cnonce="c0ffee", nc=nc)
    return value, parse_credentials(value)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"])
def test_answer_verifies_with_the_server_side(algorithm):
    nonces = NonceManager(b"s" * 32)
    nonce = nonces.issue(100.0)
    challenge = build_challenge("carrier.example", nonce, algorithm, opaque="op4que")
    _, credentials = answer(challenge)
    ha1 = compute_ha1("acct", "carrier.example", "pw", algorithm)
    assert verify(credentials, "REGISTER", ha1)
    assert not verify(credentials, "INVITE", ha1)
    assert not verify(credentials, "REGISTER", compute_ha1("acct", "carrier.example", "x",
                                                           algorithm))
    assert nonces.check(credentials.nonce, parse_nc(credentials.nc), 101.0) is NonceStatus.VALID


def test_realm_opaque_qop_nc_and_cnonce_are_sent():
    challenge = build_challenge("carrier.example", "n0nce", "SHA-256", opaque="xyz")
    value, credentials = answer(challenge, nc=7)
    assert credentials.realm == "carrier.example"
    assert credentials.opaque == "xyz"
    assert credentials.qop == "auth" and credentials.nc == "00000007"
    assert credentials.cnonce == "c0ffee"
    assert credentials.algorithm == "SHA-256"
    assert credentials.uri == URI and credentials.username == "acct"
    assert value.startswith("Digest username=\"acct\"")


def test_challenge_without_qop_gets_the_rfc2069_answer():
    challenge = 'Digest realm="old.example", nonce="abc"'
    value, credentials = answer(challenge)
    assert credentials.qop is None and credentials.cnonce is None and credentials.nc is None
    assert "opaque" not in value
    ha1 = hashlib.md5(b"acct:old.example:pw").hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{URI}".encode()).hexdigest()
    assert credentials.response == hashlib.md5(f"{ha1}:abc:{ha2}".encode()).hexdigest()
    assert verify(credentials, "REGISTER", ha1)


def test_qop_list_with_auth_int_first_still_answers_auth():
    challenge = 'Digest realm="r", nonce="n", qop="auth-int, auth", algorithm=MD5'
    _, credentials = answer(challenge)
    assert credentials.qop == "auth"
    assert verify(credentials, "REGISTER", compute_ha1("acct", "r", "pw", "MD5"))


def test_quotes_and_backslashes_survive_the_round_trip():
    challenge = build_challenge('we "quote"\\ realms', "n", "MD5")
    _, credentials = answer(challenge, user='a"b')
    assert credentials.realm == 'we "quote"\\ realms' and credentials.username == 'a"b'
    assert verify(credentials, "REGISTER", compute_ha1('a"b', credentials.realm, "pw", "MD5"))


def test_non_ascii_user_names_use_username_star():
    value, credentials = answer(build_challenge("r", "n", "SHA-256"), user="jürgen")
    assert "username*=UTF-8''j%C3%BCrgen" in value
    assert credentials.username == "jürgen"
    assert verify(credentials, "REGISTER", compute_ha1("jürgen", "r", "pw", "SHA-256"))


@pytest.mark.parametrize("challenge", [
    'Basic realm="r"',
    'Digest realm="r"',  # no nonce
    'Digest realm="r", nonce="n", algorithm=SHA-512-256',
    'Digest realm="r", nonce="n", qop="auth-int"',
    'Digest realm="r", nonce="n", algorithm=MD5-sess',  # -sess without qop
    'Digest realm="r", nonce="n, qop=auth',  # unterminated quote
    "",
])
def test_challenges_we_cannot_answer_raise_remote_errors(challenge):
    with pytest.raises(RemoteProtocolError):
        authorization_for(challenge, "acct", "pw", "INVITE", URI, cnonce="c")


def test_our_own_bad_values_raise_local_errors():
    with pytest.raises(LocalProtocolError):
        authorization_for('Digest realm="r", nonce="n", qop="auth"', "acct", "pw", "INVITE",
                          URI, cnonce="c\r\nX: y")
    with pytest.raises(LocalProtocolError):
        authorization_for('Digest realm="r", nonce="n"', "acct", "pw", "INVITE", URI,
                          cnonce="c", nc=0)


def test_parse_challenge_gives_scheme_and_lower_cased_params():
    parsed = parse_challenge('Digest Realm="r", nonce="a\\"b", stale=TRUE, algorithm=MD5')
    assert parsed == {"scheme": "Digest", "realm": "r", "nonce": 'a"b', "stale": "TRUE",
                      "algorithm": "MD5"}
    assert parse_challenge("Negotiate abc==") == {"scheme": "Negotiate"}


def test_select_challenge_takes_the_topmost_answerable_one():
    values = ['Digest realm="r", nonce="n", algorithm=SHA-512-256',
              'Digest realm="r", nonce="n", algorithm=SHA-256',
              'Digest realm="r", nonce="n", algorithm=MD5']
    assert select_challenge(values) == values[1]
    assert select_challenge(['Basic realm="r"', "garbage ="]) is None
    assert select_challenge([]) is None
