"""Admin API bearer tokens: the plaintext is shown once, at creation."""

from pydantic import Field

from softswitch.admin.schemas.common import Epoch, Name, RequestModel, ResponseModel


class TokenCreate(RequestModel):
    name: Name = Field(description="who or what uses the token")


class TokenOut(ResponseModel):
    id: int
    name: str
    created_at: Epoch
    revoked_at: Epoch | None
    last_used_at: Epoch | None


class TokenCreated(TokenOut):
    token: str = Field(description="the bearer token; it cannot be shown again")
