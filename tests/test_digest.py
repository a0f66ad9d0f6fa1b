"""Tests for the pure digest core: vectors, round trips, parsing and nonces."""

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.digest import (
    ALGORITHMS,
    MAX_AUTH_PARAMS,
    MAX_CREDENTIALS_LENGTH,
    Credentials,
    NonceManager,
    NonceStatus,
    base_algorithm,
    build_challenge,
    build_challenges,
    compute_ha1,
    expected_response,
    parse_credentials,
    parse_nc,
    verify,
)
from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError

SECRET = b"0123456789abcdef0123456789abcdef"

# RFC 7616 §3.9.1
RFC7616_TEMPLATE = (
    'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
    "algorithm={algorithm}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
    'nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
    'response="{response}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}


# --- a phone, written independently of the code under test -----------------------------

def _client_hash(algorithm: str, text: str) -> str:
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm.upper().removesuffix("-SESS")]
    return hashlib.new(name, text.encode()).hexdigest()


def client_authorization(
    challenge: str,
    username: str,
    password: str,
    method: str,
    uri: str,
    *,
    nc: int = 1,
    cnonce: str = "0a4f113b",
    use_qop: bool = True,
) -> str:
    """What a phone sends back after a challenge (qop=auth, or RFC 2069 if use_qop=False)."""
    fields = {
        name.lower(): quoted if quoted else bare
        for name, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', challenge)
    }
    realm, nonce, algorithm = fields["realm"], fields["nonce"], fields.get("algorithm", "MD5")
    ha1 = _client_hash(algorithm, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _client_hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _client_hash(algorithm, f"{method}:{uri}")
    header = (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f"algorithm={algorithm}"
    )
    if use_qop:
        nc_text = f"{nc:08x}"
        response = _client_hash(algorithm, f"{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{ha2}")
        header += f', qop=auth, nc={nc_text}, cnonce="{cnonce}"'
    else:
        response = _client_hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    return header + f', response="{response}"'


# --- RFC vectors ---------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_rfc7616_example_vectors(algorithm):
    expected = RFC7616_RESPONSES[algorithm]
    credentials = parse_credentials(RFC7616_TEMPLATE.format(algorithm=algorithm, response=expected))
    ha1 = compute_ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    assert expected_response(ha1, "GET", "/dir/index.html", credentials, algorithm) == expected
    assert verify(credentials, "GET", ha1)
    assert not verify(credentials, "POST", ha1)


def test_rfc2617_example_vector():
    credentials = parse_credentials(
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
        'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life", "MD5")
    assert verify(credentials, "GET", ha1)


def test_compute_ha1_accepts_any_case_and_session_names():
    md5 = hashlib.md5(b"alice:example.com:secret").hexdigest()
    assert compute_ha1("alice", "example.com", "secret", "md5") == md5
    assert compute_ha1("alice", "example.com", "secret", "MD5-sess") == md5
    assert len(compute_ha1("alice", "example.com", "secret", "SHA-256")) == 64
    with pytest.raises(LocalProtocolError):
        compute_ha1("alice", "example.com", "secret", "SHA-512-256")


def test_base_algorithm():
    assert base_algorithm("sha-256-SESS") == "SHA-256"
    assert base_algorithm("MD5") == "MD5"
    assert base_algorithm("SHA-512-256") is None


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "algorithm, use_qop",
    [
        ("SHA-256", True),
        ("MD5", True),
        ("SHA-256", False),  # RFC 2069 style, still sent by deployed phones
        ("MD5", False),
        ("SHA-256-sess", True),  # -sess needs the cnonce that comes with qop
        ("MD5-sess", True),
    ],
)
def test_round_trip(algorithm, use_qop):
    nonce = NonceManager(SECRET).issue(1000.0)
    challenge = build_challenge("example.com", nonce, algorithm)
    header = client_authorization(
        challenge, "alice", "s3cret", "REGISTER", "sip:example.com", use_qop=use_qop
    )
    credentials = parse_credentials(header)
    ha1 = compute_ha1("alice", "example.com", "s3cret", algorithm)
    assert verify(credentials, "REGISTER", ha1)
    wrong = compute_ha1("alice", "example.com", "guess", algorithm)
    assert not verify(credentials, "REGISTER", wrong)


def test_verify_rejects_auth_int_and_incomplete_credentials():
    ha1 = compute_ha1("alice", "example.com", "s3cret", "MD5")
    base = dict(scheme="Digest", username="alice", realm="example.com", nonce="n",
                uri="sip:example.com", response="0" * 32)
    assert not verify(Credentials(**base, qop="auth-int", nc="00000001", cnonce="c"), "X", ha1)
    assert not verify(Credentials(**base, qop="auth"), "X", ha1)  # no nc / cnonce
    assert not verify(Credentials(**{**base, "response": None}), "X", ha1)
    assert not verify(Credentials(**base, algorithm="SHA-512-256"), "X", ha1)
    assert not verify(Credentials(**base, algorithm="MD5-sess"), "X", ha1)  # sess without qop
    assert not verify(Credentials(**{**base, "response": "\u00e9" * 32}), "X", ha1)


def test_verify_accepts_upper_case_hex_response():
    nonce = NonceManager(SECRET).issue(0.0)
    header = client_authorization(build_challenge("r", nonce, "MD5"), "a", "p", "INVITE", "sip:x")
    upper = re.sub(r'response="(\w+)"', lambda m: f'response="{m.group(1).upper()}"', header)
    assert verify(parse_credentials(upper), "INVITE", compute_ha1("a", "r", "p", "MD5"))


def test_expected_response_refuses_auth_int():
    credentials = Credentials(scheme="Digest", nonce="n", qop="auth-int", nc="1", cnonce="c")
    with pytest.raises(LocalProtocolError):
        expected_response("0" * 32, "INVITE", "sip:x", credentials, "MD5")


# --- challenges ------------------------------------------------------------------------------

def test_build_challenge_format():
    assert build_challenge("example.com", "abc", "SHA-256") == (
        'Digest realm="example.com", nonce="abc", algorithm=SHA-256, qop="auth"'
    )
    assert build_challenge("example.com", "abc", "md5", stale=True, opaque="o") == (
        'Digest realm="example.com", nonce="abc", opaque="o", algorithm=MD5, qop="auth", '
        "stale=true"
    )


def test_build_challenge_escapes_and_refuses_line_breaks():
    challenge = build_challenge('a "quoted" \\ realm', "n", "MD5")
    assert parse_credentials(challenge).realm == 'a "quoted" \\ realm'
    with pytest.raises(LocalProtocolError):
        build_challenge("evil\r\nVia: x", "n", "MD5")
    with pytest.raises(LocalProtocolError):
        build_challenge("example.com", "n", "SHA-1")


def test_build_challenges_prefers_sha256():
    first, second = build_challenges("example.com", "n", stale=True)
    assert ALGORITHMS == ("SHA-256", "MD5")
    assert "algorithm=SHA-256" in first and "algorithm=MD5" in second
    assert first.endswith("stale=true") and second.endswith("stale=true")


# --- parsing -----------------------------------------------------------------------------

def test_parse_escaped_quotes_and_unknown_params():
    credentials = parse_credentials(
        r'Digest username="al\"ice", realm="ex\\ample", X-Custom="a, b", foo=bar, '
        r'uri="sip:bob@example.com;transport=tcp"'
    )
    assert credentials.username == 'al"ice'
    assert credentials.realm == "ex\\ample"
    assert credentials.uri == "sip:bob@example.com;transport=tcp"
    assert credentials.params["x-custom"] == "a, b"
    assert credentials.params["foo"] == "bar"


def test_parse_whitespace_case_and_token_values():
    credentials = parse_credentials(
        '  digest  USERNAME = "alice" ,Realm="example.com",\t NONCE ="n" ,\r\n '
        'Uri= "sip:example.com" , QOP = "auth", NC=0000000A, CNonce=xyz, algorithm=sha-256,'
        ' response="abc" ,'
    )
    assert credentials.scheme == "digest" and credentials.is_digest
    assert credentials.username == "alice"
    assert credentials.realm == "example.com"
    assert credentials.nonce == "n"
    assert credentials.uri == "sip:example.com"
    assert credentials.qop == "auth"
    assert credentials.nc == "0000000A"
    assert credentials.cnonce == "xyz"
    assert credentials.algorithm == "SHA-256"  # canonical spelling
    assert credentials.response == "abc"


def test_parse_defaults():
    credentials = parse_credentials('Digest username="a"')
    assert credentials.algorithm == "MD5"
    assert credentials.qop is None and credentials.nc is None
    assert credentials.userhash is False
    assert parse_credentials('Digest username="a", userhash=TRUE').userhash is True
    assert parse_credentials("Digest algorithm=SHA-512-256").algorithm == "SHA-512-256"


def test_parse_unknown_schemes():
    credentials = parse_credentials("NoOneKnowsThisScheme opaque-data=here")
    assert credentials.scheme == "NoOneKnowsThisScheme"
    assert not credentials.is_digest
    assert credentials.params == {"opaque-data": "here"}
    basic = parse_credentials("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    assert basic.scheme == "Basic" and basic.params == {}
    assert parse_credentials("Digest").is_digest


def test_parse_extended_username():
    credentials = parse_credentials("Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm=\"r\"")
    assert credentials.username == "J\u00e4s\u00f8n Doe"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        'Digest username="alice',
        'Digest username="alice\\"',
        "Digest username",
        'Digest username="a" realm="b"',
        "Digest username=",
        'Digest username="a", username="b"',
        "Digest =x",
        '"Digest" username="a"',
        "Digest username*=latin1''x",
        "Digest username*=UTF-8''%ff",
        'Digest username="a", username*=UTF-8\'\'b',
        "Digest " + "x" * MAX_CREDENTIALS_LENGTH + "=1",
        "Digest " + ", ".join(f"p{i}=1" for i in range(MAX_AUTH_PARAMS + 1)),
    ],
)
def test_parse_malformed_is_400(value):
    with pytest.raises(RemoteProtocolError) as raised:
        parse_credentials(value)
    assert raised.value.status_hint == 400


def test_parse_limits_are_inclusive():
    parse_credentials("Digest " + ", ".join(f"p{i}=1" for i in range(MAX_AUTH_PARAMS)))


def test_parse_error_messages_name_the_fault():
    with pytest.raises(RemoteProtocolError, match="unterminated"):
        parse_credentials('Digest realm="x", username="alice')


_AUTH_ALPHABET = st.sampled_from(list('Digest usernamrl="\\,= \t\r\n\'*%abc0123456789é\x00'))


_AUTH_TEXT = st.text(_AUTH_ALPHABET)


@settings(max_examples=500)
@given(st.one_of(st.text(), _AUTH_TEXT, _AUTH_TEXT.map("Digest ".__add__)))
def test_parse_fuzz_returns_or_raises_remote_error(value):
    try:
        credentials = parse_credentials(value)
    except RemoteProtocolError as error:
        assert error.status_hint == 400
    else:
        assert isinstance(credentials, Credentials)
        verify(credentials, "REGISTER", "0" * 32)  # must not raise either


def test_parse_nc():
    assert parse_nc("00000001") == 1
    assert parse_nc("0000000a") == 10
    assert parse_nc("FFFFFFFF") == 0xFFFFFFFF
    for bad in ("", "000000001", "0x1", "-1", " 1", "g"):
        assert parse_nc(bad) is None


# --- nonces ----------------------------------------------------------------------------------

def test_nonce_shape_and_determinism():
    manager = NonceManager(SECRET, random_bytes=lambda n: b"\x01" * n)
    nonce = manager.issue(1000.0)
    assert re.fullmatch(r"[A-Za-z0-9_-]{48}", nonce)
    assert manager.issue(1000.0) == nonce
    assert NonceManager(SECRET).issue(1000.0) != NonceManager(SECRET).issue(1000.0)


def test_nonce_is_stateless_across_managers_with_one_secret():
    nonce = NonceManager(SECRET).issue(50.0)
    assert NonceManager(SECRET).check(nonce, 1, 51.0) is NonceStatus.VALID
    assert NonceManager(b"another secret, sixteen+").check(nonce, 1, 51.0) is NonceStatus.INVALID


def test_nonce_expiry():
    manager = NonceManager(SECRET, lifetime=30.0)
    nonce = manager.issue(1000.0)
    assert manager.check(nonce, None, 1000.0) is NonceStatus.VALID
    assert manager.check(nonce, None, 1030.0) is NonceStatus.VALID
    assert manager.check(nonce, None, 1030.001) is NonceStatus.STALE
    assert manager.check(nonce, 1, 5000.0) is NonceStatus.STALE


def test_nonce_from_the_future_is_stale():
    manager = NonceManager(SECRET)
    nonce = manager.issue(1000.0)
    assert manager.check(nonce, None, 998.0) is NonceStatus.VALID  # small skew tolerated
    assert manager.check(nonce, None, 900.0) is NonceStatus.STALE


def test_tampered_nonce_is_invalid():
    manager = NonceManager(SECRET)
    nonce = manager.issue(1000.0)
    flipped = ("B" if nonce[3] == "A" else "A").join([nonce[:3], nonce[4:]])
    assert manager.check(flipped, 1, 1000.0) is NonceStatus.INVALID


@pytest.mark.parametrize("cut", range(48))
def test_truncated_nonce_is_invalid(cut):
    manager = NonceManager(SECRET)
    nonce = manager.issue(1000.0)
    assert manager.check(nonce[:cut], 1, 1000.0) is NonceStatus.INVALID
    assert manager.check(nonce + nonce[:cut + 1], 1, 1000.0) is NonceStatus.INVALID


@given(st.text(max_size=100), st.one_of(st.none(), st.integers(-5, 2**40)))
def test_garbage_nonce_never_raises(text, nc):
    assert NonceManager(SECRET).check(text, nc, 1000.0) is NonceStatus.INVALID


def test_nonce_count_must_increase():
    manager = NonceManager(SECRET)
    nonce = manager.issue(1000.0)
    assert manager.check(nonce, 1, 1000.0) is NonceStatus.VALID
    assert manager.check(nonce, 1, 1000.0) is NonceStatus.REPLAY
    assert manager.check(nonce, 2, 1001.0) is NonceStatus.VALID
    assert manager.check(nonce, 5, 1001.0) is NonceStatus.VALID
    assert manager.check(nonce, 5, 1001.0) is NonceStatus.REPLAY
    assert manager.check(nonce, 2, 1001.0) is NonceStatus.REPLAY
    assert manager.check(nonce, 0, 1001.0) is NonceStatus.REPLAY


def test_reordered_nonce_count_inside_window_is_accepted_once():
    manager = NonceManager(SECRET, replay_window=4)
    nonce = manager.issue(1000.0)
    assert manager.check(nonce, 5, 1000.0) is NonceStatus.VALID
    assert manager.check(nonce, 3, 1000.0) is NonceStatus.VALID
    assert manager.check(nonce, 3, 1000.0) is NonceStatus.REPLAY
    assert manager.check(nonce, 1, 1000.0) is NonceStatus.REPLAY  # older than the window


def test_zero_window_is_strictly_increasing():
    manager = NonceManager(SECRET, replay_window=0)
    nonce = manager.issue(1000.0)
    assert manager.check(nonce, 5, 1000.0) is NonceStatus.VALID
    assert manager.check(nonce, 4, 1000.0) is NonceStatus.REPLAY
    assert manager.check(nonce, 6, 1000.0) is NonceStatus.VALID


def test_huge_nonce_count_jump_stays_small():
    manager = NonceManager(SECRET)
    nonce = manager.issue(1000.0)
    assert manager.check(nonce, 1, 1000.0) is NonceStatus.VALID
    assert manager.check(nonce, 2**60, 1000.0) is NonceStatus.VALID
    assert manager.check(nonce, 1, 1000.0) is NonceStatus.REPLAY


def test_legacy_nonce_without_count_may_be_reused():
    manager = NonceManager(SECRET)
    nonce = manager.issue(1000.0)
    for second in range(5):
        assert manager.check(nonce, None, 1000.0 + second) is NonceStatus.VALID
    assert manager.tracked_count == 0


def test_expired_entries_are_dropped():
    manager = NonceManager(SECRET, lifetime=10.0)
    for _ in range(5):
        assert manager.check(manager.issue(0.0), 1, 0.0) is NonceStatus.VALID
    assert manager.tracked_count == 5
    assert manager.check(manager.issue(20.0), 1, 20.0) is NonceStatus.VALID
    assert manager.tracked_count == 1


def test_tracking_is_bounded_and_eviction_opens_no_replay():
    manager = NonceManager(SECRET, max_tracked=10)
    nonces = [manager.issue(1000.0 + i) for i in range(25)]
    for i, nonce in enumerate(nonces):
        assert manager.check(nonce, 1, 1000.0 + i) is NonceStatus.VALID
        assert manager.tracked_count <= 10
    # The first nonces were evicted while alive: a replay must not pass.
    assert manager.check(nonces[0], 1, 1030.0) is NonceStatus.STALE
    assert manager.check(nonces[-1], 1, 1030.0) is NonceStatus.REPLAY
    assert manager.check(manager.issue(1030.0), 1, 1030.0) is NonceStatus.VALID


def test_manager_refuses_weak_configuration():
    with pytest.raises(LocalProtocolError):
        NonceManager(b"short")
    with pytest.raises(LocalProtocolError):
        NonceManager(SECRET, lifetime=0)
    with pytest.raises(LocalProtocolError):
        NonceManager(SECRET, max_tracked=0)
