"""Caller-ID policy toward trunks (RFC 3325 asserted identity, RFC 3323 privacy).

Who may present which number: a user or agent presents its configured caller IDs
(the first is its default) and the numbers whose route targets it. Toward a trunk
the switch asserts the identity itself (P-Asserted-Identity) from the authenticated
caller: the presented number (P-Preferred-Identity first, then the From user) when
it is allowed, else the caller's default, else the trunk's default_caller_id, else
the call is refused (403). From is rewritten to the asserted number when the
presented one is not allowed, as Kamailio's uac_replace_from and Asterisk's
endpoint callerid do: carriers that ignore PAI bill and display From.

Identity headers (PAI, RPID, PPI, Identity) are believed only from a trusted trunk
(`trust_identity`); from anyone else they are removed. Pure: the snapshot, the
request and the trunk in; a Presentation out, applied by `apply_presentation`.
"""

from dataclasses import dataclass

from ..sip.errors import SipError
from ..sip.fields import parse_name_addr
from ..sip.identity import IDENTITY_HEADERS
from ..sip.message import Request
from ..sip.uri import SipUri, TelUri
from .numbers import NumberError, normalise

ANONYMOUS_FROM = '"Anonymous" <sip:anonymous@anonymous.invalid>'
# RFC 3323 §5.1: header privacy removes what names the user or its host.
PRIVATE_HEADERS = ("Call-Info", "In-Reply-To", "Organization", "Reply-To", "Subject",
                   "User-Agent", "Server", "Warning")
MAX_PRIVACY_LENGTH = 128  # longer Privacy values are read as "id;header;user"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a call comes from, as the policy sees it: "user" or "agent" (the switch
    authenticated it and knows its numbers), or "trunk" (trusted or not)."""

    kind: str
    name: str | None = None
    trusted: bool = False  # a trunk whose identity headers are believed


@dataclass(frozen=True, slots=True)
class Presentation:
    """What the switch does to one INVITE toward one trunk."""

    refuse: int | None = None  # no identity to present: refuse with this status
    asserted: str | None = None  # the number we assert (None: keep a trusted one's)
    from_number: str | None = None  # From's user part becomes this (None: From stays)
    anonymous: bool = False  # From becomes ANONYMOUS_FROM (Privacy: id/user/header)
    strip_identity: bool = True  # the caller's PAI/RPID/PPI/Identity are removed
    send_asserted: bool = True  # PAI goes out (False: untrusted trunk under Privacy: id)
    strip_private: bool = False  # Privacy: header
    hide_topology: bool = False  # the trunk's topology_hiding


# The common transit cases (no Privacy, no hiding), made once: the call path makes
# no Presentation for them.
_TRUSTED_TRANSIT = Presentation(strip_identity=False)
_UNTRUSTED_TRANSIT = Presentation()


def allowed_caller_ids(snapshot, kind: str, name: str | None) -> tuple[str, ...]:
    """A user's or agent's allowed numbers: configured ones first (the first is the
    default), then the numbers whose route targets it. Trunks have none."""
    if kind == "user":
        configured = snapshot.user_caller_ids.get(name, ())
    elif kind == "agent":
        agent = snapshot.agents.get(name)
        configured = agent.caller_ids if agent is not None else ()
    else:
        return ()
    owned = snapshot.owned_numbers.get((kind, name), ())
    if not owned:
        return tuple(configured)
    return tuple(configured) + tuple(n for n in owned if n not in configured)


def is_owned_number(snapshot, caller: Caller, number: str) -> bool:
    """Whether `number` (any form normalise() reads) is one `caller` may present:
    STIR/SHAKEN attests A for these when the caller is authenticated."""
    e164 = as_e164(number)
    return e164 is not None and e164 in allowed_caller_ids(snapshot, caller.kind, caller.name)


def as_e164(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return normalise(text, "e164")
    except NumberError:
        return None


def number_of(value: str | None) -> str | None:
    """The E.164 number a From/PPI value names (sip: user part or tel:), if any."""
    if not value:
        return None
    try:
        uri = parse_name_addr(value.split(",", 1)[0]).uri
    except SipError:
        return None
    if isinstance(uri, SipUri) and uri.user:
        return as_e164(uri.user.split(";", 1)[0])
    if isinstance(uri, TelUri):
        return as_e164(uri.number)
    return None


def privacy_of(request: Request) -> frozenset[str]:
    """The Privacy header's values (RFC 3323 §4.2), lower case; "none" wins."""
    values = request.headers.values("Privacy")
    if not values:
        return frozenset()
    text = ";".join(values)
    if len(text) > MAX_PRIVACY_LENGTH:
        return frozenset({"id", "header", "user"})
    tokens = frozenset(t.strip().lower() for t in text.replace(",", ";").split(";")
                       if t.strip())
    return frozenset() if "none" in tokens else tokens


def choose(allowed: tuple[str, ...], presented: str | None, preferred: str | None,
           trunk) -> str | None:
    """The number to assert: the preferred one (RFC 3325 §9.2: a user picks among its
    identities), else the presented one, if allowed; else the caller's default, else
    the trunk's; None: nothing to present."""
    if preferred is not None and preferred in allowed:
        return preferred
    if presented is not None and presented in allowed:
        return presented
    if allowed:
        return allowed[0]
    return trunk.default_caller_id


def present(caller: Caller, allowed: tuple[str, ...], request: Request,
            trunk) -> Presentation:
    """The policy for `request` going to `trunk` (routing.Trunk) from `caller`."""
    privacy = privacy_of(request)
    hide = trunk.topology_hiding
    if caller.kind == "trunk" and not privacy and not hide:
        return _TRUSTED_TRANSIT if caller.trusted else _UNTRUSTED_TRANSIT
    anonymous = bool(privacy & {"id", "user", "header"})
    strip_private = "header" in privacy
    send_asserted = trunk.trust_identity or "id" not in privacy
    if caller.kind == "trunk":
        # A transit call: a trusted carrier's identity is passed on, anyone else's
        # identity headers are dropped; From is theirs either way.
        return Presentation(strip_identity=not caller.trusted, send_asserted=send_asserted,
                            anonymous=anonymous and not caller.trusted,
                            strip_private=strip_private, hide_topology=hide)
    presented = number_of(request.headers.get("From"))
    preferred = number_of(request.headers.get("P-Preferred-Identity"))
    chosen = choose(allowed, presented, preferred, trunk)
    if chosen is None:
        return Presentation(refuse=403)
    return Presentation(asserted=chosen,
                        from_number=None if chosen == presented else chosen,
                        anonymous=anonymous, send_asserted=send_asserted,
                        strip_private=strip_private, hide_topology=hide)


def apply_presentation(request: Request, presentation: Presentation, host: str) -> None:
    """Edit `request` (a copy going to the trunk) as `presentation` says. `host` is
    the host part of the URIs we assert (the switch's domain)."""
    headers = request.headers
    if presentation.strip_identity:
        strip_identity(request)
    elif "P-Preferred-Identity" in headers:
        headers.remove("P-Preferred-Identity")  # only meaningful to the first proxy
    if presentation.asserted is not None:
        headers.remove("P-Asserted-Identity")
        headers.add("P-Asserted-Identity", f"<sip:{presentation.asserted}@{host}>")
    if not presentation.send_asserted and ("P-Asserted-Identity" in headers
                                           or "Remote-Party-ID" in headers):
        headers.remove("P-Asserted-Identity")
        headers.remove("Remote-Party-ID")
    if presentation.strip_private:
        for name in PRIVATE_HEADERS:
            if name in headers:
                headers.remove(name)
    if presentation.anonymous:
        _replace_from(request, ANONYMOUS_FROM)
    elif presentation.from_number is not None:
        _replace_from(request, f"<sip:{presentation.from_number}@{host}>")
    request.invalidate()


def _replace_from(request: Request, address: str) -> None:
    """A new From URI and display name; the tag (the dialog's identity) stays."""
    tag = request.from_tag
    request.headers.set("From", f"{address};tag={tag}" if tag else address)


def agent_identity(snapshot, agent: str, presented: str | None, trunk,
                   host: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """For an INVITE the switch builds for an agent toward `trunk` (an outbound call,
    a transfer): the number its From carries (None: refuse, 403) and the identity
    headers to add (PAI toward a trusted trunk)."""
    number = choose(allowed_caller_ids(snapshot, "agent", agent), as_e164(presented),
                    None, trunk)
    if number is None or not trunk.trust_identity:
        return number, ()
    return number, (("P-Asserted-Identity", f"<sip:{number}@{host}>"),)


def caller_of_plan(plan) -> Caller:
    """The caller of a proxied call (call_routing.CallPlan): the trunk it came in
    through, else the authenticated user."""
    if plan.ingress_trunk is not None:
        return Caller("trunk", plan.ingress_trunk.name, plan.ingress_trunk.trust_identity)
    if plan.caller_user is not None:
        return Caller("user", plan.caller_user)
    return Caller("unknown")


def strip_identity(request: Request) -> None:
    """Toward a phone or agent: an untrusted caller's identity headers go."""
    headers = request.headers
    for name in IDENTITY_HEADERS:
        if name in headers:
            headers.remove(name)


def present_in_dialog(request: Request, dialog, side: str, via: str, local_uri: str) -> None:
    """A request within a dialog whose INVITE went to a trunk under the policy
    (services.dialogs.Dialog.callee_from / hide_caller), with our Via `via` added:
    the callee keeps seeing the From it was given and none of the caller's topology."""
    headers = request.headers
    if side == "caller":
        if dialog.callee_from:
            headers.set("From", dialog.callee_from)
        if dialog.hide_caller:
            headers.remove("Via")
            headers.add("Via", via, first=True)
            if "Contact" in headers:
                headers.set("Contact", f"<{local_uri}>")
            return
    elif dialog.callee_from:
        headers.set("To", dialog.towards_caller.remote_uri)  # the caller's own From
    headers.insert_before("Via", via)


def restore_in_dialog(response, request: Request, dialog, side: str) -> None:
    """The response to such a request (our Via gone) as its sender knows the dialog:
    its own From or To back, and behind hiding the Vias the callee never saw."""
    headers = response.headers
    if side == "caller":
        if dialog.callee_from:
            headers.set("From", request.headers.get("From"))
        if dialog.hide_caller:
            headers.remove("Via")
            for value in reversed(request.headers.values("Via")):
                headers.add("Via", value, first=True)
    elif dialog.callee_from:
        headers.set("To", request.headers.get("To"))
