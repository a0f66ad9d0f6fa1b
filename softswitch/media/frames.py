"""Re-framing a byte stream (audio arriving in chunks of any size) into fixed frames.

`Reframer(frame_bytes)` keeps one bytearray and a read offset, so taking frames is
O(frame) and the buffer is compacted only when the consumed part is large; chunk
boundaries never show in the frames.
"""

_COMPACT_AT = 8192


class Reframer:
    __slots__ = ("frame_bytes", "_buf", "_pos")

    def __init__(self, frame_bytes: int):
        if frame_bytes <= 0:
            raise ValueError(f"frame size {frame_bytes} is not positive")
        self.frame_bytes = frame_bytes
        self._buf = bytearray()
        self._pos = 0

    def __len__(self) -> int:
        """Bytes waiting (a partial frame included)."""
        return len(self._buf) - self._pos

    def push(self, data: bytes) -> None:
        self._buf += data

    def pop(self) -> bytes | None:
        """The next whole frame, or None if less than a frame is waiting."""
        end = self._pos + self.frame_bytes
        if end > len(self._buf):
            return None
        frame = bytes(self._buf[self._pos:end])
        self._pos = end
        if end >= _COMPACT_AT and end * 2 >= len(self._buf):
            del self._buf[:end]
            self._pos = 0
        return frame

    def pop_partial(self) -> bytes:
        """Everything waiting, whole frame or not (at most one frame's worth)."""
        end = min(len(self._buf), self._pos + self.frame_bytes)
        chunk = bytes(self._buf[self._pos:end])
        self._pos = end
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        return chunk

    def frames(self, data: bytes = b"") -> list[bytes]:
        """Push `data` and take every whole frame now available."""
        if data:
            self._buf += data
        out = []
        while (frame := self.pop()) is not None:
            out.append(frame)
        return out

    def clear(self) -> int:
        """Drop everything waiting; returns how many bytes were dropped."""
        dropped = len(self)
        self._buf.clear()
        self._pos = 0
        return dropped
