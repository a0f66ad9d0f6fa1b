"""The switch as a service end to end: OPTIONS, a restart that keeps registrations,
hostile datagrams, and the SHA-256 digest path when configured (answered by the test, as
SIPp 3.6 only knows MD5) and refused under the default (MD5 alone)."""

import time

import pytest

from e2e_sip import UdpClient, auth_params, contact_expiries, digest_authorization
from e2e_sipp import run_sipp
from e2e_switch import CLEAN_EXITS, wait_until

DROPPED = "softswitch_sip_messages_dropped_total"
REGISTRATIONS = "softswitch_registrations"
# Malformed requests from tests/fixtures/torture (RFC 4475) that must get a 400.
BAD_REQUESTS = ["badinv01.dat", "insuf.dat", "multi01.dat", "quotbal.dat"]


def options(switch, sipp_dir, transport="udp"):
    return run_sipp(switch.sip_target, "options.xml", sipp_dir, transport=transport,
                    keys={"domain": switch.domain})


def register(switch, sipp_dir, user, password, uri, expires=600, transport="udp"):
    return run_sipp(switch.sip_target, "register.xml", sipp_dir, transport=transport,
                    auth=(user, password),
                    keys={"user_name": user, "domain": switch.domain, "contact": f"<{uri}>",
                          "expires": expires})


@pytest.mark.sipp
@pytest.mark.usefixtures("sipp")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_lists_allow_accept_supported(switch, sipp_dir, transport):
    result = options(switch, sipp_dir, transport).expect_ok()

    answer = result.final_response()
    assert answer.status == 200, result.describe()
    allow = {m.strip() for m in answer.header("Allow").split(",")}
    assert {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER"} <= allow, result.describe()
    assert "application/sdp" in answer.header("Accept"), result.describe()
    assert answer.header("Supported") is not None, result.describe()
    assert answer.header("Server"), result.describe()


@pytest.mark.sipp
@pytest.mark.usefixtures("sipp")
def test_registration_survives_restart(make_switch, sipp_dir):
    switch = make_switch({"judy": "judy-pw"})
    uri = "sip:judy@127.0.0.1:5999;transport=udp"
    register(switch, sipp_dir, "judy", "judy-pw", uri).expect_ok()
    wait_until(lambda: switch.registration_rows(), 3.0, message="the binding in the database")

    assert switch.stop() in CLEAN_EXITS, switch.output()
    [row] = switch.registration_rows()
    assert (row["aor"], row["contact"]) == (switch.aor("judy"), uri)
    assert row["expires_at"] > time.time() + 590

    switch.restart()
    assert switch.health() == {"status": "ok", "registrations": 1, "users": 1}
    assert switch.metric(REGISTRATIONS) == 1
    assert "restored 1 registrations" in switch.outputs[-1].read_text()
    assert [r["contact"] for r in switch.registration_rows()] == [uri]
    result = options(switch, sipp_dir).expect_ok()
    assert result.final_response().status == 200, result.describe()

    # The restored binding is the one the registrar knows: a refresh lists it once.
    refreshed = register(switch, sipp_dir, "judy", "judy-pw", uri, expires=900).expect_ok()
    listed = contact_expiries(refreshed.final_response())
    assert list(listed) == [uri] and 898 <= listed[uri] <= 900, refreshed.describe()


def test_registration_acknowledged_just_before_stop_is_kept(make_switch):
    """SIGTERM right after the 200, inside the 50 ms write-through batch window."""
    switch = make_switch({"judy": "judy-pw"})
    uri = "sip:judy@127.0.0.1:5999;transport=udp"
    with UdpClient(switch.sip_port) as client:
        _, answer = client.register_with_digest("judy", "judy-pw", switch.domain, uri, 600)
        assert answer.status == 200, answer.text
        assert switch.stop() in CLEAN_EXITS, switch.output()

    rows = switch.registration_rows()
    assert [r["contact"] for r in rows] == [uri], (
        f"the binding acknowledged with a 200 was lost on shutdown\n{switch.output()}")


@pytest.mark.sipp
@pytest.mark.usefixtures("sipp")
def test_malformed_datagrams_get_400_and_the_switch_keeps_working(switch, sipp_dir):
    before = switch.metric(DROPPED, reason="malformed-request")
    with UdpClient(switch.sip_port) as client:
        for name in BAD_REQUESTS:
            answer = client.exchange(client.torture(name))
            assert answer is not None, f"no answer to {name}\n{switch.output()}"
            assert answer.status == 400, f"{name}:\n{answer.text}"
            assert answer.header("Warning"), f"{name}: a 400 should say why\n{answer.text}"
        # Bytes that are not SIP at all, and a malformed response: nothing to answer.
        for junk in (b"\x00\xff\xfe garbage \x80\x81" * 20, b"SIP/2.0 999999999 Nope\r\n\r\n",
                     b"INVITE\r\n\r\n"):
            client.send(junk)
        assert client.receive(timeout=0.3) is None

    assert switch.metric(DROPPED, reason="malformed-request") >= before + len(BAD_REQUESTS)
    assert switch.health()["status"] == "ok"
    uri = "sip:grace@127.0.0.1:5999;transport=udp"
    result = register(switch, sipp_dir, "grace", "grace-pw", uri).expect_ok()
    assert list(contact_expiries(result.final_response())) == [uri], result.describe()


def test_refused_request_is_answered_at_its_source_address(switch):
    """RFC 3261 §18.2.1/§18.2.2 and RFC 3581: a 400 goes where the request came from
    (received + rport), not to whatever host the malformed request names in its Via
    (here another loopback address, so nothing leaves the machine either way)."""
    with UdpClient(switch.sip_port) as client:
        data = client.torture("insuf.dat").replace(
            f"127.0.0.1:{client.port};".encode(), b"127.0.0.2:5999;rport;", 1)
        answer = client.exchange(data, timeout=1.0)
    assert answer is not None, "the 400 did not come back to the sender"
    assert answer.status == 400, answer.text


def test_register_answering_the_sha256_challenge(make_switch):
    user, password = "heidi", "heidi-pw"
    uri = "sip:heidi@127.0.0.1:5999;transport=udp"
    # SHA-256 is offered only when configured (the default is MD5 alone).
    switch = make_switch({user: password}, sip={"digest_algorithms": ["MD5", "SHA-256"]})
    with UdpClient(switch.sip_port) as client:
        challenge, answer = client.register_with_digest(user, password, switch.domain, uri,
                                                        300, algorithm="SHA-256")
        assert answer.status == 200, answer.text
        wrong = client.register_with_digest(user, "wrong", switch.domain, uri, 300,
                                            algorithm="SHA-256")[1]
        assert wrong.status == 401, wrong.text

    assert [auth_params(c)[1]["algorithm"] for c in challenge.headers("WWW-Authenticate")] \
        == ["MD5", "SHA-256"], challenge.text
    assert list(contact_expiries(answer)) == [uri], answer.text
    [row] = wait_until(lambda: switch.registration_rows(switch.aor(user)), 3.0,
                       message="the SHA-256 registration in the database")
    assert row["contact"] == uri


def test_the_default_offers_md5_alone_and_takes_no_sha256_answer(switch):
    user, password = "ivan", "ivan-pw"
    uri = "sip:ivan@127.0.0.1:5998;transport=udp"
    before = switch.health()["registrations"]
    with UdpClient(switch.sip_port) as client:
        challenge = client.exchange(client.register(user, switch.domain, uri, 300,
                                                    "sha-refused@127.0.0.1", 1), 2.0)
        [offered] = challenge.headers("WWW-Authenticate")
        assert auth_params(offered)[1]["algorithm"] == "MD5", challenge.text
        # A client answering in SHA-256 anyway (the switch's nonce, the right password).
        authorization = digest_authorization(offered.replace("MD5", "SHA-256"), user,
                                             password, "REGISTER", f"sip:{switch.domain}")
        answer = client.exchange(client.register(user, switch.domain, uri, 300,
                                                 "sha-refused@127.0.0.1", 2, authorization),
                                 2.0)
    assert answer.status == 401, answer.text
    assert switch.health()["registrations"] == before
