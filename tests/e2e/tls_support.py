"""SIP peers over TLS for the end-to-end tests: Python's `ssl` module on blocking
sockets, a message framer (Content-Length) and builders for the few requests and
responses a phone and a carrier's gateway send.

A phone connects to the switch's `tls:` listener from its own loopback address and
keeps the connection (the switch reaches it over it); a gateway listens with a
certificate from the test PKI and accepts the switch's connections."""

import queue
import socket
import ssl
import threading
import uuid

from cryptography import x509

from e2e_sip import SipMessage, digest_authorization

READ_TIMEOUT = 10.0


class SipStream:
    """SIP messages over one TLS connection."""

    transport = "TLS"  # of the Via

    def __init__(self, tls: ssl.SSLSocket):
        self.tls = tls
        tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle wait on ACK+BYE
        self.buffer = b""
        self.sent: list[str] = []
        self.received: list[SipMessage] = []

    @property
    def local(self) -> tuple[str, int]:
        return self.tls.getsockname()[:2]

    def peer_serial(self) -> int:
        return x509.load_der_x509_certificate(
            self.tls.getpeercert(binary_form=True)).serial_number

    def send(self, text: str) -> None:
        self.sent.append(text)
        self.tls.sendall(text.encode())

    def read(self, timeout: float = READ_TIMEOUT) -> SipMessage:
        self.tls.settimeout(timeout)
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = self.buffer[:head_end].decode(errors="replace")
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() in ("content-length", "l"):
                        length = int(value.strip())
                end = head_end + 4 + length
                if len(self.buffer) >= end:
                    raw, self.buffer = self.buffer[:end], self.buffer[end:]
                    message = SipMessage("received", raw.decode(errors="replace"))
                    self.received.append(message)
                    return message
            chunk = self.tls.recv(65536)
            if not chunk:
                raise ConnectionError("the switch closed the connection")
            self.buffer += chunk

    def expect(self, *, status: int | None = None, method: str | None = None,
               timeout: float = READ_TIMEOUT) -> SipMessage:
        """The next message that is not a provisional response (unless one is asked
        for); AssertionError if it is not the one expected."""
        while True:
            message = self.read(timeout)
            if message.is_response and message.status < 200 and status != message.status:
                continue
            if status is not None:
                assert message.status == status, message.text
            if method is not None:
                assert message.method == method, message.text
            return message

    def close(self) -> None:
        try:
            self.tls.close()
        except OSError:
            pass


def client_context(ca_file, client_cert=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    if client_cert is not None:
        context.load_cert_chain(*client_cert)
    return context


def connect(port: int, ca_file, *, source_ip: str, server_name: str = "127.0.0.1",
            host: str = "127.0.0.1") -> SipStream:
    raw = socket.create_connection((host, port), timeout=READ_TIMEOUT,
                                   source_address=(source_ip, 0))
    return SipStream(client_context(ca_file).wrap_socket(raw, server_hostname=server_name))


class TlsGateway:
    """A carrier's gateway: a TLS listener on `ip` whose accepted connections come
    out of `connections` as SipStreams (or as the handshake's error text)."""

    def __init__(self, ip: str, cert_file, key_file, *, require_client_ca=None):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        if require_client_ca is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(str(require_client_ca))
        self.server = socket.create_server((ip, 0))
        self.server.settimeout(0.2)
        self.ip, self.port = self.server.getsockname()[:2]
        self.connections: queue.Queue = queue.Queue()
        self._open: list[SipStream] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.server.accept()
            except (socket.timeout, OSError):
                continue
            raw.settimeout(READ_TIMEOUT)
            try:
                stream = SipStream(self.context.wrap_socket(raw, server_side=True))
            except (ssl.SSLError, OSError) as exc:
                self.connections.put(f"handshake failed: {exc}")
                raw.close()
                continue
            self._open.append(stream)
            self.connections.put(stream)

    def accept(self, timeout: float = READ_TIMEOUT):
        return self.connections.get(timeout=timeout)

    def stream(self, timeout: float = READ_TIMEOUT) -> SipStream:
        """The switch's connection: the one it keeps open (RFC 5923 reuse), else the
        next it opens."""
        while not self.connections.empty():
            self.connections.get_nowait()
        if self._open:
            return self._open[-1]
        accepted = self.accept(timeout)
        assert not isinstance(accepted, str), accepted
        return accepted

    def client_subject(self, stream: SipStream) -> dict | None:
        certificate = stream.tls.getpeercert()
        return dict(x[0] for x in certificate["subject"]) if certificate else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.server.close()
        for stream in self._open:
            stream.close()


# -- messages -------------------------------------------------------------------------------
def sdp(ip: str, port: int) -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def request(method: str, uri: str, headers: list[tuple[str, str]], body: str = "",
            content_type: str = "application/sdp") -> str:
    lines = [f"{method} {uri} SIP/2.0", *(f"{name}: {value}" for name, value in headers)]
    if body:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def response(to: SipMessage, status: int, reason: str, *, to_tag: str | None = None,
             extra: list[tuple[str, str]] = (), body: str = "") -> str:
    """An answer to `to`: its Vias, From, To (with `to_tag`), Call-ID and CSeq."""
    headers = [("Via", via) for via in to.headers("Via")]
    record_routes = [("Record-Route", r) for r in to.headers("Record-Route")]
    to_value = to.header("To")
    if to_tag is not None and ";tag=" not in to_value:
        to_value += f";tag={to_tag}"
    headers += record_routes + [("From", to.header("From")), ("To", to_value),
                                ("Call-ID", to.header("Call-ID")), ("CSeq", to.header("CSeq")),
                                *extra]
    lines = [f"SIP/2.0 {status} {reason}", *(f"{n}: {v}" for n, v in headers)]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def via(stream: SipStream) -> str:
    host, port = stream.local
    return (f"SIP/2.0/{stream.transport} {host}:{port};branch=z9hG4bK-{uuid.uuid4().hex[:16]}"
            f";rport")


def _transport_param(stream) -> str:
    return "" if stream.transport == "UDP" else f";transport={stream.transport.lower()}"


def tag_of(value: str) -> str:
    return value.split(";tag=", 1)[1].split(";", 1)[0]


def uri_of(value: str) -> str:
    return value[value.index("<") + 1:value.index(">")] if "<" in value else value.split(";")[0]


def register(stream: SipStream, user: str, password: str, domain: str) -> SipMessage:
    """REGISTER (answered challenge); the 200."""
    host, port = stream.local
    call_id = uuid.uuid4().hex
    common = [("Max-Forwards", "70"), ("From", f"<sip:{user}@{domain}>;tag=r{call_id[:6]}"),
              ("To", f"<sip:{user}@{domain}>"), ("Call-ID", call_id),
              ("Contact", f"<sip:{user}@{host}:{port}{_transport_param(stream)}>"), ("Expires", "600")]
    stream.send(request("REGISTER", f"sip:{domain}", [("Via", via(stream)), *common,
                                                      ("CSeq", "1 REGISTER")]))
    challenge = stream.expect(status=401)
    authorization = digest_authorization(challenge.header("WWW-Authenticate"), user, password,
                                         "REGISTER", f"sip:{domain}")
    stream.send(request("REGISTER", f"sip:{domain}", [("Via", via(stream)), *common,
                                                      ("CSeq", "2 REGISTER"),
                                                      ("Authorization", authorization)]))
    return stream.expect(status=200)


class Dialog:
    """The caller's side of one INVITE dialog over a stream."""

    def __init__(self, stream: SipStream, uri: str, from_uri: str, to_uri: str):
        self.stream = stream
        self.uri = uri
        self.call_id = uuid.uuid4().hex
        self.from_value = f"<{from_uri}>;tag=c{self.call_id[:8]}"
        self.to_value = f"<{to_uri}>"
        self.cseq = 1
        self.route: list[str] = []
        self.remote_target = uri

    def headers(self, method: str, cseq: int | None = None) -> list[tuple[str, str]]:
        host, port = self.stream.local
        return [("Via", via(self.stream)), ("Max-Forwards", "70"), ("From", self.from_value),
                ("To", self.to_value), ("Call-ID", self.call_id),
                ("CSeq", f"{cseq or self.cseq} {method}"),
                ("Contact", f"<sip:caller@{host}:{port}{_transport_param(self.stream)}>")]

    def invite(self, body: str, extra: list[tuple[str, str]] = ()) -> None:
        self.stream.send(request("INVITE", self.uri, [*self.headers("INVITE"), *extra], body))

    def answered(self, answer: SipMessage) -> None:
        """Take the dialog state from a 2xx and ACK it."""
        self.to_value = answer.header("To")
        self.route = list(reversed(answer.headers("Record-Route")))
        self.remote_target = uri_of(answer.header("Contact"))
        self.ack()

    def ack(self) -> None:
        headers = [h for h in self.headers("ACK") if h[0] != "Contact"]
        headers += [("Route", r) for r in self.route]
        self.stream.send(request("ACK", self.remote_target, headers))

    def ack_failure(self, final: SipMessage) -> None:
        """The ACK of a non-2xx final response (same branch as the INVITE)."""
        invite_via = self.stream.sent[-1].split("\r\nVia: ", 1)[1].split("\r\n", 1)[0]
        headers = [("Via", invite_via), ("Max-Forwards", "70"), ("From", self.from_value),
                   ("To", final.header("To")), ("Call-ID", self.call_id),
                   ("CSeq", f"{self.cseq} ACK")]
        self.stream.send(request("ACK", self.uri, headers))

    def send_bye(self) -> None:
        self.cseq += 1
        headers = self.headers("BYE") + [("Route", r) for r in self.route]
        self.stream.send(request("BYE", self.remote_target, headers))


def ring_and_answer(stream: SipStream, ip: str, media_port: int, tag: str) -> SipMessage:
    """Read an INVITE, ring and answer it (the caller's ACK is read after); the INVITE."""
    invite = stream.expect(method="INVITE")
    host, port = stream.local
    contact = [("Contact", f"<sip:callee@{host}:{port}{_transport_param(stream)}>")]
    stream.send(response(invite, 180, "Ringing", to_tag=tag, extra=contact))
    stream.send(response(invite, 200, "OK", to_tag=tag, extra=contact, body=sdp(ip, media_port)))
    return invite


def answer_bye(stream: SipStream) -> SipMessage:
    bye = stream.expect(method="BYE")
    stream.send(response(bye, 200, "OK"))
    return bye
