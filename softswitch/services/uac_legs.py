"""The UAC legs (services.uac_leg) with a dialog or an INVITE in progress, by Call-ID;
a confirmed leg's dialog is registered with the in-dialog router, which hands the far
end's requests to the leg."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from twisted.logger import Logger

from ..sip.dialog import Dialog as SipDialog
from ..sip.dialog import DialogTableFull
from ..sip.message import Request
from ..sip.transport import Peer
from .dialog_requests import answer_request
from .in_dialog import InDialogRouter

if TYPE_CHECKING:
    from .uac_leg import UacLeg

log = Logger()


class UacLegs:
    """The legs with a dialog (or an INVITE) in progress, by Call-ID."""

    def __init__(self, dialog_router: InDialogRouter):
        self._by_call_id: dict[str, "UacLeg"] = {}
        self._router = dialog_router

    def __len__(self) -> int:
        return len(self._by_call_id)

    def __iter__(self):
        return iter(list(self._by_call_id.values()))

    def add(self, leg: "UacLeg") -> None:
        self._by_call_id[leg.call_id] = leg

    def remove(self, leg: "UacLeg") -> None:
        if self._by_call_id.get(leg.call_id) is leg:
            del self._by_call_id[leg.call_id]
        if leg.dialog is not None:
            self._router.unregister(leg.dialog)

    def confirmed(self, leg: "UacLeg") -> None:
        """The leg's dialog is up: the far end's requests now reach it."""
        try:
            self._router.register(leg.dialog, _LegOwner(leg))
        except DialogTableFull:
            log.warn("no room for the dialog of {call_id}: its requests get 481",
                     call_id=leg.call_id)


@dataclass(slots=True)
class _LegOwner:
    """The in-dialog router's owner of a UAC leg's dialog."""

    leg: "UacLeg"

    def in_dialog(self, key, request: Request, source: Peer, dialog: SipDialog) -> None:
        answer_request(self.leg.stack, key, request, dialog, self.leg)

    def ack(self, request: Request, source: Peer, dialog: SipDialog) -> None:
        self.leg.ack(request)
