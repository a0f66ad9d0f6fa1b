"""The switch's own SDP answer when it terminates a call's audio (agent calls): the
first audio stream gets the first codec of the preference order the caller offered
(G.722, Opus, PCMU, PCMA by default: G.722 is as wideband for a 16 kHz agent at a
tenth of Opus's CPU) and telephone-event at that codec's RTP clock if the caller
offered it (RFC 4733 §2.1: events use the audio's clock, which is 8000 for G.722 though
its audio is 16 kHz, RFC 3551 §4.5.2, and 48000 for Opus); every other stream is
refused with port 0 (RFC 3264 §6)."""

from dataclasses import dataclass

from .errors import SdpError
from .model import SessionDescription

G711 = ("PCMU", "PCMA")
# codecs an agent call takes, by their RTP clock (Opus: always 48000/2, RFC 7587 §7)
CLOCK_RATES = {"OPUS": 48000, "G722": 8000, "PCMU": 8000, "PCMA": 8000}
DEFAULT_PREFERENCE = ("G722", "OPUS", "PCMU", "PCMA")
# What we ask of the caller's Opus encoder (RFC 7587 §6.1): mono, 20 ms, in-band FEC.
OPUS_FMTP = "minptime=20;useinbandfec=1;stereo=0;sprop-stereo=0"


@dataclass(frozen=True, slots=True)
class AudioChoice:
    index: int  # which m= line carries the audio
    codec: str  # "G722", "PCMU" or "PCMA"
    payload_type: int
    event_payload_type: int | None

    @property
    def clock_rate(self) -> int:
        return CLOCK_RATES[self.codec]

    @property
    def rtpmap(self) -> str:
        if self.codec == "OPUS":
            return "opus/48000/2"
        return f"{self.codec}/{self.clock_rate}"


def check_preference(preference) -> tuple[str, ...]:
    """A configured preference order, upper-cased; `ValueError` for an unknown codec."""
    names = tuple(str(name).upper() for name in preference)
    unknown = [name for name in names if name not in CLOCK_RATES]
    if unknown or not names:
        raise ValueError(f"codecs must be some of {', '.join(CLOCK_RATES)}, "
                         f"not {', '.join(unknown) or 'none'}")
    return names


def choose_audio(offer: SessionDescription,
                 preference: tuple[str, ...] = DEFAULT_PREFERENCE) -> AudioChoice:
    for index, media in enumerate(offer.media):
        if media.media != "audio" or not media.is_rtp or media.port == 0:
            continue
        codecs, events = {}, {}
        for fmt in media.formats:
            if not fmt.isdigit():
                continue
            rtpmap = media.codec(int(fmt))
            if rtpmap is None:
                continue
            encoding = rtpmap.encoding.upper()
            if encoding == "OPUS" and rtpmap.parameters != "2":
                continue  # RFC 7587 §7: opus/48000/2 or nothing
            if CLOCK_RATES.get(encoding) == rtpmap.clock_rate:
                codecs.setdefault(encoding, int(fmt))
            elif encoding == "TELEPHONE-EVENT":
                events.setdefault(rtpmap.clock_rate, int(fmt))
        for codec in preference:
            if codec in codecs:
                event = events.get(CLOCK_RATES[codec])
                return AudioChoice(index, codec, codecs[codec], event)
    raise SdpError(f"no audio stream offering {', '.join(preference)}")


def build_answer(offer: SessionDescription, choice: AudioChoice, address: str, port: int,
                 session_id: int = 1) -> bytes:
    family = "IP6" if ":" in address else "IP4"
    lines = ["v=0", f"o=softswitch {session_id} 1 IN {family} {address}", "s=softswitch",
             f"c=IN {family} {address}", "t=0 0"]
    for index, media in enumerate(offer.media):
        if index != choice.index:
            formats = " ".join(media.formats[:1]) or "0"
            lines.append(f"m={media.media} 0 {media.proto} {formats}")
            continue
        formats = [str(choice.payload_type)]
        if choice.event_payload_type is not None:
            formats.append(str(choice.event_payload_type))
        lines.append(f"m=audio {port} {media.proto} {' '.join(formats)}")
        lines.append(f"a=rtpmap:{choice.payload_type} {choice.rtpmap}")
        if choice.codec == "OPUS":
            lines.append(f"a=fmtp:{choice.payload_type} {OPUS_FMTP}")
        if choice.event_payload_type is not None:
            lines += [f"a=rtpmap:{choice.event_payload_type} "
                      f"telephone-event/{choice.clock_rate}",
                      f"a=fmtp:{choice.event_payload_type} 0-16"]
        lines += ["a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()
