"""A call of the switch's own: the legs it joins and what ending it means.

- An agent call (services.agent_calls) joins the caller's SIP leg (calls.uas_leg) to
  an agent leg (calls.agent_leg).
- An outbound call (services.outbound_calls) joins a SIP leg the switch placed
  (calls.uac_leg) to an agent leg.
- A transfer (services.transfers) adds a UAC leg to the human and, once it answers,
  bridges it to the customer on the relay (`bridge`): the agent leg's session is then
  the relay bridge, and the human's leg is the call's `human`.

The call is the owner of its customer's leg: the far end's new SDP and digits go to
the agent leg, and a dialog that ends ends the call. The events of call set-up
(Ringing, Answered, Failed) go to the call's owner, the service that placed or
answered it (`CallOwner.setup_event`). The call is also what a transfer sees
(transfers.TransferredCall).

Ending (`end`, or `close` once no leg needs a request): the relay's silence watch is
dropped, the call record gets its end time, side and reason, the admissions are
released, a transfer under way is taken down, and the agent's session is stopped;
its statistics go into the record, which is handed to `on_call_end`."""

from dataclasses import dataclass
from typing import Callable, Protocol

from twisted.internet.interfaces import IReactorTime

from ...sip.message import make_response
from ..dialogs import CallRecord
from ..media_owners import MediaOwners
from ..transfer_port import NO_TRANSFERS, TransferRequests
from .agent_leg import AgentLeg
from .events import Answered, Dtmf, Ended, Reoffered
from .sip_leg import SipLeg


@dataclass(frozen=True)
class CallContext:
    """What every call of a service shares."""

    clock: IReactorTime
    media_owners: MediaOwners
    transfers: TransferRequests = NO_TRANSFERS
    on_call_end: Callable[[CallRecord], None] | None = None


class TransferInProgress(Protocol):
    """What a call tells the transfer it asked last (calls.transfer.Transfer)."""

    def agent_left(self, reason: str) -> bool:
        """The agent hung up: True when the transfer goes on without it."""

    def customer_ended(self, reason: str) -> None:
        """The call is over: take the human's leg down."""


class CallOwner(Protocol):
    def setup_event(self, call: "Call", leg, event) -> None:
        """Ringing, Answered or Failed from the call's current SIP leg."""

    def closed(self, call: "Call") -> None:
        """The call has ended: forget it, free what the service held for it."""


class Call:
    """`sides` names, for the call record, who ended the call when its SIP leg reports
    Ended: the far end's BYE ("remote") and the leg's own BYE ("local")."""

    def __init__(self, call_id: str, record: CallRecord, context: CallContext,
                 owner: CallOwner, *, customer: str, did: str | None,
                 sides: dict[str, str]):
        self.call_id = call_id
        self.record = record
        self.customer = customer  # the customer's number (the From towards a human)
        self.did = did  # our number on this call
        self.customer_sdp = b""  # the customer's SDP, re-offered to a human
        self.sip: SipLeg | None = None  # the customer's SIP leg
        self.agent: AgentLeg | None = None
        self.human: SipLeg | None = None  # the human's leg, once a transfer bridged it
        self.transfer: TransferInProgress | None = None  # the transfer asked last
        self.releases: list[Callable[[], None]] = []  # admissions to give back
        self.ended = False
        self._context = context
        self._owner = owner
        self._sides = sides
        self._watched: tuple[str, Callable] | None = None

    # -- the legs ----------------------------------------------------------------------
    @property
    def session(self):
        """The agent leg's session (transfers.TransferredCall)."""
        return self.agent.session if self.agent is not None else None

    def watch_media(self, media_id: str, on_silence: Callable[[float], None]) -> None:
        """End the call through `on_silence` when the relay call `media_id` falls silent."""
        self._watched = media_id, on_silence
        self._context.media_owners.watch(media_id, on_silence)

    def begin(self) -> None:
        """The customer is connected: the agent's audio starts."""
        self.agent.begin(self._agent_ended, self._transfer_requested)

    def bridge(self, human: SipLeg, session) -> None:
        """A transfer's human answered and the relay bridges it to the customer."""
        self.human = human
        self.agent.session = session

    def leg_event(self, leg, event) -> None:
        """The customer's SIP leg (calls.events)."""
        if leg is not self.sip or self.ended:
            if isinstance(event, Answered):
                leg.hang_up()  # (an attempt given up on answered after all)
            return
        if isinstance(event, Reoffered):
            self.agent.far_sdp(event.sdp, event.held)
        elif isinstance(event, Dtmf):
            self.agent.dtmf(event.digit)
        elif isinstance(event, Ended):
            self.close(self._sides[event.side], event.reason)
        else:
            self._owner.setup_event(self, leg, event)

    def _agent_ended(self, reason: str) -> None:
        """The agent hung up (or was lost for good): end the call, unless a transfer
        is ringing, which then goes on without the agent."""
        if self.transfer is not None and self.transfer.agent_left(reason):
            return
        self.end("agent", reason)

    def _transfer_requested(self, target: str, warm: bool, mode: str = "bridge",
                            headers: tuple = ()) -> None:
        if not self.ended:
            if mode == "refer":
                self._context.transfers.request(self, target, warm, mode=mode,
                                                headers=headers)
            else:
                self._context.transfers.request(self, target, warm)

    def refer_received(self, leg, key, request) -> None:
        """The customer's side transfers the call by REFER (calls.referred decides;
        403 where transfers are not built)."""
        referred = getattr(self._context.transfers, "referred", None)
        if referred is None or leg is not self.sip or self.ended or self.agent is None:
            leg.stack.respond(key, make_response(request, 403))
            return
        referred(self, leg, key, request)

    # -- endings -------------------------------------------------------------------------
    def end(self, side: str, reason: str, code: int | None = None) -> None:
        """End the call from our side: the customer's leg gets BYE (or CANCEL, before
        an answer); `side`, `reason` and `code` go into the call record."""
        if self.ended:
            return
        if self.sip is not None:
            if side == "agent" and self.agent is not None:
                # The headers the agent set on its hang-up (agent.sip_headers).
                self.sip.bye_headers = tuple(getattr(self.agent.session, "bye_headers", ()))
            self.sip.hang_up()
        self.close(side, reason, code)

    def close(self, side: str, reason: str, code: int | None = None) -> None:
        """The call is over (its SIP leg ended, or it never had one)."""
        if self.ended:
            return
        self.ended = True
        if self._watched is not None:
            self._context.media_owners.forget(*self._watched)
        record = self.record
        record.end_at = self._context.clock.seconds()
        if code is not None and record.final_code is None:
            record.final_code = code
        record.disconnect_side, record.disconnect_reason = side, reason
        self._owner.closed(self)
        releases, self.releases = self.releases, []
        for release in releases:
            release()
        if self.transfer is not None:
            self.transfer.customer_ended(reason)
        if self.agent is None:
            self._write(None)
            return
        self.agent.stop(reason).addBoth(self._write)

    def _write(self, stats) -> None:
        self.record.agent_stats = stats if isinstance(stats, dict) else None
        if self._context.on_call_end is not None:
            self._context.on_call_end(self.record)
