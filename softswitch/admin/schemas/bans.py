"""Bans of source addresses by the SIP guard, read from the running switch."""

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from softswitch.admin.schemas.common import CIDR_PATTERN, Epoch, RequestModel, ResponseModel

MAX_BAN_SECONDS = 366 * 86400


_CIDR = re.compile(CIDR_PATTERN)


def _address_or_network(value: str) -> str:
    # The document's pattern first, so that the server refuses what it refuses.
    text = value.removesuffix("\n")  # as "$" in a pattern allows
    if not _CIDR.fullmatch(text):
        raise ValueError("not an IP address or CIDR network")
    try:
        if "/" not in text:
            return str(ipaddress.ip_address(text))
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError("not an IP address or CIDR network") from None


AddressOrNetwork = Annotated[
    str, Field(min_length=2, max_length=49, description="an IPv4/IPv6 address or a CIDR "
               "network such as 192.0.2.0/24", json_schema_extra={"pattern": CIDR_PATTERN}),
    AfterValidator(_address_or_network)]


class BanOut(ResponseModel):
    address: str = Field(description="the banned address, or network in CIDR form")
    reason: Literal["auth", "flood", "manual"] = Field(
        description="auth: too many failed credentials; flood: over its request budget; "
                    "manual: banned over this API")
    banned_at: Epoch
    expires_at: Epoch
    remaining: float = Field(description="seconds until the ban lifts")
    offences: int = Field(description="how many times this address was banned lately; "
                                      "each automatic ban lasts longer than the last")
    dropped: int = Field(description="SIP messages dropped from it during this ban")


class BanIn(RequestModel):
    """Drop every SIP message from an address or network for `seconds`."""

    address: AddressOrNetwork
    seconds: float = Field(gt=0, le=MAX_BAN_SECONDS, description="how long the ban holds")


class GuardCountersOut(ResponseModel):
    bans_active: int = Field(description="addresses and networks banned now")
    sources_tracked: int = Field(description="source addresses with rate state in memory")
    bans_total: dict[str, int] = Field(description="bans made since start, by reason")
    dropped: dict[str, int] = Field(description="SIP messages dropped since start, by "
                                                "reason (banned, rate, scanner)")
