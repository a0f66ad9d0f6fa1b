"""Errors split by blame, as h11 does: the peer's garbage vs our own misuse."""


class SipError(Exception):
    """Base of every SIP core error."""


class RemoteProtocolError(SipError):
    """The peer sent something malformed; status_hint is the SIP status to answer with."""

    def __init__(self, message: str, status_hint: int = 400):
        super().__init__(message)
        self.status_hint = status_hint


class LocalProtocolError(SipError):
    """We misused the API."""
