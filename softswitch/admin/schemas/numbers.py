"""Numbers (DIDs) and their routes: an ordered list of targets tried in turn."""

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_serializer

from softswitch.admin.schemas.common import (
    UNION_TAGS,
    Description,
    E164,
    E164Input,
    Epoch,
    Name,
    RequestModel,
    ResponseModel,
    Username,
    partial_model,
)


class AgentTarget(RequestModel):
    type: Literal["agent"]
    agent: Name
    backup_agent: Name | None = Field(
        None, description="takes the call over when the agent's socket fails beyond its "
                          "reconnect (docs/agents.md \"Handoff\")")

    @model_serializer(mode="wrap")
    def _without_no_backup(self, handler):
        data = handler(self)
        if data.get("backup_agent") is None:
            data.pop("backup_agent", None)
        return data


class UserTarget(RequestModel):
    type: Literal["user"]
    user: Username


class TrunkTarget(RequestModel):
    type: Literal["trunk"]
    trunk: Name


class RejectTarget(RequestModel):
    type: Literal["reject"]
    code: int = Field(ge=400, le=699, description="SIP status answered to the caller")


TARGETS = (AgentTarget, UserTarget, TrunkTarget, RejectTarget)
UNION_TAGS.update(model.model_fields["type"].annotation.__args__[0] for model in TARGETS)
Target = Annotated[Union[TARGETS], Field(discriminator="type")]


def _reject_last(route: list) -> list:
    for position, target in enumerate(route[:-1]):
        if target.type == "reject":
            raise ValueError(f"target {position} rejects the call, so the targets "
                             "after it would never be tried: put reject last")
    return route


class UnverifiedRoute(RequestModel):
    """STIR/SHAKEN screening: inbound calls whose caller ID did not verify as asked
    go to these targets instead of the number's route."""

    when: Literal["failed", "unverified", "not-a"] = Field(
        "unverified", description="failed: verstat TN-Validation-Failed; unverified: "
        "failed or No-TN-Validation; not-a: anything but passed with attestation A")
    route: list[Target] = Field(min_length=1, max_length=16,
                                description="targets tried in order until one answers")

    @field_validator("route")
    @classmethod
    def _reject_is_last(cls, route: list) -> list:
        return _reject_last(route)


class NumberReplace(RequestModel):
    number: E164Input | None = Field(None, description="must match the URL if given")
    route: list[Target] = Field(min_length=1, max_length=16,
                                description="targets tried in order until one answers")
    description: Description | None = None
    enabled: bool = True
    unverified_route: UnverifiedRoute | None = Field(
        None, description="where inbound calls from trunks go when STIR/SHAKEN "
        "verification did not pass (null: the route, whatever the verstat)")
    record: bool = Field(False, description="record every call to this number from the "
                                            "answer (docs/recording.md)")

    @field_validator("route")
    @classmethod
    def _reject_is_last(cls, route: list) -> list:
        return _reject_last(route)


class NumberCreate(NumberReplace):
    number: E164Input


NumberPatch = partial_model(NumberReplace, "NumberPatch", "Fields to change; route is replaced whole.")


class NumberOut(ResponseModel):
    number: E164
    route: list[Target]
    description: str | None
    enabled: bool
    unverified_route: UnverifiedRoute | None
    record: bool
    created_at: Epoch
    updated_at: Epoch
