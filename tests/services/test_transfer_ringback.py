"""What the caller hears while a transfer's human rings (services.transfers): a cold
transfer asks the session for ringback once the agent is stopped; a 183 with SDP asks
the session to make way (`early_media()`) and, once it has sent the agent's queued
audio, points the relay at the human; that leg failing brings the ringback back; a
warm transfer plays nothing until it turns cold."""

from test_transfers import HUMAN_SDP, HUMANS, MEDIA_ID, Switch, answer_human
from test_uac_leg import reply

EARLY_SDP = HUMAN_SDP.replace("50000", "50010")


def early(switch, out, peer=HUMANS, to_tag="human1", sdp=EARLY_SDP):
    return switch.receive(reply(out, 183, to_tag=to_tag, body=sdp), peer)


def answers(switch):
    return [c for c in switch.media.commands if c[0] == "answer"]


def test_a_cold_transfer_rings_the_caller_once_the_agent_is_stopped():
    switch = Switch()
    session = switch.answered_call()
    [(out, _)] = switch.transfer(warm=False)
    assert session.agent_ended == ["transfer"] and session.rings == ["ring"]
    switch.receive(reply(out, 180, to_tag="human1"), HUMANS)  # no SDP: ringback goes on
    assert session.rings == ["ring"] and answers(switch) == []
    answer_human(switch, out)
    assert session.released and session.rings == ["ring"]


def test_early_media_points_the_relay_at_the_human_once_the_agent_was_heard():
    switch = Switch()
    session = switch.answered_call()
    [(out, _)] = switch.transfer(warm=False)
    early(switch, out)
    assert session.rings == ["ring", "early"]
    assert answers(switch) == []  # the agent's last words are still playing
    session.played[0].callback(None)
    assert answers(switch) == [("answer", MEDIA_ID, "caller", out.from_tag,
                                EARLY_SDP.encode())]
    early(switch, out)  # a repeated 183: nothing new
    assert len(answers(switch)) == 1 and session.rings == ["ring", "early"]
    answer_human(switch, out)  # the 2xx points the relay again, with its own SDP
    assert answers(switch)[-1] == ("answer", MEDIA_ID, "caller", out.from_tag,
                                   HUMAN_SDP.encode())
    assert session.released and session.stopped == ["transfer"]


def test_an_answer_before_the_agent_was_heard_skips_the_early_media():
    switch = Switch()
    session = switch.answered_call()
    [(out, _)] = switch.transfer(warm=False)
    early(switch, out)
    answer_human(switch, out)
    session.played[0].callback(None)  # too late: the human has the caller
    assert [c[4] for c in answers(switch)] == [HUMAN_SDP.encode()]


def test_a_relay_refusing_the_early_sdp_leaves_the_ringback():
    switch = Switch()
    session = switch.answered_call()
    switch.media.refuse_answer = True
    [(out, _)] = switch.transfer(warm=False)
    early(switch, out)
    session.played[0].callback(None)
    assert len(answers(switch)) == 1 and session.rings == ["ring", "early"]
    assert switch.records == [] and session.stopped == []  # still ringing
    early(switch, out)  # the relay may take the leg's next SDP
    assert session.rings == ["ring", "early", "early"]


def test_one_forks_early_media_holds_the_relay_until_that_fork_fails():
    switch = Switch()
    switch.bind("alice", "sip:alice@10.0.0.5:5062", "udp:192.0.2.30:40000")
    switch.bind("alice", "sip:alice@10.0.0.6:5062", "udp:192.0.2.31:40001")
    session = switch.answered_call()
    [(first, p1), (second, p2)] = sorted(switch.transfer("user:alice", warm=False),
                                         key=lambda s: s[1].host)
    early(switch, second, p2, "a2")
    session.played[0].callback(None)
    early(switch, first, p1, "a1")  # the relay is the second's: ignored
    assert [c[3] for c in answers(switch)] == [second.from_tag]
    assert session.rings == ["ring", "early"]
    switch.receive(reply(second, 486, to_tag="a2"), p2)  # the first still rings
    assert session.rings == ["ring", "early", "ring"] and switch.records == []
    early(switch, first, p1, "a1")  # now its early media counts
    session.played[1].callback(None)
    assert [c[3] for c in answers(switch)] == [second.from_tag, first.from_tag]
    answer_human(switch, first, peer=p1, to_tag="a1")
    assert session.released


def test_a_fork_failing_before_the_agent_was_heard_never_gets_the_relay():
    switch = Switch()
    switch.bind("alice", "sip:alice@10.0.0.5:5062", "udp:192.0.2.30:40000")
    switch.bind("alice", "sip:alice@10.0.0.6:5062", "udp:192.0.2.31:40001")
    session = switch.answered_call()
    [(first, p1), (second, p2)] = sorted(switch.transfer("user:alice", warm=False),
                                         key=lambda s: s[1].host)
    early(switch, second, p2, "a2")
    switch.receive(reply(second, 486, to_tag="a2"), p2)
    session.played[0].callback(None)
    assert answers(switch) == [] and session.rings == ["ring", "early", "ring"]


def test_a_warm_transfer_plays_nothing_until_the_agent_leaves():
    switch = Switch()
    session = switch.answered_call()
    [(out, _)] = switch.transfer(warm=True)
    early(switch, out)
    assert session.rings == [] and answers(switch) == []  # the agent is talking
    session.on_end("done")  # the agent hangs up: the transfer goes on, cold
    assert session.agent_ended == ["done"] and session.rings == ["ring", "early"]
    session.played[0].callback(None)
    assert answers(switch) == [("answer", MEDIA_ID, "caller", out.from_tag,
                                EARLY_SDP.encode())]


def test_a_warm_transfer_turned_cold_without_early_media_rings():
    switch = Switch()
    session = switch.answered_call()
    switch.transfer(warm=True)
    session.on_end("done")
    assert session.rings == ["ring"] and answers(switch) == []
