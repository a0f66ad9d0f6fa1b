"""SDP (RFC 8866) parsing that round-trips, RFC 3264 offer/answer checks, and the
rewrites a media relay applies. Pure: standard library only."""

from .errors import SdpError
from .model import (
    DIRECTIONS,
    INACTIVE,
    MAX_MEDIA_DESCRIPTIONS,
    MAX_SDP_SIZE,
    RECVONLY,
    SENDONLY,
    SENDRECV,
    Line,
    MediaDescription,
    SessionDescription,
    parse_sdp,
)
from .offer_answer import answer_direction, check_answer, is_on_hold, reverse_direction
from .rewrite import (
    OriginVersioner,
    replace_connection_address,
    rewrite_for_relay,
    set_stream_ports,
)
from .values import STATIC_PAYLOAD_TYPES, Connection, Origin, RtcpAttribute, RtpMap


__all__ = [
    "DIRECTIONS", "INACTIVE", "MAX_MEDIA_DESCRIPTIONS", "MAX_SDP_SIZE", "RECVONLY",
    "SENDONLY", "SENDRECV", "STATIC_PAYLOAD_TYPES", "Connection", "Line",
    "MediaDescription", "Origin", "OriginVersioner", "RtcpAttribute", "RtpMap", "SdpError",
    "SessionDescription", "answer_direction", "check_answer", "is_on_hold", "parse_sdp",
    "replace_connection_address", "reverse_direction", "rewrite_for_relay",
    "set_stream_ports",
]
