"""The ports services talk to the SIP edge through (transaction-user side of RFC
3261 §17): answer a server transaction, start a client transaction, send without
one. The edge implements SipStack; services implement the handler protocols."""

from typing import Any, Protocol

from ..sip.message import Message, Request, Response
from ..sip.transport import Peer


class ClientHandler(Protocol):
    """Receives what happens to one client transaction."""

    def response_received(self, key: Any, response: Response) -> None: ...

    def timed_out(self, key: Any) -> None: ...

    def transport_failed(self, key: Any) -> None: ...


class _IgnoreResponses:
    """For requests whose answers change nothing (CANCEL, BYE, our own in-dialog
    requests): the outcome is known, or reported elsewhere."""

    def response_received(self, key: Any, response: Response) -> None:
        pass

    def timed_out(self, key: Any) -> None:
        pass

    def transport_failed(self, key: Any) -> None:
        pass


IGNORE_RESPONSES: ClientHandler = _IgnoreResponses()


class TransactionUser(Protocol):
    """The core the edge hands new requests and transaction-less messages to."""

    def request_received(self, key: Any, request: Request, source: Peer) -> None: ...

    def ack_received(self, request: Request, source: Peer) -> None: ...

    def stray_response(self, response: Response) -> None: ...

    def server_timed_out(self, key: Any) -> None: ...


class SipStack(Protocol):
    def respond(self, key: Any, response: Response) -> None: ...

    def send_request(self, request: Request, destination: Peer,
                     handler: ClientHandler) -> Any: ...

    def send_stateless(self, message: Message, destination: Peer) -> None: ...

    def via_for(self, destination: Peer, branch: str | None = None) -> str:
        """A top Via value for a new client transaction to `destination`, with our
        advertised address and `branch` (a fresh one when None)."""

    def is_our_address(self, host: str, port: int) -> bool: ...

    def local_uri(self, destination: Peer, user: str | None = None) -> str:
        """A SIP URI of ours reachable from `destination` (Contact, Record-Route)."""

    def seconds(self) -> float: ...


class _DropMessages:
    """A transaction user that takes nothing (before the core behind it exists)."""

    def request_received(self, key: Any, request: Request, source: Peer) -> None:
        pass

    def ack_received(self, request: Request, source: Peer) -> None:
        pass

    def stray_response(self, response: Response) -> None:
        pass

    def server_timed_out(self, key: Any) -> None:
        pass


class LateTransactionUser:
    """The edge's transaction user when the core behind it needs the edge's stack to be
    built (the dispatcher's proxy sends through the endpoint that calls it): the
    composition root builds the endpoint with this port and binds the dispatcher once;
    messages before that are dropped (nothing listens yet)."""

    __slots__ = ("_core",)

    def __init__(self):
        self._core: TransactionUser = _DropMessages()

    def bind(self, core: TransactionUser) -> None:
        self._core = core

    def request_received(self, key: Any, request: Request, source: Peer) -> None:
        self._core.request_received(key, request, source)

    def ack_received(self, request: Request, source: Peer) -> None:
        self._core.ack_received(request, source)

    def stray_response(self, response: Response) -> None:
        self._core.stray_response(response)

    def server_timed_out(self, key: Any) -> None:
        self._core.server_timed_out(key)
