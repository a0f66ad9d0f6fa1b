"""What /v1/trunks/{name}/status shows: the switch's live view of a trunk."""

from pydantic import BaseModel


class GatewayStatus(BaseModel):
    gateway: str
    transport: str
    state: str  # up, down or suspect
    rtt: float | None = None  # smoothed OPTIONS round trip, seconds
    last_change: float | None = None
    last_probe: float | None = None


class RegistrationStatus(BaseModel):
    state: str  # registering, registered or failed
    gateway: str | None = None
    expires_at: float | None = None
    last_error: str | None = None
    next_attempt_at: float | None = None


class TrunkStatusOut(BaseModel):
    trunk: str
    gateways: list[GatewayStatus]
    registration: RegistrationStatus | None = None  # None: the trunk does not register
    active_calls: dict[str, int]  # by direction: inbound, outbound
