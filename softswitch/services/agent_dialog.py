"""The dialog of an answered agent call (services.agent_calls), and the two views other
services take of it: a transfer's `TransferredCall` (`InboundCall`) and a session
timer's `RefreshedDialog` (`Refreshed`)."""

from dataclasses import dataclass, field

from ..sip.dialog import Dialog as SipDialog
from ..sip.transport import Peer
from .dialogs import CallRecord


@dataclass
class AgentDialog:
    call_id: str
    view: SipDialog  # the dialog with the caller (tags, target, routes, CSeqs)
    caller: Peer
    record: CallRecord
    session: object
    ended: bool = False
    release: list = field(default_factory=list)
    ok: object = None  # our 2xx, re-sent until the ACK comes (RFC 3261 §13.3.1.4)
    ok_destination: Peer | None = None
    ok_timer: object = None
    ok_interval: float = 0.5
    ok_deadline: float = 0.0
    offer_sdp: bytes = b""  # the caller's original SDP offer (a transfer re-offers it)
    transfer: object = None  # services.transfers.Transfer, once the agent asked for one
    media_id: str | None = None  # the relay call of the caller's audio (media_owners)
    on_silence: object = None
    answer_sdp: bytes = b""  # our SDP as the caller has it now (empty: the session's)
    held: bool = False  # the caller's last SDP put us on hold
    awaiting_answer: bool = False  # our 200 to a re-INVITE without SDP made an offer
    begin_on_ack: bool = False  # delayed offer: the agent starts once the ACK answers
    peer_allows_update: bool = False  # the caller's INVITE listed UPDATE in Allow
    refresh: object = None  # services.session_refresh.DialogRefresh (session timer)


class Refreshed:
    """An answered agent call as its session timer sees it (session_refresh)."""

    def __init__(self, stack, dialog: AgentDialog):
        self._stack = stack
        self._dialog = dialog
        self.call_id = dialog.call_id

    @property
    def peer_allows_update(self) -> bool:
        return self._dialog.peer_allows_update

    def refresh_request(self, method: str):
        dialog = self._dialog
        body = (dialog.answer_sdp or dialog.session.answer_sdp) if method == "INVITE" else b""
        request = dialog.view.create_request(method, self._stack.via_for(dialog.caller),
                                             body=body)
        request.headers.add("Contact", f"<{self._stack.local_uri(dialog.caller)}>")
        if body:
            request.headers.add("Content-Type", "application/sdp")
        return request, dialog.caller

    def ack_for(self, cseq: int):
        dialog = self._dialog
        return (dialog.view.create_request("ACK", self._stack.via_for(dialog.caller),
                                           cseq=cseq), dialog.caller)


class InboundCall:
    """An answered agent call as a transfer sees it (services.transfers.TransferredCall)."""

    def __init__(self, calls, dialog: AgentDialog):
        self._calls = calls
        self._dialog = dialog

    @property
    def call_id(self) -> str:
        return self._dialog.call_id

    @property
    def record(self) -> CallRecord:
        return self._dialog.record

    @property
    def session(self):
        return self._dialog.session

    @session.setter
    def session(self, session) -> None:
        self._dialog.session = session

    @property
    def transfer(self):
        return self._dialog.transfer

    @transfer.setter
    def transfer(self, transfer) -> None:
        self._dialog.transfer = transfer

    @property
    def customer_sdp(self) -> bytes:
        return self._dialog.offer_sdp

    @property
    def customer(self) -> str:
        return self._dialog.record.caller

    @property
    def did(self) -> str | None:
        return self._dialog.record.did or self._dialog.record.callee

    @property
    def ended(self) -> bool:
        return self._dialog.ended

    def end(self, side: str, reason: str) -> None:
        self._calls.bye_caller(self._dialog, side, reason)
