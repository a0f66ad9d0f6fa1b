"""The WebSocket client that carries a call to its AI agent: wsproto framing on a
Twisted TCP (or TLS, certificate verified) connection, the agent's headers sent
with the upgrade, a bounded connect time. Frames go to a listener; nothing raises
into the reactor.

Once the socket is open, whole text messages (every media message) are cut and built
by `agent.ws_frames`, and every other frame goes through wsproto whole: the profile
showed wsproto's generic frame path as the largest single cost per call."""

from pathlib import Path
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import Certificate, optionsForClientTLS, trustRootFromCertificates
from twisted.logger import Logger
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ...agent.ws_frames import FrameSplitter, mask_text
from ..twisted_internals import plain_socket, writes_idle

log = Logger()
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # one agent message; more is a broken agent


class AgentRefused(Exception):
    """The agent's server did not accept the WebSocket (status or network error)."""


class AgentSocket(Protocol):
    """One WebSocket connection to an agent. `send_text`/`send_bytes`/`close`; the
    listener gets `text_received(str)`, `binary_received(bytes)`, `closed(code, why)`."""

    def __init__(self, host: str, target: str, headers: list[tuple[str, str]],
                 read_group=None):
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._read_group = read_group  # edge.polling.read_group: reads once the socket is open
        self._group_fd = None
        self._host = host
        self._target = target
        self._headers = headers
        self.listener = None
        self.opened = defer.Deferred()
        self._text: list[str] = []
        self._binary: list[bytes] = []
        self._size = 0
        self._closed_reported = False
        self._open = False  # mirrors the wsproto state OPEN (read for every frame sent)
        self._handshake = b""  # what the server sent until its 101
        self._splitter: FrameSplitter | None = None  # once open
        self._socket_send = None  # plain TCP: write through when Twisted holds nothing

    # -- Twisted --------------------------------------------------------------------
    def connectionMade(self) -> None:
        # A media message every 20 ms: with Nagle's algorithm each small write waits for
        # the previous one to be acknowledged (milliseconds, up to the peer's delayed ACK).
        no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if no_delay is not None:
            no_delay(True)
        sock = plain_socket(self.transport)
        if sock is not None:
            self._socket_send = sock.send
        headers = [(k.encode(), v.encode()) for k, v in self._headers]
        self.transport.write(self._ws.send(Request(host=self._host, target=self._target,
                                                   extra_headers=headers)))

    def dataReceived(self, data: bytes) -> None:
        splitter = self._splitter
        if splitter is None:
            self._handshake += data
            self._receive(data)
            return
        for item in splitter.feed(data):
            if type(item) is str:  # the hot path: one whole text message
                if self._open and self.listener is not None:
                    self.listener.text_received(item)
            elif not self._receive(item):
                return

    def _receive(self, data: bytes) -> bool:
        """Feed wsproto; False once the connection is being aborted."""
        try:
            self._ws.receive_data(data)
            for event in self._ws.events():
                if type(event) is TextMessage and event.message_finished and not self._text \
                        and len(event.data) <= MAX_MESSAGE_BYTES:
                    if self.listener is not None:  # the hot path: one whole text frame
                        self.listener.text_received(event.data)
                    continue
                self._handle(event)
        except (RemoteProtocolError, LocalProtocolError) as exc:
            log.info("agent WebSocket protocol error: {error}", error=exc)
            self._fail(AgentRefused(f"protocol error: {exc}"))
            self.transport.abortConnection()
            return False
        return True

    def connectionLost(self, reason=None) -> None:
        self._open = False
        self._socket_send = None
        if self._group_fd is not None:
            self._read_group.release(self._group_fd, self.transport)
            self._group_fd = None
        self._fail(AgentRefused(f"connection lost: {reason.getErrorMessage() if reason else ''}"))
        self._report_closed(1006, "connection lost")

    # -- events ---------------------------------------------------------------------
    def _handle(self, event) -> None:
        self._open = self._ws.state is ConnectionState.OPEN
        if isinstance(event, AcceptConnection):
            self._take_frames()
            if self._read_group is not None and self._group_fd is None:
                self._group_fd = self._read_group.take_over(self.transport, self.dataReceived)
            if not self.opened.called:
                self.opened.callback(self)
        elif isinstance(event, RejectConnection):
            self._fail(AgentRefused(f"agent refused the WebSocket with HTTP {event.status_code}"))
            if not event.has_body:
                self.transport.loseConnection()
        elif isinstance(event, RejectData):
            if event.body_finished:
                self.transport.loseConnection()
        elif isinstance(event, TextMessage):
            self._collect(self._text, event.data, event.message_finished, True)
        elif isinstance(event, BytesMessage):
            self._collect(self._binary, bytes(event.data), event.message_finished, False)
        elif isinstance(event, Ping):
            self.transport.write(self._ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            if self._ws.state is ConnectionState.REMOTE_CLOSING:
                self.transport.write(self._ws.send(event.response()))
            self._report_closed(event.code, event.reason or "")
            self.transport.loseConnection()

    def _take_frames(self) -> None:
        """From here on, cut frames here; what followed the 101 in the same read
        went to wsproto already."""
        splitter = FrameSplitter(MAX_MESSAGE_BYTES)
        end = self._handshake.find(b"\r\n\r\n")
        if self._handshake.startswith(b"HTTP/1.1 101") and end >= 0:
            splitter.skip(self._handshake[end + 4:])
        else:  # (not a plain 101 answer: leave every byte to wsproto)
            splitter.pass_through()
        self._splitter = splitter
        self._handshake = b""

    def _collect(self, parts: list, data, finished: bool, text: bool) -> None:
        parts.append(data)
        self._size += len(data)
        if self._size > MAX_MESSAGE_BYTES:
            log.warn("agent sent a message over {limit} bytes: closing", limit=MAX_MESSAGE_BYTES)
            self.close(1009, "message too big")
            return
        if not finished:
            return
        message = ("" if text else b"").join(parts)
        parts.clear()
        self._size = 0
        if self.listener is None:
            return
        if text:
            self.listener.text_received(message)
        else:
            self.listener.binary_received(message)

    def _fail(self, error: Exception) -> None:
        if not self.opened.called:
            self.opened.errback(error)

    def _report_closed(self, code: int, reason: str) -> None:
        if self._closed_reported or not self.opened.called:
            return
        self._closed_reported = True
        if self.listener is not None:
            self.listener.closed(code, reason)

    # -- sending --------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._open

    def send_text(self, text: str) -> None:
        if self._open:
            self._write(mask_text(text.encode()))

    def send_bytes(self, data: bytes) -> None:
        if self._open:
            self._write(self._ws.send(BytesMessage(data=data)))

    def send_frames(self, frames) -> None:
        """Text frames for str, binary frames for bytes."""
        if not self._open:
            return
        write = self._write
        for frame in frames:
            write(mask_text(frame.encode()) if type(frame) is str
                  else self._ws.send(BytesMessage(data=frame)))

    def _write(self, data: bytes) -> None:
        # Twisted's write queues the bytes and asks the reactor for writability (two
        # epoll_ctl calls and one more loop pass per 20 ms media message); when nothing
        # is queued already, sending at once keeps the order and skips all that.
        transport = self.transport
        send = self._socket_send
        if send is not None and writes_idle(transport):
            try:
                sent = send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                sent = 0  # (Twisted's own write meets the error and reports the loss)
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self._open:
            self._write(self._ws.send(CloseConnection(code=code, reason=reason)))
            self._open = False
            self._report_closed(code, reason)
        elif self.transport is not None:
            self.transport.loseConnection()


def load_trust_root(path: str):
    """The certificate authorities of a PEM file, as a trust root for `connect_agent`;
    ValueError if it holds none or cannot be read."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    end = b"-----END CERTIFICATE-----"
    blocks = [block + end for block in text.split(end) if b"-----BEGIN CERTIFICATE-----" in block]
    try:
        certificates = [Certificate.loadPEM(block) for block in blocks]
    except Exception as exc:  # (pyOpenSSL's errors carry no useful type)
        raise ValueError(f"{path} holds a certificate that cannot be read: {exc}") from None
    if not certificates:
        raise ValueError(f"{path} holds no PEM certificate")
    return trustRootFromCertificates(certificates)


def connect_agent(reactor, url: str, headers: dict[str, str], timeout: float,
                  read_group=None, trust_root=None):
    """A Deferred firing with an open AgentSocket, or failing with AgentRefused
    (bad URL, connection refused, TLS failure, non-101 answer, timeout). With a
    `read_group` (edge.polling.read_group), a plain TCP socket is read there once open.
    wss:// verifies the agent's certificate and name against `trust_root`
    (`load_trust_root`), or against the system's authorities when None."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return defer.fail(AgentRefused(f"not a ws:// or wss:// URL: {url!r}"))
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    endpoint = HostnameEndpoint(reactor, parts.hostname, port, timeout=max(1, int(timeout)))
    if secure:
        endpoint = wrapClientTLS(optionsForClientTLS(parts.hostname, trustRoot=trust_root),
                                 endpoint)
    protocol = AgentSocket(host_header, target, list(headers.items()), read_group)
    connecting = endpoint.connect(Factory.forProtocol(lambda: protocol))
    result = defer.Deferred()

    def timed_out():
        if not result.called:
            connecting.cancel()
            if protocol.transport is not None:
                protocol.transport.abortConnection()
            result.errback(AgentRefused(f"no WebSocket from {parts.hostname} within {timeout}s"))

    timer = reactor.callLater(timeout, timed_out)

    def connected(_):
        protocol.opened.addCallbacks(opened, failed)

    def opened(socket):
        if timer.active():
            timer.cancel()
        if not result.called:
            result.callback(socket)

    def failed(failure):
        if timer.active():
            timer.cancel()
        if not result.called:
            error = failure.value
            result.errback(error if isinstance(error, AgentRefused)
                           else AgentRefused(failure.getErrorMessage()))

    connecting.addCallbacks(connected, failed)
    return result
