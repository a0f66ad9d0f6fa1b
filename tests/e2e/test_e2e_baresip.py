"""Debian's baresip against the switch in its default configuration: it registers (one
MD5 digest challenge, which it answers), the admin API lists its binding from the
registrar's memory, it calls the echo number, the call is answered and carries audio
both ways, and it hangs up. With an instance-id (RFC 5626) it stays one binding when it
comes back on another port. Missing baresip fails under CI=true and is a loud skip
elsewhere (conftest's `baresip_binary`)."""

import time

import pytest

from calls_support import wait_cdr
from e2e_baresip import Baresip
from e2e_switch import wait_until
from far_end_support import AdminApi, create_api_token

ECHO_NUMBER = "+10000000000"  # [agents] echo_number's default
USER, PASSWORD = "phone1", "phone1-secret-pw"


@pytest.fixture
def lab(baresip_binary, make_switch, tmp_path):
    """A switch in its default configuration, its admin API, and a maker of phones
    (each closed at the end)."""
    switch = make_switch(users={USER: PASSWORD})
    api = AdminApi(switch, create_api_token(switch.db_url))
    phones = []

    def phone(account_params=""):
        phones.append(Baresip(tmp_path / "baresip", switch, USER, PASSWORD, account_params))
        return phones[-1]
    yield switch, api, phone
    for baresip in phones:
        baresip.close()


def registrations(api, aor):
    reply = api.get(f"/v1/registrations?aor={aor}")
    assert reply.status == 200, reply
    return reply.json["items"]


def test_baresip_registers_calls_the_echo_agent_and_hangs_up(lab):
    switch, api, phone = lab
    baresip = phone()
    baresip.start()
    [binding] = wait_until(lambda: registrations(api, baresip.aor), 10.0,
                           message=lambda: f"baresip's binding\n{baresip.output()}")
    assert binding["user_agent"].startswith("baresip v1.0"), binding
    assert binding["received"] == f"udp:127.0.0.1:{baresip.sip_port}"
    assert binding["contact"].endswith(f"@127.0.0.1:{baresip.sip_port}")

    assert baresip.command("dial", f"sip:{ECHO_NUMBER}@{switch.domain}")["ok"]
    baresip.wait_event("CALL_ESTABLISHED")
    baresip.wait_event("CALL_RTPESTAB")  # the switch's audio reached the phone
    [call] = api.get("/v1/calls").json["items"]
    assert (call["state"], call["agent"]) == ("answered", "echo"), call
    time.sleep(1.0)  # a second of the phone's tone through the echo agent and back
    assert baresip.command("hangup")["ok"]
    closed = baresip.wait_event("CALL_CLOSED")
    assert "Connection reset by user" in closed.get("param", ""), closed

    record = wait_cdr(switch, call["call_id"])
    assert (record["route_kind"], record["agent"], record["did"]) == \
        ("agent", "echo", ECHO_NUMBER), record
    assert (record["final_code"], record["disconnect_side"]) == (200, "caller"), record
    stats = record["agent_stats"]
    # The phone's tone reached the echo agent, and its echo was played to the phone.
    assert stats["caller_frames"] >= 25 and stats["agent_frames_sent"] > 0, stats
    wait_until(lambda: not api.get("/v1/calls").json["items"], 5.0,
               message="the call to leave /v1/calls")

    baresip.close()  # it unregisters (expires=0) as it quits
    wait_until(lambda: not registrations(api, baresip.aor), 5.0,
               message="baresip's binding to go")


def test_baresip_with_an_instance_id_is_one_device_across_a_power_cut(lab, tmp_path):
    switch, api, phone = lab
    # sipnat=outbound: baresip sends +sip.instance and reg-id (RFC 5626); the switch
    # keeps the instance-id and, without Require: outbound in its 200, baresip goes on
    # without SIP Outbound.
    first = phone(";sipnat=outbound")
    first.start()
    try:
        [binding] = wait_until(lambda: registrations(api, first.aor), 10.0,
                               message=lambda: f"baresip's binding\n{first.output()}")
        instance = (tmp_path / "baresip" / "uuid").read_text().strip()
        assert binding["instance_id"] == f"<urn:uuid:{instance}>", binding
        assert binding["reg_id"] is None  # no SIP Outbound
        assert binding["contact"].endswith(f"@127.0.0.1:{first.sip_port}")
    finally:
        first.kill()  # no unregistration: the old binding stays

    # The same phone (same directory, same UUID) comes back on another port.
    second = phone(";sipnat=outbound")
    second.start()

    def replaced():
        items = registrations(api, second.aor)
        new = [b for b in items if b["contact"].endswith(f"@127.0.0.1:{second.sip_port}")]
        return items if new else None
    # One binding, the new contact's: not the old one beside it.
    [binding] = wait_until(replaced, 10.0, message=lambda: f"the new binding\n{second.output()}")
    assert binding["contact"].endswith(f"@127.0.0.1:{second.sip_port}"), binding
    assert binding["instance_id"] == f"<urn:uuid:{instance}>", binding
    assert switch.health()["registrations"] == 1
