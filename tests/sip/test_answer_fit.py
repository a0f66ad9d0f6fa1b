"""Answers over UDP stay within AMPLIFICATION times the request (sip.amplification)."""

from softswitch.sip.amplification import AMPLIFICATION, fit_answer
from softswitch.sip.message import make_response, parse_message

TINY_INVITE = (b"INVITE sip:+14155550100@a SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bKx\r\n"
               b"f: <sip:a@a>;tag=1\r\nt: <sip:a@a>\r\ni: a\r\nCSeq: 1 INVITE\r\n\r\n")
NONCE = "AAABi8_laAARlX_XvBUYigkNiKNH_YGQ7BHw4R0KW0pJg1Na"


def challenge(request):
    response = make_response(request, 407, to_tag="t1")
    for algorithm in ("SHA-256", "MD5"):
        response.headers.add("Proxy-Authenticate", f'Digest realm="example.com", '
                             f'nonce="{NONCE}", algorithm={algorithm}, qop="auth"')
    response.headers.add("Server", "softswitch")
    return response


def test_a_tiny_request_gets_its_first_challenge_only_within_the_bound():
    request = parse_message(TINY_INVITE)
    full = challenge(request)
    assert len(full.to_bytes()) > AMPLIFICATION * len(TINY_INVITE)
    fitted = fit_answer(full, request.wire_size)
    assert len(fitted.to_bytes()) <= AMPLIFICATION * len(TINY_INVITE)
    [kept] = fitted.headers.values("Proxy-Authenticate")
    assert "SHA-256" in kept
    assert fitted.headers.get("Server") == "softswitch"  # dropped only when needed
    assert len(full.headers.values("Proxy-Authenticate")) == 2  # the original is kept


def test_a_request_of_ordinary_size_gets_the_answer_untouched():
    padded = TINY_INVITE.replace(b"\r\n\r\n", b"\r\nUser-Agent: " + b"x" * 200 + b"\r\n\r\n")
    request = parse_message(padded)
    full = challenge(request)
    assert fit_answer(full, request.wire_size) is full


def test_a_calls_answer_is_never_trimmed_and_unknown_sizes_are_left_alone():
    request = parse_message(TINY_INVITE)
    ok = make_response(request, 200, to_tag="t", body=b"v=0\r\n" * 200)
    ok.headers.add("Supported", "timer")
    assert fit_answer(ok, request.wire_size) is ok
    assert fit_answer(challenge(request), 0).headers.values("Proxy-Authenticate")
