"""RFC 4028 session timers: the negotiation of Session-Expires and Min-SE (as UAS and
as UAC) and the timer of one dialog.

Pure: header values and `now` in, decisions and deadlines out. A dialog (or the leg
that holds it) keeps a `SessionTimer`; `get_timer()` is its next deadline and
`handle_timer(now)` says what is due there: `REFRESH` (we are the refresher: send a
re-INVITE or UPDATE now, at half the interval) or `EXPIRED` (no refresh came in time:
end the call with BYE, §10). Every successful refresh, ours or the peer's, is
`refreshed(now, negotiated)`.
"""

from dataclasses import dataclass

MIN_SE_FLOOR = 90  # §4: no Min-SE below 90 s
DEFAULT_INTERVAL = 1800  # §4: the recommended Session-Expires
UAC, UAS = "uac", "uas"
REFRESH, EXPIRED = "refresh", "expired"
MAX_DELTA = 2 ** 31 - 1  # a delta-seconds value we accept (RFC 3261 §25.1 bounds)


@dataclass(frozen=True, slots=True)
class SessionTimerConfig:
    session_expires: int = DEFAULT_INTERVAL  # what we ask for (and at most grant)
    min_se: int = MIN_SE_FLOOR  # the shortest interval we accept

    def __post_init__(self):
        if self.min_se < MIN_SE_FLOOR:
            raise ValueError(f"min_se must be at least {MIN_SE_FLOOR} s (RFC 4028 §4)")
        if self.session_expires < self.min_se:
            raise ValueError("session_expires must not be below min_se")


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """``Session-Expires: <delta-seconds>[;refresher=uac|uas]``."""

    interval: int
    refresher: str | None = None

    @classmethod
    def parse(cls, value: str) -> "SessionExpires":
        delta, *params = (part.strip() for part in value.split(";"))
        interval = _delta(delta, "Session-Expires")
        refresher = None
        for param in params:
            name, _, given = param.partition("=")
            if name.strip().lower() == "refresher":
                refresher = given.strip().lower()
                if refresher not in (UAC, UAS):
                    raise ValueError(f"Session-Expires refresher {given.strip()!r}")
        return cls(interval, refresher)

    def __str__(self) -> str:
        if self.refresher is None:
            return str(self.interval)
        return f"{self.interval};refresher={self.refresher}"


def parse_min_se(value: str) -> int:
    """``Min-SE: <delta-seconds>`` (parameters ignored)."""
    return _delta(value.split(";", 1)[0].strip(), "Min-SE")


def _delta(text: str, name: str) -> int:
    if not text.isdigit() or len(text) > 10 or int(text) > MAX_DELTA:
        raise ValueError(f"{name} {text!r} is not delta-seconds")
    return int(text)


def supports_timer(values: list[str]) -> bool:
    """Whether a Supported (or Require) header list names the `timer` option tag."""
    return any(tag.strip().lower() == "timer" for value in values for tag in value.split(","))


@dataclass(frozen=True, slots=True)
class Negotiated:
    """The session interval and who refreshes it, as the 2xx states it."""

    interval: int
    refresher: str  # UAC or UAS: the roles of the request that set it

    def response_headers(self) -> list[tuple[str, str]]:
        """The 2xx's headers (§9): Session-Expires, and Require: timer when the UAC
        refreshes (it must know it has to)."""
        headers = [("Session-Expires", f"{self.interval};refresher={self.refresher}")]
        if self.refresher == UAC:
            headers.append(("Require", "timer"))
        return headers


@dataclass(frozen=True, slots=True)
class TooSmall:
    """Answer 422 Session Interval Too Small with ``Min-SE: min_se``."""

    min_se: int


def negotiate_as_uas(session_expires: str | None, min_se: str | None,
                     uac_supports: bool, config: SessionTimerConfig,
                     ) -> Negotiated | TooSmall:
    """What a UAS answers to a (re-)INVITE or UPDATE carrying these header values
    (§9). Raises ValueError on a malformed value (answer 400).

    Without Session-Expires the UAS still asks for timers (a dead caller is found);
    the UAC refreshes if it supports them, else we do."""
    floor = config.min_se
    if min_se is not None:
        floor = max(floor, parse_min_se(min_se))
    if session_expires is None:
        refresher = UAC if uac_supports else UAS
        return Negotiated(max(config.session_expires, floor), refresher)
    asked = SessionExpires.parse(session_expires)
    if asked.interval < config.min_se:
        if uac_supports:
            return TooSmall(config.min_se)
        # A proxy put it there for a UAC that cannot retry: raise it instead (§9).
        return Negotiated(config.min_se, asked.refresher or UAS)
    interval = max(min(asked.interval, config.session_expires), floor)
    refresher = asked.refresher or (UAC if uac_supports else UAS)
    return Negotiated(interval, refresher)


def uac_request_headers(config: SessionTimerConfig, interval: int | None = None,
                        ) -> list[tuple[str, str]]:
    """The headers of an INVITE we send (§7.1): Supported, Session-Expires, Min-SE."""
    interval = config.session_expires if interval is None else interval
    return [("Supported", "timer"), ("Session-Expires", str(interval)),
            ("Min-SE", str(config.min_se))]


def retry_interval(min_se: str | None, config: SessionTimerConfig) -> int | None:
    """After a 422 (§7.3): the interval to ask for again, or None to give up (the
    response named no usable Min-SE)."""
    if min_se is None:
        return None
    try:
        wanted = parse_min_se(min_se)
    except ValueError:
        return None
    return max(wanted, config.min_se)


def negotiate_as_uac(session_expires: str | None) -> Negotiated | None:
    """Our INVITE's 2xx (§7.2): the interval and refresher it names, or None when it
    has no Session-Expires (no session timer for this dialog). Raises ValueError on a
    malformed value."""
    if session_expires is None:
        return None
    answered = SessionExpires.parse(session_expires)
    return Negotiated(answered.interval, answered.refresher or UAC)


class SessionTimer:
    """The session timer of one dialog. `we_refresh`: our side is the refresher."""

    __slots__ = ("interval", "we_refresh", "refresh_at", "expires_at")

    def __init__(self, negotiated: Negotiated, we_refresh: bool, now: float):
        self.refreshed(now, negotiated, we_refresh)

    def refreshed(self, now: float, negotiated: Negotiated | None = None,
                  we_refresh: bool | None = None) -> None:
        """A refresh succeeded (its 2xx was sent or received) at `now`."""
        if negotiated is not None:
            self.interval = negotiated.interval
        if we_refresh is not None:
            self.we_refresh = we_refresh
        interval = self.interval
        if self.we_refresh:
            self.refresh_at = now + interval / 2  # §7.4: at half the interval
            self.expires_at = now + interval
        else:
            self.refresh_at = None
            # §10: the BYE goes out this long before the interval ends.
            self.expires_at = now + interval - min(32, interval / 3)

    def retry(self, now: float, delay: float) -> None:
        """Our refresh failed without ending the dialog (491 glare, 5xx): try again
        after `delay`, if that is still before the session expires."""
        if self.we_refresh and now + delay < self.expires_at:
            self.refresh_at = now + delay

    def get_timer(self) -> float:
        if self.refresh_at is not None:
            return min(self.refresh_at, self.expires_at)
        return self.expires_at

    def handle_timer(self, now: float) -> str | None:
        """REFRESH (once per interval), EXPIRED, or None if nothing is due yet."""
        if now >= self.expires_at:
            return EXPIRED
        if self.refresh_at is not None and now >= self.refresh_at:
            self.refresh_at = None  # the next comes with `refreshed`
            return REFRESH
        return None
