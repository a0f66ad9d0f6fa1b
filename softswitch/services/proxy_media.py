"""Media anchoring for proxied calls: SDP offers and answers pass through the media
relay (services.media_control, rtpengine-shaped) so RTP flows via the switch, in the
region the route picked. Rewrites are Deferreds (a relay may be remote), applied in
message order through one chain per call."""

from twisted.internet.defer import succeed
from twisted.logger import Logger

from ..sip.message import Message
from .media_control import MediaError

log = Logger()


def carries_sdp(message: Message) -> bool:
    if not message.body:
        return False
    content_type = (message.headers.get("Content-Type") or "").partition(";")[0]
    return content_type.strip().lower() == "application/sdp"


class CallMedia:
    """The media side of one call, or a pass-through when there is no relay."""

    def __init__(self, control, call_id: str, region: str | None):
        self._control = control
        self.call_id = call_id
        self.region = region
        self._chain = succeed(None)
        self.active = False  # an offer went through: there is something to delete

    @property
    def anchored(self) -> bool:
        return self._control is not None

    def then(self, step):
        """Run `step()` after every rewrite queued before it (keeps message order)."""
        self._chain.addCallback(lambda _: step())
        self._chain.addErrback(lambda f: log.failure("media step failed", f))

    def offer(self, message: Message, from_tag: str, on_done, on_error, *,
              secure: bool | None = None, encryption: str | None = None,
              require_srtp: bool = False) -> None:
        """Rewrite the offer in `message`, then on_done(); on_error(status) if refused.
        `secure`: the offer came over TLS (SDES keys may be taken); `encryption`: the
        SRTP the answering side gets (media_control's offer)."""
        if not self.anchored or not carries_sdp(message):
            self.then(on_done)
            return
        options = {key: value for key, value in
                   (("secure", secure), ("encryption", encryption),
                    ("require_srtp", require_srtp or None)) if value is not None}

        def rewrite():
            d = self._control.offer(self.call_id, from_tag, message.body, self.region,
                                    **options)
            d.addCallbacks(lambda body: self._replaced(message, body, on_done),
                           lambda f: self._refused(f, on_error))
            return d
        self.then(rewrite)

    def answer(self, message: Message, from_tag: str, to_tag: str, on_done) -> None:
        """Rewrite the answer in `message`, then on_done(); an answer the relay cannot
        use is forwarded as it is (the call goes on, unanchored)."""
        if not self.anchored or not carries_sdp(message) or not self.active:
            self.then(on_done)
            return

        def rewrite():
            d = self._control.answer(self.call_id, from_tag, to_tag, message.body)

            def failed(failure):
                log.warn("relay refused the answer for {call_id}: {error}",
                         call_id=self.call_id, error=failure.getErrorMessage())
                on_done()
            d.addCallbacks(lambda body: self._replaced(message, body, on_done), failed)
            return d
        self.then(rewrite)

    def end(self, on_stats) -> None:
        """Free the relay ports; on_stats(dict or None) with the call's media stats."""
        if not self.anchored or not self.active:
            self.then(lambda: on_stats(None))
            return
        self.active = False

        def delete():
            d = self._control.delete(self.call_id)
            d.addCallbacks(lambda stats: on_stats(stats.to_dict()),
                           lambda f: on_stats(None))
            return d
        self.then(delete)

    def _replaced(self, message: Message, body: bytes, on_done) -> None:
        self.active = True
        message.body = body
        on_done()

    def _refused(self, failure, on_error) -> None:
        error = failure.value
        status = error.status_hint if isinstance(error, MediaError) else 500
        log.info("relay refused the offer for {call_id}: {error}", call_id=self.call_id,
                 error=failure.getErrorMessage())
        on_error(status)
