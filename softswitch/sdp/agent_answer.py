"""The switch's own SDP answer when it terminates a call's audio (agent calls): the
first audio stream gets G.711 (PCMU preferred, else PCMA) and telephone-event if the
caller offered it; every other stream is refused with port 0 (RFC 3264 §6)."""

from dataclasses import dataclass

from .errors import SdpError
from .model import SessionDescription

G711 = ("PCMU", "PCMA")


@dataclass(frozen=True, slots=True)
class AudioChoice:
    index: int  # which m= line carries the audio
    codec: str  # "PCMU" or "PCMA"
    payload_type: int
    event_payload_type: int | None


def choose_audio(offer: SessionDescription) -> AudioChoice:
    for index, media in enumerate(offer.media):
        if media.media != "audio" or not media.is_rtp or media.port == 0:
            continue
        codecs, event = {}, None
        for fmt in media.formats:
            if not fmt.isdigit():
                continue
            rtpmap = media.codec(int(fmt))
            if rtpmap is None or rtpmap.clock_rate != 8000:
                continue
            encoding = rtpmap.encoding.upper()
            if encoding in G711:
                codecs.setdefault(encoding, int(fmt))
            elif encoding == "TELEPHONE-EVENT" and event is None:
                event = int(fmt)
        for codec in G711:
            if codec in codecs:
                return AudioChoice(index, codec, codecs[codec], event)
    raise SdpError("no audio stream offering PCMU or PCMA")


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
        lines.append(f"a=rtpmap:{choice.payload_type} {choice.codec}/8000")
        if choice.event_payload_type is not None:
            lines += [f"a=rtpmap:{choice.event_payload_type} telephone-event/8000",
                      f"a=fmtp:{choice.event_payload_type} 0-16"]
        lines += ["a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()
