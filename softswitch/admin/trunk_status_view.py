"""The live state of trunks for the API: gateway health, carrier registration and
calls holding the trunk's limits, read from the running services."""


class TrunkStatusView:
    def __init__(self, health, registrations, limiter):
        self._health = health
        self._registrations = registrations
        self._limiter = limiter

    def status(self, name: str) -> dict:
        gateways = [{k: row.get(k) for k in ("gateway", "transport", "state", "rtt",
                                              "last_change", "last_probe")}
                    for row in self._health.status() if row.get("trunk") == name]
        registration = self._registrations.status(name)
        if registration is not None:
            registration = {k: registration.get(k) for k in (
                "state", "gateway", "expires_at", "last_error", "next_attempt_at")}
        active = {direction: self._limiter.active(name, direction)
                  for direction in ("inbound", "outbound")}
        return {"trunk": name, "gateways": gateways, "registration": registration,
                "active_calls": active}


class NoTrunkStatus:
    """An API without a running switch: nothing is probed or registered."""

    def status(self, name: str) -> dict:
        return {"trunk": name, "gateways": [], "registration": None,
                "active_calls": {"inbound": 0, "outbound": 0}}
