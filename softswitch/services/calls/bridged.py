"""A transferred call's media once its customer talks to the human: the relay
bridges the two (`BridgedSession`, in the place of the agent's session), and the
offer the human is sent (`restrict_offer`)."""

from twisted.internet.defer import Deferred, maybeDeferred, succeed

from ...sdp import Line, SdpError, parse_sdp
from ...sdp.agent_answer import DEFAULT_PREFERENCE, choose_audio

CALLER_TAG = "caller"  # the customer's side of an agent call's relay call (edge.agent.media)


class BridgedSession:
    """The session of a call once its customer talks to the human: nothing to do but
    end the relay call."""

    def __init__(self, media, media_id: str, answer_sdp: bytes, agent_stats: Deferred):
        self._media = media
        self.media_id = media_id
        self.answer_sdp = answer_sdp
        self._agent_stats = agent_stats

    def begin(self, on_end, on_transfer) -> None:
        pass

    def dtmf(self, digit: str) -> None:
        pass  # (RFC 4733 digits go through the relay; INFO digits are not passed on)

    def hold(self, held: bool) -> None:
        pass  # (the relay sees the hold in the re-offer)

    def reoffer(self, sdp: bytes):
        """The customer's new SDP (hold, resume): the relay's customer side follows it."""
        return maybeDeferred(self._media.offer, self.media_id, CALLER_TAG, sdp)

    def end_agent(self, reason: str) -> None:
        pass

    def release_media(self) -> None:
        pass

    def ring_caller(self) -> None:
        pass

    def early_media(self):
        return succeed(None)

    def transfer_failed(self, target: str, code: int, outcome: str) -> None:
        pass

    def stop(self, reason: str):
        d = self._agent_stats
        d.addErrback(lambda f: {})

        def delete(agent_stats):
            agent_stats = dict(agent_stats or {})
            deleted = maybeDeferred(self._media.delete, self.media_id)
            deleted.addCallbacks(lambda stats: {**agent_stats, "media": stats.to_dict()},
                                 lambda f: agent_stats)
            return deleted

        return d.addCallback(delete)


def restrict_offer(sdp: bytes, customer_sdp: bytes,
                   codecs: tuple[str, ...] = DEFAULT_PREFERENCE) -> bytes:
    """The relay's offer for the human with, on the customer's audio stream, only the
    codec the customer uses with the switch and telephone-event (the relay does not
    transcode: a G.722 or Opus customer reaches only a human offering that codec); the
    other streams are declined (port 0). Unchanged when the customer's SDP names no
    codec an agent call takes."""
    try:
        choice = choose_audio(parse_sdp(customer_sdp), codecs)
        offer = parse_sdp(sdp)
    except SdpError:
        return sdp
    keep = {str(choice.payload_type)}
    if choice.event_payload_type is not None:
        keep.add(str(choice.event_payload_type))
    for index, media in enumerate(offer.media):
        if index != choice.index:
            media.port = 0
            continue
        fields = media.lines[0].value.split()
        media.lines[0] = Line("m", " ".join(fields[:3] + [f for f in fields[3:] if f in keep]),
                              media.lines[0].eol)
        media.lines[:] = [line for line in media.lines
                          if not _names_another_format(line, keep)]
    return bytes(offer)


def _names_another_format(line: Line, keep: set[str]) -> bool:
    if line.kind != "a":
        return False
    name, colon, rest = line.value.partition(":")
    if not colon or name.strip() not in ("rtpmap", "fmtp", "rtcp-fb"):
        return False
    fmt = rest.strip().split(" ", 1)[0]
    return fmt != "*" and fmt not in keep
