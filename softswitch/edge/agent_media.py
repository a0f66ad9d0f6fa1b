"""The caller's audio of an agent call, terminated in this process: the relay (in the
agent's region) gets the caller's offer and our G.711 answer, then its callee side is
attached to a receiver here. The caller's SDP answer points at the relay's
caller-facing port, so a later transfer can re-point the relay without a re-INVITE."""

from twisted.internet import defer

from ..media.rtp import RTP_HEADER
from ..sdp import SdpError, parse_sdp
from ..sdp.agent_answer import build_answer, choose_audio
from ..services.media_control import MediaRejected, UnknownRegion

_LOCAL_TAG = "local"
_PLACEHOLDER = ("127.0.0.1", 9)  # our side in the relay's eyes; never sent to


class LocalMediaLeg:
    def __init__(self, relay, relay_call_id: str, answer_sdp: bytes, choice):
        self._relay = relay
        self.relay_call_id = relay_call_id
        self.answer_sdp = answer_sdp
        self.codec = choice.codec
        self.payload_type = choice.payload_type
        self.event_pt = choice.event_payload_type
        self._receiver = None
        self._leg = None

    def attach(self, stream_index: int) -> None:
        self._leg = self._relay.attach_local(self.relay_call_id, stream_index, self._datagram)

    def set_receiver(self, receiver) -> None:
        """receiver(payload_type, seq, timestamp, marker, payload) per RTP packet."""
        self._receiver = receiver

    def _datagram(self, data: bytes) -> None:
        receiver = self._receiver
        if receiver is None or len(data) < 12:
            return
        first, second, seq, timestamp, _ssrc = RTP_HEADER.unpack_from(data)
        offset = 12 + 4 * (first & 0x0F)
        if first & 0x10:  # header extension
            if len(data) < offset + 4:
                return
            offset += 4 + 4 * int.from_bytes(data[offset + 2:offset + 4], "big")
        end = len(data) - (data[-1] if first & 0x20 and data else 0)
        if offset > end:
            return
        receiver(second & 0x7F, seq, timestamp, bool(second & 0x80), data[offset:end])

    def send(self, datagram: bytes) -> None:
        if self._leg is not None:
            self._leg.send(datagram)

    def close(self):
        return self._relay.delete(self.relay_call_id)


class AgentMedia:
    def __init__(self, relay):
        self._relay = relay

    @defer.inlineCallbacks
    def open_local(self, call_id: str, offer_sdp: bytes, region: str | None):
        try:
            offer = parse_sdp(offer_sdp)
            choice = choose_audio(offer)
        except SdpError as exc:
            raise MediaRejected(str(exc)) from None
        relay_call_id = f"{call_id};agent"
        try:
            yield self._relay.offer(relay_call_id, "caller", offer_sdp, region)
        except UnknownRegion:
            yield self._relay.offer(relay_call_id, "caller", offer_sdp, None)
        ours = build_answer(offer, choice, *_PLACEHOLDER)
        try:
            answer = yield self._relay.answer(relay_call_id, "caller", _LOCAL_TAG, ours)
            leg = LocalMediaLeg(self._relay, relay_call_id, answer, choice)
            leg.attach(choice.index)
        except Exception:
            self._relay.delete(relay_call_id).addErrback(lambda f: None)
            raise
        return leg
