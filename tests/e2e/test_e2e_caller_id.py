"""Caller-ID policy end to end (services.caller_id): a SIPp phone of user alice calls
out presenting a number she does not own, with forged P-Asserted-Identity,
Remote-Party-ID, P-Preferred-Identity and Identity headers and a Via of a proxy of
her own; SIPp carriers answer, and what they received is read from their message
logs.

Addresses: 127.0.0.1 the switch; 127.0.0.3 the carriers' gateways; 127.0.0.5 the phone.
Trunks: "carrier" (trusted, routes "1"), "hidden" (topology hiding, routes "44"),
"grey" (untrusted, routes "33").
"""

import pytest

from calls_support import (
    GATEWAY_A_IP,
    PHONE_IP,
    CallSwitch,
    GatewayRow,
    OutboundRow,
    Routing,
    SippAgent,
    TrunkRow,
    free_udp_port,
    requests_received,
    run_call,
    seed_routing,
    statuses,
)

pytestmark = [pytest.mark.sipp, pytest.mark.usefixtures("sipp")]

NO_PROBES = 86400.0
USER, PASSWORD = "alice", "alice-pw"
ALICE_NUMBER = "+14155550150"  # her one configured caller ID
FORGED_NUMBER = "+12025550123"  # presented in From and in the forged headers
US_NUMBER, UK_NUMBER, FR_NUMBER = "+12125550199", "+442071234567", "+33144556677"
IDENTITY_HEADERS = ("P-Asserted-Identity", "Remote-Party-ID", "P-Preferred-Identity",
                    "Identity")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    switch = CallSwitch(tmp_path_factory.mktemp("caller-id"), sip={"drain_timeout": 1.0},
                        database={"reload_interval": 0.3},
                        sections={"trunks": {"probe_interval": NO_PROBES}})
    switch.add_user(USER, PASSWORD, caller_ids=(ALICE_NUMBER,))
    ports = {name: free_udp_port(GATEWAY_A_IP) for name in ("carrier", "hidden", "grey")}
    ports["phone"] = free_udp_port(PHONE_IP)
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("carrier", (GatewayRow(GATEWAY_A_IP, ports["carrier"]),)),
                TrunkRow("hidden", (GatewayRow(GATEWAY_A_IP, ports["hidden"]),),
                         topology_hiding=True),
                TrunkRow("grey", (GatewayRow(GATEWAY_A_IP, ports["grey"]),),
                         trust_identity=False)],
        outbound=[OutboundRow("1", ("carrier",)), OutboundRow("44", ("hidden",)),
                  OutboundRow("33", ("grey",))]))
    switch.start()
    switch.ports = ports
    yield switch
    switch.close()


@pytest.fixture
def agents():
    started: list[SippAgent] = []
    yield started
    for agent in started:
        agent.stop()


def call(lab, agents, sipp_dir, trunk, dialled, privacy="none"):
    """Alice calls `dialled` through `trunk`; the carrier's INVITE and both results."""
    carrier = SippAgent("call_uas_answer.xml", sipp_dir / trunk, ip=GATEWAY_A_IP,
                        port=lab.ports[trunk], keys={"user": "gw"}, extra=("-d", "200"),
                        timeout=15.0)
    agents.append(carrier)
    carrier.wait_ready()
    caller = run_call(lab.sip_target, "caller_id_uac.xml", sipp_dir, ip=PHONE_IP,
                      keys={"dialled": dialled, "domain": lab.domain, "user": USER,
                            "from_user": FORGED_NUMBER, "privacy": privacy},
                      auth=(USER, PASSWORD), extra=("-p", str(lab.ports["phone"]), "-d", "200"))
    callee = carrier.finish()
    described = f"--- caller ---\n{caller.describe()}\n--- carrier ---\n{callee.describe()}"
    assert caller.ok and callee.ok, described
    assert statuses(caller)[-1] == 200, described
    [invite] = requests_received(callee, "INVITE")
    assert len(requests_received(callee, "BYE")) == 1, described
    return invite, caller


def test_a_number_alice_does_not_own_reaches_the_carrier_as_her_own_without_forgeries(
        lab, agents, sipp_dir):
    invite, caller = call(lab, agents, sipp_dir, "carrier", US_NUMBER)
    assert invite.headers("P-Asserted-Identity") == [f"<sip:{ALICE_NUMBER}@{lab.domain}>"], \
        invite.text
    assert invite.header("From").startswith(f"<sip:{ALICE_NUMBER}@{lab.domain}>;tag="), \
        invite.text
    for name in IDENTITY_HEADERS[1:]:
        assert invite.header(name) is None, invite.text
    assert FORGED_NUMBER not in invite.text
    # Alice's phone sees its own From in the answer.
    [answer] = caller.responses(200)[:1]
    assert f"<sip:{FORGED_NUMBER}@{lab.domain}>" in answer.header("From"), answer.text


def test_privacy_id_gives_the_trusted_carrier_pai_and_an_anonymous_from(lab, agents, sipp_dir):
    invite, _ = call(lab, agents, sipp_dir, "carrier", US_NUMBER, privacy="id")
    assert invite.header("From").startswith(
        '"Anonymous" <sip:anonymous@anonymous.invalid>;tag='), invite.text
    assert invite.headers("P-Asserted-Identity") == [f"<sip:{ALICE_NUMBER}@{lab.domain}>"], \
        invite.text
    assert invite.header("Privacy") == "id", invite.text


def test_privacy_id_toward_an_untrusted_carrier_sends_no_identity(lab, agents, sipp_dir):
    invite, _ = call(lab, agents, sipp_dir, "grey", FR_NUMBER, privacy="id")
    assert invite.header("From").startswith('"Anonymous" <sip:anonymous@anonymous.invalid>'), \
        invite.text
    for name in IDENTITY_HEADERS:
        assert invite.header(name) is None, invite.text
    assert ALICE_NUMBER not in invite.text and FORGED_NUMBER not in invite.text


def test_topology_hiding_shows_the_carrier_no_via_contact_or_record_route_of_the_caller(
        lab, agents, sipp_dir):
    invite, caller = call(lab, agents, sipp_dir, "hidden", UK_NUMBER)
    vias = invite.headers("Via")
    assert len(vias) == 1 and vias[0].startswith(f"SIP/2.0/UDP {lab.sip_target};"), vias
    assert invite.header("Contact") == f"<sip:{lab.sip_target}>", invite.text
    assert invite.headers("Record-Route") == [f"<sip:{lab.sip_target};lr>"], invite.text
    # (The Call-ID is the phone's own and is not rewritten: docs/caller-id.md.)
    head = [line for line in invite.text.split("\n\n")[0].splitlines()
            if not line.lower().startswith(("call-id:", "i:"))]
    assert not [line for line in head if PHONE_IP in line or "10.9.9.9" in line], head
    assert PHONE_IP not in invite.text.split("\n\n", 1)[1], invite.text  # media anchored
    # The phone's answer carries its own Vias back, the inner proxy's too.
    [answer] = caller.responses(200)[:1]
    assert [v.split(";")[0] for v in answer.headers("Via")] == [
        f"SIP/2.0/UDP {PHONE_IP}:{lab.ports['phone']}", "SIP/2.0/UDP 10.9.9.9:5060"], \
        answer.text
