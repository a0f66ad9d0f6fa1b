"""What a relayed call's SDP means for its ports, without the ports.

The RTP relay (edge/media/relay.py) owns sockets; what to do with them follows from
the SDPs alone and is decided here: where each stream's RTP and RTCP go until the
phone is latched, whether a leg holds (no RTP sent to it, RFC 3264 §5.1), whether the
call as a whole is on hold (the longer timeout), how its receiver statistics count
(clock rate, payload types left out of jitter), and when its inactivity check is due.
"""

from dataclasses import dataclass

from ..sdp import INACTIVE, SENDONLY, SessionDescription, is_on_hold

NO_JITTER_ENCODINGS = frozenset(("telephone-event", "cn"))
NOT_RECEIVING = frozenset((SENDONLY, INACTIVE))
DEFAULT_CLOCK_RATE = 8000

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """One m= line of a leg's SDP, as the two ports facing that leg use it."""
    media: str  # "audio", "video", ...
    rtp: Address | None  # where the phone receives RTP (until it is latched)
    rtcp: Address | None  # its RTCP; None with rtcp-mux or without an address
    held: bool  # the phone receives no RTP here (sendonly or inactive)
    rtp_mode: bool  # an RTP profile: packets are read as RTP
    read_rtcp: bool  # RTCP is in the clear (not SRTP): its reports are read


def stream_plans(sdp: SessionDescription) -> list[StreamPlan]:
    """A plan for each m= line of `sdp`, in order."""
    plans = []
    for media in sdp.media:
        connection = sdp.connection_for(media)
        if media.port and connection is not None:
            rtp = (connection.address, media.port)
            attribute = media.rtcp
            if media.rtcp_mux:
                rtcp = None
            elif attribute is not None:
                host = attribute.connection.address if attribute.connection \
                    else connection.address
                rtcp = (host, attribute.port)
            else:
                rtcp = (connection.address, media.port + 1)
        else:
            rtp = rtcp = None
        plans.append(StreamPlan(
            media=media.media, rtp=rtp, rtcp=rtcp,
            held=bool(media.port) and sdp.direction_of(media) in NOT_RECEIVING,
            rtp_mode=media.is_rtp, read_rtcp="SAVP" not in media.proto.upper()))
    return plans


def names_an_address(sdp: SessionDescription) -> bool:
    """Whether a stream of `sdp` names a port and a specified address."""
    for media in sdp.media:
        connection = sdp.connection_for(media)
        if media.port and connection is not None and not connection.is_unspecified:
            return True
    return False


def holds(sdp: SessionDescription | None) -> bool:
    """Whether `sdp` puts its far end on hold on every stream it keeps."""
    if sdp is None or not sdp.media:
        return False
    return all(is_on_hold(sdp, i) for i, media in enumerate(sdp.media) if media.port)


def call_on_hold(*sdps: SessionDescription | None) -> bool:
    """A call is on hold while either side's latest SDP holds."""
    return any(holds(sdp) for sdp in sdps)


def stats_config(sdps, index: int) -> tuple[int, frozenset[int]]:
    """The clock rate and the payload types kept out of jitter for stream `index`,
    from the payload types the SDPs (the other side's first) name there."""
    clock_rate, excluded = None, set()
    for sdp in sdps:
        if sdp is None or index >= len(sdp.media):
            continue
        media = sdp.media[index]
        for codec in media.codecs() if media.is_rtp else ():
            if codec.encoding.lower() in NO_JITTER_ENCODINGS:
                excluded.add(codec.payload_type)
            elif clock_rate is None:
                clock_rate = codec.clock_rate
    return clock_rate or DEFAULT_CLOCK_RATE, frozenset(excluded)


def idle_delay(last_activity: float, timeout: float, now: float) -> float:
    """Seconds until media last seen at `last_activity` has been idle `timeout`."""
    return max(0.0, last_activity + timeout - now)
