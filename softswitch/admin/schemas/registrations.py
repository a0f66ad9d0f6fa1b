"""Current SIP registrations (read-only), as the registrar holds them."""

from pydantic import Field

from softswitch.admin.schemas.common import Epoch, IdListQuery, ResponseModel


class RegistrationQuery(IdListQuery):
    aor: str | None = Field(None, max_length=512, description="only this address of record")


class RegistrationOut(ResponseModel):
    id: int = Field(description="the running switch's id of this binding (kept across "
                                "refreshes, not across a restart)")
    aor: str
    contact: str
    expires_at: Epoch
    q: float | None
    path: list[str] | None
    received: str | None
    user_agent: str | None
    instance_id: str | None = Field(description="the phone's +sip.instance (RFC 5626), "
                                               "e.g. <urn:uuid:...>, without its quotes")
    reg_id: int | None = Field(description="null: SIP Outbound (RFC 5626 flows) is not "
                                           "supported, so reg-id is not kept")
    node: str
    call_id: str
    cseq: int
