"""The dialplan decision for a new call (Kamailio's request_route, as policy):
who is calling (a trunk by source address, or an authenticated user), what was
dialled, and the ordered targets to try. No I/O: it reads the routing snapshot, the
location service and the authenticator."""

from dataclasses import dataclass, field

from ..sip.message import Request
from ..sip.transport import Peer
from ..sip.uri import SipUri, TelUri, number_part
from .numbers import NumberError, normalise
from .routing import RoutingSnapshot, Target, Trunk
from .security_events import NO_SECURITY_EVENTS, CredentialsFailed, SecurityEvents


@dataclass(frozen=True, slots=True)
class Refuse:
    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    log: str = ""


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Where a call goes: targets in failover order, and what we know of it."""

    direction: str  # "inbound" (from a trunk), "outbound" (to a trunk), "internal"
    targets: tuple[Target, ...]
    dialled: str  # E.164 or user name
    caller: str
    ingress_trunk: Trunk | None = None
    caller_user: str | None = None
    did: str | None = None
    notes: dict = field(default_factory=dict)


def dialled_part(request: Request) -> str | None:
    return number_part(request.ruri)


def caller_of(request: Request) -> str:
    uri = request.from_.uri
    if isinstance(uri, SipUri) and uri.user:
        return uri.user
    if isinstance(uri, TelUri):
        return uri.number
    return "anonymous"


class CallRouter:
    """Decides a plan for an initial INVITE, or a refusal."""

    def __init__(self, domain: str, authenticator, snapshot_source,
                 security: SecurityEvents = NO_SECURITY_EVENTS):
        self._domain = domain
        self.security = security
        self._auth = authenticator  # a DigestAuthenticator answering 407
        self._snapshot = snapshot_source  # callable returning the current RoutingSnapshot

    def decide(self, request: Request, source: Peer, now: float) -> CallPlan | Refuse:
        snapshot: RoutingSnapshot = self._snapshot()
        dialled = dialled_part(request)
        if dialled is None:
            return Refuse(404, "No Such User", log="no user part in the Request-URI")
        trunk = snapshot.trunk_for_source(source.host, source.port, source.transport)
        if trunk is not None:
            return self._from_trunk(request, trunk, dialled, snapshot)
        return self._from_user(request, dialled, snapshot, now, source)

    def _from_trunk(self, request, trunk: Trunk, dialled: str, snapshot) -> CallPlan | Refuse:
        try:
            number = normalise(dialled, trunk.number_format)
        except NumberError:
            return Refuse(404, "Not Found", log=f"trunk {trunk.name} sent {dialled!r}")
        entry = snapshot.number(number)
        if entry is None or not entry.targets:
            return Refuse(404, "Not Found", log=f"{number} is not one of our numbers")
        return CallPlan("inbound", entry.targets, number, caller_of(request),
                        ingress_trunk=trunk, did=number)

    def _from_user(self, request, dialled: str, snapshot, now: float,
                   source: Peer) -> CallPlan | Refuse:
        outcome = self._auth.authenticate(
            "INVITE", request.uri, request.headers.values("Proxy-Authorization"), now)
        if not outcome.ok:
            if outcome.claimed_user is not None:
                self.security.credentials_failed(CredentialsFailed(
                    source.host, outcome.claimed_user, "INVITE", outcome.reason))
            if outcome.status_hint == 400:
                return Refuse(400, "Malformed Credentials", log="malformed credentials")
            return Refuse(407, headers=tuple(("Proxy-Authenticate", c)
                                             for c in outcome.challenges),
                          log=f"auth: {outcome.reason}")
        user = outcome.username.partition("@")[0]
        caller = caller_of(request)
        if dialled in snapshot.users:
            return CallPlan("internal", (Target("user", dialled),), dialled, caller,
                            caller_user=user)
        try:
            number = normalise(dialled, "e164")
        except NumberError:
            return Refuse(404, "Not Found", log=f"{user} dialled {dialled!r}")
        entry = snapshot.number(number)
        if entry is not None and entry.targets:
            return CallPlan("internal", entry.targets, number, caller, caller_user=user,
                            did=number)
        trunks = snapshot.outbound_trunks(number)
        if not trunks:
            return Refuse(404, "No Route", log=f"no outbound route for {number}")
        return CallPlan("outbound", tuple(Target("trunk", t.name) for t in trunks), number,
                        caller, caller_user=user)
