"""RFC 4733 telephone events: payloads that round-trip, one digit per key press from
real-world packet patterns (retransmitted ends, loss, reordering, long presses), the
generator's packets, and SIP INFO bodies."""

import random

import pytest

from softswitch.media.dtmf import (
    EVENT_DIGITS, FLASH, DtmfDetector, DtmfDigit, DtmfGenerator, InfoDigit, TelephoneEvent,
    digit_to_event, encode_event, event_to_digit, format_dtmf_relay, parse_event,
    parse_info_dtmf,
)

# A "5" as a phone sends it: start with the marker, updates every 20 ms, three ends.
FIVE = [
    (8000, True, bytes.fromhex("050a00a0")),
    (8000, False, bytes.fromhex("050a0140")),
    (8000, False, bytes.fromhex("050a01e0")),
    (8000, False, bytes.fromhex("058a0280")),
    (8000, False, bytes.fromhex("058a0280")),
    (8000, False, bytes.fromhex("058a0280")),
]


# --- payloads ---

def test_parse_a_payload():
    event = parse_event(bytes.fromhex("058a0280"))
    assert event == TelephoneEvent(event=5, end=True, volume=10, duration=640)
    assert event.digit == "5"


def test_every_four_byte_payload_round_trips():
    rng = random.Random(0)
    for _ in range(5000):
        data = rng.randbytes(4)
        assert bytes(TelephoneEvent.parse(data)) == data
    assert bytes(TelephoneEvent.parse(b"\x0b\x40\x00\x00")) == b"\x0b\x40\x00\x00"  # R bit


@pytest.mark.parametrize("length", range(4))
def test_truncated_payloads_say_what_is_missing(length):
    with pytest.raises(ValueError, match=f"{length} bytes, needs 4"):
        parse_event(b"\x05\x0a\x00\xa0"[:length])


def test_trailing_bytes_are_ignored():
    assert parse_event(bytes.fromhex("050a00a0") + b"\x00\x00") == parse_event(
        bytes.fromhex("050a00a0"))


def test_encode_and_field_checks():
    assert encode_event(11, end=True, volume=0, duration=65535) == b"\x0b\x80\xff\xff"
    for bad in (dict(event=256), dict(event=1, volume=64), dict(event=1, duration=1 << 16)):
        with pytest.raises(ValueError):
            TelephoneEvent(**bad)


def test_event_codes_and_digits_map_both_ways():
    for code, digit in enumerate("0123456789*#ABCD"):
        assert digit_to_event(digit) == code and event_to_digit(code) == digit
    assert digit_to_event("a") == 12
    assert event_to_digit(FLASH) is None and event_to_digit(200) is None
    for bad in ("E", "", "12", "x"):
        with pytest.raises(ValueError):
            digit_to_event(bad)


# --- detection ---

def feed(detector, packets):
    return [d for d in (detector.push(*p) for p in packets) if d is not None]


def test_one_key_press_is_one_digit():
    detector = DtmfDetector()
    assert feed(detector, FIVE) == [DtmfDigit("5", 5, 8000, 10, 160)]
    assert detector.digits == 1 and detector.packets == 6


def test_the_digit_is_reported_even_if_the_start_packets_are_lost():
    assert [d.digit for d in feed(DtmfDetector(), FIVE[3:])] == ["5"]
    assert [d.digit for d in feed(DtmfDetector(), FIVE[2:3])] == ["5"]


def test_two_presses_of_the_same_key_are_two_digits():
    second = [(9600, m, p) for _, m, p in FIVE]
    assert [d.timestamp for d in feed(DtmfDetector(), FIVE + second)] == [8000, 9600]


def test_a_digit_string_with_reordering_and_duplicates():
    presses = []
    for i, digit in enumerate("123#"):
        presses.append([(1000 + 1600 * i, k == 0,
                         encode_event(digit_to_event(digit), k >= 3, 10, 160 * min(k + 1, 4)))
                        for k in range(6)])
    stream = [p for press in presses for p in press]
    stream[5], stream[6] = stream[6], stream[5]  # an end overtaken by the next start
    stream.insert(12, presses[0][4])  # a stray retransmission of the first end, late
    assert "".join(d.digit for d in feed(DtmfDetector(), stream)) == "123#"


def test_a_long_press_continued_in_a_new_segment_is_still_one_digit():
    """§2.5.2.3: at 0xFFFF the sender starts a new segment at ts + duration."""
    first = [(0, True, encode_event(7, False, 10, 160))] + [
        (0, False, encode_event(7, False, 10, d)) for d in (32000, 65535)]
    second = [(65535, False, encode_event(7, False, 10, 160)),
              (65535, False, encode_event(7, True, 10, 2000))]
    assert [d.digit for d in feed(DtmfDetector(), first + second)] == ["7"]


def test_a_new_event_after_an_unended_one_is_reported_when_marked():
    first = [(0, True, encode_event(7, False, 10, 160))]  # its end packets were lost
    second = [(320, True, encode_event(7, False, 10, 160))]
    assert len(feed(DtmfDetector(), first + second)) == 2


def test_timestamps_wrap():
    near_end = [((1 << 32) - 800, True, encode_event(1, True, 10, 800))]
    after = [(800, True, encode_event(2, True, 10, 800))]
    assert [d.digit for d in feed(DtmfDetector(), near_end + after)] == ["1", "2"]


def test_malformed_and_non_dtmf_events_are_counted_not_reported():
    detector = DtmfDetector()
    assert feed(detector, [(0, True, b"\x05"), (160, True, encode_event(FLASH, True))]) == []
    assert detector.malformed == 1 and detector.other_events == 1


# --- generation ---

def test_the_generator_sends_start_updates_and_three_ends():
    packets = DtmfGenerator("9", duration_ms=100, volume=10, timestamp=4000).packets()
    assert [TelephoneEvent.parse(p.payload).duration for p in packets] == \
        [160, 320, 480, 640, 800, 800, 800]
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert [p.end for p in packets] == [False] * 4 + [True] * 3
    assert {p.timestamp for p in packets} == {4000}
    assert [p.offset for p in packets] == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12])
    assert all(TelephoneEvent.parse(p.payload).event == 9 for p in packets)
    assert len({p.payload for p in packets[4:]}) == 1  # the ends are identical


def test_a_one_packet_digit_is_marked_on_its_first_end_packet():
    packets = DtmfGenerator("#", duration_ms=20).packets()
    assert [(p.marker, p.end) for p in packets] == [(True, True), (False, True), (False, True)]


@pytest.mark.parametrize("digit", list(EVENT_DIGITS))
def test_the_detector_reads_what_the_generator_sends(digit):
    packets = DtmfGenerator(digit, duration_ms=160, clock_rate=8000, timestamp=123).packets()
    found = feed(DtmfDetector(), [(p.timestamp, p.marker, p.payload) for p in packets])
    assert [d.digit for d in found] == [digit]


def test_generator_checks():
    with pytest.raises(ValueError):
        DtmfGenerator("E")
    with pytest.raises(ValueError):
        DtmfGenerator("1", duration_ms=10)
    with pytest.raises(ValueError):
        DtmfGenerator("1", duration_ms=9000)  # over 0xFFFF samples at 8 kHz
    with pytest.raises(ValueError):
        DtmfGenerator("1", volume=64)
    assert DtmfGenerator("1", duration_ms=8000).packets()[-1].payload[2:] == b"\xfa\x00"


# --- SIP INFO ---

@pytest.mark.parametrize("body,expected", [
    (b"Signal=5\r\nDuration=160\r\n", InfoDigit("5", 160)),
    (b"signal= *\r\nduration = 250\r\n", InfoDigit("*", 250)),
    (b"Signal=#\nDuration=100", InfoDigit("#", 100)),
    (b"Signal=10\r\nDuration=160\r\n", InfoDigit("*", 160)),
    (b"Signal=11\r\n", InfoDigit("#", None)),
    (b"Signal=d\r\nDuration=160\r\n", InfoDigit("D", 160)),
])
def test_dtmf_relay_bodies(body, expected):
    assert parse_info_dtmf("application/dtmf-relay", body) == expected


def test_dtmf_bodies_and_content_type_parameters():
    assert parse_info_dtmf("application/dtmf", "7") == InfoDigit("7", None)
    assert parse_info_dtmf("Application/DTMF; charset=utf-8", b"11\r\n") == InfoDigit("#", None)
    assert parse_info_dtmf("application/dtmf-relay;x=1", "Signal=0") == InfoDigit("0", None)


@pytest.mark.parametrize("content_type,body", [
    ("application/dtmf-relay", b"Duration=160\r\n"),
    ("application/dtmf-relay", b"Signal=E\r\n"),
    ("application/dtmf-relay", b"Signal=16\r\n"),
    ("application/dtmf-relay", b"Signal=5\r\nDuration=-3\r\n"),
    ("application/dtmf", b""),
    ("application/dtmf", b"55"),
    ("application/sdp", b"v=0"),
])
def test_bad_info_bodies_raise(content_type, body):
    with pytest.raises(ValueError):
        parse_info_dtmf(content_type, body)


def test_format_dtmf_relay_round_trips():
    body = format_dtmf_relay("a", 250)
    assert body == b"Signal=A\r\nDuration=250\r\n"
    assert parse_info_dtmf("application/dtmf-relay", body) == InfoDigit("A", 250)
    with pytest.raises(ValueError):
        format_dtmf_relay("x")
