"""StreamFramer: SIP over TCP framing by Content-Length, keep-alives, limits."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.framing import PING, PONG, StreamFramer
from softswitch.sip.message import Limits, parse_message

TORTURE = Path(__file__).resolve().parents[1] / "fixtures" / "torture"

OPTIONS = (
    b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKopt1\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@example.com>;tag=1\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: framing-1@192.0.2.1\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)
BODY = b"v=0\r\n\r\n\r\nbinary \x00\n\r\n"
MESSAGE = (
    b"MESSAGE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKmsg1\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@example.com>;tag=1\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: framing-2@192.0.2.1\r\n"
    b"CSeq: 2 MESSAGE\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"l: " + str(len(BODY)).encode() + b"\r\n"
    b"\r\n" + BODY
)


def test_one_message_in_one_chunk():
    framer = StreamFramer(Limits())
    assert framer.feed(OPTIONS) == [OPTIONS]
    assert framer.buffered == 0
    assert framer.pings == 0


def test_framed_messages_parse_as_stream_messages():
    framer = StreamFramer(Limits())
    out = framer.feed(OPTIONS + MESSAGE)
    assert out == [OPTIONS, MESSAGE]
    assert parse_message(out[1], stream=True).body == BODY


def test_body_is_framed_by_content_length_even_with_blank_lines_inside():
    framer = StreamFramer(Limits())
    assert framer.feed(MESSAGE + OPTIONS) == [MESSAGE, OPTIONS]


def test_message_split_byte_by_byte():
    framer = StreamFramer(Limits())
    out = []
    for i in range(len(MESSAGE)):
        out += framer.feed(MESSAGE[i : i + 1])
        if i < len(MESSAGE) - 1:
            assert out == []
    assert out == [MESSAGE]


def test_missing_content_length_on_a_stream_means_empty_body():
    message = OPTIONS.replace(b"Content-Length: 0\r\n", b"")
    framer = StreamFramer(Limits())
    assert framer.feed(message + b"garbage") == [message]
    assert framer.buffered == len(b"garbage")


def test_single_crlf_between_messages_is_skipped_and_is_no_ping():
    framer = StreamFramer(Limits())
    assert framer.feed(b"\r\n" + OPTIONS + b"\r\n" + OPTIONS) == [OPTIONS, OPTIONS]
    assert framer.pings == 0


def test_double_crlf_is_a_keepalive_ping():
    framer = StreamFramer(Limits())
    assert framer.feed(PING) == []
    assert framer.pings == 1
    assert framer.take_pings() == 1
    assert framer.take_pings() == 0
    assert framer.feed(OPTIONS + PING + PING) == [OPTIONS]
    assert framer.take_pings() == 2
    assert PONG == b"\r\n"


def test_ping_split_across_chunks():
    framer = StreamFramer(Limits())
    for octet in PING:
        assert framer.feed(bytes([octet])) == []
    assert framer.pings == 1
    assert framer.buffered == 0


def test_crlf_interrupted_by_a_message_is_not_a_ping():
    framer = StreamFramer(Limits())
    assert framer.feed(b"\r\n" + OPTIONS + b"\r\n") == [OPTIONS]
    assert framer.pings == 0


def test_crlf_run_ends_when_a_message_starts_in_the_next_chunk():
    framer = StreamFramer(Limits())
    assert framer.feed(OPTIONS + b"\r\n") == [OPTIONS]
    assert framer.feed(OPTIONS) == [OPTIONS]
    assert framer.feed(b"\r\n\r\n\r\n") == []
    assert framer.pings == 1


def test_clerr_waits_for_the_announced_body():
    """RFC 4475 §3.1.2.2 on a stream: Content-Length 9999 > data; no output, no error."""
    data = (TORTURE / "clerr.dat").read_bytes()
    framer = StreamFramer(Limits())
    assert framer.feed(data) == []
    assert framer.buffered == len(data)
    assert framer.feed(b"x" * 100) == []
    head_end = data.index(b"\r\n\r\n") + 4
    rest = 9999 - (len(data) - head_end) - 100
    out = framer.feed(b"y" * rest + OPTIONS)
    assert out == [data + b"x" * 100 + b"y" * rest, OPTIONS]
    assert len(parse_message(out[0], stream=True, validate=False).body) == 9999


@pytest.mark.parametrize("lengths", [
    [b"13", b"5"],  # mcl01
    [b"-999"],  # ncl
    [b"12abc"],
    [b"0x10"],
    [b"99999999999"],
])
def test_bad_content_length_breaks_the_stream(lengths):
    head = OPTIONS.replace(b"Content-Length: 0\r\n", b"")
    extra = b"".join(b"Content-Length: " + v + b"\r\n" for v in lengths)
    message = head[:-2] + extra + b"\r\n"
    framer = StreamFramer(Limits())
    with pytest.raises(RemoteProtocolError):
        framer.feed(message)
    with pytest.raises(RemoteProtocolError):  # the framer stays dead
        framer.feed(OPTIONS)


def test_torture_mcl01_and_ncl_break_the_stream():
    for name in ("mcl01.dat", "ncl.dat"):
        with pytest.raises(RemoteProtocolError):
            StreamFramer(Limits()).feed((TORTURE / name).read_bytes())


def test_equal_repeated_content_length_is_accepted():
    message = OPTIONS.replace(b"Content-Length: 0\r\n", b"Content-Length: 0\r\nl: 0\r\n")
    assert StreamFramer(Limits()).feed(message) == [message]


def test_folded_content_length():
    message = MESSAGE.replace(b"l: ", b"l:\r\n ")
    assert StreamFramer(Limits()).feed(message) == [message]


def test_messages_before_a_fault_are_handed_over_with_the_error():
    bad = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: -1")
    framer = StreamFramer(Limits())
    with pytest.raises(RemoteProtocolError) as info:
        framer.feed(OPTIONS + bad)
    assert info.value.messages == [OPTIONS]


def test_header_section_over_the_limit_is_refused_without_buffering_more():
    limits = Limits(max_message_size=1024)
    framer = StreamFramer(limits)
    framer.feed(b"INVITE sip:a@b SIP/2.0\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(100):
            framer.feed(b"X-Filler: " + b"a" * 50 + b"\r\n")
            assert framer.buffered <= limits.max_message_size
    assert info.value.status_hint == 513


def test_announced_body_over_the_limit_is_refused_at_once():
    limits = Limits(max_message_size=1024)
    message = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 2000")
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer(limits).feed(message)
    assert info.value.status_hint == 513


def test_message_exactly_at_the_limit_is_framed():
    limits = Limits(max_message_size=len(MESSAGE))
    assert StreamFramer(limits).feed(MESSAGE) == [MESSAGE]


def test_keepalive_flood_is_not_buffered():
    framer = StreamFramer(Limits(max_message_size=1024))
    assert framer.feed(b"\r\n" * 100_001) == []
    assert framer.pings == 50_000
    assert framer.buffered == 0


def test_bare_lf_header_section():
    message = OPTIONS.replace(b"\r\n", b"\n")
    assert StreamFramer(Limits()).feed(message + message) == [message, message]


# -- property: any chunking of a stream of valid messages yields the same messages ----

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)


@st.composite
def sip_messages(draw):
    body = draw(st.binary(max_size=120))
    if draw(st.booleans()):
        start = f"SIP/2.0 {draw(st.integers(100, 699))} Whatever"
    else:
        method = draw(st.sampled_from(["INVITE", "BYE", "MESSAGE", "OPTIONS", "X-NEW"]))
        start = f"{method} sip:{draw(_token)}@example.com SIP/2.0"
    headers = [
        f"Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK{draw(_token)}",
        f"Call-ID: {draw(_token)}",
    ]
    headers += [f"X-{draw(_token)}: {draw(_token)}"
                for _ in range(draw(st.integers(0, 3)))]
    length_name = draw(st.sampled_from(["Content-Length", "l", "content-length"]))
    if body or draw(st.booleans()):
        headers.insert(draw(st.integers(0, len(headers))), f"{length_name}: {len(body)}")
    newline = draw(st.sampled_from(["\r\n", "\n"]))
    head = newline.join([start, *headers]) + newline + newline
    return head.encode() + body


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(sip_messages(), max_size=6),
    separators=st.lists(st.integers(0, 5), min_size=7, max_size=7),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
)
def test_any_chunking_yields_the_same_messages(messages, separators, cuts):
    stream = b""
    expected_pings = 0
    for i, message in enumerate(messages):
        stream += b"\r\n" * separators[i] + message
        expected_pings += separators[i] // 2
    stream += b"\r\n" * separators[len(messages)]
    expected_pings += separators[len(messages)] // 2
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)])]
    framer = StreamFramer(Limits())
    out = []
    for chunk in chunks:
        out += framer.feed(chunk)
    assert out == messages
    assert framer.pings == expected_pings
    assert framer.buffered == 0


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=6))
def test_arbitrary_bytes_only_frame_or_raise_remote_errors(data, cuts):
    """Garbage never crashes the framer and chunking never changes what it decides."""
    def run(chunks):
        framer = StreamFramer(Limits(max_message_size=400))
        out = []
        try:
            for chunk in chunks:
                out += framer.feed(chunk)
        except RemoteProtocolError as exc:
            return out + exc.messages, "error", framer.pings
        return out, framer.buffered, framer.pings

    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    assert run(chunks) == run([data])
