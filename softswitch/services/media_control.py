"""The media-control interface: what call control asks of a media relay.

It is shaped like rtpengine's ng protocol so that an rtpengine can later serve
plain-relay routes behind the same interface:

    ng command   here
    ----------   ---------------------------------------------------------------
    offer        offer(call_id, from_tag, sdp, region, secure=, encryption=)
                                                         -> Deferred[bytes]
    answer       answer(call_id, from_tag, to_tag, sdp) -> Deferred[bytes]
    delete       delete(call_id, from_tag, to_tag)      -> Deferred[CallMediaStats]
    query        query(call_id)                          -> Deferred[CallMediaStats]

Semantics (the in-process `softswitch.edge.media.relay.RtpRelay` implements them):

- A call has two legs: the caller side (the tag of the first offer) and the callee side.
  Each leg has, per m= line, a relay port pair (even RTP port, RTCP = RTP + 1) facing
  that leg's phone. `offer` rewrites the offer to point at the callee-facing ports,
  `answer` rewrites the answer to point at the caller-facing ports.
- `from_tag`/`to_tag` are the tags of the SIP message carrying the SDP, as in ng: a
  re-INVITE from the callee is `offer(call_id, callee_tag, ...)` and its answer is
  `answer(call_id, callee_tag, caller_tag, ...)`.
- A re-offer for the same call keeps the same ports (hold, re-INVITE, session refresh);
  the o= version the other side sees goes up only when the SDP changed.
- Forking and serial failover: do not delete a failed branch; re-offer (same call and
  from-tag: same ports) for the next target. An answer from a new to-tag re-points the
  callee leg (its latch starts over); the latest answering branch wins.
- `delete` with a to-tag that is not the current callee's is a no-op (a branch that
  lost); otherwise it ends the whole call, frees its ports and returns its final stats.
- SRTP with SDES keys (RFC 4568) is terminated per leg (media.relay_crypto): a leg
  that offers ``a=crypto`` gets the relay's own key in the answer; the other leg gets
  what `encryption` asks on the first offer ("none": plain RTP, "sdes": SRTP offered
  and required, "optional": SRTP offered, plain accepted). `secure` says whether the
  offer came over TLS-protected signalling: False refuses SDES keys (488) unless the
  relay allows them over plain transports; None is an SDP that already passed that
  check (a re-offer of a call's own SDP). `require_srtp`: the offerer's side must use
  SRTP (its trunk's "sdes"): an offer without keys is refused (488).
- `region` picks the relay on the first offer (None: the default region); it is fixed
  for the life of the call.
- Failures arrive as errbacks with a `MediaError` whose `status_hint` is the SIP status
  to answer with (488 for unusable SDP, 503 when no ports are left, 500 for misuse).
- `set_listener(listener)`: the listener receives typed events (`MediaTimedOut`) when a
  call has had no RTP in either direction for the inactivity timeout (a longer one while
  on hold). The call stays allocated until it is deleted.

Pure: value types and a Protocol; no sockets, no reactor.
"""

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from twisted.internet.defer import Deferred

from ..media.stats import StreamStats

Address = tuple[str, int]


# -- configuration ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RegionConfig:
    """A region is a media relay: where it binds, what it advertises in SDP, which ports."""

    name: str
    bind: str
    advertise: str
    port_min: int
    port_max: int

    def __post_init__(self):
        if not self.name:
            raise ValueError("a region needs a name")
        for key in ("bind", "advertise"):
            try:
                ipaddress.ip_address(getattr(self, key))
            except ValueError:
                raise ValueError(f"region {self.name}: {key} {getattr(self, key)!r} "
                                 "is not an IP address") from None
        if not 1024 <= self.port_min < self.port_max <= 65535:
            raise ValueError(f"region {self.name}: ports must satisfy "
                             "1024 <= port_min < port_max <= 65535")
        if self.port_pairs < 2:
            raise ValueError(f"region {self.name}: ports {self.port_min}-{self.port_max} "
                             "hold fewer than the 2 RTP/RTCP pairs one call needs")

    @property
    def port_pairs(self) -> int:
        """How many (even RTP, RTCP = RTP + 1) pairs fit in the range."""
        first = self.port_min + (self.port_min & 1)
        return max(0, (self.port_max - first + 1) // 2)


# Transports whose signalling protects SDES keys (RFC 4568 §8.3): TLS, and secure
# WebSocket once it is served.
SECURE_TRANSPORTS = frozenset(("tls", "wss"))


def signalling_secure(transport: str | None) -> bool:
    """Whether SDP that arrived over `transport` (a `sip.transport.Peer`'s) may carry
    SDES keys without the relay's allow_sdes_over_insecure."""
    return transport is not None and transport.lower() in SECURE_TRANSPORTS


def requires_srtp(trunk) -> bool:
    """Whether calls from `trunk` (a routing.Trunk, or None) must offer SRTP."""
    return trunk is not None and getattr(trunk, "media_encryption", "none") == "sdes"


class KeysRefused(Exception):
    """An SRTP-only ("sdes") trunk reached over signalling that would carry our SDES
    keys in clear: the attempt is not made."""


def offer_encryption(trunk, destination_transport: str | None,
                     allow_insecure: bool = False) -> str:
    """What the switch offers on its own leg to `trunk` (None: a user, plain RTP)
    reached over `destination_transport`: its `media_encryption`, with our keys only
    over TLS unless `allow_insecure` ([media] allow_sdes_over_insecure). "optional"
    over plain signalling offers plain RTP; "sdes" raises KeysRefused."""
    mode = (getattr(trunk, "media_encryption", None) or "none") if trunk is not None \
        else "none"
    if mode == "none" or allow_insecure or signalling_secure(destination_transport):
        return mode
    if mode == "sdes":
        raise KeysRefused(f"trunk {trunk.name}: SRTP keys are not sent over "
                          f"{destination_transport} (give it a tls gateway)")
    return "none"


# -- errors --------------------------------------------------------------------

class MediaError(Exception):
    """A media-control request failed; `status_hint` is the SIP status to answer with."""

    status_hint = 500


class MediaRejected(MediaError):
    """The SDP is malformed or cannot be relayed (not an answer to the offer...)."""

    status_hint = 488


class PortsExhausted(MediaError):
    """The region has no free port pair left (or none could be bound)."""

    status_hint = 503


class UnknownRegion(MediaError):
    pass


class UnknownCall(MediaError):
    pass


class UnknownTag(MediaError):
    """The tag belongs to neither leg of the call."""


# -- events --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MediaTimedOut:
    """No RTP in either direction of the call for `idle_seconds`: end the call."""

    call_id: str
    idle_seconds: float


MediaEvent = MediaTimedOut
MediaListener = Callable[[MediaEvent], None]


# -- statistics ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StreamMediaStats:
    """One m= line of one leg: what the relay received from that leg's phone."""

    index: int
    media: str  # "audio", "video", "image"...
    local_port: int  # the relay's RTP port facing this leg (RTCP is local_port + 1)
    advertised: Address | None  # the RTP address this leg's SDP gave
    peer: Address | None  # the latched RTP source, None while learning
    rtp: StreamStats  # RFC 3550 receiver statistics of the packets from this leg
    forwarded: int = 0  # RTP/RTCP packets from this leg sent on to the other leg
    rtcp_packets: int = 0
    dropped_foreign: int = 0  # from a source other than the latched peer
    dropped_learning: int = 0  # from a source not (yet) latched
    malformed: int = 0  # not RTP/RTCP at all (too short, wrong version...)
    unrouted: int = 0  # accepted, but the other leg has no address yet
    send_errors: int = 0
    srtp: str | None = None  # the SRTP suite of this leg's stream (SDES), None if plain
    srtp_dropped: int = 0  # SRTP packets not authentic, replayed or not protectable

    def to_dict(self) -> dict:
        return {"index": self.index, "media": self.media, "local_port": self.local_port,
                "advertised": self.advertised, "peer": self.peer, "rtp": self.rtp.to_dict(),
                "forwarded": self.forwarded, "rtcp_packets": self.rtcp_packets,
                "dropped_foreign": self.dropped_foreign,
                "dropped_learning": self.dropped_learning, "malformed": self.malformed,
                "unrouted": self.unrouted, "send_errors": self.send_errors,
                "srtp": self.srtp, "srtp_dropped": self.srtp_dropped}


@dataclass(frozen=True, slots=True)
class LegMediaStats:
    tag: str | None
    streams: tuple[StreamMediaStats, ...]

    def to_dict(self) -> dict:
        return {"tag": self.tag, "streams": tuple(s.to_dict() for s in self.streams)}


@dataclass(frozen=True, slots=True)
class CallMediaStats:
    call_id: str
    region: str
    caller: LegMediaStats
    callee: LegMediaStats
    started: float  # the relay clock's time of the first offer
    answered: float | None
    last_activity: float

    def to_dict(self) -> dict:
        """Plain data (JSON-ready) for call records: what `dataclasses.asdict` gives,
        spelled out (its recursion and deep copies cost more than the rest of a
        proxied call's record)."""
        return {"call_id": self.call_id, "region": self.region,
                "caller": self.caller.to_dict(), "callee": self.callee.to_dict(),
                "started": self.started, "answered": self.answered,
                "last_activity": self.last_activity}


# -- the interface --------------------------------------------------------------

@runtime_checkable
class MediaControl(Protocol):
    def offer(self, call_id: str, from_tag: str, sdp: bytes,
              region: str | None = None, *, secure: bool | None = None,
              encryption: str | None = None,
              require_srtp: bool = False) -> "Deferred[bytes]":
        ...

    def answer(self, call_id: str, from_tag: str, to_tag: str,
               sdp: bytes) -> "Deferred[bytes]":
        ...

    def delete(self, call_id: str, from_tag: str | None = None,
               to_tag: str | None = None) -> "Deferred[CallMediaStats]":
        ...

    def query(self, call_id: str) -> "Deferred[CallMediaStats]":
        ...

    def set_listener(self, listener: MediaListener | None) -> None:
        ...
