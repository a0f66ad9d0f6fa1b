"""A fake wire for the transaction tests: message builders and a driver that plays
the edge (no sockets, no clock: every step names its `now`). Imported by the other
test_transaction_* modules; its own tests check the fake itself."""

from softswitch.sip.message import Request, Response, make_response, parse_message
from softswitch.sip.timers import TimerConfig
from softswitch.sip.transaction import (
    SendMessage,
    TransactionLayer,
    new_branch,
)

UDP_PEER = ("UDP", "192.0.2.10", 5060)
TCP_PEER = ("TCP", "192.0.2.10", 5060)


def build_request(method: str = "OPTIONS", *, branch: str | None = None,
                  transport: str = "UDP", sent_by: str = "192.0.2.10:5060",
                  uri: str = "sip:bob@example.com", call_id: str = "call-1",
                  cseq: int = 1, cseq_method: str | None = None,
                  from_tag: str = "alice-tag", to_tag: str | None = None) -> Request:
    """A parsed request as it arrives from (or leaves for) the wire."""
    if branch is None:
        branch = new_branch()
    via_params = f";branch={branch}" if branch else ""
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {sent_by}{via_params}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:alice@example.com>;tag={from_tag}\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {cseq_method or method}\r\n"
        "\r\n"
    )
    return parse_message(text.encode())


def build_ack(invite: Request, response: Response, *, branch: str | None = None) -> Request:
    """The ACK a UAC sends: same branch for a non-2xx, a new one for a 2xx."""
    top = invite.top_via
    return build_request(
        "ACK", branch=invite.top_via.branch if branch is None else branch,
        transport=top.transport, sent_by=f"{top.host}:{top.port}", uri=invite.uri,
        call_id=invite.call_id, cseq=invite.cseq.number, from_tag=invite.from_tag,
        to_tag=response.to_tag)


def reply(request: Request, status: int, to_tag: str | None = "bob-tag") -> Response:
    """A response as the TU builds it (or as it comes back from the wire)."""
    return parse_message(bytes(make_response(request, status, to_tag=to_tag)))


class Wire:
    """Plays the edge around one TransactionLayer and records, with their times,
    the bytes it is asked to send and the events meant for the TU."""

    def __init__(self, config: TimerConfig = TimerConfig(), **layer_options):
        self.layer = TransactionLayer(config, **layer_options)
        self.sent: list[tuple[float, SendMessage]] = []
        self.tu: list[tuple[float, object]] = []

    def record(self, now: float, events: list) -> list:
        for event in events:
            (self.sent if isinstance(event, SendMessage) else self.tu).append((now, event))
        return events

    def send_request(self, request: Request, now: float, *, peer=UDP_PEER,
                     reliable: bool = False):
        key, events = self.layer.send_request(request, peer, reliable, now)
        self.record(now, events)
        return key

    def receive_request(self, request: Request, now: float, *, peer=UDP_PEER, **options):
        return self.record(now, self.layer.receive_request(request, peer, now, **options))

    def receive_response(self, response: Response, now: float):
        return self.record(now, self.layer.receive_response(response, now))

    def send_response(self, key, response: Response, now: float):
        return self.record(now, self.layer.send_response(key, response, now))

    def run_until(self, end: float) -> None:
        """Fire timers exactly at their deadlines, up to `end` included."""
        while (deadline := self.layer.get_timer()) is not None and deadline <= end:
            self.record(deadline, self.layer.handle_timer(deadline))

    def send_times(self, start_line: bytes = b"") -> list[float]:
        return [now for now, event in self.sent if event.data.startswith(start_line)]

    def sent_messages(self, start_line: bytes = b""):
        return [parse_message(event.data) for _, event in self.sent
                if event.data.startswith(start_line)]

    def events_of(self, kind) -> list[tuple[float, object]]:
        return [(now, event) for now, event in self.tu if isinstance(event, kind)]


def test_built_request_round_trips():
    request = build_request("INVITE", to_tag="x")
    assert request.method == "INVITE"
    assert request.top_via.rfc3261_branch
    assert request.to_tag == "x"
    assert parse_message(bytes(request)).cseq == request.cseq


def test_wire_records_sends_apart_from_tu_events():
    wire = Wire()
    wire.receive_request(build_request(), 0.0)
    assert wire.sent == []
    assert len(wire.tu) == 1
