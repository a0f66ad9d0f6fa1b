"""SDES-SRTP (RFC 4568) on a relayed call's legs, decided from the SDPs alone.

The relay terminates SRTP on each leg that asks for it: a leg's phone and the switch
each use their own master key, so one leg may be SRTP while the other stays plain RTP,
and a packet crossing two SRTP legs is unprotected with one leg's keys and protected
with the other's. Nothing of one leg's keys ever reaches the other leg's SDP.

- An offer: the offerer's first usable ``a=crypto`` per stream is its key (`chosen`).
  Keys that came over signalling that is not protected (`keys_allowed` False) are
  refused when the stream requires SRTP (``RTP/SAVP``: 488) and ignored when it only
  offers them (best effort on ``RTP/AVP``). Toward the answerer the offer carries the
  switch's own keys, one per suite of `OFFERED_SUITES`, as the answerer's leg `mode`
  says: "sdes" (``RTP/SAVP``, an answer without a key is refused), "optional"
  (``RTP/AVP`` with keys: SRTP if the answer takes one) or "none" (plain RTP).
- An answer: the answerer's key must answer one of the switch's offered tags and
  suites; the answer toward the offerer carries, under the offerer's tag and suite,
  a fresh key of the switch's, kept for later answers while the suite stays.
- A re-offer keeps each leg's mode and, while they still fit, its keys (the SRTP
  contexts and their replay state go on).

`StreamKeys` is what the edge makes an `srtp.SrtpStream` of. Pure: no sockets.
"""

import os
from dataclasses import dataclass

from ..sdp.crypto import (
    OFFERED_SUITES,
    CryptoAttribute,
    choose_crypto,
    is_sdes_capable,
    requires_srtp,
    set_crypto,
    set_profile,
)
from ..sdp.errors import SdpError
from ..sdp.model import SessionDescription
from .srtp import new_key

NONE, SDES, OPTIONAL = "none", "sdes", "optional"
MODES = (NONE, SDES, OPTIONAL)


@dataclass(frozen=True, slots=True)
class StreamKeys:
    """The SRTP of one leg's stream: the phone's key and the switch's, one suite."""

    suite: str
    their_key: bytes
    our_key: bytes


class LegCrypto:
    """One leg's SDES state, per m= line."""

    __slots__ = ("mode", "offered", "chosen", "savp", "keys")

    def __init__(self, mode: str | None = None):
        self.mode = mode  # None until its first offer or the offer toward it says
        self.offered: list[tuple[CryptoAttribute, ...]] = []  # our keys offered to it
        self.chosen: list[CryptoAttribute | None] = []  # its keys from its last offer
        self.savp: list[bool] = []  # its last offer required SRTP (RTP/SAVP), per stream
        self.keys: list[StreamKeys | None] = []  # in force

    def key_at(self, index: int) -> StreamKeys | None:
        return self.keys[index] if index < len(self.keys) else None


def _grow(items: list, count: int) -> None:
    items.extend([None] * (count - len(items)))


class CallCrypto:
    """The SDES state of a call's two legs (keyed by the relay's leg objects)."""

    __slots__ = ("_legs", "_random")

    def __init__(self, random_bytes=os.urandom):
        self._legs: dict[object, LegCrypto] = {}
        self._random = random_bytes

    def leg(self, leg) -> LegCrypto:
        found = self._legs.get(leg)
        if found is None:
            found = self._legs[leg] = LegCrypto()
        return found

    def offer(self, offerer, answerer, received: SessionDescription,
              outgoing: SessionDescription, keys_allowed: bool = True,
              toward: str | None = None, offerer_requires: bool = False) -> None:
        """An offer from `offerer`'s phone (`received`) goes to `answerer`'s phone as
        `outgoing` (already pointed at the relay); raises `SdpError` (488), also when
        `offerer_requires` SRTP (its trunk's "sdes") and a stream offers no key."""
        if toward is not None and toward not in MODES:
            raise ValueError(f"media encryption {toward!r} is not one of {MODES}")
        mine, theirs = self.leg(offerer), self.leg(answerer)
        chosen = []
        for media in received.media:
            crypto = choose_crypto(media)
            if crypto is not None and not keys_allowed:
                if requires_srtp(media):
                    raise SdpError(f"m={media.media} {media.proto}: SDES keys over "
                                   "signalling that is not TLS-protected are refused")
                crypto = None
            chosen.append(crypto)
        if offerer_requires:
            for media, crypto in zip(received.media, chosen):
                if crypto is None and media.port and is_sdes_capable(media):
                    raise SdpError(f"m={media.media} {media.proto}: this side requires "
                                   "SRTP with SDES keys")
            mine.mode = SDES
        mine.chosen = chosen
        mine.savp = [requires_srtp(media) for media in received.media]
        if mine.mode is None:
            mine.mode = _mode_of(received, chosen)
        if toward is not None:
            theirs.mode = toward
        mode = theirs.mode or NONE
        _grow(theirs.offered, len(outgoing.media))
        for index, media in enumerate(outgoing.media):
            media.remove_attribute("crypto")
            if not is_sdes_capable(media) or media.port == 0 or mode == NONE:
                set_profile(media, False)
                theirs.offered[index] = ()
                continue
            offered = theirs.offered[index] or self._our_offer(theirs.key_at(index))
            theirs.offered[index] = offered
            set_profile(media, mode == SDES)
            set_crypto(media, offered)

    def answer(self, answerer, offerer, received: SessionDescription,
               outgoing: SessionDescription) -> None:
        """The answer of `answerer`'s phone (`received`) goes to the offerer's phone as
        `outgoing`; both legs' keys in force follow. Raises `SdpError` when the answer
        takes none of our keys where its leg requires SRTP, or names a key we did not
        offer."""
        theirs, mine = self.leg(answerer), self.leg(offerer)
        keys = []
        for index, media in enumerate(received.media):
            offered = theirs.offered[index] if index < len(theirs.offered) else ()
            keys.append(self._answered(media, offered, theirs.mode) if offered else None)
        outgoing_keys = []
        for index, media in enumerate(outgoing.media):
            media.remove_attribute("crypto")
            chosen = mine.chosen[index] if index < len(mine.chosen) else None
            if chosen is None or media.port == 0:
                set_profile(media, False)
                outgoing_keys.append(None)
                continue
            # The answer keeps the offer's profile (RFC 3264 §6).
            set_profile(media, index < len(mine.savp) and mine.savp[index])
            previous = mine.key_at(index)
            ours = previous.our_key if previous is not None and \
                previous.suite == chosen.suite else new_key(chosen.suite, self._random)
            set_crypto(media, [CryptoAttribute(chosen.tag, chosen.suite, ours)])
            outgoing_keys.append(StreamKeys(chosen.suite, chosen.key, ours))
        theirs.keys, mine.keys = keys, outgoing_keys

    def _answered(self, media, offered, mode) -> StreamKeys | None:
        if media.port == 0:
            return None
        crypto = choose_crypto(media) if is_sdes_capable(media) else None
        if crypto is None:
            if mode == SDES:
                raise SdpError(f"m={media.media}: the answer takes none of the SDES keys "
                               "offered, and this leg requires SRTP")
            return None
        for ours in offered:
            if ours.tag == crypto.tag and ours.suite == crypto.suite:
                return StreamKeys(crypto.suite, crypto.key, ours.key)
        raise SdpError(f"m={media.media}: the answer's a=crypto tag {crypto.tag} "
                       f"{crypto.suite} was not offered")

    def _our_offer(self, current: StreamKeys | None) -> tuple[CryptoAttribute, ...]:
        attributes = []
        for tag, suite in enumerate(OFFERED_SUITES, 1):
            key = current.our_key if current is not None and current.suite == suite \
                else new_key(suite, self._random)
            attributes.append(CryptoAttribute(tag, suite, key))
        return tuple(attributes)


def _mode_of(sdp: SessionDescription, chosen: list) -> str:
    """A leg's mode from its own first offer: SAVP with a key is "sdes", best-effort
    keys "optional", else "none"."""
    mode = NONE
    for media, crypto in zip(sdp.media, chosen):
        if crypto is None:
            continue
        if requires_srtp(media):
            return SDES
        mode = OPTIONAL
    return mode
