"""The relay's plan from SDP alone (softswitch.media.relay_plan): latch targets, hold,
statistics configuration and the inactivity deadline, without a socket."""

from softswitch.media.relay_plan import (
    StreamPlan, call_on_hold, holds, idle_delay, names_an_address, stats_config,
    stream_plans)
from softswitch.sdp import parse_sdp


def sdp(*media: str, connection: str = "192.0.2.10") -> object:
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", f"c=IN IP4 {connection}", "t=0 0",
             *media]
    return parse_sdp(("\r\n".join(lines) + "\r\n").encode())


AUDIO = ("m=audio 40000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
         "a=rtpmap:101 telephone-event/8000")


def test_rtcp_goes_to_the_next_port_by_default():
    assert stream_plans(sdp(*AUDIO)) == [StreamPlan(
        media="audio", rtp=("192.0.2.10", 40000), rtcp=("192.0.2.10", 40001), held=False,
        rtp_mode=True, read_rtcp=True)]


def test_rtcp_attribute_and_rtcp_mux():
    [named] = stream_plans(sdp(*AUDIO, "a=rtcp:40011 IN IP4 198.51.100.7"))
    assert named.rtcp == ("198.51.100.7", 40011)
    [port_only] = stream_plans(sdp(*AUDIO, "a=rtcp:40011"))
    assert port_only.rtcp == ("192.0.2.10", 40011)
    [muxed] = stream_plans(sdp(*AUDIO, "a=rtcp-mux"))
    assert muxed.rtp == ("192.0.2.10", 40000) and muxed.rtcp is None


def test_a_rejected_stream_has_no_addresses_and_is_not_held():
    [rejected] = stream_plans(sdp("m=audio 0 RTP/AVP 0", "a=sendonly"))
    assert (rejected.rtp, rejected.rtcp, rejected.held) == (None, None, False)


def test_sendonly_and_inactive_legs_receive_no_rtp():
    for direction, held in (("sendonly", True), ("inactive", True), ("recvonly", False),
                            ("sendrecv", False)):
        [plan] = stream_plans(sdp(*AUDIO, f"a={direction}"))
        assert plan.held is held, direction


def test_srtp_rtcp_is_not_read_and_non_rtp_is_not_parsed_as_rtp():
    [srtp] = stream_plans(sdp("m=audio 40000 RTP/SAVP 0"))
    assert (srtp.rtp_mode, srtp.read_rtcp) == (True, False)
    [t38] = stream_plans(sdp("m=image 40000 udptl t38"))
    assert (t38.media, t38.rtp_mode) == ("image", False)


def test_hold_of_the_call():
    held = sdp(*AUDIO, "a=sendonly")
    rfc2543 = sdp(*AUDIO, connection="0.0.0.0")
    talking = sdp(*AUDIO)
    assert holds(held) and holds(rfc2543) and not holds(talking) and not holds(None)
    assert call_on_hold(talking, held) and not call_on_hold(talking, None)
    # A rejected stream does not count against a hold on the others.
    assert holds(sdp(*AUDIO, "a=inactive", "m=video 0 RTP/AVP 96"))


def test_an_unspecified_address_names_no_address():
    assert names_an_address(sdp(*AUDIO))
    assert not names_an_address(sdp(*AUDIO, connection="0.0.0.0"))
    assert not names_an_address(sdp("m=audio 0 RTP/AVP 0"))


def test_statistics_clock_rate_and_jitter_exclusions_from_both_sides():
    wideband = sdp("m=audio 40000 RTP/AVP 9 13 101", "a=rtpmap:9 G722/8000",
                   "a=rtpmap:101 telephone-event/16000")
    assert stats_config((wideband, sdp(*AUDIO)), 0) == (8000, frozenset({13, 101}))
    opus = sdp("m=audio 40000 RTP/AVP 111", "a=rtpmap:111 opus/48000/2")
    assert stats_config((None, opus), 0) == (48000, frozenset())
    assert stats_config((None, None), 0) == (8000, frozenset())
    assert stats_config((opus,), 1) == (8000, frozenset())


def test_the_inactivity_check_is_due_when_the_timeout_could_have_expired():
    assert idle_delay(100.0, 60.0, 130.0) == 30.0
    assert idle_delay(100.0, 60.0, 175.0) == 0.0
