"""What /v1/trunks/{name}/status shows: the switch's live view of a trunk."""

from pydantic import BaseModel

from softswitch.admin.schemas.common import Epoch


class GatewayStatus(BaseModel):
    gateway: str
    transport: str
    state: str  # up, down or suspect
    rtt: float | None = None  # smoothed OPTIONS round trip, seconds
    last_change: Epoch | None = None
    last_probe: Epoch | None = None


class RegistrationStatus(BaseModel):
    state: str  # registering, registered or failed
    gateway: str | None = None
    expires_at: Epoch | None = None
    last_error: str | None = None
    next_attempt_at: Epoch | None = None


class TrunkStatusOut(BaseModel):
    trunk: str
    gateways: list[GatewayStatus]
    registration: RegistrationStatus | None = None  # None: the trunk does not register
    active_calls: dict[str, int]  # by direction: inbound, outbound
