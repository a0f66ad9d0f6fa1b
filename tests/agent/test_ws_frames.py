"""The media path's WebSocket text frames against wsproto, both ways and split anywhere."""

from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)

from softswitch.agent.ws_frames import FrameSplitter, mask_text

LIMIT = 4 * 1024 * 1024


def connected_pair():
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="agent", target="/")))
    list(server.events())
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    return client, server


def run(splitter, client, chunks):
    """What the client's side delivers: fast messages and wsproto's events, in order."""
    seen = []
    for chunk in chunks:
        for item in splitter.feed(chunk):
            if type(item) is str:
                seen.append(("text", item))
                continue
            client.receive_data(item)
            for event in client.events():
                seen.append(describe(event))
    return seen


def describe(event):
    if isinstance(event, TextMessage):
        return ("text" if event.message_finished else "text-part", event.data)
    if isinstance(event, BytesMessage):
        return ("bytes" if event.message_finished else "bytes-part", bytes(event.data))
    if isinstance(event, Ping):
        return ("ping", bytes(event.payload))
    if isinstance(event, CloseConnection):
        return ("close", event.code)
    return (type(event).__name__,)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points + [len(data)]:
        pieces.append(data[last:point])
        last = point
    return [p for p in pieces if p]


SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]


def test_whole_text_frames_of_every_length_form_come_out_as_messages():
    client, server = connected_pair()
    texts = ["é" * (n // 2) + "x" * (n % 2) for n in SIZES]
    stream = b"".join(server.send(TextMessage(data=t)) for t in texts)
    splitter = FrameSplitter(LIMIT)
    assert splitter.feed(stream) == texts


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=12))
def test_a_mixed_stream_split_anywhere_reads_as_wsproto_reads_it(cuts):
    client, server = connected_pair()
    stream = b"".join([
        server.send(TextMessage(data='{"event":"media"}')),
        server.send(Ping(payload=b"hi")),
        server.send(BytesMessage(data=b"\x00\x01" * 200)),
        server.send(TextMessage(data="part one, ", message_finished=False)),
        server.send(TextMessage(data="part two")),
        server.send(TextMessage(data="x" * 300)),
        server.send(CloseConnection(code=1000)),
    ])
    seen = run(FrameSplitter(LIMIT), client, split(stream, cuts))
    assert seen == [("text", '{"event":"media"}'), ("ping", b"hi"),
                    ("bytes", b"\x00\x01" * 200), ("text-part", "part one, "),
                    ("text", "part two"), ("text", "x" * 300), ("close", 1000)]


def test_a_text_frame_within_a_fragmented_message_is_wsproto_s_to_refuse():
    client, server = connected_pair()
    opening = server.send(TextMessage(data="first", message_finished=False))
    final_text = b"\x81\x03abc"  # a new text message while the first is still open
    items = FrameSplitter(LIMIT).feed(opening + final_text)
    assert items == [opening, final_text]


def test_invalid_utf8_and_masked_frames_are_left_to_wsproto():
    bad_utf8 = b"\x81\x02\xc3\x28"
    masked = b"\x81\x83" + b"\x01\x02\x03\x04" + bytes(a ^ b for a, b in zip(b"abc", b"\x01\x02\x03"))
    with_rsv = b"\xc1\x01a"
    assert FrameSplitter(LIMIT).feed(bad_utf8 + masked + with_rsv) == [bad_utf8, masked, with_rsv]


def test_an_oversized_frame_switches_to_passing_bytes_through():
    splitter = FrameSplitter(1000)
    header = b"\x81\x7f" + (1 << 40).to_bytes(8, "big")
    assert splitter.feed(b"\x81\x01a" + header + b"xyz") == ["a", header + b"xyz"]
    assert splitter.passthrough
    assert splitter.feed(b"more") == [b"more"]
    small_but_over = b"\x81\x7e" + (2000).to_bytes(2, "big") + b"y" * 2000
    assert FrameSplitter(1000).feed(small_but_over) == [small_but_over]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.lists(st.integers(0, 1 << 16), max_size=6))
def test_bytes_wsproto_had_already_are_skipped_and_the_rest_of_their_frame_owed(cut, cuts):
    """A handshake answer's trailing frames went to wsproto: the splitter continues
    from there without giving wsproto anything twice."""
    client, server = connected_pair()
    stream = b"".join([server.send(TextMessage(data="a" * 150)),
                       server.send(TextMessage(data="b" * 20)),
                       server.send(TextMessage(data="c" * 200, message_finished=False)),
                       server.send(TextMessage(data="d")),
                       server.send(TextMessage(data="e" * 10))])
    cut %= len(stream) + 1
    trailing, rest = stream[:cut], stream[cut:]
    client.receive_data(trailing)
    seen = [describe(e) for e in client.events()]
    splitter = FrameSplitter(LIMIT)
    splitter.skip(trailing)
    seen += run(splitter, client, split(rest, cuts))
    merged = []
    for kind, data in seen:  # wsproto may hand a frame over in parts
        if merged and merged[-1][0] == "text-part":
            merged[-1] = ("text" if kind == "text" else "text-part", merged[-1][1] + data)
        else:
            merged.append((kind, data))
    assert merged == [("text", "a" * 150), ("text", "b" * 20), ("text", "c" * 200 + "d"),
                      ("text", "e" * 10)]


def test_masked_text_frames_read_back_through_wsproto():
    client, server = connected_pair()
    for n in SIZES:
        text = "ü" * (n // 2) + "z" * (n % 2)
        payload = text.encode()
        frame = mask_text(payload)
        reference = client.send(TextMessage(data=text))  # same header, its own key
        assert frame[:-len(payload) - 4] == reference[:-len(payload) - 4]
        server.receive_data(frame)
        events = list(server.events())
        assert len(events) == 1 and events[0].data == text and events[0].message_finished


def test_masking_keys_differ_and_a_given_key_masks_as_the_rfc_says():
    frames = {mask_text(b"hello")[2:6] for _ in range(50)}
    assert len(frames) > 45
    # RFC 6455 §5.7: a masked "Hello" with key 37 fa 21 3d
    assert mask_text(b"Hello", bytes.fromhex("37fa213d")) == \
        bytes.fromhex("818537fa213d7f9f4d5158")


def test_a_large_message_in_many_reads_comes_out_once_whole():
    client, server = connected_pair()
    text = "é" * 400_000
    stream = server.send(TextMessage(data=text)) + server.send(TextMessage(data="next"))
    splitter = FrameSplitter(LIMIT)
    out = []
    for at in range(0, len(stream), 1000):
        items = splitter.feed(stream[at:at + 1000])
        assert items == [] or at + 1000 >= len(stream) - 10
        out += items
    assert out == [text, "next"]
