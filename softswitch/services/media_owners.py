"""Who ends a call when its media falls silent. The relay's inactivity events name a
relay call (its MediaControl id); the service that holds the call (the proxy, agent
calls, outbound calls) registers itself under that id while the call is up, so an
event reaches exactly its call, whatever the id looks like."""

from typing import Callable

from twisted.logger import Logger

from .media_control import MediaTimedOut

log = Logger()

OnSilence = Callable[[float], None]  # given the idle seconds


class MediaOwners:
    def __init__(self):
        self._owners: dict[str, OnSilence] = {}

    def __len__(self) -> int:
        return len(self._owners)

    def watch(self, media_id: str, on_silence: OnSilence) -> None:
        self._owners[media_id] = on_silence

    def forget(self, media_id: str, on_silence: OnSilence | None = None) -> None:
        """Stop watching `media_id` (only if `on_silence` still owns it, when given)."""
        if on_silence is None or self._owners.get(media_id) == on_silence:
            self._owners.pop(media_id, None)

    def timed_out(self, event: MediaTimedOut) -> bool:
        """The relay's listener: True when a call owned the silent media."""
        owner = self._owners.pop(event.call_id, None)
        if owner is None:
            return False
        log.info("no media for {seconds:.0f}s on {media_id}: hanging up",
                 seconds=event.idle_seconds, media_id=event.call_id)
        owner(event.idle_seconds)
        return True
