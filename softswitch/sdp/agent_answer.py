"""The switch's own SDP answer when it terminates a call's audio (agent calls): the
first audio stream gets the first codec of the preference order the caller offered
(G.722, then PCMU, then PCMA by default) and telephone-event at that codec's RTP clock
if the caller offered it (RFC 4733 §2.1: events use the audio's clock, which is 8000
for G.722 though its audio is 16 kHz, RFC 3551 §4.5.2); every other stream is refused
with port 0 (RFC 3264 §6)."""

from dataclasses import dataclass

from .errors import SdpError
from .model import SessionDescription

G711 = ("PCMU", "PCMA")
CLOCK_RATES = {"G722": 8000, "PCMU": 8000, "PCMA": 8000}  # codecs an agent call takes
DEFAULT_PREFERENCE = ("G722", "PCMU", "PCMA")


@dataclass(frozen=True, slots=True)
class AudioChoice:
    index: int  # which m= line carries the audio
    codec: str  # "G722", "PCMU" or "PCMA"
    payload_type: int
    event_payload_type: int | None

    @property
    def clock_rate(self) -> int:
        return CLOCK_RATES[self.codec]


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
        lines.append(f"a=rtpmap:{choice.payload_type} {choice.codec}/{choice.clock_rate}")
        if choice.event_payload_type is not None:
            lines += [f"a=rtpmap:{choice.event_payload_type} "
                      f"telephone-event/{choice.clock_rate}",
                      f"a=fmtp:{choice.event_payload_type} 0-16"]
        lines += ["a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()
