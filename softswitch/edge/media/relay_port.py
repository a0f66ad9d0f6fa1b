"""One bound socket of one leg's stream of the RTP relay, and the in-process end of a
call whose callee side is local (agent calls).

The hot path (`RelayPort.datagramReceived`) builds no object per packet: one
`struct.unpack_from` of the fixed header, one tuple comparison against the latched peer,
a counter update in `ReceiverStats`, one `sendto` on the partner's socket (or one call
of the local receiver). Only a packet from an address other than the latched peer goes
through the `Latch` state machine. Anything that is not RTP/RTCP (too short, wrong
version) is dropped and counted; streams that are not RTP (T.38 over UDPTL) are
forwarded from the latched peer unread.
"""

from twisted.internet.protocol import DatagramProtocol

from ...media.latch import Latch, LatchPolicy
from ...media.rtcp import ReceiverReport, SenderReport, parse_rtcp
from ...media.rtp import RTP_HEADER
from ...media.stats import ReceiverStats
from ..twisted_internals import port_socket
from .srtp_path import srtp_received

_unpack_header = RTP_HEADER.unpack_from


class RelayPort(DatagramProtocol):
    """One bound socket of one leg's stream. The RTP port (`rtcp` False) checks and
    counts RTP; the RTCP port (`rtcp` True) checks RTCP and reads its reports."""

    noisy = False
    # Slots keep the state a packet touches compact: after each system call the caches
    # are cold, and every extra object read per packet showed in the relay's CPU time.
    __slots__ = ("call", "rtcp", "_rtp_mode", "rtp_fast", "read_rtcp", "clock", "policy",
                 "latch", "peer", "dest", "partner", "sibling", "own_stats", "far_stats",
                 "sendto", "local", "listening", "number", "forwarded", "rtcp_packets", "held",
                 "rtcp_unreadable", "malformed", "unrouted", "send_errors", "dropped_closed",
                 "dropped_stranger", "srtp", "crypto",
                 "tap")

    def __init__(self, call, rtcp: bool, stats: ReceiverStats, clock, policy: LatchPolicy):
        self.call = call
        self.rtcp = rtcp
        self.srtp = None  # media.srtp.SrtpStream of this leg's stream, when it is SRTP
        self.crypto = False  # SRTP on this leg or the partner's: edge.media.srtp_path
        self.rtp_mode = True  # False for a stream that is not RTP (udptl): forward as is
        self.read_rtcp = True  # False for SRTCP, whose reports are encrypted
        self.clock = clock
        self.policy = policy
        self.latch: Latch | None = None  # None until this leg's SDP is known
        self.peer = None  # the latched address (mirrors latch.peer)
        self.dest = None  # where to send to this leg (mirrors latch.destination)
        # This leg's SDP does not receive on this stream (sendonly or inactive: a
        # hold): nothing is sent to it (dest stays None) until it receives again.
        self.held = False
        self.partner: "RelayPort | None" = None  # the other leg's port of this stream
        self.sibling: "RelayPort | None" = None  # RTCP port: the RTP port of the same leg
        self.own_stats = stats  # RTP statistics of what this leg's phone sends
        self.far_stats: ReceiverStats | None = None  # ...and of what it receives
        self.sendto = None
        self.local = None  # a receiver in this process instead of the network (agent calls)
        self.listening = None
        self.number = 0  # the bound port
        self.forwarded = 0
        self.rtcp_packets = 0
        self.rtcp_unreadable = 0
        self.malformed = 0
        self.unrouted = 0
        self.send_errors = 0
        self.dropped_closed = 0  # arrived before this leg had an SDP
        self.dropped_stranger = 0  # RTCP from a host other than the latched RTP peer's
        # A recorded call: tap(data, first, second, timestamp, ssrc, now) per RTP packet
        # admitted (edge.media.recording_source); it only copies.
        self.tap = None

    def startProtocol(self):
        sock = port_socket(self.transport)
        # The socket's own sendto skips Port.write's per-call address validation; the
        # destinations come from the latch and are always IP literals.
        self.sendto = sock.sendto if sock is not None else self.transport.write

    def datagramReceived(self, data, addr):
        # The hot path: an RTP packet on an RTP port of an RTP stream.
        if self.rtp_fast and len(data) >= 12:
            first, second, seq, timestamp, ssrc = _unpack_header(data)
            if first & 0xC0 == 0x80 and not 192 <= second <= 223:
                now = self.clock()
                if addr != self.peer and not self._admit(addr, now):
                    return
                self.own_stats.update(seq, timestamp, ssrc, second & 0x7F, now, len(data))
                if self.tap is not None:
                    self.tap(data, first, second, timestamp, ssrc, now)
                partner = self.partner  # _forward, inlined
                local = partner.local
                if local is not None:
                    self.forwarded += 1
                    local(data, first, second, seq, timestamp, now)
                    return
                dest = partner.dest
                if dest is None:
                    self.unrouted += 1
                    return
                try:
                    partner.sendto(data, dest)
                except OSError:
                    self.send_errors += 1
                    return
                self.forwarded += 1
                return
        self._other_received(data, addr)

    def _other_received(self, data, addr) -> None:
        """RTCP (on its port or multiplexed), a stream that is not RTP, or garbage."""
        if self.crypto:
            srtp_received(self, data, addr)
            return
        rtcp_like = len(data) >= 8 and data[0] & 0xC0 == 0x80 and 192 <= data[1] <= 223
        if self.rtp_mode or self.rtcp:
            if not rtcp_like:
                self.malformed += 1
                return
            if addr != self.peer and not self._admit(addr, self.clock()):
                return
            self._read_rtcp(data)
        else:
            now = self.clock()
            if addr != self.peer and not self._admit(addr, now):
                return
            stats = self.own_stats
            stats.packets += 1
            stats.bytes += len(data)
            stats.last_arrival = now
        self._forward(data)

    def _forward(self, data) -> None:
        partner = self.partner
        dest = partner.dest
        if dest is None:
            self.unrouted += 1
            return
        try:
            partner.sendto(data, dest)
        except OSError:
            self.send_errors += 1
            return
        self.forwarded += 1

    @property
    def rtp_mode(self) -> bool:
        return self._rtp_mode

    @rtp_mode.setter
    def rtp_mode(self, value: bool) -> None:
        self._rtp_mode = value
        self.rtp_fast = value and not self.rtcp and not self.crypto

    def set_crypto(self, secured: bool) -> None:
        """SRTP is in force on this stream (either leg): leave the plain fast path."""
        self.crypto = secured
        self.rtp_fast = self._rtp_mode and not self.rtcp and not secured

    def _admit(self, addr, now) -> bool:
        """The slow path: a packet from someone other than the latched peer."""
        latch = self.latch
        if latch is None:
            self.dropped_closed += 1
            return False
        if self.rtcp and self.sibling.peer is not None:
            # RTCP comes from the host whose RTP is latched, and that host's first
            # RTCP packet latches at once.
            if addr[0] != self.sibling.peer[0]:
                self.dropped_stranger += 1
                return False
            if latch.peer is None:
                latch.confirm(addr)
        accepted = latch.accept(addr, now)
        if latch.peer != self.peer:
            self.peer = latch.peer
            self.dest = None if self.held else latch.destination
        return accepted

    def _read_rtcp(self, data) -> None:
        self.rtcp_packets += 1
        if not self.read_rtcp:
            return
        try:
            packets = parse_rtcp(data)
        except ValueError:
            self.rtcp_unreadable += 1
            return
        own, far = self.own_stats, self.far_stats
        for packet in packets:
            if isinstance(packet, SenderReport) and packet.ssrc == own.ssrc:
                own.record_sender_counts(packet.packet_count, packet.octet_count)
            if isinstance(packet, (SenderReport, ReceiverReport)) and far is not None:
                for block in packet.reports:
                    if block.ssrc == far.ssrc:
                        far.record_report(block.fraction_lost, block.cumulative_lost,
                                          block.jitter)

    # The SRTP path (srtp_path) shares the latch and the RTCP reading.
    admit = _admit
    read_rtcp_reports = _read_rtcp

    def set_advertised(self, address, new_party: bool) -> None:
        if self.latch is None:
            self.latch = Latch(address, self.policy)
        else:
            self.latch.reopen(address, keep_previous=not new_party)
        self.peer = self.latch.peer
        self.dest = None if self.held else self.latch.destination


def ignore_rtp(data, first, second, seq, timestamp, now) -> None:
    pass


class LocalLeg:
    """The in-process end of a call's callee side (`RtpRelay.attach_local`): receives
    the caller's RTP and sends to the caller."""

    __slots__ = ("_port", "_local_port")

    def __init__(self, port: "RelayPort", local_port: "RelayPort"):
        self._port = port
        self._local_port = local_port

    def receive_with(self, receiver) -> None:
        """receiver(datagram, first, second, seq, timestamp, now) per RTP packet from
        the caller: the datagram with its header's first two bytes, sequence number
        and timestamp as the relay read them, and the arrival time."""
        self._local_port.local = receiver if receiver is not None else ignore_rtp

    def send_packets(self, packets) -> None:
        """Send each packet's `bytes()` to the caller (the hot path of agent calls)."""
        port = self._port
        dest, sendto = port.dest, port.sendto
        if dest is None or sendto is None:
            return
        srtp = port.srtp
        for packet in packets:
            data = bytes(packet)
            if srtp is not None:
                data = srtp.protect(data)
                if data is None:
                    continue
            try:
                sendto(data, dest)
            except OSError:
                port.send_errors += 1
