"""SIP users: the password is write-only (stored as HA1 hashes)."""

from typing import Annotated

from pydantic import Field

from softswitch.admin.schemas.common import (
    CALLER_IDS_DESCRIPTION,
    CallerIds,
    Epoch,
    RequestModel,
    ResponseModel,
    Username,
    partial_model,
)

Password = Annotated[str, Field(min_length=8, max_length=128, pattern=r"^[^\r\n\x00]*$",
                                description="write-only; stored as HA1 hashes")]
DisplayName = Annotated[str, Field(max_length=128, pattern=r"^[^\r\n\x00\"]*$")]
# The document names the one domain this switch serves (openapi.SWITCH_DOMAIN).
Domain = Annotated[str, Field(min_length=1, max_length=253,
                              json_schema_extra={"x-switch-domain": True},
                              description="the switch's SIP domain (the default)")]


class UserReplace(RequestModel):
    """A SIP account; PUT replaces it whole (the password too)."""

    username: Username | None = Field(None, description="must match the URL if given")
    password: Password
    domain: Domain | None = None
    display_name: DisplayName | None = None
    enabled: bool = True
    caller_ids: CallerIds = Field(default_factory=list, description=CALLER_IDS_DESCRIPTION)


class UserCreate(UserReplace):
    username: Username


UserPatch = partial_model(UserReplace, "UserPatch", "Fields to change; others stay.")


class UserOut(ResponseModel):
    username: str
    domain: str
    display_name: str | None
    enabled: bool
    caller_ids: list[str]
    created_at: Epoch
    updated_at: Epoch
