"""SDES per leg decided from the SDPs (media.relay_crypto), without sockets: which keys
are taken, what each side is offered and answered, and what stays across re-offers."""

import base64
import itertools

import pytest

from softswitch.media.relay_crypto import CallCrypto, StreamKeys
from softswitch.sdp import SdpError, parse_sdp
from softswitch.sdp.crypto import CryptoAttribute

CALLER_KEY = bytes(range(30))
CALLEE_KEY = bytes(range(100, 130))


def sdp(proto="RTP/AVP", *cryptos, port=4000):
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
             f"m=audio {port} {proto} 0", "a=rtpmap:0 PCMU/8000",
             *(f"a=crypto:{tag} {suite} inline:{base64.b64encode(key).decode()}"
               for tag, suite, key in cryptos)]
    return parse_sdp(("\r\n".join(lines) + "\r\n").encode())


def counting_random():
    counter = itertools.count(1)
    return lambda n: bytes([next(counter) % 256]) * n


def cryptos(description):
    return [CryptoAttribute.parse(v) for v in description.media[0].attribute_values("crypto")]


CALLER, CALLEE = "caller-leg", "callee-leg"  # any hashable stands for the relay's legs


def test_an_srtp_caller_and_a_plain_callee():
    crypto = CallCrypto(counting_random())
    offer = sdp("RTP/SAVP", (3, "AES_CM_128_HMAC_SHA1_32", CALLER_KEY))
    toward_callee = offer.copy()
    crypto.offer(CALLER, CALLEE, offer, toward_callee, keys_allowed=True)
    assert toward_callee.media[0].proto == "RTP/AVP" and not cryptos(toward_callee)
    answer = sdp()
    toward_caller = answer.copy()
    crypto.answer(CALLEE, CALLER, answer, toward_caller)
    assert toward_caller.media[0].proto == "RTP/SAVP"
    [ours] = cryptos(toward_caller)
    assert (ours.tag, ours.suite) == (3, "AES_CM_128_HMAC_SHA1_32")
    assert ours.key == b"\x01" * 30
    assert crypto.leg(CALLER).keys == [StreamKeys("AES_CM_128_HMAC_SHA1_32", CALLER_KEY,
                                                  b"\x01" * 30)]
    assert crypto.leg(CALLEE).keys == [None]
    # The same answer again (a re-offer's): the switch's key stays.
    again = answer.copy()
    crypto.offer(CALLER, CALLEE, offer, offer.copy())
    crypto.answer(CALLEE, CALLER, answer, again)
    assert cryptos(again)[0].key == ours.key


def test_a_plain_caller_and_a_callee_offered_srtp():
    crypto = CallCrypto(counting_random())
    offer = sdp()
    toward_callee = offer.copy()
    crypto.offer(CALLER, CALLEE, offer, toward_callee, toward="sdes")
    offered = cryptos(toward_callee)
    assert toward_callee.media[0].proto == "RTP/SAVP"
    assert [(c.tag, c.suite) for c in offered] == [
        (1, "AES_CM_128_HMAC_SHA1_80"), (2, "AES_CM_128_HMAC_SHA1_32"), (3, "AEAD_AES_128_GCM")]
    # A re-offer toward the callee offers the same keys.
    again = offer.copy()
    crypto.offer(CALLER, CALLEE, offer, again)
    assert cryptos(again) == offered
    answer = sdp("RTP/SAVP", (3, "AEAD_AES_128_GCM", CALLEE_KEY[:28]))
    toward_caller = answer.copy()
    crypto.answer(CALLEE, CALLER, answer, toward_caller)
    assert toward_caller.media[0].proto == "RTP/AVP" and not cryptos(toward_caller)
    assert crypto.leg(CALLEE).keys == [StreamKeys("AEAD_AES_128_GCM", CALLEE_KEY[:28],
                                                  offered[2].key)]


def test_answers_that_do_not_fit_what_was_offered_are_refused():
    crypto = CallCrypto(counting_random())
    crypto.offer(CALLER, CALLEE, sdp(), sdp(), toward="sdes")
    with pytest.raises(SdpError, match="requires SRTP"):
        crypto.answer(CALLEE, CALLER, sdp(), sdp())
    with pytest.raises(SdpError, match="was not offered"):
        crypto.answer(CALLEE, CALLER, sdp("RTP/SAVP", (1, "AES_CM_128_HMAC_SHA1_32",
                                                       CALLEE_KEY)), sdp())
    optional = CallCrypto(counting_random())
    optional.offer(CALLER, CALLEE, sdp(), sdp(), toward="optional")
    optional.answer(CALLEE, CALLER, sdp(), sdp())
    assert optional.leg(CALLEE).keys == [None]


def test_keys_over_insecure_signalling():
    crypto = CallCrypto(counting_random())
    savp = sdp("RTP/SAVP", (1, "AES_CM_128_HMAC_SHA1_80", CALLER_KEY))
    with pytest.raises(SdpError, match="TLS"):
        crypto.offer(CALLER, CALLEE, savp, savp.copy(), keys_allowed=False)
    best_effort = sdp("RTP/AVP", (1, "AES_CM_128_HMAC_SHA1_80", CALLER_KEY))
    out = best_effort.copy()
    crypto.offer(CALLER, CALLEE, best_effort, out, keys_allowed=False)
    assert not cryptos(out)
    answer = sdp()
    crypto.answer(CALLEE, CALLER, answer, answer)
    assert not cryptos(answer) and crypto.leg(CALLER).keys == [None]


def test_rejected_and_dtls_streams_are_left_alone():
    crypto = CallCrypto(counting_random())
    dtls = sdp("UDP/TLS/RTP/SAVPF")
    out = dtls.copy()
    crypto.offer(CALLER, CALLEE, dtls, out, toward="sdes")
    assert str(out) == str(dtls)
    rejected = sdp("RTP/SAVP", (1, "AES_CM_128_HMAC_SHA1_80", CALLER_KEY), port=0)
    out = rejected.copy()
    crypto.offer(CALLER, CALLEE, rejected, out, toward="sdes")
    assert not cryptos(out)
    with pytest.raises(ValueError):
        crypto.offer(CALLER, CALLEE, dtls, dtls.copy(), toward="dtls")
