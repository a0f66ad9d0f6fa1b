"""The relay's packet path for a stream with SRTP on either leg (RFC 3711, keys by
SDES): kept out of `relay_port.RelayPort`'s plain fast path, which a port leaves only
while SRTP is in force on its stream (`RelayPort.crypto`).

A packet from a leg whose stream is SRTP is unprotected with that leg's keys before
anything else: a packet that does not authenticate (or is replayed) is dropped before
it can latch or count. What goes to a leg whose stream is SRTP is protected with the
switch's key for that leg. SRTCP likewise, on the RTCP port or multiplexed.
"""

from ...media.relay_crypto import CallCrypto, StreamKeys
from ...media.rtp import RTP_HEADER
from ...media.srtp import SrtpStream

_unpack_header = RTP_HEADER.unpack_from


def srtp_received(port, data: bytes, addr) -> None:
    if len(data) < 8 or data[0] & 0xC0 != 0x80:
        port.malformed += 1
        return
    is_rtcp = port.rtcp or 192 <= data[1] <= 223
    if not is_rtcp and len(data) < 12:
        port.malformed += 1
        return
    srtp = port.srtp
    if srtp is not None:
        data = srtp.unprotect_rtcp(data) if is_rtcp else srtp.unprotect(data)
        if data is None:
            return
    now = port.clock()
    if addr != port.peer and not port.admit(addr, now):
        return
    partner = port.partner
    if is_rtcp:
        port.read_rtcp_reports(data)
    else:
        first, second, seq, timestamp, ssrc = _unpack_header(data)
        port.own_stats.update(seq, timestamp, ssrc, second & 0x7F, now, len(data))
        local = partner.local
        if local is not None:
            port.forwarded += 1
            local(data, first, second, seq, timestamp, now)
            return
    dest = partner.dest
    if dest is None:
        port.unrouted += 1
        return
    out = partner.srtp
    if out is not None:
        data = out.protect_rtcp(data) if is_rtcp else out.protect(data)
        if data is None:
            return
    try:
        partner.sendto(data, dest)
    except OSError:
        port.send_errors += 1
        return
    port.forwarded += 1


def install_keys(crypto: CallCrypto, legs) -> None:
    """Give each stream's ports of `legs` (the relay's two legs) the SRTP contexts
    now in force; a context whose keys did not change is kept (its replay window and
    rollover counters go on)."""
    for leg in legs:
        state = crypto.leg(leg)
        for index, stream in enumerate(leg.streams):
            keys = state.key_at(index)
            current = stream.rtp.srtp
            if keys is None:
                srtp = None
            elif current is not None and _same(current, keys):
                srtp = current
            else:
                srtp = SrtpStream(keys.suite, keys.their_key, keys.our_key)
            stream.rtp.srtp = stream.rtcp.srtp = srtp
    for leg in legs:
        for stream in leg.streams:
            for port in (stream.rtp, stream.rtcp):
                secured = port.srtp is not None or port.partner.srtp is not None
                port.set_crypto(secured)
                if secured:
                    port.read_rtcp = True  # what arrives is read after unprotect


def _same(srtp: SrtpStream, keys: StreamKeys) -> bool:
    return (srtp.suite == keys.suite and srtp.their_key == keys.their_key
            and srtp.our_key == keys.our_key)


def srtp_counters(port) -> tuple[str | None, int]:
    """The suite of a port's SRTP and the packets it dropped (not authentic,
    replayed, unprotectable, or from an SSRC beyond the cap)."""
    srtp = port.srtp
    if srtp is None:
        return None, 0
    return srtp.suite, srtp.unprotect_failed + srtp.protect_failed + srtp.ssrcs_refused
