"""An agent call as a services.recordings.RecordingSource: the bridge's pacer is the
media clock (slot k is due at the answer + 20 ms * k), and the bridge's tap copies
each slot's caller and agent frames into the recorder."""

from ...media.recording import FRAME_MS


class BridgeSource:
    def __init__(self, bridge):
        self._bridge = bridge
        self.law = bridge.codec.name

    def next_slot(self, now: float) -> int:
        """The next slot the bridge will fill, or the slot due by the clock when its
        ticks are late or have stopped (a transfer took the media elsewhere)."""
        pacer = self._bridge.pacer
        return max(pacer.slot, int((now - pacer.start) * 1000 // FRAME_MS))

    def attach(self, recorder) -> None:
        self._bridge.recorder = recorder
