"""The SIP legs of the switch's own calls (calls.sip_leg: the caller's side of an
agent call, the UAC legs of outbound calls and transfers), by Call-ID, while they
have a dialog or an INVITE in progress. A leg whose dialog is up is registered with
the in-dialog router as the dialog's owner, so the far end's requests reach it."""

from typing import Protocol

from twisted.logger import Logger

from ...sip.dialog import Dialog, DialogTableFull
from ..in_dialog import DialogOwner, InDialogRouter

log = Logger()


class RoutedLeg(DialogOwner, Protocol):
    """A leg as the table sees it (calls.sip_leg.SipLeg)."""

    call_id: str
    dialog: Dialog | None


class SipLegs:
    def __init__(self, dialog_router: InDialogRouter):
        self._by_call_id: dict[str, RoutedLeg] = {}
        self._router = dialog_router

    def __len__(self) -> int:
        return len(self._by_call_id)

    def __iter__(self):
        return iter(list(self._by_call_id.values()))

    def add(self, leg: RoutedLeg) -> None:
        self._by_call_id[leg.call_id] = leg

    def remove(self, leg: RoutedLeg) -> None:
        if self._by_call_id.get(leg.call_id) is leg:
            del self._by_call_id[leg.call_id]
        if leg.dialog is not None:
            self._router.unregister(leg.dialog)

    def confirmed(self, leg: RoutedLeg) -> bool:
        """The leg's dialog is up: the far end's requests now reach it (False: the
        router is full, they get 481)."""
        try:
            self._router.register(leg.dialog, leg)
        except DialogTableFull:
            log.warn("no room for the dialog of {call_id}: its requests get 481",
                     call_id=leg.call_id)
            return False
        return True
