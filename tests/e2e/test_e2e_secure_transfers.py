"""Transfers to trunks and agent calls with SRTP and STIR/SHAKEN, end to end:

- a caller with its own libsrtp binding (srtp_support.SrtpCaller) calls an agent that
  asks for a cold transfer to a trunk whose media_encryption is "sdes" and whose
  `stir_shaken` is "sign": the human's gateway (srtp_support.SrtpCallee) is offered
  RTP/SAVP with the switch's key and an Identity that plain PyJWT verifies with the
  STI certificate's key (attestation A, the call's DID as orig); then audio both ways,
  SRTP on both legs, each leg with its own keys;
- the same caller to the echo agent changes its key in a re-INVITE (RFC 4568 §7.1.4):
  what it sends with the new key is unprotected and echoed back.

The lab allows SDES over UDP ([media] allow_sdes_over_insecure): the peers speak UDP.
Addresses: 127.0.0.1 the switch, the agent server and the x5u HTTPS server;
127.0.0.2 the carrier (the caller); 127.0.0.3 the humans' gateway."""

import asyncio
import base64
import time

import jwt
import pytest
from sti_pki import make_pki
from ws_agent_server import AgentServer
from x5u_server import X5uServer

from agents_support import AgentRow, AgentScripts, chirp_frames, seed_agents
from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    CallSwitch,
    GatewayRow,
    Routing,
    TrunkRow,
    free_udp_port,
    seed_routing,
)
from e2e_switch import wait_until
from far_end_support import AdminApi, create_api_token
from srtp_support import SrtpCallee, SrtpCaller

NO_PROBES = 86400.0
DID = "+14155550170"  # -> agent cold, which transfers to trunk:humans/HUMAN
HUMAN = "+12025550170"
ECHO_NUMBER = "+18005550170"
CALLER_FRAMES = chirp_frames(50)  # 1 s the caller says
HUMAN_FRAMES = chirp_frames(50, 2500, 500, amplitude=6000)  # 1 s the human says


async def cold(agent):
    await asyncio.sleep(0.2)
    await agent.transfer(f"trunk:humans/{HUMAN}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("secure-transfers")
    pki = make_pki(days=3650)
    x5u = X5uServer(work)
    x5u.bodies["/sp.pem"] = pki.chain_pem
    anchors = work / "anchors"
    anchors.mkdir()
    (anchors / "sti-pa.pem").write_bytes(pki.root.pem)
    key_file = work / "sti.key"
    key_file.write_bytes(pki.sti.key_pem)
    scripts = AgentScripts()
    scripts.scripts["/cold"] = cold
    try:
        with AgentServer(scripts) as server:
            switch = CallSwitch(work / "switch", database={"reload_interval": 0.5}, sections={
                "media": {"allow_sdes_over_insecure": True},
                "agents": {"connect_timeout": 2.0, "echo_number": ECHO_NUMBER},
                "trunks": {"probe_interval": NO_PROBES},
                "stir": {"certificate_url": x5u.url("/sp.pem"), "key_file": str(key_file),
                         "trust_anchors": str(anchors), "fetch_ca_file": str(x5u.ca_file)}})
            humans_port = free_udp_port(GATEWAY_A_IP)
            seed_routing(switch.db_url, Routing(trunks=[
                TrunkRow("carrier", allowed_sources=(CARRIER_IP,)),
                TrunkRow("humans", (GatewayRow(GATEWAY_A_IP, humans_port),),
                         media_encryption="sdes")]))
            seed_agents(switch.db_url, [AgentRow("cold", f"ws://127.0.0.1:{server.port}/cold")],
                        [(DID, (("agent", "cold"),))])
            api = AdminApi(switch, create_api_token(switch.db_url))
            switch.start()
            try:
                reply = api.request("PATCH", "/v1/trunks/humans", {"stir_shaken": "sign"})
                assert reply.status == 200, reply
                time.sleep(1.0)  # the snapshot reloads with the trunk signing
                yield switch, pki, x5u, humans_port
            finally:
                switch.close()
    finally:
        x5u.close()


def test_a_transfer_to_an_sdes_signing_trunk_is_srtp_and_carries_our_identity(lab):
    switch, pki, x5u, humans_port = lab
    human = SrtpCallee(GATEWAY_A_IP, humans_port, HUMAN_FRAMES)
    phone = SrtpCaller(CARRIER_IP, switch.sip_port)
    try:
        final = phone.invite(DID)
        assert final.status == 200, final.text
        wait_until(lambda: human.invites, 5.0, message="the transfer's INVITE")
        time.sleep(0.4)  # the human answered; the relay is bridged
        sent = phone.play(CALLER_FRAMES)
        wait_until(lambda: sum(p in set(HUMAN_FRAMES) for p in phone.payloads())
                   >= len(HUMAN_FRAMES), 3.0, message="the human's audio at the caller")
        assert phone.bye(DID).status == 200
    finally:
        phone.close()
        human.close()
    invite = human.invites[0]
    assert human.offer_proto == "RTP/SAVP" and human.offer_key not in (None, phone.key)
    heard = [p for p in human.payloads() if p in set(CALLER_FRAMES)]
    assert heard == [packet[12:] for packet in sent]  # unprotected, reprotected, exactly
    assert [p for p in phone.payloads() if p in set(HUMAN_FRAMES)] == HUMAN_FRAMES
    assert human.unprotect_failures == 0 and phone.unprotect_failures == 0
    token, _, params = invite.header("Identity").partition(";")
    assert params == f"info=<{x5u.url('/sp.pem')}>;alg=ES256;ppt=shaken"
    claims = jwt.decode(token, pki.sti.certificate.public_key(), algorithms=["ES256"],
                        options={"verify_iat": False})
    assert claims["attest"] == "A", claims
    assert claims["orig"] == {"tn": DID[1:]} and claims["dest"] == {"tn": [HUMAN[1:]]}
    assert abs(claims["iat"] - time.time()) < 30


def test_an_agent_caller_that_changes_its_key_in_a_reinvite_is_followed(lab):
    switch = lab[0]
    phone = SrtpCaller(CARRIER_IP, switch.sip_port)
    try:
        final = phone.invite(ECHO_NUMBER)
        assert final.status == 200, final.text
        first_key = phone.key
        phone.play(CALLER_FRAMES[:25])
        reanswer = phone.rekey(ECHO_NUMBER)
        assert reanswer is not None and reanswer.status == 200, reanswer
        assert phone.key != first_key
        # Our key stays: the answer gives it again under the caller's tag and suite.
        assert f"a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:" \
            f"{base64.b64encode(phone.relay_key).decode()}" in reanswer.text
        later = CALLER_FRAMES[25:]
        phone.play(later, first_seq=26)  # the same stream, on
        wait_until(lambda: sum(p in set(later) for p in phone.payloads()) >= len(later),
                   5.0, message="the echo of what was sent with the new key")
        assert phone.bye(ECHO_NUMBER, cseq=3).status == 200
    finally:
        phone.close()
    assert phone.unprotect_failures == 0
    assert [p for p in phone.payloads() if p in set(later)] == later
