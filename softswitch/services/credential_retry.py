"""Answering a digest challenge (401/407) with a trunk's or a user's credentials.

The one place the switch, as a client, turns a challenge into the header of its
next request: the proxy's trunk branches, the UAC legs of outbound calls and
transfers, and trunk registration all use it."""

from ..sip import digest
from ..sip.errors import SipError
from ..sip.ids import new_tag
from ..sip.message import Response


class CannotAnswer(Exception):
    """The challenge cannot be answered (none usable, or our values are not sendable);
    the message says why, for the log or the trunk's status."""


def credentials_of(trunk) -> tuple[str, str] | None:
    """A trunk's (username, password), or None when it has no username."""
    if trunk is None or not trunk.auth_username:
        return None
    return trunk.auth_username, trunk.auth_password or ""


def is_challenge(status: int) -> bool:
    return status in (401, 407)


def answer_challenge(response: Response, credentials: tuple[str, str], method: str,
                     uri: str) -> tuple[str, str]:
    """The (header name, value) answering the challenge of `response` (RFC 3261
    §22.2/§22.3): `Authorization` for a 401, `Proxy-Authorization` for a 407. `uri` is
    the Request-URI of the request sent again (the digest-uri)."""
    if response.status == 401:
        asked, answer = "WWW-Authenticate", "Authorization"
    else:
        asked, answer = "Proxy-Authenticate", "Proxy-Authorization"
    challenge = digest.select_challenge(response.headers.values(asked))
    if challenge is None:
        raise CannotAnswer(f"{response.status} without a usable challenge")
    username, password = credentials
    try:
        value = digest.authorization_for(challenge, username, password, method, uri,
                                         cnonce=new_tag())
    except SipError as exc:
        raise CannotAnswer(f"cannot answer the challenge: {exc}") from None
    return answer, value
