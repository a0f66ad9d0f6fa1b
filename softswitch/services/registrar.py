"""The registrar (RFC 3261 §10.3): authenticates REGISTER, applies its Contacts to the
location service and answers with every current binding.

A Contact with a `+sip.instance` (RFC 5626 §4.1) is one device: its binding replaces
any binding of the AOR with the same instance-id, whatever the contact URI, and the 200
echoes the instance-id. SIP Outbound itself (flows, reg-id, keep-alives) is not
supported: reg-id is ignored and the 200 carries no `Require: outbound`, which tells the
phone so (RFC 5626 §4.2.1)."""

import ipaddress
import re
from dataclasses import dataclass

from twisted.logger import Logger

from ..sip.errors import RemoteProtocolError
from ..sip.message import Request, Response, make_response
from ..sip.syntax import unescape
from ..sip.uri import SipUri, canonical_user, host_for_socket
from .auth import DigestAuthenticator
from .location import Binding, LocationService
from .security_events import NO_SECURITY_EVENTS, CredentialsFailed, SecurityEvents

log = Logger()

# The quoted "<urn>" form of RFC 5626 §4.1, with URN characters only (RFC 8141), so
# the value is safe to echo in the 200 and bounded in size.
_INSTANCE = re.compile(r'"(<[A-Za-z0-9()+,\-.:=@;$_!*\'%/?#~&]{1,256}>)"')


def instance_id(value: str | None) -> str | None:
    """The instance-id of a `+sip.instance` value ("<urn:uuid:...>", quotes removed),
    or None when there is none or it is not the quoted form."""
    if value is None:
        return None
    match = _INSTANCE.fullmatch(value)
    return match.group(1) if match else None


def stored_instance_id(value: str | None) -> str | None:
    """An instance-id read back from the store: earlier versions kept the quotes."""
    if value is None:
        return None
    return instance_id(value if value.startswith('"') else f'"{value}"')


@dataclass(frozen=True)
class RegistrarPolicy:
    domain: str
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    local_names: frozenset[str] = frozenset()
    # At most this many contacts per AOR; beyond it the bindings closest to expiry are
    # replaced ("replace") or the REGISTER is refused with 403 ("reject").
    max_contacts: int = 10
    contacts_overflow: str = "replace"

    def is_local_host(self, host: str) -> bool:
        host = host.lower()
        if host == self.domain.lower() or host in self.local_names:
            return True
        try:
            ipaddress.ip_address(host_for_socket(host))
        except ValueError:
            return False
        return True


class Registrar:
    def __init__(self, policy: RegistrarPolicy, authenticator: DigestAuthenticator,
                 location: LocationService, metrics=None,
                 security: SecurityEvents = NO_SECURITY_EVENTS):
        self._policy = policy
        self.security = security
        self._auth = authenticator
        self._location = location
        self._metrics = metrics

    def handle(self, request: Request, source: str, now: float, to_tag: str) -> Response:
        """Answer one REGISTER; `source` is 'transport:host:port' of its sender."""
        response, outcome = self._handle(request, source, now, to_tag)
        if self._metrics is not None:
            self._metrics.register_outcomes.labels(outcome).inc()
        return response

    def _handle(self, request, source, now, to_tag) -> tuple[Response, str]:
        policy = self._policy
        to_uri = request.to.uri
        if not isinstance(to_uri, SipUri) or to_uri.user is None:
            return make_response(request, 400, "To must be a SIP AOR", to_tag=to_tag), "bad-aor"
        if not policy.is_local_host(to_uri.host):
            return make_response(request, 404, "Domain Not Served", to_tag=to_tag), "not-local"

        outcome = self._auth.authenticate(
            "REGISTER", request.uri, request.headers.values("Authorization"), now)
        if not outcome.ok:
            if self._metrics is not None:
                self._metrics.auth_failures.labels(outcome.reason).inc()
            if outcome.claimed_user is not None:
                self.security.credentials_failed(CredentialsFailed(
                    source_host(source), outcome.claimed_user, "REGISTER", outcome.reason))
            response = make_response(request, outcome.status_hint, to_tag=to_tag)
            for challenge in outcome.challenges:
                response.headers.add("WWW-Authenticate", challenge)
            return response, "challenged" if outcome.status_hint == 401 else "malformed"
        # The authenticated identity may register only its own AOR.
        if outcome.username.partition("@")[0] != unescape(to_uri.user):
            return make_response(request, 403, "Not Your AOR", to_tag=to_tag), "forbidden"

        # The canonical user part keeps escaped octets escaped (an escaped NUL stays
        # %00), so keys never hold raw NULs or differ by escaping alone.
        aor = f"sip:{canonical_user(to_uri.user)}@{policy.domain.lower()}"
        try:
            result = self._apply_contacts(request, aor, source, now)
        except RemoteProtocolError as exc:
            response = make_response(request, exc.status_hint, str(exc), to_tag=to_tag)
            if exc.status_hint == 423:
                response.headers.add("Min-Expires", str(policy.min_expires))
            return response, "refused"
        if result is not None:
            return make_response(request, *result, to_tag=to_tag), "refused"

        response = make_response(request, 200, to_tag=to_tag)
        for binding in self._location.lookup(aor):
            q = "" if binding.q is None else f";q={binding.q:g}"
            instance = "" if binding.instance_id is None else \
                f';+sip.instance="{binding.instance_id}"'
            response.headers.add(
                "Contact", f"<{binding.contact}>;expires={binding.remaining(now)}{q}{instance}")
        return response, "ok"

    def _apply_contacts(self, request: Request, aor: str, source: str, now: float):
        policy = self._policy
        contacts = request.contacts
        header_expires = request.headers.get("Expires")
        default = policy.default_expires if header_expires is None else int(header_expires)
        call_id = request.call_id
        cseq = request.cseq.number

        if any(c.wildcard for c in contacts):
            if len(contacts) != 1 or header_expires is None or int(header_expires) != 0:
                raise RemoteProtocolError("'*' needs Expires: 0 and no other Contact")
            existing = self._location.lookup(aor)
            for binding in existing:
                if binding.call_id == call_id and binding.cseq >= cseq:
                    return 500, "Out of Order CSeq"
            self._location.apply([], [b.key for b in existing])
            return None

        upserts, removals = [], []
        user_agent = request.headers.get("User-Agent")
        path = tuple(request.headers.get_list("Path"))
        for contact in contacts:
            address = contact.address
            expires = contact.expires
            if expires is None:
                expires = default
            if 0 < expires < policy.min_expires:
                raise RemoteProtocolError("Interval Too Brief", 423)
            expires = min(expires, policy.max_expires)
            uri = str(address.uri)
            instance = instance_id(address.params.get("+sip.instance"))
            same = self._same_binding(aor, uri, instance)
            if any(b.call_id == call_id and b.cseq >= cseq for b in same):
                return 500, "Out of Order CSeq"
            # The device's earlier contact (another port, another address) goes.
            removals += [b.key for b in same if b.contact != uri]
            if expires == 0:
                removals.append((aor, uri))
                continue
            upserts.append(Binding(
                aor=aor, contact=uri, expires_at=now + expires, q=contact.q,
                call_id=call_id, cseq=cseq, received=source, path=path,
                user_agent=user_agent, instance_id=instance,
            ))
        if upserts:
            refusal = self._cap_contacts(aor, upserts, removals)
            if refusal is not None:
                return refusal
        if upserts or removals:
            self._location.apply(upserts, removals)
        return None

    def _same_binding(self, aor: str, uri: str, instance: str | None) -> list[Binding]:
        """The bindings a Contact refreshes or replaces: the one of its URI and, with an
        instance-id, those of the same instance (RFC 5626 §6)."""
        existing = self._location.get(aor, uri)
        same = [] if existing is None else [existing]
        if instance is not None:
            same += [b for b in self._location.lookup(aor)
                     if b.instance_id == instance and b.contact != uri]
        return same


    def _cap_contacts(self, aor: str, upserts: list[Binding], removals: list):
        """Keep an AOR within max_contacts: a refusal, or evictions added to removals.

        The oldest binding is the one closest to expiry (the least recently refreshed,
        for phones registering with the same interval)."""
        cap = self._policy.max_contacts
        wanted = {b.contact for b in upserts}
        gone = {contact for _, contact in removals}
        others = [b for b in self._location.lookup(aor)
                  if b.contact not in wanted and b.contact not in gone]
        excess = len(others) + len(wanted) - cap
        if excess <= 0:
            return None
        if self._policy.contacts_overflow != "replace" or len(wanted) > cap:
            log.info("REGISTER for {aor} refused: more than {cap} contacts", aor=aor, cap=cap)
            return 403, "Too Many Contacts"
        others.sort(key=lambda b: b.expires_at)
        removals.extend(b.key for b in others[:excess])
        return None


def source_host(source: str) -> str:
    """'udp:192.0.2.1:5060' or 'udp:2001:db8::1:5060' -> the address."""
    return source.partition(":")[2].rpartition(":")[0]
