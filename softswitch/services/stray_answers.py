"""Ending the 2xx answers nobody wants: a second fork that answered, or an answer that
crossed our CANCEL (RFC 3261 §13.2.2.4: the UAC ACKs every 2xx and may then BYE it).

The proxy's branches and the UAC legs both end them here: the answer's dialog (the
core's sip.dialog, as its UAC) gets an ACK and a BYE once; the retransmissions of
the same answer (same To tag) are only ACKed again."""

from ..sip.dialog import Dialog as SipDialog
from ..sip.errors import SipError
from ..sip.fields import parse_name_addr
from ..sip.message import Request, Response
from ..sip.transport import Peer
from .ports import IGNORE_RESPONSES
from .proxy_routes import peer_for_uri

MAX_STRAYS = 32  # answers remembered per INVITE; more are still ended, only not deduplicated
REASON = 'SIP;cause=200;text="Call ended by the switch"'


class StrayAnswers:
    """The unwanted answers to one INVITE of ours, by To tag."""

    __slots__ = ("_stack", "_acks")

    def __init__(self, stack):
        self._stack = stack
        self._acks: dict[str, tuple[Request, Peer]] = {}

    def hang_up(self, response: Response, view: SipDialog, peer: Peer, invite_cseq: int) -> None:
        """ACK and BYE the answer `response` whose dialog is `view`; `peer` is where the
        INVITE went (used when the route set names no first hop); `invite_cseq` the CSeq
        the far end saw on it."""
        tag = response.to_tag or ""
        sent = self._acks.get(tag)
        if sent is not None:
            self._stack.send_stateless(*sent)
            return
        peer = first_hop(view, peer)
        ack = view.create_request("ACK", self._stack.via_for(peer), cseq=invite_cseq)
        self._stack.send_stateless(ack, peer)
        if len(self._acks) < MAX_STRAYS:
            self._acks[tag] = (ack, peer)
        bye = view.create_request("BYE", self._stack.via_for(peer))
        bye.headers.add("Reason", REASON)
        self._stack.send_request(bye, peer, IGNORE_RESPONSES)


def first_hop(view: SipDialog, default: Peer) -> Peer:
    """Where a request in `view` goes: its first route, else `default`."""
    if not view.route_set:
        return default
    try:
        return peer_for_uri(parse_name_addr(view.route_set[0]).uri, default.transport) \
            or default
    except SipError:
        return default
