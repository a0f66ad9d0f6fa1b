"""Dialogs (RFC 3261 §12) as plain state and rules, for every call type.

A `Dialog` is one side's view of a peer-to-peer relationship: its id (Call-ID, local
and remote tags), state (early, confirmed, terminated), local and remote URIs, the
remote target and route set, both CSeq counters and the secure flag. It is built from
the request and response that create it (§12.1.1 as UAS, §12.1.2 as UAC), checks and
records the requests that arrive in it (§12.2.2), and builds the requests we send in it
(§12.2.1.1, loose and strict routing).

A B2BUA holds one dialog per leg; a proxy that answers for both ends of a call it
relays (a BYE of its own, a request to route on behalf of a UA that ignored
Record-Route) holds the two views of the same dialog, one towards each end.

`DialogTable` finds the dialog an incoming request belongs to, bounded, and keeps an
ended dialog matchable for a short linger (a retransmitted BYE is then recognised)
before forgetting it: deadlines come from `get_timer()` and `handle_timer(now)`.

No I/O and no clock: the caller gives `now` where time matters.
"""

import heapq
from dataclasses import dataclass
from typing import Generic, Iterator, NamedTuple, TypeVar

from .errors import LocalProtocolError, RemoteProtocolError, SipError
from .fields import parse_name_addr
from .message import Request, Response, make_request
from .uri import SipUri

EARLY = "early"
CONFIRMED = "confirmed"
TERMINATED = "terminated"

# Requests that may change the remote target (RFC 3261 §12.2; RFC 3311, 3515, 6665).
TARGET_REFRESH_METHODS = frozenset(("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"))
MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5: below 2**31
DEFAULT_MAX_DIALOGS = 100_000
DEFAULT_LINGER = 32.0  # 64*T1: a BYE's retransmissions are over by then


class DialogId(NamedTuple):
    """A tuple, so that matching a request (on every in-dialog request) hashes fast."""

    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(slots=True, eq=False)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # our From (To in responses) header value, with our tag
    remote_uri: str  # the peer's, with its tag
    remote_target: str  # the peer's Contact URI: the Request-URI of our requests
    route_set: tuple[str, ...] = ()  # Route values towards the peer, nearest first
    local_cseq: int | None = None  # the last CSeq we used (None: none yet)
    remote_cseq: int | None = None  # the highest CSeq the peer used
    secure: bool = False  # sips: every hop must be TLS (§12.1.1)
    state: str = EARLY
    session_timer: object = None  # RFC 4028 state, kept by whoever negotiates it

    # -- creation -----------------------------------------------------------------------
    @classmethod
    def as_uas(cls, request: Request, local_tag: str, *, confirmed: bool = True) -> "Dialog":
        """The dialog a response of ours to `request` creates (§12.1.1): route set
        from its Record-Route in order, remote target from its Contact."""
        remote_tag = request.from_tag
        if not remote_tag:
            raise RemoteProtocolError("a dialog-creating request has no From tag", 400)
        return cls(
            request.call_id, local_tag, remote_tag,
            local_uri=_with_tag(request.headers.get("To") or "", local_tag),
            remote_uri=request.headers.get("From") or "",
            remote_target=contact_uri(request) or str(request.from_.uri),
            route_set=tuple(request.headers.get_list("Record-Route")),
            remote_cseq=request.cseq.number, secure=_is_sips(request.uri),
            state=CONFIRMED if confirmed else EARLY)

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> "Dialog":
        """The dialog a response to our `request` creates (§12.1.2): early for a
        1xx with a To tag, confirmed for a 2xx; route set from the Record-Route of
        the response in reverse order."""
        remote_tag = response.to_tag
        if not remote_tag or not 101 <= response.status < 300:
            raise RemoteProtocolError("no dialog in this response", 400)
        local_tag = request.from_tag
        if not local_tag:
            raise LocalProtocolError("our request has no From tag")
        return cls(
            request.call_id, local_tag, remote_tag,
            local_uri=request.headers.get("From") or "",
            remote_uri=response.headers.get("To") or "",
            remote_target=contact_uri(response) or request.uri,
            route_set=tuple(reversed(response.headers.get_list("Record-Route"))),
            local_cseq=request.cseq.number, secure=_is_sips(request.uri),
            state=CONFIRMED if response.status >= 200 else EARLY)

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # -- changes ------------------------------------------------------------------------
    def confirm(self, response: Response) -> None:
        """A 2xx to our INVITE confirms an early dialog; its Record-Route and
        Contact are the ones that count (§12.1.2, §13.2.2.4)."""
        if self.state == TERMINATED:
            raise LocalProtocolError("the dialog has ended")
        if self.state == EARLY:
            self.route_set = tuple(reversed(response.headers.get_list("Record-Route")))
        self.refresh_target(response)
        self.state = CONFIRMED

    def refresh_target(self, message: Request | Response) -> None:
        """Take the Contact of a target refresh request or of its 2xx (§12.2)."""
        target = contact_uri(message)
        if target is not None:
            self.remote_target = target

    def request_received(self, request: Request) -> None:
        """Record a request from the peer (§12.2.2). RemoteProtocolError(500) for a
        CSeq below one already seen (ACK and CANCEL carry their INVITE's)."""
        method = request.method
        if method in ("ACK", "CANCEL"):
            return
        number = request.cseq.number
        if self.remote_cseq is not None and number < self.remote_cseq:
            raise RemoteProtocolError(f"CSeq {number} is below {self.remote_cseq}", 500)
        self.remote_cseq = number
        if method in TARGET_REFRESH_METHODS:
            self.refresh_target(request)
        if method == "BYE":
            self.state = TERMINATED

    def terminate(self) -> None:
        self.state = TERMINATED

    # -- requests we send ---------------------------------------------------------------
    def create_request(self, method: str, via: str, *, body: bytes = b"",
                       cseq: int | None = None) -> Request:
        """A request within the dialog (§12.2.1.1). The next local CSeq, unless
        `cseq` is given (an ACK for a 2xx carries its INVITE's, §13.2.2.4)."""
        if method in ("ACK", "CANCEL") and cseq is None:
            raise LocalProtocolError(f"{method} takes the CSeq of its INVITE")
        if cseq is None:
            cseq = (self.local_cseq or 0) + 1
            if cseq > MAX_CSEQ:
                raise LocalProtocolError("CSeq space exhausted")
            self.local_cseq = cseq
        uri, routes = self.request_target()
        return make_request(method, uri, via=via, from_=self.local_uri, to=self.remote_uri,
                            call_id=self.call_id, cseq=cseq, routes=routes, body=body)

    def request_target(self) -> tuple[str, tuple[str, ...]]:
        """(Request-URI, Route values) of a request in this dialog: the remote target
        with the route set when the first route is a loose router (or there is none);
        for a strict router, its URI as the Request-URI and the remote target as the
        last Route (§12.2.1.1)."""
        if not self.route_set or is_loose_route(self.route_set[0]):
            return self.remote_target, self.route_set
        first = _route_uri(self.route_set[0])
        if first is None:  # unreadable: send it as if loose rather than to nowhere
            return self.remote_target, self.route_set
        if isinstance(first, SipUri):
            # What a Request-URI may not carry goes (§19.1.1: method, headers).
            first.params.pop("method", None)
            first.headers = None
        return str(first), (*self.route_set[1:], f"<{self.remote_target}>")

    def __repr__(self) -> str:
        return (f"Dialog({self.call_id!r}, local={self.local_tag!r}, "
                f"remote={self.remote_tag!r}, {self.state})")


def contact_uri(message: Request | Response) -> str | None:
    """The URI of a message's first Contact, or None (none, '*', or unreadable)."""
    values = message.headers.get_list("Contact")
    if not values:
        return None
    try:
        address = parse_name_addr(values[0])
    except SipError:
        return None
    return str(address.uri)


def is_loose_route(value: str) -> bool:
    uri = _route_uri(value)
    return isinstance(uri, SipUri) and "lr" in uri.params


def _route_uri(value: str):
    try:
        return parse_name_addr(value).uri
    except SipError:
        return None


def _with_tag(header: str, tag: str) -> str:
    return header if ";tag=" in header.lower() else f"{header};tag={tag}"


def _is_sips(uri_text: str) -> bool:
    return uri_text[:5].lower() == "sips:"


# -- the table ------------------------------------------------------------------------
Owner = TypeVar("Owner")


class DialogTableFull(SipError):
    """No room for another dialog: the caller refuses or ends the call."""


@dataclass(slots=True, eq=False)
class _Entry(Generic[Owner]):
    dialog: Dialog
    owner: Owner
    ended_at: float | None = None


class DialogTable(Generic[Owner]):
    """Dialogs by id, each with its owner (whatever handles its requests), at most
    `max_dialogs` of them. An ended dialog stays matchable for `linger` seconds."""

    def __init__(self, max_dialogs: int = DEFAULT_MAX_DIALOGS,
                 linger: float = DEFAULT_LINGER):
        if max_dialogs < 1 or linger < 0:
            raise ValueError("max_dialogs must be positive and linger not negative")
        self.max_dialogs = max_dialogs
        self.linger = linger
        self._entries: dict[DialogId, _Entry[Owner]] = {}
        self._expiries: list[tuple[float, int, DialogId]] = []
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[tuple[Dialog, Owner]]:
        return iter([(e.dialog, e.owner) for e in self._entries.values()])

    def add(self, dialog: Dialog, owner: Owner) -> None:
        """Register `dialog`; DialogTableFull when the table is at its bound."""
        key = dialog.id
        if key not in self._entries and len(self._entries) >= self.max_dialogs:
            raise DialogTableFull(f"{self.max_dialogs} dialogs already")
        self._entries[key] = _Entry(dialog, owner)

    def match(self, request: Request) -> tuple[Dialog, Owner] | None:
        """The dialog an incoming request belongs to: its To tag is our local tag,
        its From tag the remote one (§12.2.2)."""
        local, remote = request.to_tag, request.from_tag
        if not local or remote is None:
            return None
        # A plain tuple finds a DialogId key: they hash and compare alike.
        entry = self._entries.get((request.call_id, local, remote))
        return None if entry is None else (entry.dialog, entry.owner)

    def get(self, key: DialogId) -> tuple[Dialog, Owner] | None:
        entry = self._entries.get(key)
        return None if entry is None else (entry.dialog, entry.owner)

    def end(self, dialog: Dialog, now: float) -> None:
        """The dialog is over: terminated now, forgotten after the linger."""
        dialog.terminate()
        entry = self._entries.get(dialog.id)
        if entry is None or entry.dialog is not dialog or entry.ended_at is not None:
            return
        entry.ended_at = now
        self._sequence += 1
        heapq.heappush(self._expiries, (now + self.linger, self._sequence, dialog.id))

    def remove(self, dialog: Dialog) -> None:
        """Forget the dialog now."""
        key = dialog.id
        entry = self._entries.get(key)
        if entry is not None and entry.dialog is dialog:
            del self._entries[key]

    def get_timer(self) -> float | None:
        return self._expiries[0][0] if self._expiries else None

    def handle_timer(self, now: float) -> list[Dialog]:
        """Forget the ended dialogs whose linger is over; returns them."""
        gone = []
        while self._expiries and self._expiries[0][0] <= now:
            _, _, key = heapq.heappop(self._expiries)
            entry = self._entries.get(key)
            if entry is not None and entry.ended_at is not None:
                del self._entries[key]
                gone.append(entry.dialog)
        return gone
