"""The SIP that user agents nobody here wrote send, through the proxy end to end:

- SIPp's built-in `uac_pcap` (it plays an RTP capture) against its built-in `uas`
  through a trunk route. The `uas` does not echo Record-Route, so the caller sends its
  ACK and BYE to the switch's own address without a Route: the switch delivers them to
  the callee once (it used to forward the BYE to itself ~70 times), and the BYE ends
  the call (no media-timeout ending).
- A phone whose outbound proxy is the switch pre-loads `Route: <sip:SWITCH;lr>` and
  repeats its credentials on ACK and BYE: the carrier sees neither (RFC 3261 §16.4,
  §22.3).
- A phone behind a gateway's public address, on another port, is challenged like
  any stranger; the gateway's own port is the trunk.

Addresses: 127.0.0.1 the switch; 127.0.0.2 the carrier (trunk "carrier", from any
port); 127.0.0.3 the built-in `uas` (trunk "pbx"); 127.0.0.4 the gateways of trunks
"long" and "sbc"; 127.0.0.5 the registered phone.
"""

import shutil
from pathlib import Path

import pytest

from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    GATEWAY_B_IP,
    PHONE_IP,
    CallSwitch,
    GatewayRow,
    NumberRow,
    OutboundRow,
    Routing,
    SippAgent,
    TrunkRow,
    free_udp_port,
    register_phone,
    requests_received,
    run_call,
    seed_routing,
    statuses,
    wait_cdr,
)

pytestmark = [pytest.mark.sipp, pytest.mark.usefixtures("sipp")]

NO_PROBES = 86400.0  # no OPTIONS probe lands on a SIPp callee mid-test
PCAP_DID = "+14155550300"  # -> trunk pbx (SIPp's built-in uas)
REJECT_DID = "+14155550301"  # -> reject 486: shows the dialplan was reached
OUTBOUND_NUMBER = "+14155550399"  # no DID: out through trunk "long"
USER, PASSWORD = "alice", "alice-pw"
PCAP_CALLS = 2
SIPP_PCAPS = Path("/usr/share/sip-tester")  # Debian's sip-tester ships uac_pcap's audio
REQUESTS = "softswitch_sip_requests_total"
REQUESTS_SENT = "softswitch_sip_requests_sent_total"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    switch = CallSwitch(tmp_path_factory.mktemp("field-sip"), sip={"drain_timeout": 1.0},
                        database={"reload_interval": 0.3},
                        sections={"trunks": {"probe_interval": NO_PROBES}})
    switch.add_user(USER, PASSWORD, caller_ids=("+14155550150",))
    ports = {"pbx": free_udp_port(GATEWAY_A_IP), "long": free_udp_port(GATEWAY_B_IP),
             "sbc": free_udp_port(GATEWAY_B_IP), "phone": free_udp_port(PHONE_IP)}
    seed_routing(switch.db_url, Routing(
        trunks=[
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                     allowed_sources=(CARRIER_IP,), number_format="nanp"),
            TrunkRow("pbx", (GatewayRow(GATEWAY_A_IP, ports["pbx"]),)),
            TrunkRow("long", (GatewayRow(GATEWAY_B_IP, ports["long"]),)),
            TrunkRow("sbc", (GatewayRow(GATEWAY_B_IP, ports["sbc"]),)),
        ],
        numbers=[NumberRow(PCAP_DID, (("trunk", "pbx"),)),
                 NumberRow(REJECT_DID, (("reject", 486),))],
        outbound=[OutboundRow("1", ("long",))]))
    switch.start()
    switch.ports = ports
    yield switch
    switch.close()


@pytest.fixture
def switch(lab):
    return lab


@pytest.fixture
def agents():
    started: list[SippAgent] = []
    yield started
    for agent in started:
        agent.stop()


def requests_total(switch, name: str, method: str) -> float:
    return sum(value for (metric, labels), value in switch.metrics().items()
               if metric == name and ("method", method) in labels)


def test_builtin_uac_pcap_against_builtin_uas_through_a_trunk_completes_and_bye_ends_it(
        switch, agents, sipp_dir):
    if not (SIPP_PCAPS / "g711a.pcap").exists():
        pytest.fail(f"uac_pcap's audio is missing from {SIPP_PCAPS} (Debian sip-tester)")
    sipp_dir.mkdir(parents=True, exist_ok=True)
    (sipp_dir / "pcap").mkdir(exist_ok=True)
    for name in ("g711a.pcap", "dtmf_2833_1.pcap"):
        shutil.copy(SIPP_PCAPS / name, sipp_dir / "pcap" / name)
    uas = SippAgent("builtin:uas", sipp_dir / "uas", ip=GATEWAY_A_IP,
                    port=switch.ports["pbx"], calls=PCAP_CALLS, timeout=40)
    agents.append(uas.wait_ready())
    byes_before = requests_total(switch, REQUESTS, "BYE")
    acks_before = requests_total(switch, REQUESTS, "ACK")

    caller = run_call(switch.sip_target, "builtin:uac_pcap", sipp_dir, ip=CARRIER_IP,
                      keys={}, calls=PCAP_CALLS, rate=2, timeout=40,
                      extra=("-s", PCAP_DID.removeprefix("+1")))
    callee = uas.finish()

    detail = f"--- caller ---\n{caller.describe()}\n--- callee ---\n{callee.describe()}"
    assert caller.ok and callee.ok, detail
    assert statuses(caller).count(200) == PCAP_CALLS, detail
    [first_invite, *_] = requests_received(callee, "INVITE")
    assert "Record-Route" in first_invite.text, first_invite.text  # the uas ignores it
    assert len(requests_received(callee, "ACK")) == PCAP_CALLS, detail
    assert len(requests_received(callee, "BYE")) == PCAP_CALLS, detail
    # One BYE and one ACK per call reached the switch: none came back from itself.
    assert requests_total(switch, REQUESTS, "BYE") - byes_before == PCAP_CALLS, detail
    assert requests_total(switch, REQUESTS, "ACK") - acks_before == PCAP_CALLS, detail
    call_ids = {m.header("Call-ID") for m in caller.sent() if m.method == "INVITE"}
    assert len(call_ids) == PCAP_CALLS
    for call_id in call_ids:
        record = wait_cdr(switch, call_id)
        assert (record["route_kind"], record["route_target"], record["final_code"]) == (
            "trunk", "pbx", 200), record
        assert (record["disconnect_side"], record["disconnect_reason"]) == (
            "caller", "bye"), record


def test_a_preloaded_route_and_our_credentials_never_reach_the_carrier(
        switch, agents, sipp_dir):
    port = switch.ports["phone"]
    register_phone(switch, sipp_dir, USER, PASSWORD, PHONE_IP, port)
    gateway = SippAgent("call_uas_answer.xml", sipp_dir / "long", ip=GATEWAY_B_IP,
                        port=switch.ports["long"], keys={"user": "gw"}, timeout=15,
                        extra=("-d", "300"))
    agents.append(gateway.wait_ready())

    caller = run_call(switch.sip_target, "call_uac_auth_route.xml", sipp_dir, ip=PHONE_IP,
                      keys={"dialled": OUTBOUND_NUMBER, "domain": switch.domain,
                            "user": USER},
                      auth=(USER, PASSWORD), extra=("-p", str(port), "-d", "300"))
    callee = gateway.finish()

    detail = f"--- caller ---\n{caller.describe()}\n--- callee ---\n{callee.describe()}"
    assert caller.ok and callee.ok, detail
    sent = {m.method: m for m in caller.sent() if not m.is_response}
    assert sent["INVITE"].header("Route") and sent["BYE"].header("Proxy-Authorization"), detail
    assert sent["ACK"].header("Proxy-Authorization"), detail
    received = [m for m in callee.received() if not m.is_response]
    assert [m.method for m in received] == ["INVITE", "ACK", "BYE"], detail
    for message in received:
        assert message.header("Route") is None, message.text
        assert message.header("Proxy-Authorization") is None, message.text
        assert message.header("Authorization") is None, message.text
    record = wait_cdr(switch, sent["INVITE"].header("Call-ID"))
    assert (record["trunk"], record["final_code"], record["disconnect_reason"]) == (
        "long", 200, "bye"), record


def test_a_phone_on_a_gateways_address_but_another_port_is_challenged(switch, sipp_dir):
    keys = {"dialled": REJECT_DID, "domain": switch.domain, "caller": "+12025550100"}
    phone_port = free_udp_port(GATEWAY_B_IP)
    assert phone_port != switch.ports["sbc"]
    phone = run_call(switch.sip_target, "call_uac_failure.xml", sipp_dir, ip=GATEWAY_B_IP,
                     keys=keys, extra=("-p", str(phone_port)), name="phone")
    assert phone.ok and statuses(phone)[-1] == 407, phone.describe()
    # The gateway itself, from the port its row names, is the trunk: the dialplan answers.
    gateway = run_call(switch.sip_target, "call_uac_failure.xml", sipp_dir, ip=GATEWAY_B_IP,
                       keys=keys, extra=("-p", str(switch.ports["sbc"])), name="gateway")
    assert gateway.ok and statuses(gateway)[-1] == 486, gateway.describe()
