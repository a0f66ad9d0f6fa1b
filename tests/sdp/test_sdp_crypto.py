"""RFC 4568 a=crypto: the grammar, the suites the switch runs, and hostile lines."""

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sdp import SdpError, parse_sdp
from softswitch.sdp.crypto import (
    MAX_CRYPTO_ATTRIBUTES,
    SUITES,
    CryptoAttribute,
    choose_crypto,
    is_sdes_capable,
    requires_srtp,
    set_crypto,
    set_profile,
)

KEY30 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"  # RFC 4568 §6.1's key: 30 bytes
KEY28 = base64.b64encode(bytes(range(28))).decode()


def media(proto: str, *cryptos: str):
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
             f"m=audio 4000 {proto} 0", *(f"a=crypto:{c}" for c in cryptos)]
    return parse_sdp(("\r\n".join(lines) + "\r\n").encode()).media[0]


def test_an_rfc_4568_line_round_trips():
    value = f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^20|1:4"
    crypto = CryptoAttribute.parse(value)
    assert (crypto.tag, crypto.suite, len(crypto.key)) == (1, "AES_CM_128_HMAC_SHA1_80", 30)
    assert crypto.lifetime == 2 ** 20 and crypto.mki == (1, 4)
    assert str(crypto) == f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|{2 ** 20}|1:4"
    assert not crypto.usable  # an MKI: libsrtp through pylibsrtp takes none


@pytest.mark.parametrize("suite,length", sorted(SUITES.items()))
def test_each_suite_takes_exactly_its_key_length(suite, length):
    good = base64.b64encode(bytes(length)).decode()
    assert CryptoAttribute.parse(f"7 {suite} inline:{good}").usable
    for wrong in (length - 1, length + 1):
        with pytest.raises(SdpError, match="bytes, not"):
            CryptoAttribute.parse(f"7 {suite} inline:{base64.b64encode(bytes(wrong)).decode()}")


def test_lifetime_forms_and_limits():
    assert CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_32 inline:{KEY30}|1048576").lifetime \
        == 2 ** 20
    assert CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_32 inline:{KEY30}|2^31").usable
    for bad in ("2^49", "0", "2^x", "-5", "2^20|2^20"):
        with pytest.raises(SdpError):
            CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_32 inline:{KEY30}|{bad}")


@pytest.mark.parametrize("value", [
    "", "1", "1 AES_CM_128_HMAC_SHA1_80",
    f"x AES_CM_128_HMAC_SHA1_80 inline:{KEY30}",
    f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}",
    f"1 AES_CM_128_HMAC_SHA1_80 uri:{KEY30}",
    "1 AES_CM_128_HMAC_SHA1_80 inline:!!!notbase64!!!",
    "1 AES_CM_128_HMAC_SHA1_80 inline:" + "A" * 500,
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:0",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:129",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:4|2:4",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:4|2^20",
    f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30[:-1]}",
    f"1 AES-CM inline:{KEY30}",
])
def test_malformed_lines_raise_sdp_error_only(value):
    with pytest.raises(SdpError):
        CryptoAttribute.parse(value)


def test_unknown_suites_mkis_several_keys_and_session_params_are_not_usable():
    assert not CryptoAttribute.parse(f"1 F8_128_HMAC_SHA1_80 inline:{KEY30}").usable
    assert not CryptoAttribute.parse(
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^20|1:4;inline:{KEY30}|2^20|2:4").usable
    assert not CryptoAttribute.parse(
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} UNENCRYPTED_SRTP").usable
    assert not CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} KDR=1").usable
    assert CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} WSH=128").usable


def test_the_first_usable_line_is_chosen_skipping_bad_and_unsupported_ones():
    m = media("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:bad!", f"2 F8_128_HMAC_SHA1_80 "
              f"inline:{KEY30}", f"3 AEAD_AES_128_GCM inline:{KEY28}",
              f"4 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}")
    chosen = choose_crypto(m)
    assert (chosen.tag, chosen.suite) == (3, "AEAD_AES_128_GCM")


def test_savp_without_a_usable_key_is_refused_and_avp_falls_back_to_plain():
    with pytest.raises(SdpError, match="no usable SDES key"):
        choose_crypto(media("RTP/SAVP"))
    with pytest.raises(SdpError, match="no usable SDES key"):
        choose_crypto(media("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:%%%"))
    assert choose_crypto(media("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:%%%")) is None
    assert choose_crypto(media("RTP/AVP")) is None


def test_a_thousand_crypto_lines_are_refused_without_parsing_them_all():
    lines = [f"{i} AES_CM_128_HMAC_SHA1_80 inline:AAAA" for i in range(1000)]
    with pytest.raises(SdpError, match="1000 a=crypto lines"):
        choose_crypto(media("RTP/SAVP", *lines))
    good = [f"{i} AES_CM_128_HMAC_SHA1_80 inline:{KEY30}" for i in range(MAX_CRYPTO_ATTRIBUTES)]
    assert choose_crypto(media("RTP/SAVP", *good)).tag == 0


def test_profiles_and_dtls_streams():
    assert requires_srtp(media("RTP/SAVP")) and requires_srtp(media("RTP/SAVPF"))
    assert not requires_srtp(media("RTP/AVP"))
    dtls = media("UDP/TLS/RTP/SAVPF", f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}")
    assert not is_sdes_capable(dtls) and choose_crypto(dtls) is None
    m = media("RTP/SAVPF", f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}")
    set_profile(m, False)
    set_crypto(m, [])
    assert str(m) == "m=audio 4000 RTP/AVPF 0\r\n"
    set_profile(m, True)
    set_crypto(m, [CryptoAttribute(2, "AEAD_AES_128_GCM", bytes(28))])
    assert str(m) == ("m=audio 4000 RTP/SAVPF 0\r\n"
                      f"a=crypto:2 AEAD_AES_128_GCM inline:{base64.b64encode(bytes(28)).decode()}"
                      "\r\n")


_PIECES = st.sampled_from([
    "1", "4294967295", "AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM", "inline:", KEY30,
    KEY28, "|", "2^", "48", "2^49", ":", ";", "=", "==", " ", "WSH=64", "KDR=1", "\u00e9",
    "\x00", "+/", "1:4", "x"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join) | st.text(max_size=80))
def test_any_crypto_value_parses_or_raises_sdp_error_only(value):
    try:
        crypto = CryptoAttribute.parse(value)
    except SdpError:
        return
    assert CryptoAttribute.parse(str(crypto)) == crypto


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_PIECES, max_size=10).map("".join), max_size=20),
       st.sampled_from(["RTP/SAVP", "RTP/AVP", "RTP/SAVPF"]))
def test_any_crypto_lines_choose_a_key_or_raise_sdp_error_only(values, proto):
    values = [v.replace("\x00", "") for v in values if v.strip() and "\n" not in v
              and "\r" not in v]
    try:
        m = media(proto, *values)
    except SdpError:
        return
    try:
        chosen = choose_crypto(m)
    except SdpError:
        assert proto != "RTP/AVP" or len(values) > MAX_CRYPTO_ATTRIBUTES
        return
    assert chosen is None or (chosen.usable and len(chosen.key) == SUITES[chosen.suite])
