"""An agent call as a services.recordings.RecordingSource: the bridge's pacer is the
media clock (slot k is due at the answer + 20 ms * k), and the bridge's tap copies
each slot's caller and agent frames into the recorder."""

from ...media.recording import FRAME_MS

STOPPED_SLOTS = 10  # the bridge's ticks this far behind the clock: they have stopped


class BridgeSource:
    def __init__(self, bridge):
        self._bridge = bridge
        self.law = bridge.codec.name

    def next_slot(self, now: float) -> int:
        """The next slot the bridge will fill; the slot due by the clock once its
        ticks have stopped (a transfer took the media elsewhere)."""
        pacer = self._bridge.pacer
        due = int((now - pacer.start) * 1000 // FRAME_MS)
        return due if due > pacer.slot + STOPPED_SLOTS else pacer.slot

    def attach(self, recorder) -> None:
        self._bridge.recorder = recorder
