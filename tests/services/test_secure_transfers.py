"""SRTP and STIR/SHAKEN on the switch's own legs to trunks (Clock-driven): what a
transfer offers each trunk (its media_encryption; keys only over TLS unless allowed),
the offer remade when a failover reaches a trunk wanting other SRTP, and the Identity
of a transfer's leg (A with the call's DID when ours, else C)."""

import jwt
import pytest
from sti_pki import make_pki
from test_transfers import HUMANS, FakeMedia, Switch
from test_uac_leg import reply
from twisted.internet.task import Clock

from softswitch.services.media_control import KeysRefused, offer_encryption
from softswitch.services.routing import (
    Agent,
    Gateway,
    Number,
    OutboundRoute,
    RoutingSnapshot,
    Target,
    Trunk,
)
from softswitch.services.stir_signing import CallSigning, allowed_numbers_owner
from softswitch.stir.signing import Signer

PLAIN_GW = "203.0.113.80"
X5U = "https://sti.example.com/sp.pem"


class RecordingMedia(FakeMedia):
    def __init__(self):
        super().__init__()
        self.options = []

    def offer(self, call_id, from_tag, sdp, region=None, **options):
        self.options.append(options)
        return super().offer(call_id, from_tag, sdp, region)


def trunk(name, host, transport="udp", encryption="none", sign="off"):
    return Trunk(name, (Gateway(name, host, 5060, transport, None, 1, 10),),
                 media_encryption=encryption, stir_shaken=sign)


def routing(humans_transport="udp", plain_first=True, sign="off"):
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    humans = trunk("humans", HUMANS.host, humans_transport, "sdes", sign)
    plain = trunk("plain", PLAIN_GW)
    return RoutingSnapshot(
        trunks=[carrier, humans, plain], users=["alice"],
        agents=[Agent("bot", "ws://127.0.0.1:9/", "twilio", 8000)],
        numbers=[Number("+14155550100", (Target("agent", "bot"),))],
        outbound=[OutboundRoute("1415", ("plain", "humans") if plain_first else ("humans",))])


def lab(allow=False, signing=None, **options):
    switch = Switch()
    switch.holder.replace(routing(**options))
    switch.media = switch.transfers.media = RecordingMedia()
    switch.transfers.allow_sdes_over_insecure = allow
    switch.transfers.signing = signing
    switch.answered_call()
    return switch


@pytest.mark.parametrize("mode,transport,allow,offered", [
    ("none", "udp", False, "none"), ("sdes", "tls", False, "sdes"),
    ("sdes", "udp", True, "sdes"), ("optional", "tls", False, "optional"),
    ("optional", "udp", False, "none"), ("optional", "tcp", True, "optional")])
def test_what_the_switch_offers_a_trunk(mode, transport, allow, offered):
    assert offer_encryption(trunk("t", "192.0.2.1", transport, mode), transport,
                            allow) == offered
    assert offer_encryption(None, "udp") == "none"  # a user: plain RTP


def test_no_srtp_keys_go_in_clear_to_an_sdes_trunk():
    with pytest.raises(KeysRefused, match="tls gateway"):
        offer_encryption(trunk("t", "192.0.2.1", "udp", "sdes"), "udp")


def test_a_transfer_to_an_sdes_trunk_is_offered_srtp():
    switch = lab(humans_transport="tls", plain_first=False)
    switch.transfer()
    assert switch.media.options == [{"encryption": "sdes"}]


def test_a_transfer_to_an_sdes_trunk_over_udp_is_refused_unless_allowed():
    switch = lab(plain_first=False)
    assert switch.transfer() == []
    assert switch.session.failures == [("+14155550199", 488, "failed")]
    allowed = lab(allow=True, plain_first=False)
    [(out, peer)] = allowed.transfer()
    assert peer.host == HUMANS.host and allowed.media.options == [{"encryption": "sdes"}]


def test_a_failover_to_an_sdes_trunk_gets_the_offer_remade_for_it():
    switch = lab(allow=True)
    [(first, peer)] = switch.transfer()
    assert peer.host == PLAIN_GW and switch.media.options == [{"encryption": "none"}]
    sent = switch.receive(reply(first, 503, to_tag="gw"), peer)
    [second] = [(m, p) for m, p in sent if m.is_request and m.method == "INVITE"]
    assert second[1].host == HUMANS.host
    assert switch.media.options == [{"encryption": "none"}, {"encryption": "sdes"}]
    offers = [c for c in switch.media.commands if c[0] == "offer"]
    assert len(offers) == 2 and offers[0][1:] == offers[1][1:]  # the caller's SDP again
    assert second[0].body == first.body  # (the fake relay answers both the same)


@pytest.fixture(scope="module")
def pki():
    return make_pki()


def signing_of(pki, numbers):
    clock = Clock()
    clock.advance(1_700_000_000)
    snapshot = RoutingSnapshot(numbers=[Number(n, (Target("agent", "bot"),)) for n in numbers],
                               agents=[Agent("bot", "ws://127.0.0.1:9/", "twilio", 8000)])
    return CallSigning(Signer.from_pem(pki.sti.key_pem, X5U), clock,
                       allowed_numbers_owner(lambda: snapshot))


def claims_of(pki, value):
    token = value.partition(";")[0]
    return jwt.decode(token, pki.sti.certificate.public_key(), algorithms=["ES256"],
                      options={"verify_iat": False})


def test_a_transfer_from_our_did_is_signed_a_with_the_did_as_orig(pki):
    signing = signing_of(pki, ["+14155550100"])
    signed = trunk("humans", HUMANS.host, sign="sign")
    claims = claims_of(pki, signing.identity_for_transfer(
        "+12125550123", "+14155550100", "+14155550199", "bot", signed))
    assert (claims["attest"], claims["orig"], claims["dest"]) == (
        "A", {"tn": "14155550100"}, {"tn": ["14155550199"]})
    # Not our number: the customer's, attestation C (a call we pass on).
    claims = claims_of(pki, signing.identity_for_transfer(
        "+12125550123", "+14155550111", "+14155550199", "bot", signed))
    assert (claims["attest"], claims["orig"]) == ("C", {"tn": "12125550123"})
    assert signing.identity_for_transfer("+12125550123", "+14155550100", "+14155550199",
                                         "bot", trunk("quiet", HUMANS.host)) is None


def test_the_transfers_leg_to_a_signing_trunk_carries_the_identity(pki):
    switch = lab(allow=True, plain_first=False, sign="sign",
                 signing=signing_of(pki, ["+14155550100"]))
    [(out, _)] = switch.transfer()
    [value] = out.headers.values("Identity")
    claims = claims_of(pki, value)
    assert claims["attest"] == "A" and claims["orig"] == {"tn": "14155550100"}
    assert claims["dest"] == {"tn": ["14155550199"]}
