"""RFC 3264 offer/answer rules that a media relay must check or apply."""

from .errors import SdpError
from .model import INACTIVE, RECVONLY, SENDONLY, SENDRECV, SessionDescription

_REVERSED = {SENDRECV: SENDRECV, SENDONLY: RECVONLY, RECVONLY: SENDONLY, INACTIVE: INACTIVE}


def reverse_direction(direction: str) -> str:
    """The direction as seen from the other side: sendonly <-> recvonly."""
    return _REVERSED[direction]


def answer_direction(offered: str, wanted: str = SENDRECV) -> str:
    """The direction an answerer wanting `wanted` may answer to `offered` (§6.1)."""
    send = offered in (SENDRECV, RECVONLY) and wanted in (SENDRECV, SENDONLY)
    recv = offered in (SENDRECV, SENDONLY) and wanted in (SENDRECV, RECVONLY)
    return {(True, True): SENDRECV, (True, False): SENDONLY,
            (False, True): RECVONLY, (False, False): INACTIVE}[(send, recv)]


def check_answer(offer: SessionDescription, answer: SessionDescription) -> None:
    """Raise `SdpError` unless `answer` can answer `offer`: the same number of m= lines,
    in the same order and of the same media type (§6); a stream the offer rejected
    (port 0) stays rejected."""
    if len(answer.media) != len(offer.media):
        raise SdpError(f"answer has {len(answer.media)} m= lines, "
                       f"the offer has {len(offer.media)}")
    for i, (o, a) in enumerate(zip(offer.media, answer.media), 1):
        if o.media != a.media:
            raise SdpError(f"answer m= line {i} is {a.media}, the offer's is {o.media}")
        if o.port == 0 and a.port != 0:
            raise SdpError(f"answer m= line {i} accepts a stream the offer rejected")


def is_on_hold(sdp: SessionDescription, index: int) -> bool:
    """Whether stream `index` puts the far end on hold: sendonly or inactive, or the
    RFC 2543 unspecified connection address."""
    media = sdp.media[index]
    connection = sdp.connection_for(media)
    return (sdp.direction_of(media) in (SENDONLY, INACTIVE)
            or (connection is not None and connection.is_unspecified))
