"""A terminating endpoint's answer to a re-offer (hold, resume, session refresh): the
streams and codecs of its previous answer, each stream's direction answering the new
offer's (RFC 3264 §6.1: sendonly -> recvonly, inactive -> inactive), and o= version
bumped only when the body changes (§8)."""

import dataclasses

from .model import SENDRECV, SessionDescription, parse_sdp
from .offer_answer import answer_direction, check_answer, is_on_hold


def offer_holds(offer: SessionDescription) -> bool:
    """Whether `offer` puts us on hold: every active stream sendonly or inactive, or
    at the RFC 2543 unspecified address; an offer with no active stream does too."""
    active = [i for i, media in enumerate(offer.media) if media.port]
    return all(is_on_hold(offer, i) for i in active)


def answer_reoffer(previous: SessionDescription, offer: SessionDescription,
                   wanted: str = SENDRECV) -> SessionDescription:
    """Our new answer: `previous` with each active stream's direction answering the
    offer's. Streams are matched by position; a stream beyond the offer's is left."""
    answer = previous.copy()
    for index, media in enumerate(answer.media):
        if not media.port or index >= len(offer.media):
            continue
        direction = answer_direction(offer.direction_of(offer.media[index]), wanted)
        if answer.direction is not None or answer.direction_of(media) != direction:
            media.direction = direction
    answer.direction = None  # each stream carries its own
    if str(answer) != str(previous):
        origin = previous.origin
        answer.origin = dataclasses.replace(origin, version=origin.version + 1)
    return answer


def answer_in_dialog(ours: bytes, offer: bytes | None) -> tuple[bytes, bool | None]:
    """The body of our 2xx to a re-INVITE, from our current SDP `ours`: the answer to
    `offer` and whether it holds us, or (no offer) our own offer and None, its answer
    coming in the ACK. Raises SdpError when the offer cannot be answered."""
    previous = parse_sdp(ours)
    if offer is None:
        return bytes(offer_from_answer(previous)), None
    offered = parse_sdp(offer)
    check_answer(offered, previous)
    return bytes(answer_reoffer(previous, offered)), offer_holds(offered)


def offer_from_answer(previous: SessionDescription) -> SessionDescription:
    """Our offer in the 2xx of a re-INVITE without SDP: the streams of our answer,
    sendrecv again (a held peer resumes by answering so), o= version bumped if
    anything changed."""
    offer = previous.copy()
    for media in offer.media:
        if media.port and (offer.direction is not None
                           or offer.direction_of(media) != SENDRECV):
            media.direction = SENDRECV
    offer.direction = None
    if str(offer) != str(previous):
        origin = previous.origin
        offer.origin = dataclasses.replace(origin, version=origin.version + 1)
    return offer
