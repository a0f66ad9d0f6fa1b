"""Hold and resume from the far end of the switch's UAC legs (outbound calls, the human
of a transfer): the re-INVITE is answered by direction (RFC 3264 §6.1), a re-INVITE
without SDP gets our offer and its ACK the answer, and the leg's owner hears
`Reoffered`: an outbound call's media follows and its agent is told, a transfer's
relay follows the human's SDP."""

import pytest
from test_outbound_calls import FAR_SDP, GW_A
from test_outbound_calls import Switch as OutboundSwitch
from test_transfers import HUMAN_SDP, MEDIA_ID, answer_human
from test_transfers import Switch as TransferSwitch
from test_uac_leg import ANSWER, GATEWAY, PHONE, Switch, far_request, reply

from softswitch.sdp import parse_sdp
from softswitch.services.calls.uac_leg import UacLeg
from softswitch.services.calls.events import Answered, Reoffered

HELD = ANSWER.replace("o=- 2 2", "o=- 2 3") + "a=sendonly\r\n"
RESUMED = ANSWER.replace("o=- 2 2", "o=- 2 4") + "a=sendrecv\r\n"


def direction(body: bytes) -> str:
    sdp = parse_sdp(body)
    return sdp.direction_of(sdp.media[0])


@pytest.fixture
def switch():
    return Switch()


def answered(switch):
    leg = switch.leg().start()
    [(invite, _)] = switch.requests()
    switch.receive(reply(invite, 200, body=ANSWER), GATEWAY)
    return leg


def test_a_hold_is_answered_recvonly_and_reported(switch):
    leg = answered(switch)
    [(ok, _)] = switch.receive(far_request(leg, "INVITE", 2, HELD), PHONE)
    assert ok.status == 200 and direction(ok.body) == "recvonly"
    assert switch.owner.events[-1] == Reoffered(HELD.encode(), True)
    [(ok, _)] = switch.receive(far_request(leg, "INVITE", 3, RESUMED), PHONE)
    assert direction(ok.body) == "sendrecv"
    assert parse_sdp(ok.body).origin.version > 1
    assert switch.owner.events[-1] == Reoffered(RESUMED.encode(), False)


def test_a_re_invite_without_sdp_gets_our_offer_and_the_ack_brings_the_answer(switch):
    leg = answered(switch)
    [(ok, _)] = switch.receive(far_request(leg, "INVITE", 2), PHONE)
    assert ok.status == 200 and direction(ok.body) == "sendrecv"
    assert isinstance(switch.owner.events[-1], Answered)  # nothing yet
    assert switch.receive(far_request(leg, "ACK", 2, HELD), PHONE) == []
    assert switch.owner.events[-1] == Reoffered(HELD.encode(), True)


def test_an_outbound_calls_far_end_holding_reaches_the_media_and_the_agent():
    switch = OutboundSwitch()
    _, [(out, _)] = switch.originate()
    session = switch.session()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    leg = next(leg for leg in switch.agents.legs if isinstance(leg, UacLeg))
    held = FAR_SDP.replace("o=- 9 9", "o=- 9 10") + "a=inactive\r\n"
    [(ok, _)] = switch.receive(far_request(leg, "INVITE", 2, held), PHONE)
    assert direction(ok.body) == "inactive"
    assert session.reoffers == [held.encode()] and session.holds == [True]


def test_the_agent_hears_of_a_hold_once_per_change_while_the_media_follows_each_offer():
    switch = OutboundSwitch()
    _, [(out, _)] = switch.originate()
    session = switch.session()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    leg = next(leg for leg in switch.agents.legs if isinstance(leg, UacLeg))
    held = FAR_SDP.replace("o=- 9 9", "o=- 9 10") + "a=inactive\r\n"
    again = FAR_SDP.replace("o=- 9 9", "o=- 9 11") + "a=sendonly\r\n"
    resumed = FAR_SDP.replace("o=- 9 9", "o=- 9 12")
    for cseq, sdp in ((2, held), (3, again), (4, resumed)):
        [(ok, _)] = switch.receive(far_request(leg, "INVITE", cseq, sdp), PHONE)
        assert ok.status == 200
    assert session.reoffers == [held.encode(), again.encode(), resumed.encode()]
    assert session.holds == [True, False]


def test_a_bridged_human_holding_moves_the_relays_human_side():
    switch = TransferSwitch()
    switch.answered_call()
    [(out, _)] = switch.transfer(warm=False)
    answer_human(switch, out)
    human = next(leg for leg in switch.agents.legs if isinstance(leg, UacLeg))
    held = HUMAN_SDP.replace("o=- 5 5", "o=- 5 6").replace("m=video", "a=sendonly\r\nm=video")
    sent = switch.receive(far_request(human, "INVITE", 2, held), PHONE)
    assert [m.status for m, _ in sent] == [200]  # the customer gets no re-INVITE
    assert switch.media.commands[-1] == ("offer", MEDIA_ID, out.from_tag, held.encode())


def test_an_update_with_an_offer_is_answered_like_a_re_invite(switch):
    leg = answered(switch)
    [(ok, _)] = switch.receive(far_request(leg, "UPDATE", 2, HELD), PHONE)
    assert ok.status == 200 and direction(ok.body) == "recvonly"
    assert switch.owner.events[-1] == Reoffered(HELD.encode(), True)
    [(ok, _)] = switch.receive(far_request(leg, "UPDATE", 3), PHONE)
    assert ok.status == 200 and not ok.body  # a refresh without SDP
