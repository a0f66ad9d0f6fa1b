"""A registrar and dispatcher wired as tap.py wires them, on a Clock, without I/O."""

import hashlib
import re

from twisted.internet.task import Clock

from softswitch.services.auth import DigestAuthenticator
from softswitch.services.directory import CredentialDirectory
from softswitch.services.dispatcher import RequestDispatcher
from softswitch.services.security_events import NO_SECURITY_EVENTS
from softswitch.services.location import LocationService
from softswitch.services.registrar import Registrar, RegistrarPolicy
from softswitch.sip.digest import NonceManager
from softswitch.sip.message import parse_message

DOMAIN = "example.com"
START = 1_700_000_000.0


class MemoryStore:
    def __init__(self):
        self.saved, self.removed = [], []

    def save(self, bindings):
        self.saved.extend(bindings)

    def remove(self, keys):
        self.removed.extend(keys)


def ha1(algorithm, user, password, realm=DOMAIN):
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm]
    return hashlib.new(name, f"{user}:{realm}:{password}".encode()).hexdigest()


def authorization(challenge: str, user: str, password: str, method: str, uri: str,
                  nc: int = 1) -> str:
    """What a phone answers to one WWW-Authenticate challenge (qop=auth)."""
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    algorithm, nonce, realm = fields["algorithm"], fields["nonce"], fields["realm"]
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm]
    h = lambda text: hashlib.new(name, text.encode()).hexdigest()  # noqa: E731
    a1 = h(f"{user}:{realm}:{password}")
    response = h(f"{a1}:{nonce}:{nc:08x}:abc123:auth:{h(f'{method}:{uri}')}")
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm={algorithm}, qop=auth, nc={nc:08x}, '
            f'cnonce="abc123"')


class Switch:
    def __init__(self, users: dict[str, str], security=NO_SECURITY_EVENTS, clock=None,
                 **policy_options):
        if clock is None:
            clock = Clock()
            clock.advance(START)
        self.clock = clock
        self.store = MemoryStore()
        self.directory = CredentialDirectory(DOMAIN)
        self.directory.replace({
            (user, DOMAIN): {"md5": ha1("MD5", user, pw), "sha256": ha1("SHA-256", user, pw),
                             "enabled": True}
            for user, pw in users.items()})
        auth = DigestAuthenticator(DOMAIN, NonceManager(b"x" * 32), self.directory.lookup_ha1)
        self.location = LocationService(self.clock, self.store)
        policy = RegistrarPolicy(DOMAIN, min_expires=60, max_expires=3600, default_expires=3600,
                                 **policy_options)
        self.registrar = Registrar(policy, auth, self.location, security=security)
        self.dispatcher = RequestDispatcher(self.registrar, stack=None)  # handle() only
        self.cseq = 0

    def dispatcher_on(self, stack) -> RequestDispatcher:
        """The dispatcher answering through `stack` (an endpoint)."""
        self.dispatcher = RequestDispatcher(self.registrar, stack)
        return self.dispatcher

    def send(self, raw: bytes | str, source="udp:192.0.2.10:5060"):
        if isinstance(raw, str):
            raw = raw.replace("\n", "\r\n").encode()
        request = parse_message(raw)
        return self.dispatcher.handle(request, source, self.clock.seconds())

    def register(self, user="alice", password="secret", contacts=("<sip:alice@192.0.2.10:5060>",),
                 expires=None, call_id="reg-1@192.0.2.10", algorithm="SHA-256", extra=""):
        """A full REGISTER exchange: challenge, then the authenticated request."""
        first = self.send(self._register(user, contacts, expires, call_id, "", extra))
        if first.status != 401:
            return first
        challenge = next(c for c in first.headers.values("WWW-Authenticate")
                         if f"algorithm={algorithm}" in c)
        auth = authorization(challenge, user, password, "REGISTER", f"sip:{DOMAIN}")
        return self.send(self._register(user, contacts, expires, call_id,
                                        f"Authorization: {auth}\n", extra))

    def _register(self, user, contacts, expires, call_id, auth, extra):
        self.cseq += 1
        contact_lines = "".join(f"Contact: {c}\n" for c in contacts)
        expires_line = "" if expires is None else f"Expires: {expires}\n"
        return (f"REGISTER sip:{DOMAIN} SIP/2.0\n"
                f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{self.cseq}x;rport\n"
                f"Max-Forwards: 70\nTo: <sip:{user}@{DOMAIN}>\n"
                f"From: <sip:{user}@{DOMAIN}>;tag=f{self.cseq}\nCall-ID: {call_id}\n"
                f"CSeq: {self.cseq} REGISTER\n{contact_lines}{expires_line}{auth}{extra}"
                f"Content-Length: 0\n\n")

