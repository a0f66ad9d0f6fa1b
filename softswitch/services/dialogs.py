"""Dialogs the proxy has seen established (Kamailio's dialog module): enough state to
release trunk limits, end media, write the call record, and hang up both sides
itself (media inactivity, shutdown) with correct route sets and CSeqs. The dialog
state itself is the pure core's (sip.dialog)."""

from dataclasses import dataclass, field

from ..sip.dialog import CONFIRMED, TARGET_REFRESH_METHODS, DialogTableFull, contact_uri
from ..sip.dialog import Dialog as SipDialog
from ..sip.message import Request, Response
from ..sip.transport import Peer
from .in_dialog import DialogOwner, InDialogRouter


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
    verstat: str | None = None  # STIR/SHAKEN of an inbound call (services.stir_verification)
    attestation: str | None = None
    amd_result: str | None = None  # outbound calls with answering-machine detection
    amd_decision_ms: int | None = None
    amd: dict | None = None


@dataclass(eq=False)
class Dialog:
    """A dialog the proxy relays, held as its two views (sip.dialog.Dialog): towards
    the caller (as if we were the callee) and towards the callee (as if we were the
    caller), each with the peer its requests go to."""

    call_id: str
    towards_caller: SipDialog
    towards_callee: SipDialog
    caller_peer: Peer
    callee_peer: Peer
    record: CallRecord
    cseq_offset: int = 0  # we re-sent the INVITE with credentials: callee saw CSeq+n
    release: list = field(default_factory=list)  # callables run once when it ends
    ended: bool = False
    media: object = None  # proxy_media.CallMedia
    late_offer: bool = False  # the offer came in the 2xx: the ACK carries the answer
    on_silence: object = None  # what the relay's inactivity event calls (media_owners)
    # Caller-ID policy toward a trunk (services.caller_id): the From the callee was
    # given when it is not the caller's, and whether the caller's topology is hidden.
    callee_from: str | None = None
    hide_caller: bool = False

    @property
    def caller_tag(self) -> str:
        return self.towards_caller.remote_tag

    @property
    def callee_tag(self) -> str:
        return self.towards_callee.remote_tag

    def side_of(self, request: Request) -> str:
        """'caller' when the request comes from the caller (its From tag is the caller's)."""
        return "caller" if request.from_tag == self.caller_tag else "callee"

    def towards(self, side: str) -> tuple[SipDialog, Peer]:
        """The view of the dialog towards `side`, and where its requests go."""
        if side == "caller":
            return self.towards_caller, self.caller_peer
        return self.towards_callee, self.callee_peer

    def passed(self, request: Request, side: str) -> None:
        """A request from `side` is relayed: the other side will see its CSeq (plus
        our offset towards the callee), and a target refresh moves `side`'s target."""
        number = request.cseq.number
        towards_origin, _ = self.towards(side)
        towards_other, _ = self.towards("callee" if side == "caller" else "caller")
        if request.method not in ("ACK", "CANCEL"):
            towards_origin.remote_cseq = max(towards_origin.remote_cseq or 0, number)
            shifted = number + (self.cseq_offset if side == "caller" else 0)
            towards_other.local_cseq = max(towards_other.local_cseq or 0, shifted)
        if request.method in TARGET_REFRESH_METHODS:
            towards_origin.refresh_target(request)

    def bye_towards(self, side: str, via: str) -> tuple[Request, Peer]:
        """A BYE we originate to `side`, as if sent by the other side."""
        dialog, peer = self.towards(side)
        bye = dialog.create_request("BYE", via)
        bye.headers.add("Reason", 'SIP;cause=200;text="Call ended by the switch"')
        return bye, peer


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
    caller_tag, callee_tag = invite.from_tag or "", response.to_tag or ""
    caller_uri, callee_uri = invite.headers.get("From"), response.headers.get("To")
    number = invite.cseq.number
    to_caller = SipDialog(
        invite.call_id, callee_tag, caller_tag, callee_uri, caller_uri,
        contact_uri(invite) or str(invite.from_.uri), tuple(towards_caller),
        local_cseq=0, remote_cseq=number, state=CONFIRMED)
    to_callee = SipDialog(
        invite.call_id, caller_tag, callee_tag, caller_uri, callee_uri,
        contact_uri(response) or invite.uri, tuple(towards_callee),
        local_cseq=number + cseq_offset, state=CONFIRMED)
    return Dialog(invite.call_id, to_caller, to_callee, caller_peer, callee_peer, record,
                  cseq_offset)


class DialogTable:
    """The relayed dialogs: both views of each registered with the in-dialog router
    (a request from either end is matched there once), and by Call-ID for the
    relay's inactivity events and the admin API."""

    def __init__(self, router: InDialogRouter):
        self._by_call_id: dict[str, Dialog] = {}
        self._router = router

    def __len__(self) -> int:
        return len(self._by_call_id)

    def __iter__(self):
        return iter(list(self._by_call_id.values()))

    def add(self, dialog: Dialog, owner: DialogOwner) -> None:
        """DialogTableFull when no more dialogs fit."""
        self._router.register(dialog.towards_caller, owner)
        try:
            self._router.register(dialog.towards_callee, owner)
        except DialogTableFull:
            self._router.unregister(dialog.towards_caller)
            raise
        self._by_call_id[dialog.call_id] = dialog

    def get(self, call_id: str) -> Dialog | None:
        return self._by_call_id.get(call_id)

    def remove(self, dialog: Dialog) -> None:
        if self._by_call_id.get(dialog.call_id) is dialog:
            del self._by_call_id[dialog.call_id]
        self._router.unregister(dialog.towards_caller)
        self._router.unregister(dialog.towards_callee)
