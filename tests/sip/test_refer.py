"""REFER core (RFC 3515): Refer-To validation of hostile input, the Refer-To we send,
sipfrag bodies, and the referrer's state machine driven by a Clock."""

import pytest
from twisted.internet.task import Clock

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.refer import (
    ACCEPTED,
    DONE,
    MAX_REFER_TO_LENGTH,
    ReferFailed,
    ReferProgress,
    ReferSucceeded,
    ReferWatch,
    format_refer_to,
    notify_body,
    parse_refer_to,
    sipfrag_status,
    subscription_state,
)


@pytest.mark.parametrize("value, uri, scheme, user", [
    ("<sip:+14155550100@gw.example.com>", "sip:+14155550100@gw.example.com", "sip", "+14155550100"),
    ('"Sales" <sips:sales@pbx.example.com:5061;transport=tls>',
     "sips:sales@pbx.example.com:5061;transport=tls", "sips", "sales"),
    ("sip:bob@192.0.2.9;foo=bar", "sip:bob@192.0.2.9", "sip", "bob"),
    ("<tel:+14155550100>", "tel:+14155550100", "tel", "+14155550100"),
    ("tel:+14155550100", "tel:+14155550100", "tel", "+14155550100"),
])
def test_refer_to_accepted(value, uri, scheme, user):
    target = parse_refer_to(value)
    assert (target.uri, target.scheme, target.user, target.headers) == (uri, scheme, user, ())


def test_refer_to_headers_unescaped():
    target = parse_refer_to("<sip:bob@example.com?User-to-User=abc%3Bencoding%3Dhex>")
    assert target.uri == "sip:bob@example.com"
    assert target.headers == (("User-to-User", "abc;encoding=hex"),)


@pytest.mark.parametrize("value", [
    "",
    "<http://example.com/>",
    "<mailto:bob@example.com>",
    "<sip:bob@example.com?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>",
    "<sip:bob@example.com?Route=%3Csip:evil%3E>",
    "<sip:bob@example.com?X-A=1&X-B=2&X-C=3&X-D=4&X-E=5>",
    "<sip:bob@example.com?User-to-User=a%0D%0AVia:%20x>",
    "<sip:bob@example.com;method=BYE>",
    "<sip:a@example.com>, <sip:b@example.com>",
    "sip:a@example.com, sip:b@example.com",
    "<sip:bob@example.com",
    "<sip:" + "a" * MAX_REFER_TO_LENGTH + "@example.com>",
])
def test_refer_to_refused(value):
    with pytest.raises(RemoteProtocolError) as caught:
        parse_refer_to(value)
    assert caught.value.status_hint == 400


def test_format_refer_to():
    assert format_refer_to("tel:+14155550100") == "<tel:+14155550100>"
    assert format_refer_to("sip:+14155550100@gw.example.com",
                           {"User-to-User": "abc;encoding=hex"}) == \
        "<sip:+14155550100@gw.example.com?User-to-User=abc%3Bencoding%3Dhex>"
    with pytest.raises(RemoteProtocolError):
        format_refer_to("sip:bob@example.com", {"Replaces": "x"})
    assert parse_refer_to(format_refer_to(
        "sip:bob@example.com", {"User-to-User": "a&b=c"})).headers == \
        (("User-to-User", "a&b=c"),)


def test_sipfrag():
    assert sipfrag_status(b"SIP/2.0 100 Trying\r\n") == 100
    assert sipfrag_status(b"SIP/2.0 200 OK") == 200
    assert sipfrag_status(b"SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n") == 486
    for bad in (b"", b"INVITE sip:x SIP/2.0\r\n", b"SIP/2.0 99 x", b"SIP/2.0 abc",
                b"SIP/2.0 700 x", b"\xff" * 5000):
        assert sipfrag_status(bad) is None
    assert notify_body(100, "Trying") == b"SIP/2.0 100 Trying\r\n"
    assert subscription_state("terminated;reason=noresource") == "terminated"
    assert subscription_state(" Active ;expires=60") == "active"
    assert subscription_state(None) == ""


def test_accepted_then_success():
    clock = Clock()
    watch = ReferWatch(clock.seconds(), notify_timeout=60)
    assert watch.get_timer() == 32.0
    assert watch.response(100, clock.seconds()) is None
    clock.advance(1)
    assert watch.response(202, clock.seconds()) is None
    assert watch.state == ACCEPTED and watch.get_timer() == 61.0
    assert watch.notify(b"SIP/2.0 100 Trying\r\n", "active", 2) == ReferProgress(100)
    assert watch.notify(b"SIP/2.0 180 Ringing\r\n", "active", 3) == ReferProgress(180)
    assert watch.notify(b"SIP/2.0 200 OK\r\n", "terminated", 4) == ReferSucceeded(200)
    assert watch.done and watch.get_timer() is None
    assert watch.notify(b"SIP/2.0 200 OK\r\n", "terminated", 5) is None


@pytest.mark.parametrize("code", [405, 501, 603, 403])
def test_refused_falls_back(code):
    watch = ReferWatch(0.0)
    assert watch.response(code, 0.5) == ReferFailed(code, True, "refused")
    assert watch.state == DONE
    assert watch.response(202, 0.6) is None


def test_no_answer_to_refer():
    clock = Clock()
    watch = ReferWatch(clock.seconds(), response_timeout=32)
    clock.advance(31.9)
    assert watch.handle_timer(clock.seconds()) is None
    clock.advance(0.1)
    assert watch.handle_timer(clock.seconds()) == ReferFailed(408, True, "refused")


def test_target_busy_is_failure_not_refusal():
    watch = ReferWatch(0.0)
    watch.response(202, 0.1)
    assert watch.notify(b"SIP/2.0 486 Busy Here\r\n", "terminated", 1) == \
        ReferFailed(486, False, "busy")


def test_notify_before_202():
    watch = ReferWatch(0.0)
    assert watch.notify(b"SIP/2.0 100 Trying\r\n", "active", 0.1) == ReferProgress(100)
    assert watch.state == ACCEPTED
    assert watch.response(202, 0.2) is None
    assert watch.notify(b"SIP/2.0 200 OK\r\n", "terminated", 0.3) == ReferSucceeded(200)


def test_terminated_without_final_and_timeout():
    watch = ReferWatch(0.0)
    watch.response(202, 0.0)
    assert watch.notify(b"garbage", "terminated", 1) == ReferFailed(487, False, "failed")
    clock = Clock()
    watch = ReferWatch(clock.seconds(), notify_timeout=10)
    watch.response(202, clock.seconds())
    watch.notify(b"SIP/2.0 180 Ringing\r\n", "active", clock.seconds())
    clock.advance(10)
    assert watch.handle_timer(clock.seconds()) == ReferFailed(408, False, "timeout")
    assert watch.last_code == 180
