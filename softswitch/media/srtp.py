"""SRTP and SRTCP (RFC 3711) on one stream of one leg, through libsrtp (pylibsrtp).

A leg's phone and the switch each have their own master key (SDES, RFC 4568): the
phone's key unprotects what it sends (`unprotect`, `unprotect_rtcp`), the switch's key
protects what is sent to it (`protect`, `protect_rtcp`). libsrtp keeps the replay window
(RFC 3711 §3.3.2) and the rollover counter of each SSRC; it makes a receiving stream
only for a packet that authenticates, so strangers cannot grow its state. What the
switch protects carries the SSRCs of the other leg's phone, which may be anyone: at most
`MAX_SENT_SSRCS` of them get a stream, later ones are dropped and counted.

Failures return None (counted here) and never raise: a packet is a packet.
Pure: no sockets, no clock; keys come from the caller's random source.
"""

import os

from pylibsrtp import Error, Policy, Session

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}
KEY_LENGTHS = {
    "AES_CM_128_HMAC_SHA1_80": 30, "AES_CM_128_HMAC_SHA1_32": 30,
    "AEAD_AES_128_GCM": 28, "AEAD_AES_256_GCM": 44,
}
MAX_SENT_SSRCS = 8
REPLAY_WINDOW = 128  # packets (libsrtp's default; RFC 3711 asks for at least 64)


def new_key(suite: str, random_bytes=os.urandom) -> bytes:
    """A fresh master key || salt for `suite`."""
    return random_bytes(KEY_LENGTHS[suite])


class SrtpStream:
    """The SRTP contexts of one leg's stream: `their_key` for what the phone sends,
    `our_key` for what the switch sends it."""

    __slots__ = ("suite", "their_key", "our_key", "_rx", "_tx", "_sent_ssrcs",
                 "unprotect_failed", "protect_failed", "ssrcs_refused")

    def __init__(self, suite: str, their_key: bytes, our_key: bytes):
        profile = PROFILES[suite]
        self.suite = suite
        self.their_key = their_key
        self.our_key = our_key
        receive = Policy(key=their_key, ssrc_type=Policy.SSRC_ANY_INBOUND,
                         srtp_profile=profile)
        receive.window_size = REPLAY_WINDOW
        self._rx = Session(receive)
        self._tx = Session(Policy(key=our_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                  srtp_profile=profile))
        self._sent_ssrcs: set[bytes] = set()
        self.unprotect_failed = 0  # did not authenticate, replayed, or not SRTP at all
        self.protect_failed = 0
        self.ssrcs_refused = 0

    def unprotect(self, data: bytes) -> bytes | None:
        try:
            return self._rx.unprotect(data)
        except (Error, ValueError, TypeError):
            self.unprotect_failed += 1
            return None

    def unprotect_rtcp(self, data: bytes) -> bytes | None:
        try:
            return self._rx.unprotect_rtcp(data)
        except (Error, ValueError, TypeError):
            self.unprotect_failed += 1
            return None

    def protect(self, data: bytes) -> bytes | None:
        if not self._admit(data[8:12]):
            return None
        try:
            return self._tx.protect(data)
        except (Error, ValueError, TypeError):
            self.protect_failed += 1
            return None

    def protect_rtcp(self, data: bytes) -> bytes | None:
        if not self._admit(data[4:8]):
            return None
        try:
            return self._tx.protect_rtcp(data)
        except (Error, ValueError, TypeError):
            self.protect_failed += 1
            return None

    def _admit(self, ssrc: bytes) -> bool:
        sent = self._sent_ssrcs
        if ssrc in sent:
            return True
        if len(sent) >= MAX_SENT_SSRCS or len(ssrc) != 4:
            self.ssrcs_refused += 1
            return False
        sent.add(ssrc)
        return True
