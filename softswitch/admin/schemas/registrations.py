"""Current SIP registrations (read-only)."""

from pydantic import Field

from softswitch.admin.schemas.common import Epoch, IdListQuery, ResponseModel


class RegistrationQuery(IdListQuery):
    aor: str | None = Field(None, max_length=512, description="only this address of record")


class RegistrationOut(ResponseModel):
    id: int
    aor: str
    contact: str
    expires_at: Epoch
    q: float | None
    path: list[str] | None
    received: str | None
    user_agent: str | None
    instance_id: str | None
    reg_id: int | None
    node: str
    call_id: str
    cseq: int
