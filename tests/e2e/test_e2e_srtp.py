"""SDES-SRTP (RFC 4568) end to end, against peers with their own SRTP:

- a caller with its own libsrtp binding (pylibsrtp, srtp_support.SrtpCaller) calls
  through a trunk to a plain-RTP SIPp callee: every frame the caller protected reaches
  the callee in the clear, byte for byte, and every frame the callee played reaches the
  caller protected with the key of the switch's answer;
- the same caller calls the built-in echo agent: its frames come back, protected;
- Debian's baresip with its srtp module and `mediaenc=srtp-mand` calls the echo agent;
- a trunk whose media_encryption is "sdes" is offered SRTP, and baresip as its far end
  answers with its own key while the caller is SRTP too (both legs, four keys);
- an SRTP offer over plain UDP is refused with 488 by a switch in its default
  configuration (keys only over TLS).

The labs allow SDES over UDP ([media] allow_sdes_over_insecure) because SIPp and this
caller speak UDP."""

import time

import pytest
import sqlalchemy as sa

from agents_support import chirp_frames
from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    CallSwitch,
    GatewayRow,
    NumberRow,
    Routing,
    TrunkRow,
    free_udp_port,
    seed_routing,
    wait_cdr,
)
from e2e_baresip import Baresip
from e2e_switch import wait_until
from far_end_support import MediaCallee
from softswitch.store import tables as t
from srtp_support import PROFILES, SrtpCaller

HUMAN_DID = "+14155550160"  # -> trunk humans (a plain SIPp callee)
ECHO_NUMBER = "+18005550160"  # [agents] echo_number
NO_PROBES = 86400.0
CALLER_FRAMES = chirp_frames(60)  # 1.2 s the caller says
CALLEE_FRAMES = chirp_frames(50, 2500, 500, amplitude=6000)  # 1 s the callee says
USER, PASSWORD = "phone1", "phone1-secret-pw"
FAR_END_USER = "+14155550160"


def sipp_test(function):
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    switch = CallSwitch(tmp_path_factory.mktemp("srtp"),
                        sections={"media": {"allow_sdes_over_insecure": True},
                                  "agents": {"echo_number": ECHO_NUMBER},
                                  "trunks": {"probe_interval": NO_PROBES}})
    switch.add_user(USER, PASSWORD)
    humans_port = free_udp_port(GATEWAY_A_IP)
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("carrier", allowed_sources=(CARRIER_IP,)),
                TrunkRow("humans", (GatewayRow(GATEWAY_A_IP, humans_port),))],
        numbers=[NumberRow(HUMAN_DID, (("trunk", "humans"),))]))
    switch.start()
    try:
        yield switch, humans_port
    finally:
        switch.close()


@pytest.fixture
def caller(lab):
    made = []

    def make(suite="AES_CM_128_HMAC_SHA1_80", proto="RTP/SAVP"):
        made.append(SrtpCaller(CARRIER_IP, lab[0].sip_port, suite, proto))
        return made[-1]
    yield make
    for one in made:
        one.close()


@sipp_test
@pytest.mark.parametrize("suite", sorted(PROFILES))
def test_an_srtp_caller_and_a_plain_rtp_callee_hear_each_other_exactly(
        lab, caller, tmp_path, suite):
    switch, humans_port = lab
    callee = MediaCallee(tmp_path / "callee", ip=GATEWAY_A_IP, port=humans_port,
                         frames=CALLEE_FRAMES)
    phone = caller(suite)
    try:
        final = phone.invite(HUMAN_DID)
        assert final.status == 200, final.text
        assert phone.answer_proto == "RTP/SAVP"
        assert len(phone.answer_cryptos) == 1 and phone.relay_key != phone.key
        sent = phone.play(CALLER_FRAMES)
        time.sleep(0.5)
        assert phone.bye(HUMAN_DID).status == 200
        result = callee.finish()
    except BaseException:
        callee.stop()
        raise
    # The callee's INVITE was plain RTP, with nothing of the caller's key in it.
    invite = [m for m in result.received() if not m.is_response and m.method == "INVITE"][0]
    assert "RTP/AVP" in invite.text and "crypto" not in invite.text, invite.text
    # Sample by sample: the relay unprotected each packet, and protected each back.
    heard_by_callee = [p.payload for p in callee.sink.audio()]
    assert heard_by_callee == [packet[12:] for packet in sent]
    assert phone.unprotect_failures == 0
    heard_by_caller = [p for p in phone.payloads() if p in set(CALLEE_FRAMES)]
    assert heard_by_caller == CALLEE_FRAMES
    record = wait_cdr(switch, phone.call_id)
    caller_stream = record["media_stats"]["caller"]["streams"][0]
    callee_stream = record["media_stats"]["callee"]["streams"][0]
    assert (caller_stream["srtp"], callee_stream["srtp"]) == (suite, None), record
    assert caller_stream["srtp_dropped"] == 0
    assert caller_stream["rtp"]["packets"] == len(CALLER_FRAMES)


def test_an_srtp_caller_to_the_echo_agent_hears_itself_protected(lab, caller):
    switch, _ = lab
    phone = caller("AEAD_AES_128_GCM")
    final = phone.invite(ECHO_NUMBER)
    assert final.status == 200, final.text
    assert phone.answer_proto == "RTP/SAVP"
    phone.play(CALLER_FRAMES)
    wait_until(lambda: sum(p in set(CALLER_FRAMES) for p in phone.payloads())
               >= len(CALLER_FRAMES), 5.0, message="the echo of every frame")
    assert phone.bye(ECHO_NUMBER).status == 200
    echoed = [p for p in phone.payloads() if p in set(CALLER_FRAMES)]
    assert echoed == CALLER_FRAMES  # decrypted, each sample as the caller sent it
    assert phone.unprotect_failures == 0
    record = wait_cdr(switch, phone.call_id)
    assert record["agent_stats"]["caller_frames"] >= len(CALLER_FRAMES), record


def test_baresip_with_mandatory_srtp_calls_the_echo_agent(lab, baresip_binary, tmp_path):
    switch, _ = lab
    baresip = Baresip(tmp_path / "baresip", switch, USER, PASSWORD, ";mediaenc=srtp-mand",
                      extra_modules=("srtp",))
    try:
        baresip.start()
        assert baresip.command("dial", f"sip:{ECHO_NUMBER}@{switch.domain}")["ok"]
        baresip.wait_event("CALL_ESTABLISHED")
        # baresip's srtp-mand drops what does not authenticate: RTP "established"
        # means the relay's SRTP reached it and unprotected with the answer's key.
        baresip.wait_event("CALL_RTPESTAB")
        assert "SRTP is Enabled" in baresip.output(), baresip.output()
        time.sleep(1.0)
        assert baresip.command("hangup")["ok"]
        baresip.wait_event("CALL_CLOSED")
    finally:
        baresip.close()
    records = wait_until(lambda: echo_records(switch), 5.0, message="baresip's call record")
    record = records[-1]
    assert record["agent_stats"]["caller_frames"] >= 25, record  # unprotected by the relay


def echo_records(switch) -> list[dict]:
    """The call records of calls to the echo agent whose caller was a user (baresip)."""
    engine = sa.create_engine(switch.db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(t.cdrs).where(t.cdrs.c.agent == "echo")
                                .order_by(t.cdrs.c.id)).mappings().all()
    finally:
        engine.dispose()
    return [dict(row) for row in rows if row["caller"] == USER] or None


def test_sdes_over_plain_udp_is_refused_by_default(tmp_path):
    switch = CallSwitch(tmp_path / "default", sections={"agents": {"echo_number": ECHO_NUMBER}})
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("carrier", allowed_sources=(CARRIER_IP,))]))
    switch.start()
    phone = SrtpCaller(CARRIER_IP, switch.sip_port)
    try:
        final = phone.invite(ECHO_NUMBER)
        assert final.status == 488, final.text
        # Best-effort keys (RTP/AVP) are ignored instead: the call goes on in plain RTP.
        plain = SrtpCaller(CARRIER_IP, switch.sip_port, proto="RTP/AVP")
        try:
            answered = plain.invite(ECHO_NUMBER, answer_srtp=False)
            assert answered.status == 200, answered.text
            assert "RTP/AVP" in answered.text and "a=crypto" not in answered.text
            assert plain.bye(ECHO_NUMBER).status == 200
        finally:
            plain.close()
    finally:
        phone.close()
        switch.close()


def test_a_trunk_requiring_srtp_is_offered_it_and_baresip_answers_with_its_own_key(
        baresip_binary, tmp_path):
    """Both legs SRTP, each with its own keys: the SRTP caller through a trunk whose
    media_encryption is "sdes" to baresip (libre's own SRTP, srtp-mand, answering
    automatically) as the carrier's far end; audio both ways."""
    switch = CallSwitch(tmp_path / "switch",
                        sections={"media": {"allow_sdes_over_insecure": True},
                                  "trunks": {"probe_interval": NO_PROBES}})
    # baresip takes calls for its account's user only: the far end's account is the
    # number the trunk is sent (and it registers as such).
    switch.add_user(FAR_END_USER, PASSWORD)
    far_end = Baresip(tmp_path / "far-end", switch, FAR_END_USER, PASSWORD,
                      ";answermode=auto;mediaenc=srtp-mand", extra_modules=("srtp",))
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("carrier", allowed_sources=(CARRIER_IP,)),
                TrunkRow("secure", (GatewayRow("127.0.0.1", far_end.sip_port),),
                         media_encryption="sdes")],
        numbers=[NumberRow(HUMAN_DID, (("trunk", "secure"),))]))
    switch.start()
    phone = SrtpCaller(CARRIER_IP, switch.sip_port)
    try:
        far_end.start()
        final = phone.invite(HUMAN_DID)
        assert final.status == 200, f"{final.text}\n{far_end.output()}"
        far_end.wait_event("CALL_ESTABLISHED")
        phone.play(CALLER_FRAMES[:25])  # (baresip ends the call when its 3 s tone ends)
        far_end.wait_event("CALL_RTPESTAB", 2.0)  # our SRTP authenticated at baresip
        assert "SRTP is Enabled" in far_end.output(), far_end.output()
        # baresip's tone (SRTP with its key) reached the caller with the relay's key.
        wait_until(lambda: len(phone.received) >= 25, 2.0, message="baresip's audio")
        assert phone.unprotect_failures == 0
        assert phone.bye(HUMAN_DID).status == 200
        far_end.wait_event("CALL_CLOSED")
    finally:
        phone.close()
        far_end.close()
        switch.close()
