"""Audio conversion between a call's G.711 codec and an agent profile's audio format.

Two one-way converters, chosen once per call from (call codec, agent format):

- `CallerToAgent.convert(frame)`: one 20 ms G.711 frame of the call (160 bytes) to
  exactly one 20 ms frame in the agent's format, every time. µ-law 8 kHz agents get the
  frame as it is (PCMU call) or transcoded through a 256-byte table (PCMA call). L16
  agents get the samples decoded with the G.711 tables and, at 16 or 24 kHz, resampled
  (soxr, `Resampler` "steady" engine). The resampler holds back 30 ms, so its first
  frames come out short; the shortfall is made up with leading silence, once, at the
  start of the stream, so the agent's stream is one whole frame per slot from the first
  slot and runs a constant 30 ms behind the caller's (the hold-back, no more).
- `AgentToCaller.convert(audio)`: agent audio of any length to the call's codec, in
  whatever length is ready (a resampler holds some back). `flush()` returns what is held
  (the end of what the agent sent: before a mark, or when playout runs dry); `reset()`
  drops it (barge-in). µ-law agents pass through or are transcoded, byte for byte.

`CODECS` names the call codecs the bridge speaks: static payload type, silence frame,
decode/encode at the codec's audio rate, and the concealment for the jitter buffer.
G.722 (wideband) has the same framing as G.711 on the wire (160 bytes and 160 RTP clock
ticks per 20 ms, RFC 3551 §4.5.2) but carries 16 kHz audio: it is decoded straight to
16 kHz and resampled only to the agent's own rate, so a 16 kHz agent hears what the
caller sent, nothing passed through 8 kHz. Its ADPCM state is per call: `call_codec`
makes a fresh encoder and decoder for each call.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from softswitch.agent.events import AudioFormat
from softswitch.media.g711 import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    SILENCE_ALAW,
    SILENCE_ULAW,
    alaw_attenuator,
    alaw_decode,
    alaw_encode,
    alaw_to_ulaw,
    ulaw_attenuator,
    ulaw_decode,
    ulaw_encode,
    ulaw_to_alaw,
)
from softswitch.media.codecs import OPUS_DEFAULT_PT
from softswitch.media.codecs import g722 as _g722
from softswitch.media.codecs import opus as _opus
from softswitch.media.resample import Resampler

CONCEAL_GAIN_DB = -6.0  # each repeat of a lost caller frame fades by this much


@dataclass(frozen=True, slots=True)
class CallCodec:
    name: str  # the SDP encoding name
    payload_type: int  # static RTP payload type (RFC 3551)
    silence: bytes  # one 20 ms frame of silence
    decode: Callable[[bytes], np.ndarray]  # to int16 at sample_rate
    encode: Callable[[np.ndarray], bytes]  # from int16 at sample_rate
    to_ulaw: Callable[[bytes], bytes] | None  # None: the codec is µ-law (or not G.711)
    from_ulaw: Callable[[bytes], bytes] | None
    conceal: Callable[[bytes], bytes]  # fades a repeated frame (jitter buffer concealment)
    sample_rate: int = SAMPLE_RATE  # the audio rate inside the codec
    clock_rate: int = SAMPLE_RATE  # the RTP clock
    wire_frame_bytes: int | None = FRAME_SAMPLES  # a 20 ms payload's size; None: any
    # Agent -> caller audio waits in the playout queue as `encode` made it: the codec's
    # own bytes (G.711, G.722), or L16 that `packetize` codes a frame at a time (Opus,
    # whose packets cannot be cut at arbitrary bytes).
    playout_silence: bytes | None = None  # None: `silence`
    packetize: Callable[[bytes], bytes] | None = None  # None: a playout frame is the payload

    @property
    def wideband(self) -> bool:
        return self.sample_rate > SAMPLE_RATE

    @property
    def playout_frame(self) -> bytes:
        """One 20 ms frame of silence as the playout queue holds it."""
        return self.silence if self.playout_silence is None else self.playout_silence

    @property
    def playout_bytes_per_ms(self) -> float:
        return len(self.playout_frame) / 20


G711Codec = CallCodec  # (its former name)


CODECS = {
    "PCMU": G711Codec("PCMU", 0, SILENCE_ULAW, ulaw_decode, ulaw_encode, None, None,
                      ulaw_attenuator(CONCEAL_GAIN_DB)),
    "PCMA": G711Codec("PCMA", 8, SILENCE_ALAW, alaw_decode, alaw_encode, alaw_to_ulaw,
                      ulaw_to_alaw, alaw_attenuator(CONCEAL_GAIN_DB)),
}


_G722_SILENCE = _g722.silence_frame()


def _g722_codec() -> CallCodec:
    encoder, decoder = _g722.G722Encoder(), _g722.G722Decoder()
    # A lost frame is filled with silence: faded ADPCM bytes mean nothing to a decoder.
    return CallCodec("G722", 9, _G722_SILENCE, decoder.decode, encoder.encode, None, None,
                     lambda _frame: _G722_SILENCE, _g722.SAMPLE_RATE)


_OPUS_SILENCE = _opus.OpusEncoder().encode(np.zeros(_opus.FRAME_SAMPLES_20MS, np.int16))
_OPUS_PLAYOUT_SILENCE = bytes(_opus.FRAME_SAMPLES_20MS * 2)


def _opus_codec(payload_type: int | None = None) -> CallCodec:
    encoder, decoder = _opus.OpusEncoder(), _opus.OpusDecoder()

    def decode(payload: bytes) -> np.ndarray:
        # One 20 ms slot takes one frame: the answer asks for 20 ms packets, and a longer
        # one's excess is dropped rather than piling up ahead of the agent.
        try:
            return decoder.decode(payload)[:_opus.FRAME_SAMPLES_20MS]
        except ValueError:  # a packet libopus refuses: the caller's slot is concealed
            return decoder.conceal()

    def packetize(frame: bytes) -> bytes:
        return encoder.encode(np.frombuffer(frame, "<i2"))

    return CallCodec("OPUS", OPUS_DEFAULT_PT if payload_type is None else payload_type,
                     _OPUS_SILENCE, decode, _to_l16, None, None,
                     lambda _frame: _OPUS_SILENCE, _opus.SAMPLE_RATE, _opus.SAMPLE_RATE,
                     None, _OPUS_PLAYOUT_SILENCE, packetize)


def _to_l16(pcm: np.ndarray) -> bytes:
    return pcm.astype("<i2", copy=False).tobytes()


# codecs with state: one instance per call (Opus: with its negotiated payload type)
_PER_CALL = {"G722": lambda payload_type=None: _g722_codec(), "OPUS": _opus_codec}
CALL_CODECS = (*CODECS, *_PER_CALL)


def is_wideband(name: str) -> bool:
    """Whether the call codec `name` carries more than 8 kHz audio."""
    return str(name).upper() in _PER_CALL


def call_codec(name: str, payload_type: int | None = None) -> CallCodec:
    """The codec `name` of a call; `payload_type` is the negotiated one of a codec
    without a static type (Opus)."""
    try:
        key = name.upper()
        if key in _PER_CALL:
            return _PER_CALL[key](payload_type)
        return CODECS[key]
    except (KeyError, AttributeError):
        raise ValueError(f"call codec {name!r} is not one of "
                         f"{', '.join(CALL_CODECS)}") from None


def _check_format(fmt: AudioFormat) -> None:
    if fmt.encoding == "mulaw" and fmt.sample_rate == SAMPLE_RATE:
        return
    if fmt.encoding == "pcm16" and fmt.sample_rate in (8000, 16000, 24000):
        return
    raise ValueError(f"agent audio format {fmt.encoding}/{fmt.sample_rate} is not supported")


class CallerToAgent:
    """20 ms frames of the call's codec to 20 ms frames of the agent's format."""

    __slots__ = ("codec", "format", "frame_bytes", "_mode", "_resampler", "_pending",
                 "padded_bytes", "_to_ulaw")

    def __init__(self, codec: CallCodec, fmt: AudioFormat):
        _check_format(fmt)
        self.codec = codec
        self.format = fmt
        self.frame_bytes = fmt.sample_rate // 50 * 2 if codec.wideband else fmt.bytes_per_20ms
        self._resampler = None
        self._pending = bytearray()
        self.padded_bytes = 0  # leading silence put in to make up the resampler's hold-back
        self._to_ulaw = fmt.encoding == "mulaw" and codec.wideband
        if fmt.encoding == "mulaw" and not codec.wideband:
            self._mode = "same" if codec.to_ulaw is None else "table"
        elif fmt.sample_rate == codec.sample_rate:
            self._mode = "decode"
        else:
            self._mode = "resample"
            self._resampler = Resampler(codec.sample_rate, fmt.sample_rate)

    def convert(self, frame: bytes) -> bytes:
        mode = self._mode
        if mode == "same":
            return frame
        if mode == "table":
            return self.codec.to_ulaw(frame)
        pcm = self.codec.decode(frame)
        if mode == "decode":
            return pcm.astype("<i2", copy=False).tobytes()
        pending = self._pending
        pending += self._resampler.process(pcm).astype("<i2", copy=False).tobytes()
        size = self.frame_bytes
        if len(pending) < size:  # the hold-back at the start: lead with silence
            short = size - len(pending)
            pending[0:0] = bytes(short)
            self.padded_bytes += short
        out = bytes(pending[:size])
        del pending[:size]
        if self._to_ulaw:  # a wideband call to a µ-law agent: 8 kHz L16 made µ-law
            return ulaw_encode(np.frombuffer(out, "<i2"))
        return out


class AgentToCaller:
    """Agent audio of any length to the call's codec (what is ready so far)."""

    __slots__ = ("codec", "format", "_mode", "_resampler", "_holding", "_from_ulaw")

    def __init__(self, fmt: AudioFormat, codec: CallCodec):
        _check_format(fmt)
        self.codec = codec
        self.format = fmt
        self._resampler = None
        self._holding = False
        self._from_ulaw = fmt.encoding == "mulaw" and codec.wideband
        if fmt.encoding == "mulaw" and not codec.wideband:
            self._mode = "same" if codec.from_ulaw is None else "table"
        elif fmt.sample_rate == codec.sample_rate:
            self._mode = "encode"
        else:
            self._mode = "resample"
            self._resampler = Resampler(fmt.sample_rate, codec.sample_rate)

    @property
    def holding(self) -> bool:
        """Whether the resampler holds agent audio not yet given out."""
        return self._holding

    def convert(self, audio: bytes) -> bytes:
        mode = self._mode
        if mode == "same":
            return audio
        if mode == "table":
            return self.codec.from_ulaw(audio)
        if self._from_ulaw:  # µ-law agent audio to a wideband call: 8 kHz samples first
            pcm = ulaw_decode(audio)
        else:
            pcm = np.frombuffer(audio, "<i2").astype(np.int16, copy=False)
        if mode == "encode":
            return self.codec.encode(pcm)
        if not len(pcm):
            return b""
        self._holding = True
        out = self._resampler.process(pcm)
        return self.codec.encode(out) if len(out) else b""

    def flush(self) -> bytes:
        if not self._holding:
            return b""
        self._holding = False
        out = self._resampler.flush()
        return self.codec.encode(out) if len(out) else b""

    def reset(self) -> None:
        if self._resampler is not None:
            self._resampler.reset()
        self._holding = False

