"""A relayed call as a services.recordings.RecordingSource, and the media control that
announces relayed calls to the recorder.

`RelaySource`: the call's media clock starts when it is answered (slot k is due 20 ms * k
later); a recording taps the relay's two RTP ports of the call's first stream (the
caller side: channel 0; the callee side: channel 1) through a `media.recording.RtpTap`.

`RecordingMediaControl` wraps the relay the proxy uses (services.media_control): every
call whose answer the relay takes is announced to the recorder (recorded at once when
its number says `record`: `call_planned`, called by the proxy with the call's DID),
and its end (`delete`) stops what is recording. Calls the proxy never planned (agent
calls, transfers) use the relay directly and are not seen here.
"""

from collections import OrderedDict

from ...media.recording import FRAME_MS, RtpTap
from ...media.rtp import payload_of

MAX_PLANNED = 10_000  # recorded numbers' calls not answered yet (oldest forgotten)


class RelaySource:
    law = "PCMU"  # (A-law is stored as µ-law: media.recording.RtpTap)

    def __init__(self, ports, answered_at: float):
        self._ports = ports  # (caller-side RTP port, callee-side RTP port)
        self._origin = answered_at

    def next_slot(self, now: float) -> int:
        return int((now - self._origin) * 1000 // FRAME_MS)

    def attach(self, recorder) -> None:
        caller, callee = self._ports
        if recorder is None:
            caller.tap = callee.tap = None
            return
        tap = RtpTap(recorder, self._origin)
        caller.tap = _channel(tap, 0)
        callee.tap = _channel(tap, 1)


def _channel(tap: RtpTap, channel: int):
    packet = tap.packet

    def receive(data, first, second, timestamp, ssrc, now) -> None:
        payload = payload_of(data, first)
        if payload is not None:
            packet(channel, second & 0x7F, timestamp, ssrc, payload, now)
    return receive


class RecordingMediaControl:
    """services.media_control over `relay`, telling `recordings` about answered calls.
    `record_number(did) -> bool`: the number's `record`."""

    def __init__(self, relay, recordings, record_number, clock):
        self._relay = relay
        self._recordings = recordings
        self._record_number = record_number
        self._clock = clock
        self._planned: OrderedDict[str, bool] = OrderedDict()
        self._announced: set[str] = set()

    def __getattr__(self, name):  # everything else is the relay's
        return getattr(self._relay, name)

    def call_planned(self, call_id: str, did: str | None) -> None:
        if did and self._record_number(did):
            self._planned[call_id] = True
            while len(self._planned) > MAX_PLANNED:
                self._planned.popitem(last=False)

    def offer(self, call_id: str, from_tag: str, sdp: bytes, region: str | None = None,
              **options):
        return self._relay.offer(call_id, from_tag, sdp, region, **options)  # (SRTP's too)

    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: bytes):
        d = self._relay.answer(call_id, from_tag, to_tag, sdp)

        def answered(rewritten):
            if call_id not in self._announced:
                ports = self._relay.rtp_ports(call_id)
                if ports is not None:
                    self._announced.add(call_id)
                    self._recordings.call_began(
                        call_id, RelaySource(ports, self._clock.seconds()),
                        record=self._planned.pop(call_id, False))
            return rewritten
        return d.addCallback(answered)

    def query(self, call_id: str):
        return self._relay.query(call_id)

    def delete(self, call_id: str, from_tag: str | None = None, to_tag: str | None = None):
        d = self._relay.delete(call_id, from_tag, to_tag)
        if call_id in self._announced and self._relay.rtp_ports(call_id) is None:
            self._announced.discard(call_id)
            self._recordings.call_ended(call_id)
        elif call_id not in self._announced:
            self._planned.pop(call_id, None)
        return d
