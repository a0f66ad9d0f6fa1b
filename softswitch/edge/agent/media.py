"""The caller's audio of an agent call, terminated in this process: the relay (in the
agent's region) gets the caller's offer and our G.711 answer, then its callee side is
attached to a receiver here. The caller's SDP answer points at the relay's
caller-facing port, so a later transfer can re-point the relay without a re-INVITE.

Outbound calls (`open_local_offer`) make the same relay call from our side: the far
end is the relay's caller side as for inbound calls (a placeholder offer stands for it,
unspecified address, until it answers), our G.711 offer (PCMU, PCMA, telephone-event)
is the relay's answer, rewritten to point at the caller-facing port: that is the SDP
of our INVITE. The far end's answer (`LocalMediaLeg.take_answer`) is then re-offered
for the caller side, which points its latch at the far end and picks the codec. A
transfer re-points either kind the same way: `detach()` gives the callee side back to
its socket, and the relay's answer from the human sends the caller's RTP there.
"""

from twisted.internet import defer

from ...media.srtp import new_key
from ...sdp import SdpError, parse_sdp
from ...sdp.agent_answer import DEFAULT_PREFERENCE, AudioChoice, build_answer, choose_audio
from ...sdp.crypto import CryptoAttribute, choose_crypto, set_crypto, set_profile
from ...services.media_control import MediaRejected, UnknownRegion

_LOCAL_TAG = "local"
_CALLER_TAG = "caller"
_PLACEHOLDER = ("127.0.0.1", 9)  # our side in the relay's eyes; never sent to
# The far end of an outbound call until it answers: no address (nothing is sent to
# it), the formats we offer.
_FAR_END_PLACEHOLDER = (b"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
                        b"t=0 0\r\nm=audio 9 RTP/AVP 0 8 101\r\n"
                        b"a=rtpmap:101 telephone-event/8000\r\n")
_OUTBOUND_EVENT_PT = 101
# The suite our outbound SRTP offer carries (the relay answers the placeholder's one
# line): the one every SDES endpoint has (RFC 4568 §6.2).
_OFFER_SUITE = "AES_CM_128_HMAC_SHA1_80"
_DEFAULT_CHOICE = AudioChoice(0, "PCMU", 0, _OUTBOUND_EVENT_PT)


def local_offer(address: str, port: int, session_id: int = 1) -> bytes:
    """Our SDP offer for an outbound agent call: PCMU, PCMA, telephone-event."""
    family = "IP6" if ":" in address else "IP4"
    lines = ["v=0", f"o=softswitch {session_id} 1 IN {family} {address}", "s=softswitch",
             f"c=IN {family} {address}", "t=0 0",
             f"m=audio {port} RTP/AVP 0 8 {_OUTBOUND_EVENT_PT}",
             "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
             f"a=rtpmap:{_OUTBOUND_EVENT_PT} telephone-event/8000",
             f"a=fmtp:{_OUTBOUND_EVENT_PT} 0-16", "a=ptime:20", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


def far_end_placeholder(encryption: str = "none") -> bytes:
    """The far end's stand-in offer; with keys when our offer is to carry SRTP
    ("sdes": RTP/SAVP, "optional": RTP/AVP with a=crypto). Its key is never used with
    the far end: its answer's key replaces it."""
    if encryption == "none":
        return _FAR_END_PLACEHOLDER
    sdp = parse_sdp(_FAR_END_PLACEHOLDER)
    media = sdp.media[0]
    set_profile(media, encryption == "sdes")
    set_crypto(media, [CryptoAttribute(1, _OFFER_SUITE, new_key(_OFFER_SUITE))])
    return bytes(sdp)


class LocalMediaLeg:
    """`answer_sdp` is our SDP for the phone: the answer to the caller's offer, or the
    offer of an outbound call's INVITE."""

    def __init__(self, relay, relay_call_id: str, answer_sdp: bytes, choice,
                 ours: bytes = b""):
        self._relay = relay
        self.relay_call_id = relay_call_id
        self.answer_sdp = answer_sdp
        self._set_choice(choice)
        self._ours = ours  # our SDP in the relay's eyes (its callee side's)
        self._leg = None
        self._stream_index = None
        self._receiver = None
        self.released = False  # detached: the relay call is no longer this leg's

    def _set_choice(self, choice) -> None:
        self.codec = choice.codec
        self.payload_type = choice.payload_type
        self.event_pt = choice.event_payload_type

    def attach(self, stream_index: int) -> None:
        self._leg = self._relay.attach_local(self.relay_call_id, stream_index)
        self._stream_index = stream_index

    def detach(self) -> None:
        """Give the relay call's callee side back to its socket (a transfer answered
        on it); nothing more is sent or received here."""
        if self.released:
            return
        self.released = True
        if self._leg is not None:
            self._leg.receive_with(None)
        self._leg = None
        if self._stream_index is not None:
            self._relay.detach_local(self.relay_call_id, self._stream_index)

    def far_packets(self) -> int:
        """RTP packets the relay took from the phone on its other side (a transfer's
        human sending early media); 0 once released."""
        if self.released or self._stream_index is None:
            return 0
        return self._relay.callee_packets(self.relay_call_id, self._stream_index)

    @defer.inlineCallbacks
    def offer_for(self, encryption: str, region: str | None = None):
        """Our offer for an outbound call's next attempt, remade for its trunk's SRTP
        (`encryption`, media_control.offer_encryption's): same ports, new keys or
        none. Fires with the offer (also `answer_sdp`)."""
        yield self._relay.offer(self.relay_call_id, _CALLER_TAG,
                                far_end_placeholder(encryption), region)
        self.answer_sdp = yield self._answer_again()
        return self.answer_sdp

    @defer.inlineCallbacks
    def take_answer(self, sdp: bytes, secure: bool | None = None,
                    require_srtp: bool = False, keyed: bool = False):
        """The far end of an outbound call answered our offer: point the relay's
        caller side at it and use the codec it chose. `keyed`: our offer carried SRTP
        keys, so the far end's key (or none) takes over from the stand-in's;
        `require_srtp`: an answer without a key is refused (MediaRejected);
        `secure`: the answer came over TLS (media_control's offer)."""
        try:
            choice = choose_audio(parse_sdp(sdp))
        except SdpError as exc:
            raise MediaRejected(str(exc)) from None
        yield self._relay.offer(self.relay_call_id, _CALLER_TAG, sdp, secure=secure,
                                require_srtp=require_srtp)
        if keyed:
            yield self._answer_again()
        self._set_choice(choice)

    def reoffer(self, sdp: bytes):
        """The phone sent a new SDP (hold, resume, a moved address): point the relay's
        caller side at it; a Deferred. The codec stays the one chosen. A new SRTP key
        under the tag and suite in force (RFC 4568 §7.1.4) is followed: the SDP
        answer the phone has keeps answering it, with our key unchanged."""
        if self.released:
            return defer.succeed(None)
        d = self._relay.offer(self.relay_call_id, _CALLER_TAG, sdp)
        if self._ours and _rekeys(self.answer_sdp, sdp):
            d.addCallback(lambda _: self._answer_again())
        return d

    def _answer_again(self):
        """Our SDP answers the caller side's last offer again, so that the keys in
        force follow it; the callee side stays terminated here."""
        d = self._relay.answer(self.relay_call_id, _CALLER_TAG, _LOCAL_TAG, self._ours)

        def reattach(answer):
            if self._stream_index is not None and not self.released:
                self.attach(self._stream_index)
                self.set_receiver(self._receiver)
            return answer
        return d.addCallback(reattach)

    def set_receiver(self, receiver) -> None:
        """receiver(datagram, first, second, seq, timestamp, now) per RTP packet from
        the caller (`edge.media.relay_port.LocalLeg.receive_with`; `media.rtp.payload_of(datagram,
        first)` is its payload)."""
        self._receiver = receiver
        if self._leg is not None:
            self._leg.receive_with(receiver)

    def send_packets(self, packets) -> None:
        """Send each packet's `bytes()` to the caller."""
        if self._leg is not None:
            self._leg.send_packets(packets)

    def close(self):
        """Delete the relay call (its stats), or None once it was handed over."""
        if self.released:
            return defer.succeed(None)
        return self._relay.delete(self.relay_call_id)


def _rekeys(answered: bytes, offer: bytes) -> bool:
    """Whether a re-offer keys its audio anew under the tag and suite our answer
    gave: each stream's first usable key answers the crypto of our answer's."""
    try:
        ours, theirs = parse_sdp(answered), parse_sdp(offer)
    except SdpError:
        return False
    keyed = False
    for mine, media in zip(ours.media, theirs.media):
        answered_crypto, offered = choose_crypto(mine), choose_crypto(media)
        if answered_crypto is None:
            continue
        if offered is None or (offered.tag, offered.suite) != \
                (answered_crypto.tag, answered_crypto.suite):
            return False
        keyed = True
    return keyed


class AgentMedia:
    def __init__(self, relay, codecs: tuple[str, ...] = DEFAULT_PREFERENCE):
        self._relay = relay
        self._codecs = codecs  # the answer's codec preference ([agents] codecs)

    @defer.inlineCallbacks
    def open_local(self, call_id: str, offer_sdp: bytes, region: str | None,
                   secure: bool | None = None, require_srtp: bool = False):
        """The media of an inbound agent call; `secure`: the offer came over TLS (its
        SDES keys may be taken: the relay answers the caller's SRTP with its own key
        and the audio reaches us unprotected)."""
        try:
            offer = parse_sdp(offer_sdp)
            choice = choose_audio(offer, self._codecs)
        except SdpError as exc:
            raise MediaRejected(str(exc)) from None
        relay_call_id = f"{call_id};agent"
        ours = build_answer(offer, choice, *_PLACEHOLDER)
        leg = yield self._open(relay_call_id, offer_sdp, ours, choice, region, secure,
                               require_srtp)
        return leg

    @defer.inlineCallbacks
    def open_local_offer(self, call_id: str, region: str | None):
        """The media of an outbound agent call; the leg's `answer_sdp` is our offer
        (PCMU, PCMA, telephone-event at the relay); `take_answer` takes the far end's."""
        relay_call_id = f"{call_id};agent"
        ours = local_offer(*_PLACEHOLDER)
        leg = yield self._open(relay_call_id, _FAR_END_PLACEHOLDER, ours, _DEFAULT_CHOICE,
                               region)
        return leg

    @defer.inlineCallbacks
    def _open(self, relay_call_id: str, caller_sdp: bytes, ours: bytes, choice, region,
              secure: bool | None = None, require_srtp: bool = False):
        options = {"secure": secure, "require_srtp": require_srtp}
        try:
            yield self._relay.offer(relay_call_id, _CALLER_TAG, caller_sdp, region, **options)
        except UnknownRegion:
            yield self._relay.offer(relay_call_id, _CALLER_TAG, caller_sdp, None, **options)
        try:
            answer = yield self._relay.answer(relay_call_id, _CALLER_TAG, _LOCAL_TAG, ours)
            leg = LocalMediaLeg(self._relay, relay_call_id, answer, choice, ours)
            leg.attach(choice.index)
        except Exception:
            self._relay.delete(relay_call_id).addErrback(lambda f: None)
            raise
        return leg
