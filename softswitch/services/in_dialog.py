"""The one in-dialog router. Every dialog the switch takes part in registers here with
its owner: the proxy for the dialogs it relays (both views of each), agent calls for
the calls an agent answered, UAC legs for the calls the switch placed (outbound agent
calls, the human of a transfer). A request with a To tag is matched once, by Call-ID
and both tags (RFC 3261 §12.2.2), and handed to that owner; a request matching no
dialog is answered 481 and an ACK matching none is dropped. The table is bounded
(sip.dialog.DialogTable)."""

from typing import Protocol

from ..sip.dialog import DEFAULT_MAX_DIALOGS, Dialog, DialogTable
from ..sip.message import Request, make_response
from ..sip.transport import Peer


class DialogOwner(Protocol):
    def in_dialog(self, key, request: Request, source: Peer, dialog: Dialog) -> None:
        """Answer or forward a request of `dialog` (its server transaction is `key`)."""

    def ack(self, request: Request, source: Peer, dialog: Dialog) -> None:
        """An ACK for a 2xx of `dialog` (no transaction)."""


class InDialogRouter:
    def __init__(self, stack, max_dialogs: int = 2 * DEFAULT_MAX_DIALOGS):
        self._stack = stack
        self._table: DialogTable[DialogOwner] = DialogTable(max_dialogs)

    def __len__(self) -> int:
        return len(self._table)

    def register(self, dialog: Dialog, owner: DialogOwner) -> None:
        """sip.dialog.DialogTableFull when no more dialogs fit."""
        self._table.add(dialog, owner)

    def unregister(self, dialog: Dialog) -> None:
        self._table.remove(dialog)

    def request(self, key, request: Request, source: Peer) -> None:
        found = self._table.match(request)
        if found is None:
            self._stack.respond(key, make_response(request, 481))
            return
        dialog, owner = found
        owner.in_dialog(key, request, source, dialog)

    def ack(self, request: Request, source: Peer) -> None:
        found = self._table.match(request)
        if found is not None:
            dialog, owner = found
            owner.ack(request, source, dialog)
