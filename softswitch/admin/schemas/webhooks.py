"""Webhook deliveries, read from the running switch (services.webhooks)."""

from typing import Literal

from pydantic import Field

from softswitch.admin.schemas.common import Epoch, ResponseModel


class DeliveryOut(ResponseModel):
    id: int = Field(description="the delivery's id (also its Softswitch-Delivery header)")
    url: str
    event: Literal["call.ringing", "call.answered", "call.transferred", "call.ended",
                   "call.amd"]
    call_id: str
    state: Literal["pending", "delivered", "failed", "dropped"] = Field(
        description="pending: to be tried (again); failed: every try failed; dropped: "
                    "pushed out of a full queue by newer events")
    attempts: int = Field(description="tries so far")
    created_at: Epoch
    next_attempt_at: Epoch | None = Field(description="when a pending delivery is tried "
                                                      "again")
    last_status: int | None = Field(description="the HTTP status of the last try")
    last_error: str | None = Field(description="why the last try got no status "
                                               "(refused, timed out...)")
    finished_at: Epoch | None
