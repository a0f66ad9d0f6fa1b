"""A few raw SIP tools for the end-to-end tests: a loopback UDP socket that sends bytes
to the switch and reads what comes back, a REGISTER builder and a digest answer.

Used where SIPp cannot go: hostile datagrams, and the SHA-256 challenge (SIPp 3.6
answers only MD5).
"""

import hashlib
import re
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

TORTURE = Path(__file__).resolve().parents[1] / "fixtures" / "torture"
_HASHES = {"MD5": "md5", "SHA-256": "sha256"}
_VIA_SENT_BY = re.compile(rb"^((?:Via|v)[ \t]*:[ \t]*SIP/2\.0/UDP[ \t]+)[^;, \t\r\n]+",
                          re.IGNORECASE | re.MULTILINE)
_AUTH_PARAM = re.compile(r'([\w-]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class SipMessage:
    """One SIP message as text, with just enough parsing for assertions."""

    direction: str  # "sent" or "received", from the client's side
    text: str

    @property
    def first_line(self) -> str:
        return self.text.replace("\r\n", "\n").split("\n", 1)[0]

    @property
    def is_response(self) -> bool:
        return self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int | None:
        return int(self.first_line.split()[1]) if self.is_response else None

    @property
    def method(self) -> str:
        return "" if self.is_response else self.first_line.split()[0]

    def _head_lines(self) -> list[str]:
        head = self.text.replace("\r\n", "\n").split("\n\n", 1)[0]
        return head.split("\n")[1:]

    def headers(self, name: str) -> list[str]:
        """Values of every header line called `name` (case-insensitive), in order."""
        wanted = name.lower()
        values = []
        for line in self._head_lines():
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == wanted:
                values.append(value.strip())
        return values

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        return values[0] if values else None

    def header_names(self) -> list[str]:
        return [line.partition(":")[0].strip() for line in self._head_lines() if ":" in line]


def auth_params(challenge: str) -> tuple[str, dict[str, str]]:
    """'Digest realm="r", nonce="n", ...' -> ("Digest", {"realm": "r", "nonce": "n", ...})."""
    scheme, _, rest = challenge.strip().partition(" ")
    params = {}
    for name, quoted, token in _AUTH_PARAM.findall(rest):
        params[name.lower()] = quoted if quoted or not token else token
    return scheme, params


def contact_expiries(response: SipMessage) -> dict[str, int]:
    """{contact URI: expires} from the Contact headers of a registrar's 200."""
    listed = {}
    for value in response.headers("Contact"):
        for item in re.finditer(r"<([^>]*)>([^,]*)", value):
            match = re.search(r";\s*expires=(\d+)", item.group(2))
            listed[item.group(1)] = int(match.group(1)) if match else None
    return listed


def digest_authorization(challenge: str, username: str, password: str, method: str,
                         uri: str, nc: int = 1, cnonce: str = "e2e0cafe") -> str:
    """The Authorization value answering one qop=auth challenge (MD5 or SHA-256)."""
    _, params = auth_params(challenge)
    algorithm = params.get("algorithm", "MD5")
    name = _HASHES[algorithm.upper()]

    def h(text: str) -> str:
        return hashlib.new(name, text.encode()).hexdigest()

    realm, nonce = params["realm"], params["nonce"]
    ha1 = h(f"{username}:{realm}:{password}")
    response = h(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{h(f'{method}:{uri}')}")
    return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm={algorithm}, qop=auth, nc={nc:08x}, '
            f'cnonce="{cnonce}"')


class UdpClient:
    """A loopback UDP socket talking to the switch."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def receive(self, timeout: float = 2.0) -> SipMessage | None:
        """The next datagram from the switch, or None after `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except socket.timeout:
            return None
        return SipMessage("received", data.decode("utf-8", "replace"))

    def exchange(self, data: bytes, timeout: float = 2.0) -> SipMessage | None:
        self.send(data)
        return self.receive(timeout)

    def torture(self, name: str) -> bytes:
        """A torture message whose Via sent-by is rewritten to this socket, so any
        answer comes back here (and never leaves loopback); all else is kept as is."""
        data = (TORTURE / name).read_bytes()
        rewritten, count = _VIA_SENT_BY.subn(
            lambda m: m.group(1) + f"127.0.0.1:{self.port}".encode(), data, count=1)
        return rewritten if count else data

    def register(self, user: str, domain: str, contact: str, expires: int, call_id: str,
                 cseq: int, authorization: str | None = None) -> bytes:
        branch = "z9hG4bK" + uuid.uuid4().hex
        lines = [
            f"REGISTER sip:{domain} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{user}@{domain}>;tag={call_id[:8]}",
            f"To: <sip:{user}@{domain}>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <{contact}>",
            f"Expires: {expires}",
        ]
        if authorization is not None:
            lines.append(f"Authorization: {authorization}")
        lines += ["Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def register_with_digest(self, user: str, password: str, domain: str, contact: str,
                             expires: int = 300, algorithm: str = "MD5",
                             timeout: float = 2.0) -> tuple[SipMessage, SipMessage]:
        """REGISTER, answer the challenge of `algorithm`: (the 401, the final answer)."""
        call_id = f"{uuid.uuid4().hex}@127.0.0.1"
        challenge = self.exchange(self.register(user, domain, contact, expires, call_id, 1),
                                  timeout)
        assert challenge is not None and challenge.status == 401, challenge
        offered = {auth_params(c)[1].get("algorithm"): c
                   for c in challenge.headers("WWW-Authenticate")}
        assert algorithm in offered, challenge.text
        authorization = digest_authorization(offered[algorithm], user, password, "REGISTER",
                                             f"sip:{domain}")
        answer = self.exchange(
            self.register(user, domain, contact, expires, call_id, 2, authorization), timeout)
        assert answer is not None, f"no answer to the authenticated REGISTER of {user}"
        return challenge, answer
