"""SDP errors: the peer sent a session description we cannot use."""


class SdpError(ValueError):
    """Malformed or unusable SDP; the message names the line and what was wrong.

    `line` is the 1-based line number at fault, or None when the fault is not one line
    (size, a missing mandatory line, an answer that does not match its offer).
    """

    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"SDP line {line}: {message}" if line is not None else message)
        self.line = line
