"""RFC 4028 session timers in the pure core: negotiation and one dialog's timer."""

import pytest

from softswitch.sip.session_timer import (
    EXPIRED,
    REFRESH,
    UAC,
    UAS,
    Negotiated,
    SessionExpires,
    SessionTimer,
    SessionTimerConfig,
    TooSmall,
    negotiate_as_uac,
    negotiate_as_uas,
    parse_min_se,
    retry_interval,
    supports_timer,
    uac_request_headers,
)

CONFIG = SessionTimerConfig(session_expires=1800, min_se=90)


@pytest.mark.parametrize("value, parsed", [
    ("1800", SessionExpires(1800)), ("90;refresher=uac", SessionExpires(90, UAC)),
    ("600 ; Refresher=UAS", SessionExpires(600, UAS)),
    ("600;foo=bar;refresher=uas", SessionExpires(600, UAS))])
def test_session_expires_parses(value, parsed):
    assert SessionExpires.parse(value) == parsed


@pytest.mark.parametrize("value", ["", "abc", "-5", "1e3", "99999999999", "90;refresher=me"])
def test_malformed_session_expires_is_refused(value):
    with pytest.raises(ValueError):
        SessionExpires.parse(value)


def test_min_se_and_supported():
    assert parse_min_se("120") == 120 and parse_min_se("120;x=1") == 120
    assert supports_timer(["100rel, Timer"]) and not supports_timer(["100rel", "replaces"])


def test_the_config_keeps_to_the_rfc_floor():
    with pytest.raises(ValueError):
        SessionTimerConfig(min_se=89)
    with pytest.raises(ValueError):
        SessionTimerConfig(session_expires=100, min_se=120)


@pytest.mark.parametrize("se, min_se, supported, result", [
    # The UAC asks: granted up to our interval, never below either Min-SE.
    ("600", None, True, Negotiated(600, UAC)),
    ("600;refresher=uas", None, True, Negotiated(600, UAS)),
    ("7200", None, True, Negotiated(1800, UAC)),
    ("300", "400", True, Negotiated(400, UAC)),
    # Below our Min-SE: 422 for a UAC that can retry, raised for one that cannot.
    ("60", None, True, TooSmall(90)),
    ("60", None, False, Negotiated(90, UAS)),
    # A proxy asked for a UAC without timer support: we refresh.
    ("600", None, False, Negotiated(600, UAS)),
    # Nothing asked: we still use timers, refreshed by whoever can.
    (None, None, True, Negotiated(1800, UAC)),
    (None, None, False, Negotiated(1800, UAS)),
    (None, "3600", False, Negotiated(3600, UAS)),
])
def test_uas_negotiation(se, min_se, supported, result):
    assert negotiate_as_uas(se, min_se, supported, CONFIG) == result


def test_the_2xx_headers_require_timer_when_the_uac_refreshes():
    assert Negotiated(600, UAC).response_headers() == [
        ("Session-Expires", "600;refresher=uac"), ("Require", "timer")]
    assert Negotiated(600, UAS).response_headers() == [
        ("Session-Expires", "600;refresher=uas")]


def test_uac_side():
    assert uac_request_headers(CONFIG) == [("Supported", "timer"),
                                           ("Session-Expires", "1800"), ("Min-SE", "90")]
    assert uac_request_headers(CONFIG, 3600)[1] == ("Session-Expires", "3600")
    assert retry_interval("3600", CONFIG) == 3600 and retry_interval("30", CONFIG) == 90
    assert retry_interval(None, CONFIG) is None and retry_interval("x", CONFIG) is None
    assert negotiate_as_uac(None) is None
    assert negotiate_as_uac("900;refresher=uas") == Negotiated(900, UAS)
    assert negotiate_as_uac("900") == Negotiated(900, UAC)


def test_the_refresher_refreshes_at_half_the_interval_and_expires_without_success():
    timer = SessionTimer(Negotiated(600, UAS), we_refresh=True, now=1000.0)
    assert timer.get_timer() == 1300.0
    assert timer.handle_timer(1299.9) is None
    assert timer.handle_timer(1300.0) == REFRESH
    assert timer.get_timer() == 1600.0 and timer.handle_timer(1400.0) is None
    timer.refreshed(1301.0)
    assert timer.get_timer() == 1601.0
    assert timer.handle_timer(1601.0) == REFRESH
    assert timer.handle_timer(1901.0) == EXPIRED  # the refresh never succeeded


def test_the_other_side_ends_the_session_before_it_expires():
    timer = SessionTimer(Negotiated(90, UAC), we_refresh=False, now=0.0)
    assert timer.get_timer() == 60.0  # 90 - min(32, 90 / 3)
    timer.refreshed(50.0)
    assert timer.get_timer() == 110.0 and timer.handle_timer(109.0) is None
    assert timer.handle_timer(110.0) == EXPIRED
    long = SessionTimer(Negotiated(1800, UAC), we_refresh=False, now=0.0)
    assert long.get_timer() == 1768.0  # 32 s before
    long.refreshed(10.0, Negotiated(600, UAS), we_refresh=True)
    assert long.get_timer() == 310.0


def test_a_failed_refresh_is_tried_again_before_the_session_expires():
    timer = SessionTimer(Negotiated(90, UAS), we_refresh=True, now=0.0)
    assert timer.handle_timer(45.0) == REFRESH
    timer.retry(45.5, 3.0)  # 491
    assert timer.get_timer() == 48.5 and timer.handle_timer(48.5) == REFRESH
    timer.retry(88.0, 3.0)  # too late: the session ends first
    assert timer.get_timer() == 90.0
    other = SessionTimer(Negotiated(90, UAC), we_refresh=False, now=0.0)
    other.retry(10.0, 3.0)
    assert other.get_timer() == 60.0
