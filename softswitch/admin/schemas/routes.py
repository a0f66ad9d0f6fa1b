"""Outbound routes: the longest matching prefix picks an ordered list of trunks."""

from typing import Annotated

from pydantic import Field

from softswitch.admin.schemas.common import (
    Description,
    Epoch,
    Name,
    RequestModel,
    ResponseModel,
    partial_model,
    unique_list,
)

Prefix = Annotated[str, Field(
    pattern=r"^\+?[0-9]{0,15}$",
    description="digits the dialled number starts with (optionally after '+'); "
                "'' is the default route")]


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
