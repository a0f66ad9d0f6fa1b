"""Media regions: a relay's bind and advertised addresses and its RTP port range."""

from pydantic import Field, ValidationInfo, field_validator

from softswitch.admin.schemas.common import (
    Epoch,
    IPAddress,
    Name,
    Port,
    RequestModel,
    ResponseModel,
    partial_model,
)


class RegionReplace(RequestModel):
    name: Name | None = Field(None, description="must match the URL if given")
    bind: IPAddress
    advertise: IPAddress | None = Field(None, description="address put in SDP; default: bind")
    port_min: Port
    port_max: Port

    @field_validator("port_max")
    @classmethod
    def _range(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("port_min")
        if low is not None and value <= low:
            raise ValueError(f"port_max ({value}) must be above port_min ({low})")
        return value


class RegionCreate(RegionReplace):
    name: Name


RegionPatch = partial_model(RegionReplace, "RegionPatch", "Fields to change; others stay.")


class RegionOut(ResponseModel):
    name: str
    bind: str
    advertise: str
    port_min: int
    port_max: int
    created_at: Epoch
    updated_at: Epoch
