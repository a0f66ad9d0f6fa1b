"""REFER (RFC 3515) and Referred-By (RFC 3892), without I/O.

- `parse_refer_to`: a Refer-To value from the network (hostile): one name-addr or
  addr-spec of scheme sip, sips or tel, bounded in length, with at most a few embedded
  headers from a short list and no Replaces (attended transfer is not supported);
  RemoteProtocolError(400) otherwise.
- `format_refer_to`: the Refer-To we send for an agent's target, with its headers
  escaped into the URI (RFC 3261 §19.1.1).
- `sipfrag_status`: the status code of a message/sipfrag body (RFC 3420).
- `ReferWatch`: the referrer's side of one REFER: the REFER's final response, then
  the NOTIFYs of the implicit subscription, and a deadline for the final NOTIFY.
  Every input takes `now`; `get_timer()` / `handle_timer(now)` drive the deadline.
  It returns typed outcomes: `ReferProgress`, `ReferSucceeded`, `ReferFailed`.
- `notify_body` / `subscription_state`: what the referee's NOTIFYs carry.
"""

from dataclasses import dataclass
from urllib.parse import quote, unquote

from .errors import RemoteProtocolError
from .uri import SipUri, TelUri, parse_uri

MAX_REFER_TO_LENGTH = 512  # a transfer target is a number or a short SIP URI
MAX_REFER_TO_HEADERS = 4
MAX_REFER_HEADER_VALUE = 256
# Headers a Refer-To may ask to be put in the new INVITE (RFC 3515 §2.1). Replaces
# (RFC 3891) is refused: this switch does not join calls it is not part of.
REFER_TO_HEADERS = frozenset({"user-to-user", "referred-by"})
DEFAULT_NOTIFY_TIMEOUT = 60.0  # from the 202 to the final NOTIFY (the target rings)
MAX_SIPFRAG_LENGTH = 1024

# ReferWatch states.
SENT = "sent"  # the REFER awaits its final response
ACCEPTED = "accepted"  # 2xx (202): the NOTIFYs tell the progress
DONE = "done"


@dataclass(frozen=True, slots=True)
class ReferTarget:
    uri: str  # the target's URI, without its headers
    scheme: str  # "sip" | "sips" | "tel"
    user: str | None  # the user part (or the tel number)
    host: str | None
    headers: tuple[tuple[str, str], ...] = ()  # (name, value), unescaped


def parse_refer_to(value: str) -> ReferTarget:
    """The target of a Refer-To header value; RemoteProtocolError(400) for anything
    this switch will not dial."""
    text = value.strip()
    if not text or len(text) > MAX_REFER_TO_LENGTH:
        raise RemoteProtocolError("Refer-To empty or too long", 400)
    if "<" in text:
        start, end = text.find("<"), text.find(">")
        if end < start or "<" in text[start + 1:] or "," in text[end + 1:]:
            raise RemoteProtocolError("Refer-To is not one name-addr", 400)
        text = text[start + 1:end]
    else:  # addr-spec: what follows ';' are header parameters (RFC 3261 §20)
        text = text.split(";", 1)[0]
        if "," in text:
            raise RemoteProtocolError("Refer-To names more than one target", 400)
    if any(c in text for c in " \t\r\n\"<>"):
        raise RemoteProtocolError("Refer-To URI has forbidden characters", 400)
    try:
        uri = parse_uri(text)
    except ValueError as exc:
        raise RemoteProtocolError(f"Refer-To URI: {exc}", 400) from None
    if isinstance(uri, TelUri):
        return ReferTarget(str(uri), "tel", uri.number, None)
    if not isinstance(uri, SipUri):
        raise RemoteProtocolError(f"Refer-To scheme {uri.scheme!r} is not sip, sips or tel",
                                  400)
    if (uri.params.get("method") or "INVITE").upper() != "INVITE":
        raise RemoteProtocolError("Refer-To asks for a method other than INVITE", 400)
    headers = _uri_headers(uri.headers)
    uri.headers = None
    uri.params.pop("method", None)
    return ReferTarget(str(uri), uri.scheme, uri.user, uri.host, headers)


def _uri_headers(raw: str | None) -> tuple[tuple[str, str], ...]:
    if not raw:
        return ()
    parts = raw.split("&")
    if len(parts) > MAX_REFER_TO_HEADERS:
        raise RemoteProtocolError("Refer-To carries too many headers", 400)
    headers = []
    for part in parts:
        name, sep, value = part.partition("=")
        name, value = unquote(name).strip(), unquote(value)
        if not sep or name.lower() not in REFER_TO_HEADERS:
            raise RemoteProtocolError(f"Refer-To header {name[:40]!r} is not accepted", 400)
        if len(value) > MAX_REFER_HEADER_VALUE or any(c in value for c in "\r\n\0"):
            raise RemoteProtocolError(f"Refer-To header {name!r} has a bad value", 400)
        headers.append((name, value))
    return tuple(headers)


def format_refer_to(uri: str, headers: dict[str, str] | None = None) -> str:
    """The Refer-To value for `uri` (sip:, sips: or tel:), with `headers` embedded;
    RemoteProtocolError when the result is not one we would accept ourselves."""
    target = parse_refer_to(f"<{uri}>")  # the same rules as for what we receive
    text = target.uri
    pairs = list(target.headers) + list((headers or {}).items())
    if pairs:
        if target.scheme == "tel":
            raise ValueError("a tel: Refer-To cannot carry headers")
        text += "?" + "&".join(f"{quote(n, safe='-')}={quote(v, safe='')}" for n, v in pairs)
    parse_refer_to(f"<{text}>")
    return f"<{text}>"


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a message/sipfrag body whose start line is a status line
    (`SIP/2.0 200 OK`); None when it is not one."""
    line = body[:MAX_SIPFRAG_LENGTH].split(b"\n", 1)[0].strip()
    parts = line.split(None, 2)
    if len(parts) < 2 or parts[0].upper() != b"SIP/2.0" or not parts[1].isdigit():
        return None
    code = int(parts[1])
    return code if 100 <= code <= 699 else None


def subscription_state(value: str | None) -> str:
    """The state of a Subscription-State header ("active", "pending", "terminated";
    "" when missing or unreadable)."""
    if not value:
        return ""
    return value.split(";", 1)[0].strip().lower()


def notify_body(code: int, reason: str) -> bytes:
    """A message/sipfrag body for a NOTIFY of a REFER's progress."""
    return f"SIP/2.0 {code} {reason}\r\n".encode()


# -- the referrer's side ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReferProgress:
    code: int  # a provisional status of the referred INVITE (100, 180, 183)


@dataclass(frozen=True, slots=True)
class ReferSucceeded:
    code: int  # the 2xx the referred INVITE got


@dataclass(frozen=True, slots=True)
class ReferFailed:
    code: int  # the REFER's failure, or the referred INVITE's
    refused: bool  # the far end would not take the REFER at all (bridge instead)
    reason: str  # "refused" | "no-answer" | "failed" | "busy" | "timeout"


ReferOutcome = ReferProgress | ReferSucceeded | ReferFailed


class ReferWatch:
    """One REFER we sent: its final response, then the NOTIFYs (RFC 3515 §2.4.4-5).

    A NOTIFY may overtake the 202; it counts as the acceptance. After a final
    outcome (`done`) further input returns None."""

    def __init__(self, now: float, *, notify_timeout: float = DEFAULT_NOTIFY_TIMEOUT,
                 response_timeout: float = 32.0):
        self.state = SENT
        self._notify_timeout = notify_timeout
        self._deadline: float | None = now + response_timeout
        self.last_code: int | None = None  # the last sipfrag status

    @property
    def done(self) -> bool:
        return self.state == DONE

    def response(self, code: int, now: float) -> ReferOutcome | None:
        """The REFER's response (408 for a transaction timeout, 503 for a transport
        failure)."""
        if self.state != SENT or code < 200:
            return None
        if code < 300:
            self.state = ACCEPTED
            self._deadline = now + self._notify_timeout
            return None
        return self._finish(ReferFailed(code, True, "refused"))

    def notify(self, body: bytes, state: str, now: float) -> ReferOutcome | None:
        """A NOTIFY of the subscription: its sipfrag `body` and Subscription-State."""
        if self.state == DONE:
            return None
        if self.state == SENT:
            self.state = ACCEPTED
            self._deadline = now + self._notify_timeout
        code = sipfrag_status(body)
        if code is not None:
            self.last_code = code
        if code is not None and 200 <= code < 300:
            return self._finish(ReferSucceeded(code))
        if code is not None and code >= 300:
            return self._finish(ReferFailed(code, False, _reason(code)))
        if state == "terminated":  # ended without a final status
            return self._finish(ReferFailed(code or 487, False, "failed"))
        return ReferProgress(code) if code is not None else None

    def get_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> ReferOutcome | None:
        if self._deadline is None or now < self._deadline or self.state == DONE:
            return None
        if self.state == SENT:
            return self._finish(ReferFailed(408, True, "refused"))
        return self._finish(ReferFailed(408, False, "timeout"))

    def _finish(self, outcome: ReferOutcome) -> ReferOutcome:
        self.state = DONE
        self._deadline = None
        return outcome


def _reason(code: int) -> str:
    if code in (486, 600):
        return "busy"
    if code in (408, 480, 487):
        return "no-answer"
    return "failed"
