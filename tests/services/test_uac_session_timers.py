"""RFC 4028 session timers on the switch's UAC legs (outbound calls, transfers), on
the injected clock: the INVITE's headers, one retry after 422, the 2xx naming who
refreshes, our refreshes and the far end's, and the BYE when the session expires."""

import pytest
from test_uac_leg import ANSWER, GATEWAY, PHONE, Switch, far_request, reply

from softswitch.services.calls.events import Answered, Ended, Failed
from softswitch.sip.session_timer import SessionTimerConfig

TIMERS = SessionTimerConfig(1800, 90)


@pytest.fixture
def switch():
    return Switch()


def started(switch):
    leg = switch.leg(session_timers=TIMERS).start()
    [(invite, _)] = switch.requests()
    return leg, invite


def answered(switch, session_expires):
    leg, invite = started(switch)
    extra = f"Session-Expires: {session_expires}\r\nAllow: INVITE, ACK, BYE, UPDATE"
    sent = switch.receive(reply(invite, 200, body=ANSWER, extra=extra), GATEWAY)
    assert [m.method for m, _ in sent if m.is_request] == ["ACK"]
    return leg


def test_the_invite_asks_for_timers(switch):
    leg, invite = started(switch)
    assert "timer" in invite.headers.get("Supported")
    assert invite.headers.get("Session-Expires") == "1800"
    assert invite.headers.get("Min-SE") == "90"


def test_a_422_is_answered_once_with_the_interval_its_min_se_names(switch):
    leg, invite = started(switch)
    sent = switch.receive(reply(invite, 422, extra="Min-SE: 3600"), GATEWAY)
    [ack, again] = [m for m, _ in sent if m.is_request]
    assert ack.method == "ACK" and again.method == "INVITE"
    assert (again.headers.get("Session-Expires"), again.headers.get("Min-SE")) == (
        "3600", "3600")
    assert again.cseq.number == invite.cseq.number + 1
    assert again.top_via.branch != invite.top_via.branch
    switch.receive(reply(again, 422, extra="Min-SE: 7200"), GATEWAY)
    assert switch.owner.events == [Failed(422, "failed")]


def test_we_refresh_when_the_2xx_names_us_by_update_the_far_end_allows(switch):
    answered(switch, "90;refresher=uac")
    assert switch.owner.events == [Answered(ANSWER.encode())]
    switch.clock.advance(45)
    [(update, peer)] = switch.requests()
    assert update.method == "UPDATE" and peer == PHONE
    assert update.headers.get("Session-Expires") == "90;refresher=uac"
    switch.receive(reply(update, 200, extra="Session-Expires: 90;refresher=uac"), PHONE)
    switch.clock.advance(44)
    assert switch.requests() == []
    switch.clock.advance(1)
    assert [m.method for m, _ in switch.requests()] == ["UPDATE"]


def test_a_far_end_refresher_that_goes_silent_gets_a_bye(switch):
    leg = answered(switch, "90;refresher=uas")
    switch.clock.advance(40)  # the far end refreshes once, by re-INVITE
    sent = switch.receive(far_request(leg, "INVITE", 2, ANSWER,
                                      extra="Session-Expires: 90;refresher=uac"), PHONE)
    [ok] = [m for m, _ in sent]
    assert ok.status == 200 and ok.headers.get("Session-Expires") == "90;refresher=uac"
    switch.clock.advance(59)
    assert switch.requests() == []
    switch.clock.advance(1)  # 40 + 90 - 30
    [(bye, _)] = switch.requests()
    assert bye.method == "BYE"
    assert switch.owner.events[-1] == Ended("local", "session-expired")  # (we sent the BYE)


def test_no_session_expires_in_the_2xx_means_no_timer(switch):
    leg, invite = started(switch)
    sent = switch.receive(reply(invite, 200, body=ANSWER), GATEWAY)
    assert [m.method for m, _ in sent if m.is_request] == ["ACK"]
    switch.clock.pump([60.0] * 100)
    assert switch.requests() == []
    assert switch.owner.events == [Answered(ANSWER.encode())]
