"""Dialogs the proxy has seen established (Kamailio's dialog module): enough state to
release trunk limits, end media, write the call record, and hang up both sides
itself (media inactivity, shutdown) with correct route sets and CSeqs."""

from dataclasses import dataclass, field

from ..sip.fields import parse_name_addr
from ..sip.message import Request, Response, make_request
from ..sip.transport import Peer


@dataclass
class CallRecord:
    """What a CDR row holds (store.tables.cdrs), filled in as the call goes."""

    call_id: str
    direction: str
    caller: str
    callee: str
    start_at: float
    did: str | None = None
    trunk: str | None = None
    gateway: str | None = None
    region: str | None = None
    route_kind: str | None = None
    route_target: str | None = None
    attempts: int = 0
    final_code: int | None = None
    disconnect_side: str | None = None
    disconnect_reason: str | None = None
    ring_at: float | None = None
    answer_at: float | None = None
    end_at: float | None = None
    agent: str | None = None
    profile: str | None = None
    transfer_target: str | None = None
    media_stats: dict | None = None
    agent_stats: dict | None = None


@dataclass
class Side:
    """One end of the dialog as the proxy sees it."""

    peer: Peer  # where requests to this side go
    contact: str  # its Contact URI (target of requests to it)
    tag: str
    uri_header: str  # its From/To header value as it sent it (with tag)
    routes: list[str] = field(default_factory=list)  # Route set towards it, nearest first
    cseq: int = 0  # highest CSeq seen in requests FROM this side


@dataclass
class Dialog:
    call_id: str
    caller: Side
    callee: Side
    record: CallRecord
    cseq_offset: int = 0  # we re-sent the INVITE with credentials: callee saw CSeq+n
    release: list = field(default_factory=list)  # callables run once when it ends
    ended: bool = False
    media: object = None  # proxy_media.CallMedia
    late_offer: bool = False  # the offer came in the 2xx: the ACK carries the answer

    def side_of(self, request: Request) -> str:
        """'caller' when the request comes from the caller (its From tag is the caller's)."""
        return "caller" if request.from_tag == self.caller.tag else "callee"

    def bye_towards(self, side: str, via: str) -> tuple[Request, Peer]:
        """A BYE we originate to `side`, as if sent by the other side."""
        target = self.caller if side == "caller" else self.callee
        other = self.callee if side == "caller" else self.caller
        other.cseq += 1
        number = other.cseq + (self.cseq_offset if side == "callee" else 0)
        bye = make_request("BYE", target.contact, via=via, from_=other.uri_header,
                           to=target.uri_header, call_id=self.call_id, cseq=number,
                           routes=target.routes)
        bye.headers.add("Reason", 'SIP;cause=200;text="Call ended by the switch"')
        return bye, target.peer


def route_sets(record_routes: list[str], first: int, last: int) -> tuple[list[str], list[str]]:
    """Split a Record-Route list (as in the 2xx, top first) around our own entries
    (indexes first..last: one, or two when the sides use different transports) into
    the routes towards the callee (above us) and towards the caller (below us), each
    nearest-to-us first."""
    towards_callee = list(reversed(record_routes[:first]))
    towards_caller = record_routes[last + 1:]
    return towards_callee, towards_caller


def dialog_from_answer(invite: Request, response: Response, caller_peer: Peer,
                       callee_peer: Peer, record: CallRecord, our_routes: list[str],
                       cseq_offset: int) -> Dialog:
    record_routes = response.headers.get_list("Record-Route")
    ours = [i for i, value in enumerate(record_routes) if value in our_routes]
    if ours:
        towards_callee, towards_caller = route_sets(record_routes, ours[0], ours[-1])
    else:
        towards_callee, towards_caller = [], []
    caller_contact = _contact(invite) or str(invite.from_.uri)
    callee_contact = _contact(response) or invite.uri
    caller = Side(caller_peer, caller_contact, invite.from_tag or "",
                  invite.headers.get("From"), towards_caller, invite.cseq.number)
    callee = Side(callee_peer, callee_contact, response.to_tag or "",
                  response.headers.get("To"), towards_callee, 0)
    return Dialog(invite.call_id, caller, callee, record, cseq_offset)


def _contact(message) -> str | None:
    values = message.headers.get_list("Contact")
    if not values:
        return None
    try:
        return str(parse_name_addr(values[0]).uri)
    except Exception:  # an unreadable Contact: fall back to the request target
        return None


class DialogTable:
    def __init__(self):
        self._by_call_id: dict[str, Dialog] = {}

    def __len__(self) -> int:
        return len(self._by_call_id)

    def __iter__(self):
        return iter(list(self._by_call_id.values()))

    def add(self, dialog: Dialog) -> None:
        self._by_call_id[dialog.call_id] = dialog

    def find(self, request: Request) -> Dialog | None:
        dialog = self._by_call_id.get(request.call_id)
        if dialog is None:
            return None
        tags = {request.from_tag, request.to_tag}
        if tags != {dialog.caller.tag, dialog.callee.tag}:
            return None
        return dialog

    def get(self, call_id: str) -> Dialog | None:
        return self._by_call_id.get(call_id)

    def remove(self, dialog: Dialog) -> None:
        if self._by_call_id.get(dialog.call_id) is dialog:
            del self._by_call_id[dialog.call_id]
