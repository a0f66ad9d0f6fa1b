"""STIR/SHAKEN in the proxy: calls to a signing trunk carry our Identity with the
attestation their caller earns (checked by plain PyJWT with the certificate's key),
and calls from trunks are verified before they are routed, the number's unverified
route taking those that do not pass."""

import jwt
import pytest
from memory_proxy import ProxyHarness, invite
from memory_switch import authorization
from sti_pki import NOW, make_pki
from twisted.internet import defer
from twisted.internet.task import Clock

from softswitch.services.routing import (
    Gateway,
    Number,
    OutboundRoute,
    RoutingSnapshot,
    Target,
    Trunk,
)
from softswitch.services.stir_signing import CallSigning, allowed_numbers_owner
from softswitch.services.stir_verification import CallVerification
from softswitch.sip.transport import Peer
from softswitch.stir.cert_cache import CertificateUnavailable
from softswitch.stir.certificates import verify_sti_chain
from softswitch.stir.signing import Signer
from softswitch.stir.verify import FAILED, NO_VALIDATION, PASSED

CARRIER = Peer("udp", "198.51.100.7", 5060)
ALICE = Peer("udp", "192.0.2.30", 5060)
GW = Peer("udp", "203.0.113.1", 5060)
SCREEN = Peer("udp", "203.0.113.9", 5060)
X5U = "https://sti.example.net/sp.pem"


@pytest.fixture(scope="module")
def pki():
    return make_pki()


def snapshot(sign="sign", alice_caller_ids=("+14155550100",)):
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    out = Trunk("out", (Gateway("out", "203.0.113.1", 5060, "udp", None, 1, 10),),
                stir_shaken=sign, default_caller_id="+14155550188")
    screen = Trunk("screen", (Gateway("screen", "203.0.113.9", 5060, "udp", None, 1, 10),))
    return RoutingSnapshot(
        trunks=[carrier, out, screen], users=["alice"],
        numbers=[Number("+14155550100", (Target("trunk", "out"),)),
                 Number("+14155550102", (Target("trunk", "out"),),
                        unverified_targets=(Target("trunk", "screen"),),
                        unverified_when="unverified"),
                 Number("+14155550103", (Target("trunk", "out"),),
                        unverified_targets=(Target("reject", code=603),),
                        unverified_when="failed")],
        outbound=[OutboundRoute("1", ("out",))],
        user_caller_ids={"alice": alice_caller_ids} if alice_caller_ids else {})


class Certificates:
    """A CertificateSource whose answers the test gives (the fetcher is tested on
    its own against an HTTPS server)."""

    def __init__(self):
        self.asked: list[tuple[str, defer.Deferred]] = []

    def certificate(self, url):
        d = defer.Deferred()
        self.asked.append((url, d))
        return d


def harness(pki, sign="sign", verify=True, alice_caller_ids=("+14155550100",)):
    certificates = Certificates()
    clock = Clock()
    clock.advance(1_700_000_000)
    routing = snapshot(sign, alice_caller_ids)
    signing = CallSigning(Signer.from_pem(pki.sti.key_pem, X5U), clock,
                          allowed_numbers_owner(lambda: routing))
    switch = ProxyHarness(routing, users={"alice": "a-secret"}, clock=clock, signing=signing,
                          verification=CallVerification(certificates, clock) if verify else None)
    switch.certificates = certificates
    return switch


def alice_calls(switch, from_user, extra=""):
    text = invite("sip:+14155550199@127.0.0.1", via_host="192.0.2.30", from_user=from_user)
    challenge = [m for m, _ in switch.receive(text, ALICE) if not m.is_request][-1]
    value = authorization(challenge.headers.values("Proxy-Authenticate")[0], "alice",
                          "a-secret", "INVITE", "sip:+14155550199@127.0.0.1")
    text = invite("sip:+14155550199@127.0.0.1", via_host="192.0.2.30", from_user=from_user,
                  branch="z9hG4bKinv2", cseq=2,
                  extra=f"Proxy-Authorization: {value}\n{extra}")
    return [m for m, p in switch.receive(text, ALICE) if m.is_request and p == GW]


def claims_of(pki, request):
    [value] = request.headers.values("Identity")
    token, _, params = value.partition(";")
    assert params == f"info=<{X5U}>;alg=ES256;ppt=shaken"
    return jwt.decode(token, pki.sti.certificate.public_key(), algorithms=["ES256"],
                      options={"verify_iat": False})


def test_our_user_presenting_our_number_is_signed_a(pki):
    switch = harness(pki)
    forged = "Identity: forged.by.alice;info=<https://x>\n"
    [out] = alice_calls(switch, "+14155550100", extra=forged)
    claims = claims_of(pki, out)
    assert claims["attest"] == "A"
    assert claims["orig"] == {"tn": "14155550100"} and claims["dest"] == {"tn": ["14155550199"]}
    assert claims["iat"] == int(switch.clock.seconds())


def test_our_user_presenting_a_number_it_may_not_is_signed_a_for_its_own(pki):
    switch = harness(pki)  # the caller-ID policy asserts alice's number instead
    [out] = alice_calls(switch, "+14155550177")
    claims = claims_of(pki, out)
    assert claims["attest"] == "A" and claims["orig"] == {"tn": "14155550100"}


def test_our_user_presenting_the_trunks_default_number_is_signed_b(pki):
    switch = harness(pki, alice_caller_ids=())  # no number of her own: the trunk's default
    [out] = alice_calls(switch, "+14155550177")
    claims = claims_of(pki, out)
    assert claims["attest"] == "B" and claims["orig"] == {"tn": "14155550188"}


def test_a_trunk_left_to_the_carrier_gets_no_identity(pki):
    switch = harness(pki, sign="off")
    [out] = alice_calls(switch, "+14155550100")
    assert out.headers.values("Identity") == []


def test_a_call_passing_through_is_signed_c_unless_it_carries_an_identity(pki):
    switch = harness(pki, verify=False)
    sent = switch.receive(invite("sip:4155550100@127.0.0.1", from_user="2125550123"), CARRIER)
    [out] = [m for m, p in sent if m.is_request and p == GW]
    claims = claims_of(pki, out)
    assert claims["attest"] == "C" and claims["orig"] == {"tn": "12125550123"}
    theirs = Signer.from_pem(pki.sti.key_pem, X5U).identity(
        "A", "+12125550123", "+14155550100", switch.clock.seconds(), "x")
    sent = switch.receive(invite("sip:4155550100@127.0.0.1", call_id="call-2@carrier",
                                 branch="z9hG4bKinv2",
                                 extra=f"Identity: {theirs}\n"), CARRIER)
    [out] = [m for m, p in sent if m.is_request and p == GW]
    assert out.headers.values("Identity") == [theirs]


def carrier_call(switch, pki, did, *, orig="+12125550123", iat=None, call_id="call-1@carrier",
                 from_user="2125550123"):
    identity = Signer.from_pem(pki.sti.key_pem, X5U).identity(
        "A", orig, did, switch.clock.seconds() if iat is None else iat, "carrier")
    return switch.receive(invite(f"sip:{did[2:]}@127.0.0.1", from_user=from_user,
                                 call_id=call_id, branch=f"z9hG4bK{call_id[:6]}",
                                 extra=f"Identity: {identity}\n"), CARRIER)


def certificate(pki):
    return verify_sti_chain(pki.chain_pem, [pki.root.certificate], NOW)


def test_an_inbound_call_waits_for_its_certificate_then_passes(pki):
    switch = harness(pki)
    sent = carrier_call(switch, pki, "+14155550102")
    assert [m.status for m, p in sent if not m.is_request] == [100]
    assert not [m for m, p in sent if m.is_request]  # nothing routed before the answer
    [(url, d)] = switch.certificates.asked
    assert url == X5U
    d.callback(certificate(pki))
    [(out, peer)] = switch.wire.take()
    assert peer == GW  # the number's route
    # The Identity of the call we verified travels on to the next network.
    assert out.headers.values("Identity")
    assert switch.proxy._calls  # the call is under way
    call = next(iter(switch.proxy._calls.values()))
    assert (call.record.verstat, call.record.attestation) == (PASSED, "A")


@pytest.mark.parametrize("case, verstat", [("old", FAILED), ("wrong-number", FAILED),
                                           ("unreachable", NO_VALIDATION)])
def test_calls_that_do_not_pass_take_the_unverified_route(pki, case, verstat):
    switch = harness(pki)
    now = switch.clock.seconds()
    if case == "old":
        carrier_call(switch, pki, "+14155550102", iat=now - 61)
    elif case == "wrong-number":  # signed for another caller than the From
        carrier_call(switch, pki, "+14155550102", orig="+12125550999")
    else:
        carrier_call(switch, pki, "+14155550102")
    url, d = switch.certificates.asked[-1]
    d.callback(CertificateUnavailable("timeout") if case == "unreachable" else certificate(pki))
    sent = switch.wire.take()
    assert [p for m, p in sent if m.is_request][-1] == SCREEN
    call = [c for c in switch.proxy._calls.values()][-1]
    assert call.record.verstat == verstat


def test_failed_only_screening_lets_unsigned_calls_through_and_rejects_failed_ones(pki):
    switch = harness(pki)
    sent = switch.receive(invite("sip:4155550103@127.0.0.1"), CARRIER)
    assert [p for m, p in sent if m.is_request] == [GW]  # not signed: No-TN-Validation
    carrier_call(switch, pki, "+14155550103", iat=switch.clock.seconds() - 600,
                 call_id="call-2@carrier")
    switch.certificates.asked[-1][1].callback(certificate(pki))
    [(reject, peer)] = switch.wire.take()
    assert reject.status == 603 and peer == CARRIER


def test_a_cancel_while_verifying_ends_the_call_and_nothing_is_routed(pki):
    switch = harness(pki)
    carrier_call(switch, pki, "+14155550102")
    cancel = ("CANCEL sip:4155550102@127.0.0.1 SIP/2.0\n"
              "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKcall-1\nMax-Forwards: 70\n"
              "To: <sip:4155550102@127.0.0.1>\nFrom: <sip:2125550123@198.51.100.7>;tag=caller1\n"
              "Call-ID: call-1@carrier\nCSeq: 1 CANCEL\nContent-Length: 0\n\n")
    sent = switch.receive(cancel, CARRIER)
    assert sorted((m.status, m.cseq.method) for m, p in sent) == [(200, "CANCEL"),
                                                                  (487, "INVITE")]
    switch.certificates.asked[0][1].callback(certificate(pki))
    assert switch.wire.take() == []
    [record] = switch.records
    assert (record.final_code, record.disconnect_reason, record.trunk) == (487, "cancel",
                                                                           "carrier")


def test_hostile_identity_headers_fail_without_a_fetch(pki):
    switch = harness(pki)
    garbage = "".join(f"Identity: {value}\n" for value in (
        "x" * 5000, "a..c;info=<https://x>", "e30.e30.e30;info=<https://x>",
        "not-a-token", "\x7f;info=<https://x>") * 3)
    sent = switch.receive(invite("sip:4155550102@127.0.0.1", extra=garbage), CARRIER)
    assert switch.certificates.asked == []
    assert [p for m, p in sent if m.is_request] == [SCREEN]  # TN-Validation-Failed
    call = next(iter(switch.proxy._calls.values()))
    assert call.record.verstat == FAILED


def test_an_identity_whose_info_is_not_its_x5u_is_never_fetched(pki):
    switch = harness(pki)
    identity = Signer.from_pem(pki.sti.key_pem, X5U).identity(
        "A", "+12125550123", "+14155550102", switch.clock.seconds(), "carrier")
    token = identity.split(";")[0]
    sent = switch.receive(invite("sip:4155550102@127.0.0.1", from_user="2125550123",
                                 extra=f"Identity: {token};info=<http://evil.example/x>\n"),
                          CARRIER)
    assert switch.certificates.asked == []
    assert [p for m, p in sent if m.is_request] == [SCREEN]
