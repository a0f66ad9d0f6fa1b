"""What agent calls and outbound calls hand an agent's transfer request to: the
transfers service (services.transfers), or NO_TRANSFERS where it is not built."""

from typing import Protocol

from twisted.logger import Logger

log = Logger()


class TransferRequests(Protocol):
    def request(self, call, target: str, warm: bool, **refer) -> object:
        """Start a transfer of `call` (a transfers.TransferredCall) to `target`;
        `mode="refer"` (and `headers`) asks for a SIP REFER on the customer's leg."""


class _NoTransfers:
    def request(self, call, target: str, warm: bool, **refer) -> None:
        log.info("agent asked to transfer {call_id} to {target}: transfers are not "
                 "enabled, the call goes on", call_id=call.call_id, target=target)


NO_TRANSFERS: TransferRequests = _NoTransfers()
