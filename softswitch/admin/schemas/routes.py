"""Outbound routes: the longest matching prefix picks an ordered list of trunks."""

from typing import Annotated

from pydantic import AfterValidator, Field

from softswitch.admin.schemas.common import (
    Description,
    Epoch,
    Name,
    RequestModel,
    ResponseModel,
    partial_model,
    unique_list,
)

def _digits_only(prefix: str) -> str:
    # The dialplan matches the digits of the E.164 number: "+44" and "44" are one prefix.
    return prefix.removeprefix("+")


Prefix = Annotated[str, Field(
    pattern=r"^\+?[0-9]{0,15}$",
    description="leading digits of the dialled E.164 number ('+' is dropped: '+44' is "
                "'44'); '' is the default route"),
    AfterValidator(_digits_only)]


class OutboundRouteReplace(RequestModel):
    prefix: Prefix
    trunks: unique_list(Name, 16) = Field(min_length=1, description="tried in order")
    description: Description | None = None


OutboundRouteCreate = OutboundRouteReplace
OutboundRoutePatch = partial_model(OutboundRouteReplace, "OutboundRoutePatch",
                                   "Fields to change; trunks is replaced whole.")


class OutboundRouteOut(ResponseModel):
    id: int
    prefix: str
    trunks: list[str]
    description: str | None
    created_at: Epoch
    updated_at: Epoch
