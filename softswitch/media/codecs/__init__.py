"""Wideband codecs for SIP legs, each a thin stateful wrapper over a well-kept library:
G.722 (`g722.py`, the `G722` package's C implementation) and Opus (`opus.py`, libopus
through `opuslib`). Both take and give int16 numpy samples at the codec's own audio
rate; `WIDEBAND` names them with their SDP facts (RFC 3551 §4.5.2 for G.722's 8000 Hz
RTP clock, RFC 7587 for Opus's 48000/2)."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CodecInfo:
    name: str  # SDP encoding name, as we write it
    clock_rate: int  # RTP clock (a=rtpmap), which is not always the audio rate
    sample_rate: int  # the audio rate the library encodes and decodes
    static_pt: int | None  # RFC 3551 static payload type, None for a dynamic one
    channels: int | None = None  # the rtpmap's channel count when it must be written
    fmtp: str | None = None  # what we ask of the peer's encoder

    def rtpmap(self) -> str:
        suffix = f"/{self.channels}" if self.channels else ""
        return f"{self.name}/{self.clock_rate}{suffix}"

    def timestamp_step(self, frame_ms: int) -> int:
        return self.clock_rate * frame_ms // 1000


G722 = CodecInfo("G722", 8000, 16000, 9)
OPUS = CodecInfo("opus", 48000, 48000, None, 2,
                 "minptime=20;useinbandfec=1;stereo=0;sprop-stereo=0")
OPUS_DEFAULT_PT = 111  # the dynamic payload type offered when we make the offer
WIDEBAND = {"G722": G722, "OPUS": OPUS}
