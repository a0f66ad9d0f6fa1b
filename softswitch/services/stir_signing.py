"""STIR/SHAKEN signing of calls leaving through a trunk (ATIS-1000074 §5.3.1): which
attestation a call gets and the Identity header it carries. Runs after the caller-ID
policy has set the identity the call presents: it signs what goes out.

- a call from one of our authenticated users, or an outbound call placed for an
  agent: A when the calling number is ours (the numbers table, or a number the caller
  may present), else B;
- a call that came in from another trunk and only passes through: C, unless it
  already carries an Identity (the originating network's signature travels on).
"""


from twisted.logger import Logger

from ..sip.fields import parse_name_addr
from ..sip.message import Request
from ..sip.uri import number_part
from ..stir.attestation import NumberIsOurs, Origination, attestation_level
from ..stir.signing import Signer
from .caller_id import allowed_caller_ids
from .numbers import NumberError, normalise

log = Logger()
SIGN = "sign"


def allowed_numbers_owner(snapshot_source) -> NumberIsOurs:
    """"Ours": one of the numbers the caller may present (services.caller_id: its
    configured caller IDs and the numbers routed to it), so attestation A; a trunk's
    default_caller_id presented for a caller without one is not (B)."""
    def is_ours(number: str, source: str) -> bool:
        kind, _, name = source.partition(":")
        return number in allowed_caller_ids(snapshot_source(), kind, name)
    return is_ours


def calling_number(request: Request, number_format: str = "e164") -> str | None:
    """The E.164 number a request presents: its P-Asserted-Identity, else its From
    (read under `number_format`, a trunk's)."""
    for value in request.headers.values("P-Asserted-Identity")[:2]:
        try:
            number = _number_of(parse_name_addr(value.split(",")[0]).uri, number_format)
        except Exception:  # an unreadable PAI presents nothing
            continue
        if number is not None:
            return number
    return _number_of(request.from_.uri, number_format)


def _e164(text: str | None) -> str | None:
    try:
        return normalise(text, "e164") if text else None
    except NumberError:
        return None


def _number_of(uri, number_format: str) -> str | None:
    text = number_part(uri)
    if text is None:
        return None
    try:
        return normalise(text, number_format)
    except NumberError:
        return None


class CallSigning:
    """Signs calls toward trunks whose `stir_shaken` is "sign"."""

    def __init__(self, signer: Signer, clock, number_is_ours: NumberIsOurs):
        self._signer = signer
        self._clock = clock
        self._is_ours = number_is_ours
        self.signed = {"A": 0, "B": 0, "C": 0}  # Identities made, by attestation (metrics)
        self.unsigned = 0  # calls to signing trunks that presented no telephone number

    def sign_proxied(self, request: Request, plan, trunk) -> None:
        """Put our Identity on a proxied INVITE to `trunk` (call_routing.CallPlan
        `plan`), replacing any the caller sent; an inbound call passing through that
        already carries one keeps it."""
        if trunk.stir_shaken != SIGN:
            return
        if plan.ingress_trunk is not None:
            if request.headers.values("Identity"):
                return
            origination = Origination(False, calling_number(
                request, plan.ingress_trunk.number_format), f"trunk:{plan.ingress_trunk.name}")
        else:
            origination = Origination(plan.caller_user is not None, calling_number(request),
                                      f"user:{plan.caller_user}")
        self._put(request, origination, plan.dialled)

    def identity_for_agent_call(self, from_number: str, to_number: str, agent: str,
                                trunk) -> str | None:
        """The Identity of an outbound call the switch places for `agent`."""
        if trunk.stir_shaken != SIGN:
            return None
        try:
            number = normalise(from_number, "e164")
        except NumberError:
            number = None
        return self._identity(Origination(True, number, f"agent:{agent}"), to_number)

    def identity_for_transfer(self, customer: str, did: str | None, dest: str,
                              agent: str | None, trunk) -> str | None:
        """The Identity of a transfer's leg to `trunk`: attestation A with the call's
        DID as `orig` when that number is ours (the switch places the leg for its own
        number), else C for the customer's number (a call we only pass on)."""
        if trunk.stir_shaken != SIGN:
            return None
        source = f"agent:{agent or ''}"
        ours = _e164(did)
        if ours is not None and self._is_ours(ours, source):
            return self._identity(Origination(True, ours, source), dest)
        return self._identity(Origination(False, _e164(customer), source), dest)

    def _put(self, request: Request, origination: Origination, dest: str) -> None:
        value = self._identity(origination, dest)
        request.headers.remove("Identity")
        if value is not None:
            request.headers.add("Identity", value)
        request.invalidate()

    def _identity(self, origination: Origination, dest: str) -> str | None:
        if origination.calling_number is None:
            log.info("not signing a call to {dest}: the caller presents no telephone number",
                     dest=dest)
            self.unsigned += 1
            return None
        attest = attestation_level(origination, self._is_ours)
        try:
            value = self._signer.identity(attest, origination.calling_number, dest,
                                          self._clock.seconds(), origination.source)
        except ValueError as exc:
            log.info("not signing a call to {dest}: {why}", dest=dest, why=exc)
            self.unsigned += 1
            return None
        self.signed[attest] += 1
        return value
