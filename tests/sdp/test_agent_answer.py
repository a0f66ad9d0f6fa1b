"""The switch's own answer to a caller's offer (agent calls): the codec chosen by the
preference order (G.722 first by default), telephone-event at that codec's RTP clock
(8000 Hz for G.722, RFC 3551 §4.5.2 and RFC 4733 §2.1; 48000 for Opus), exact answer
bytes."""

import pytest

from softswitch.sdp import SdpError, parse_sdp
from softswitch.sdp.agent_answer import build_answer, check_preference, choose_audio


def offer(formats, *attributes):
    lines = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
             f"m=audio 4000 RTP/AVP {formats}", *attributes]
    return parse_sdp(("\r\n".join(lines) + "\r\n").encode())


LINPHONE = offer("96 9 0 8 101 97", "a=rtpmap:96 opus/48000/2",
                 "a=fmtp:96 useinbandfec=1", "a=rtpmap:101 telephone-event/48000",
                 "a=rtpmap:97 telephone-event/8000")


def test_g722_is_chosen_first_with_telephone_event_at_8000():
    choice = choose_audio(LINPHONE)
    assert (choice.codec, choice.payload_type, choice.event_payload_type) == ("G722", 9, 97)
    assert build_answer(LINPHONE, choice, "198.51.100.7", 30000) == (
        b"v=0\r\no=softswitch 1 1 IN IP4 198.51.100.7\r\ns=softswitch\r\n"
        b"c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 9 97\r\n"
        b"a=rtpmap:9 G722/8000\r\na=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-16\r\n"
        b"a=ptime:20\r\na=sendrecv\r\n")


def test_g722_without_an_rtpmap_is_the_static_payload_type_9():
    choice = choose_audio(offer("0 9"))
    assert (choice.codec, choice.payload_type, choice.event_payload_type) == ("G722", 9, None)


def test_a_telephone_event_at_another_clock_is_not_taken():
    choice = choose_audio(offer("9 101", "a=rtpmap:101 telephone-event/48000"))
    assert choice.event_payload_type is None


def test_the_preference_order_decides():
    choice = choose_audio(LINPHONE, check_preference(["pcma", "pcmu"]))
    assert (choice.codec, choice.payload_type) == ("PCMA", 8)
    assert choose_audio(offer("0 8"), ("G722", "PCMU", "PCMA")).codec == "PCMU"
    with pytest.raises(SdpError, match="PCMU"):
        choose_audio(offer("9"), ("PCMU",))
    assert choose_audio(LINPHONE, ("OPUS", "G722")).codec == "OPUS"


def test_opus_gets_its_own_payload_type_fmtp_and_telephone_event_at_48000():
    browser = offer("0 111 110 101", "a=rtpmap:111 opus/48000/2",
                    "a=fmtp:111 minptime=10;useinbandfec=1",
                    "a=rtpmap:101 telephone-event/8000", "a=rtpmap:110 telephone-event/48000")
    choice = choose_audio(browser)
    assert (choice.codec, choice.payload_type, choice.event_payload_type) == ("OPUS", 111, 110)
    answer = build_answer(browser, choice, "198.51.100.7", 30000)
    assert b"m=audio 30000 RTP/AVP 111 110\r\na=rtpmap:111 opus/48000/2\r\n" \
        b"a=fmtp:111 minptime=20;useinbandfec=1;stereo=0;sprop-stereo=0\r\n" \
        b"a=rtpmap:110 telephone-event/48000\r\na=fmtp:110 0-16\r\n" in answer


def test_opus_not_at_48000_2_or_g722_at_a_wrong_clock_is_refused():
    with pytest.raises(SdpError):
        choose_audio(offer("96", "a=rtpmap:96 opus/48000"))
    with pytest.raises(SdpError):
        choose_audio(offer("98", "a=rtpmap:98 G722/16000"))


def test_a_preference_names_known_codecs():
    assert check_preference(["g722", "PCMU"]) == ("G722", "PCMU")
    assert check_preference(["opus"]) == ("OPUS",)
    for bad in ([], ["GSM"], ["PCMU", "ilbc"]):
        with pytest.raises(ValueError):
            check_preference(bad)
