"""The switch's SIP side wired as tap.py wires it (registrar, proxy, endpoint), on a
Clock with an in-memory wire: tests play carriers and phones by feeding bytes."""

import hashlib

from twisted.internet.task import Clock

from softswitch.edge.sip.endpoint import LocalAddresses, SipEndpoint
from softswitch.metrics import Metrics
from softswitch.services.auth import DigestAuthenticator
from softswitch.services.call_routing import CallRouter
from softswitch.services.directory import CredentialDirectory
from softswitch.services.dispatcher import RequestDispatcher
from softswitch.services.in_dialog import InDialogRouter
from softswitch.services.location import Binding, LocationService
from softswitch.services.media_owners import MediaOwners
from softswitch.services.ports import LateTransactionUser
from softswitch.services.proxy import Proxy
from softswitch.services.proxy_call import ProxyConfig
from softswitch.services.registrar import Registrar, RegistrarPolicy
from softswitch.services.routing import SnapshotHolder
from softswitch.services.security_events import NO_SECURITY_EVENTS
from softswitch.sip.digest import NonceManager
from softswitch.sip.message import parse_message
from softswitch.sip.timers import TimerConfig
from softswitch.sip.transaction import TransactionLayer
from softswitch.sip.transport import Peer, response_destination

DOMAIN = "example.com"
SWITCH = Peer("udp", "127.0.0.1", 5060)


def ha1(algorithm, user, password):
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm]
    return hashlib.new(name, f"{user}:{DOMAIN}:{password}".encode()).hexdigest()


class Wire:
    def __init__(self):
        self.sent: list[tuple[object, Peer]] = []

    def send(self, data, peer, on_failure=None):
        self.sent.append((parse_message(data, validate=False), peer))

    def take(self):
        sent, self.sent = self.sent, []
        return sent


class ProxyHarness:
    def __init__(self, snapshot, users=None, config=ProxyConfig(), clock=None, agents=None,
                 security=NO_SECURITY_EVENTS, **proxy_options):
        """`agents(harness)` builds the agent call service the proxy hands agent targets
        to (with harness.endpoint, .clock, .records and **.shared), as tap.py does."""
        if clock is None:
            clock = Clock()
            clock.advance(1_700_000_000)
        self.clock = clock
        users = users or {}
        self.directory = CredentialDirectory(DOMAIN)
        self.directory.replace({(u, DOMAIN): {"md5": ha1("MD5", u, p),
                                              "sha256": ha1("SHA-256", u, p), "enabled": True}
                                for u, p in users.items()})
        self.location = LocationService(self.clock)
        self.holder = SnapshotHolder(snapshot)
        registrar = Registrar(RegistrarPolicy(DOMAIN), DigestAuthenticator(
            DOMAIN, NonceManager(b"k" * 32), self.directory.lookup_ha1), self.location)
        layer = TransactionLayer(TimerConfig(), response_destination=response_destination)
        core = LateTransactionUser()
        self.endpoint = SipEndpoint(self.clock, layer, core, Metrics(),
                                    addresses=LocalAddresses())
        self.wire = Wire()
        self.endpoint.add_transport("udp", self.wire, SWITCH.host, SWITCH.port)
        proxy_auth = DigestAuthenticator(DOMAIN, NonceManager(b"p" * 32),
                                         self.directory.lookup_ha1, challenge_status=407)
        self.records = []
        # What the agent and outbound call services share with the proxy (as tap.py).
        self.shared = {"media_owners": MediaOwners(),
                       "dialog_router": InDialogRouter(self.endpoint)}
        self.agents = agents(self) if agents is not None else None
        if self.agents is not None:
            proxy_options["agent_calls"] = self.agents
        self.proxy = Proxy(self.endpoint, self.clock, CallRouter(DOMAIN, proxy_auth, self.holder,
                                                           security=security),
                           self.location, self.holder, domain=DOMAIN, config=config,
                           on_call_end=self.records.append,
                           is_our_address=self.endpoint.is_our_address, **self.shared,
                           **proxy_options)
        self.dispatcher = RequestDispatcher(registrar, self.endpoint, proxy=self.proxy)
        core.bind(self.dispatcher)
        self.layer = layer

    def bind(self, user, contact, received):
        self.location.apply([Binding(f"sip:{user}@{DOMAIN}", contact,
                                     self.clock.seconds() + 3600, received=received)], [])

    def receive(self, text: str, peer: Peer):
        data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
        self.endpoint.message_received(data, peer)
        return self.wire.take()


def invite(ruri, *, via_host="198.51.100.7", via_port=5060, branch="z9hG4bKinv1",
           call_id="call-1@carrier", from_user="+12125550123", cseq=1, extra="",
           to=None, body="v=0\n"):
    to = to or f"<{ruri}>"
    return (f"INVITE {ruri} SIP/2.0\n"
            f"Via: SIP/2.0/UDP {via_host}:{via_port};branch={branch}\n"
            f"Max-Forwards: 70\nTo: {to}\n"
            f"From: <sip:{from_user}@{via_host}>;tag=caller1\nCall-ID: {call_id}\n"
            f"CSeq: {cseq} INVITE\nContact: <sip:{from_user}@{via_host}:{via_port}>\n"
            f"{extra}Content-Type: application/sdp\nContent-Length: {len(body.replace(chr(10), chr(13) + chr(10)))}\n\n{body}")


def response_to(request, status, *, to_tag="callee1", contact=None, reason=None, extra=""):
    """The text of a response a UA would send to a request it received."""
    lines = [f"SIP/2.0 {status} {reason or 'Whatever'}"]
    for value in request.headers.values("Via"):
        lines.append(f"Via: {value}")
    for value in request.headers.values("Record-Route"):
        lines.append(f"Record-Route: {value}")
    to = request.headers.get("To")
    if status > 100 and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    lines += [f"From: {request.headers.get('From')}", f"To: {to}",
              f"Call-ID: {request.call_id}", f"CSeq: {request.headers.get('CSeq')}"]
    if contact:
        lines.append(f"Contact: <{contact}>")
    lines.append(extra.rstrip("\n")) if extra else None
    lines += ["Content-Length: 0", "", ""]
    return "\n".join(lines)
