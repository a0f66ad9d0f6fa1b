"""The UAC legs (services.uac_leg) with a dialog or an INVITE in progress, by Call-ID:
the in-dialog router asks it which leg holds a request's dialog."""

from ..sip.message import Request


class UacLegs:
    """The legs with a dialog (or an INVITE) in progress, by Call-ID."""

    def __init__(self):
        self._by_call_id: dict[str, UacLeg] = {}

    def __len__(self) -> int:
        return len(self._by_call_id)

    def __iter__(self):
        return iter(list(self._by_call_id.values()))

    def add(self, leg: "UacLeg") -> None:
        self._by_call_id[leg.call_id] = leg

    def remove(self, leg: "UacLeg") -> None:
        if self._by_call_id.get(leg.call_id) is leg:
            del self._by_call_id[leg.call_id]

    def find(self, request: Request) -> "UacLeg | None":
        leg = self._by_call_id.get(request.call_id)
        return leg if leg is not None and leg.owns(request) else None
