"""Calls through the switch's stateful proxy end to end: SIPp is the carrier, the
gateways and the phones, each on its own loopback address, over real UDP.

Every test checks what the SIPp user agents saw (their exit codes and message logs),
the call record the switch wrote to the `cdrs` table, and /metrics where it counts.
The routing rows (trunks, gateways, numbers, outbound routes) are written to the
database before the switch starts, so its first snapshot holds them.

Addresses: 127.0.0.1 the switch; 127.0.0.2 the carrier (a trunk, known by its
address); 127.0.0.3 and 127.0.0.4 gateways A and B; 127.0.0.5 the registered phones;
127.0.0.6 a stranger.
"""

import hashlib
import socket
import time
from dataclasses import dataclass, field

import pytest

from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    GATEWAY_B_IP,
    LIMITED_CARRIER_IP,
    PHONE_IP,
    SLOW_CARRIER_IP,
    STRANGER_IP,
    SWITCH_IP,
    CallSwitch,
    GatewayRow,
    NumberRow,
    OutboundRow,
    Routing,
    SippAgent,
    TrunkRow,
    call_id_of,
    cdr_rows,
    free_udp_port,
    register_phone,
    requests_received,
    rtp_packet,
    run_call,
    sdp_media,
    seed_routing,
    statuses,
    wait_cdr,
    write_rtp_pcap,
)
from e2e_sip import UdpClient, auth_params
from e2e_switch import SwitchProcess, wait_until

pytestmark = [pytest.mark.sipp, pytest.mark.usefixtures("sipp")]

T1 = 0.05  # [sip] t1: Timer B (64*T1) is 3.2 s, so a silent gateway is given up fast
TIMER_B = 64 * T1
NO_PROBES = 86400.0  # [trunks] probe_interval: the first probe comes within it, at random
USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
CALLER = "+12125550123"  # the carrier's caller number
CARRIER_USER, CARRIER_PASSWORD = "switch-account", "carrier-secret"  # trunk "authed"

BOB_DID = "+14155550100"  # -> user bob (a registered SIPp phone)
BUSY_DID = "+14155550101"  # -> reject 486
FAILOVER_DID = "+14155550102"  # -> trunk pstn-a: gateway A (prio 1), then B
SILENT_DID = "+14155550103"  # -> trunk pstn-b: gateway A (prio 1), then B
PBX_DID = "+14155550104"  # -> trunk pbx: gateway A only
CAROL_DID = "+14155550105"  # -> user carol
RING_DID = "+14155550106"  # -> trunk ring: gateway A only
TORTURE_DID = "+14155550107"  # -> trunk quiet: gateway B only
BUSY_GW_DID = "+14155550108"  # -> trunk busy: gateway A (prio 1), then B
MEDIA_DID = "+14155550109"  # -> trunk media: gateway A only
LIMIT_DID = "+14155550110"  # -> trunk limit-gw: gateway A only
AUTH_DID = "+14155550111"  # -> trunk authed: a gateway that challenges our INVITEs
CLOSED_NUMBER = "+442071234567"  # out through the "44" route: trunk closed-out, no calls
OUTBOUND_NUMBER = "+14155550199"  # no DID: out through the "1" prefix route
ALICE_NUMBER = "+14155550150"  # the caller ID alice presents toward trunks

REQUESTS_SENT = "softswitch_sip_requests_sent_total"
RESPONSES_SENT = "softswitch_sip_responses_sent_total"
RESPONSES_RECEIVED = "softswitch_sip_responses_received_total"
DROPPED = "softswitch_sip_messages_dropped_total"
LIMIT_REFUSALS = "softswitch_trunk_limit_refusals_total"
ACTIVE_CALLS = "softswitch_trunk_active_calls"
GATEWAY_UP = "softswitch_gateway_up"
GATEWAY_RTT = "softswitch_gateway_rtt_seconds"
PROBES = "softswitch_gateway_probes_total"
TRUNK_REGISTERED = "softswitch_trunk_registered"
REGISTRATION_ATTEMPTS = "softswitch_trunk_registration_attempts_total"


@dataclass
class CallLab:
    """The module's switch and where each role listens."""

    switch: SwitchProcess
    ports: dict[str, int] = field(default_factory=dict)

    def gateway(self, name: str) -> str:
        return f"udp:{self.ip_of(name)}:{self.ports[name]}"

    @staticmethod
    def ip_of(name: str) -> str:
        return GATEWAY_B_IP if name.endswith("-b") else GATEWAY_A_IP


GATEWAYS = ("pstn-a-a", "pstn-a-b", "pstn-b-a", "pstn-b-b", "pbx-a", "ring-a", "quiet-b",
            "long-distance-a", "busy-a", "busy-b", "media-a", "limit-a", "closed-a",
            "auth-a")
PHONES = ("bob", "alice", "carol")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    # A short drain: a failed test may leave a call up, and the switch must still stop.
    # No gateway probing: an OPTIONS probe landing on a SIPp callee in the middle of a
    # test would be an unexpected message there (probing has its own test and switch).
    switch = CallSwitch(tmp_path_factory.mktemp("calls"),
                        sip={"t1": T1, "drain_timeout": 1.0}, database={"reload_interval": 0.3},
                        sections={"trunks": {"probe_interval": NO_PROBES}})
    for user, password in USERS.items():
        switch.add_user(user, password, caller_ids=(ALICE_NUMBER,) if user == "alice" else ())
    ports = {name: free_udp_port(CallLab.ip_of(name)) for name in GATEWAYS}
    ports.update({f"phone-{user}": free_udp_port(PHONE_IP) for user in PHONES})

    def gw(name, priority=1):
        return GatewayRow(CallLab.ip_of(name), ports[name], priority=priority)

    seed_routing(switch.db_url, Routing(
        trunks=[
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                     allowed_sources=(CARRIER_IP,), number_format="nanp"),
            TrunkRow("pstn-a", (gw("pstn-a-a", 1), gw("pstn-a-b", 2))),
            TrunkRow("pstn-b", (gw("pstn-b-a", 1), gw("pstn-b-b", 2))),
            TrunkRow("pbx", (gw("pbx-a"),)),
            TrunkRow("ring", (gw("ring-a"),)),
            TrunkRow("quiet", (gw("quiet-b"),)),
            TrunkRow("long-distance", (gw("long-distance-a"),)),
            TrunkRow("busy", (gw("busy-a", 1), gw("busy-b", 2))),
            TrunkRow("media", (gw("media-a"),)),
            TrunkRow("limited-carrier", (GatewayRow(LIMITED_CARRIER_IP, 5060),),
                     allowed_sources=(LIMITED_CARRIER_IP,),
                     number_format="nanp", max_concurrent=1),
            TrunkRow("slow-carrier", (GatewayRow(SLOW_CARRIER_IP, 5060),),
                     allowed_sources=(SLOW_CARRIER_IP,),
                     number_format="nanp", max_cps=1),
            TrunkRow("limit-gw", (gw("limit-a"),)),
            TrunkRow("closed-out", (gw("closed-a"),), max_concurrent=0),
            TrunkRow("authed", (gw("auth-a"),), auth_username=CARRIER_USER,
                     auth_password=CARRIER_PASSWORD),
        ],
        numbers=[
            NumberRow(BOB_DID, (("user", "bob"),)),
            NumberRow(BUSY_DID, (("reject", 486),)),
            NumberRow(FAILOVER_DID, (("trunk", "pstn-a"),)),
            NumberRow(SILENT_DID, (("trunk", "pstn-b"),)),
            NumberRow(PBX_DID, (("trunk", "pbx"),)),
            NumberRow(CAROL_DID, (("user", "carol"),)),
            NumberRow(RING_DID, (("trunk", "ring"),)),
            NumberRow(TORTURE_DID, (("trunk", "quiet"),)),
            NumberRow(BUSY_GW_DID, (("trunk", "busy"),)),
            NumberRow(MEDIA_DID, (("trunk", "media"),)),
            NumberRow(LIMIT_DID, (("trunk", "limit-gw"),)),
            NumberRow(AUTH_DID, (("trunk", "authed"),)),
        ],
        outbound=[OutboundRow("1", ("long-distance",)), OutboundRow("44", ("closed-out",))]))
    switch.start()
    yield CallLab(switch, ports)
    switch.close()


@pytest.fixture
def agents():
    """SIPp processes a test starts in the background; any still running at the end
    (a failed test) are stopped."""
    started: list[SippAgent] = []
    yield started
    for agent in started:
        agent.stop()


def start_agent(agents, scenario, workdir, *, ip, port, keys=None, timeout=15.0, extra=(),
                calls=1):
    agent = SippAgent(scenario, workdir, ip=ip, port=port, keys=keys, timeout=timeout,
                      extra=extra, calls=calls)
    agents.append(agent)
    return agent.wait_ready()


def carrier_call(lab, workdir, scenario, dialled, *, pause_ms=300, timeout=15.0,
                 ip=CARRIER_IP, **kwargs):
    """The carrier calls `dialled` (national format, as a NANP trunk sends it)."""
    return run_call(lab.switch.sip_target, scenario, workdir, ip=ip,
                    keys={"dialled": dialled.removeprefix("+1"), "domain": lab.switch.domain,
                          "caller": CALLER},
                    timeout=timeout, extra=("-d", str(pause_ms)), **kwargs)


def phone(lab, agents, workdir, user, scenario="call_uas_answer.xml", pause_ms=300):
    """`user`'s SIPp phone: REGISTER (digest) from PHONE_IP, then answer as a UAS on the
    same address and port."""
    port = lab.ports[f"phone-{user}"]
    register_phone(lab.switch, workdir, user, USERS[user], PHONE_IP, port)
    return start_agent(agents, scenario, workdir, ip=PHONE_IP, port=port, keys={"user": user},
                       extra=("-d", str(pause_ms)))


def gateway(lab, agents, workdir, name, scenario="call_uas_answer.xml", keys=None,
            pause_ms=300, timeout=15.0):
    return start_agent(agents, scenario, workdir, ip=lab.ip_of(name), port=lab.ports[name],
                       keys={"user": "gw", **(keys or {})}, extra=("-d", str(pause_ms)),
                       timeout=timeout)


def both(caller, callee):
    return f"--- caller ---\n{caller.describe()}\n--- callee ---\n{callee.describe()}"


def assert_answered_record(record, *, direction, route_kind, route_target, attempts=1,
                           rang=True):
    assert record["direction"] == direction, record
    assert (record["route_kind"], record["route_target"]) == (route_kind, route_target), record
    assert record["final_code"] == 200 and record["attempts"] == attempts, record
    assert record["start_at"] <= record["answer_at"] <= record["end_at"], record
    if rang:
        assert record["start_at"] <= record["ring_at"] <= record["answer_at"], record
    else:
        assert record["ring_at"] is None, record


# -- inbound: a DID rings a registered phone --------------------------------------------
@pytest.mark.parametrize("hangs_up", ["caller", "callee"])
def test_did_rings_the_registered_phone_and_either_side_hangs_up(lab, agents, sipp_dir,
                                                                hangs_up):
    switch = lab.switch
    caller_scenario, callee_scenario = {
        "caller": ("call_uac.xml", "call_uas_answer.xml"),
        "callee": ("call_uac_wait_bye.xml", "call_uas_bye.xml"),
    }[hangs_up]
    answered_before = switch.metric(RESPONSES_SENT, method="INVITE", status_class="2xx")
    bob = phone(lab, agents, sipp_dir, "bob", callee_scenario, pause_ms=500)

    caller = carrier_call(lab, sipp_dir, caller_scenario, BOB_DID, pause_ms=500)
    callee = bob.finish()

    assert caller.ok and callee.ok, both(caller, callee)
    assert statuses(caller) == [100, 180, 200], caller.describe()
    [invite] = requests_received(callee, "INVITE")
    assert invite.first_line == f"INVITE sip:bob@{PHONE_IP}:{bob.port} SIP/2.0", invite.text
    assert invite.header("Record-Route") == f"<sip:{switch.sip_target};lr>", invite.text
    assert invite.header("Max-Forwards") == "69", invite.text
    vias = invite.headers("Via")
    assert len(vias) == 2 and vias[0].startswith(f"SIP/2.0/UDP {switch.sip_target};branch="), vias
    assert f"received={CARRIER_IP}" in vias[1], vias
    assert len(requests_received(callee, "ACK")) == 1, callee.describe()
    bye_side = callee if hangs_up == "caller" else caller
    assert len(requests_received(bye_side, "BYE")) == 1, both(caller, callee)

    record = wait_cdr(switch, call_id_of(caller))
    assert_answered_record(record, direction="inbound", route_kind="user", route_target="bob")
    assert (record["did"], record["trunk"], record["caller"], record["callee"]) == (
        BOB_DID, "carrier", CALLER, BOB_DID), record
    assert record["gateway"] is None, record
    assert (record["disconnect_side"], record["disconnect_reason"]) == (hangs_up, "bye"), record
    assert record["end_at"] - record["answer_at"] >= 0.4, record  # the 500 ms of talk
    assert switch.metric(RESPONSES_SENT, method="INVITE", status_class="2xx") == \
        answered_before + 1


# -- outbound: a registered user dials out through a trunk ---------------------------------
def test_registered_user_is_challenged_then_routed_out_by_prefix(lab, agents, sipp_dir):
    switch = lab.switch
    port = lab.ports["phone-alice"]
    register_phone(switch, sipp_dir, "alice", "alice-pw", PHONE_IP, port)
    gw = gateway(lab, agents, sipp_dir, "long-distance-a")

    caller = run_call(switch.sip_target, "call_uac_auth.xml", sipp_dir, ip=PHONE_IP,
                      keys={"dialled": OUTBOUND_NUMBER, "domain": switch.domain,
                            "user": "alice"},
                      auth=("alice", "alice-pw"), extra=("-p", str(port), "-d", "300"))
    callee = gw.finish()

    assert caller.ok and callee.ok, both(caller, callee)
    assert statuses(caller) == [407, 100, 180, 200], caller.describe()
    challenge = caller.responses(407)[0]
    assert 'realm="e2e.test"' in challenge.header("Proxy-Authenticate"), challenge.text
    [invite] = requests_received(callee, "INVITE")
    assert invite.first_line == (f"INVITE sip:{OUTBOUND_NUMBER}@{GATEWAY_A_IP}:"
                                 f"{gw.port} SIP/2.0"), invite.text
    assert invite.header("Proxy-Authorization") is None, "credentials leaked to the carrier"
    assert invite.header("CSeq") == "2 INVITE", invite.text
    # "alice" is no number: the carrier is given her caller ID (services.caller_id).
    assert invite.header("P-Asserted-Identity") == f"<sip:{ALICE_NUMBER}@e2e.test>", invite.text
    assert invite.header("From").startswith(f"<sip:{ALICE_NUMBER}@e2e.test>;tag="), invite.text

    record = wait_cdr(switch, call_id_of(caller))
    assert_answered_record(record, direction="outbound", route_kind="trunk",
                           route_target="long-distance")
    assert (record["trunk"], record["gateway"]) == (
        "long-distance", lab.gateway("long-distance-a")), record
    assert (record["caller"], record["callee"], record["did"]) == (
        "alice", OUTBOUND_NUMBER, None), record
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye"), record


# -- failover -------------------------------------------------------------------------------
def test_failover_when_the_first_gateway_answers_503(lab, agents, sipp_dir):
    switch = lab.switch
    failures_before = switch.metric(RESPONSES_RECEIVED, method="INVITE", status_class="5xx")
    first = gateway(lab, agents, sipp_dir, "pstn-a-a", "call_uas_503.xml")
    second = gateway(lab, agents, sipp_dir, "pstn-a-b")

    caller = carrier_call(lab, sipp_dir, "call_uac.xml", FAILOVER_DID)
    refused, answered = first.finish(), second.finish()

    assert caller.ok and refused.ok and answered.ok, (
        both(caller, answered) + "\n--- first gateway ---\n" + refused.describe())
    assert statuses(caller) == [100, 180, 200], "the caller must not hear the 503\n" + \
        caller.describe()
    [to_first] = requests_received(refused, "INVITE")
    assert to_first.first_line.startswith(f"INVITE sip:{FAILOVER_DID}@{GATEWAY_A_IP}:")
    assert len(requests_received(refused, "ACK")) == 1, refused.describe()
    [to_second] = requests_received(answered, "INVITE")
    assert to_second.first_line.startswith(f"INVITE sip:{FAILOVER_DID}@{GATEWAY_B_IP}:")

    record = wait_cdr(switch, call_id_of(caller))
    assert_answered_record(record, direction="inbound", route_kind="trunk",
                           route_target="pstn-a", attempts=2)
    assert (record["trunk"], record["gateway"]) == ("pstn-a", lab.gateway("pstn-a-b")), record
    assert switch.metric(RESPONSES_RECEIVED, method="INVITE", status_class="5xx") == \
        failures_before + 1
    # The 503 made gateway A suspect: not used until it answers a probe.
    assert switch.metric(GATEWAY_UP, trunk="pstn-a",
                         gateway=lab.gateway("pstn-a-a").removeprefix("udp:")) == 0


def test_failover_when_the_first_gateway_is_silent_until_timer_b(lab, agents, sipp_dir):
    switch = lab.switch
    silent = gateway(lab, agents, sipp_dir, "pstn-b-a", "call_uas_silent.xml",
                     pause_ms=int(TIMER_B * 1000) + 1500)
    second = gateway(lab, agents, sipp_dir, "pstn-b-b")

    started = time.monotonic()
    caller = carrier_call(lab, sipp_dir, "call_uac.xml", SILENT_DID)
    took = time.monotonic() - started
    quiet, answered = silent.finish(), second.finish()

    assert caller.ok and quiet.ok and answered.ok, (
        both(caller, answered) + "\n--- silent gateway ---\n" + quiet.describe())
    assert statuses(caller) == [100, 180, 200], caller.describe()
    # The switch retransmitted to the silent gateway (Timer A doubling from T1) until
    # Timer B, then tried gateway B.
    retransmitted = requests_received(quiet, "INVITE")
    assert len(retransmitted) >= 5, quiet.describe()
    assert len({m.header("Via") for m in retransmitted}) == 1, "retransmissions keep the branch"
    assert took >= TIMER_B, took

    record = wait_cdr(switch, call_id_of(caller))
    assert_answered_record(record, direction="inbound", route_kind="trunk",
                           route_target="pstn-b", attempts=2)
    assert record["gateway"] == lab.gateway("pstn-b-b"), record
    assert record["answer_at"] - record["start_at"] >= TIMER_B - 0.1, record


def test_busy_gateway_is_final_and_the_next_gateway_is_not_tried(lab, agents, sipp_dir):
    """486 is not a failover code: the caller hears it and gateway B is never asked."""
    switch = lab.switch
    busy = gateway(lab, agents, sipp_dir, "busy-a", "call_uas_486.xml")
    spare = gateway(lab, agents, sipp_dir, "busy-b", timeout=3)

    caller = carrier_call(lab, sipp_dir, "call_uac_failure.xml", BUSY_GW_DID).expect_ok()
    refused = busy.finish()
    spare.stop()

    assert refused.ok, refused.describe()
    assert statuses(caller) == [100, 486], caller.describe()
    assert spare.result.messages == [], spare.result.describe()
    record = wait_cdr(switch, call_id_of(caller))
    assert (record["final_code"], record["attempts"], record["gateway"]) == (
        486, 1, lab.gateway("busy-a")), record
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("callee", "sip:486")


def test_gateway_challenge_is_answered_with_the_trunk_credentials(lab, agents, sipp_dir):
    """The gateway answers the first INVITE with 407: the switch sends it again with
    the trunk's digest credentials (CSeq + 1), the caller hears nothing of it, and the
    caller's BYE reaches the gateway with the CSeq shifted to match."""
    switch = lab.switch
    realm, nonce = "carrier.test", "carrier-nonce"
    callee_agent = gateway(lab, agents, sipp_dir, "auth-a", "call_uas_challenge.xml",
                           keys={"realm": realm, "nonce": nonce})

    caller = carrier_call(lab, sipp_dir, "call_uac.xml", AUTH_DID)
    callee = callee_agent.finish()

    assert caller.ok and callee.ok, both(caller, callee)
    assert statuses(caller) == [100, 180, 200], "the caller must not see the 407\n" + \
        caller.describe()
    assert statuses(caller, "BYE") == [200], caller.describe()
    first, second = requests_received(callee, "INVITE")
    assert first.header("Proxy-Authorization") is None, first.text
    assert (first.header("CSeq"), second.header("CSeq")) == ("1 INVITE", "2 INVITE")
    assert first.header("Call-ID") == second.header("Call-ID") == call_id_of(caller)
    scheme, params = auth_params(second.header("Proxy-Authorization"))
    assert (scheme, params["username"], params["realm"], params["nonce"]) == (
        "Digest", CARRIER_USER, realm, nonce), second.text
    assert params["uri"] == second.first_line.split()[1], second.text
    assert params["response"] == expected_digest(params, CARRIER_PASSWORD, "INVITE"), \
        second.text
    [bye] = requests_received(callee, "BYE")
    assert bye.header("CSeq") == "3 BYE", "the caller's CSeq 2 shifted by the retry"
    record = wait_cdr(switch, call_id_of(caller))
    assert (record["final_code"], record["trunk"], record["gateway"]) == (
        200, "authed", lab.gateway("auth-a")), record
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye"), record


# -- trunk limits -------------------------------------------------------------------------------
def test_trunk_concurrent_limit_refuses_the_excess_with_503_and_retry_after(lab, agents,
                                                                          sipp_dir):
    """limited-carrier allows one inbound call at a time: a second call while the first
    is up gets 503 with Retry-After; once the first has ended, calls are admitted again."""
    switch = lab.switch
    refused_before = switch.metric(LIMIT_REFUSALS, trunk="limited-carrier", reason="concurrent")
    callee_agent = gateway(lab, agents, sipp_dir, "limit-a")
    first_agent = SippAgent(
        "call_uac.xml", sipp_dir, ip=LIMITED_CARRIER_IP, target=switch.sip_target, timeout=15,
        keys={"dialled": LIMIT_DID.removeprefix("+1"), "domain": switch.domain,
              "caller": CALLER}, extra=("-d", "1500"))
    agents.append(first_agent)
    first_agent.wait_for_message(lambda m: m.status == 200)
    assert switch.metric(ACTIVE_CALLS, trunk="limited-carrier", direction="inbound") == 1

    second = carrier_call(lab, sipp_dir, "call_uac_failure.xml", BUSY_DID,
                          ip=LIMITED_CARRIER_IP).expect_ok()
    first, callee = first_agent.finish(), callee_agent.finish()
    wait_until(lambda: switch.metric(ACTIVE_CALLS, trunk="limited-carrier",
                                     direction="inbound") == 0, 3.0,
               message="the first call to release its admission")
    third = carrier_call(lab, sipp_dir, "call_uac_failure.xml", BUSY_DID,
                         ip=LIMITED_CARRIER_IP).expect_ok()

    assert first.ok and callee.ok, both(first, callee)
    assert statuses(second) == [100, 503], second.describe()
    assert second.final_response().header("Retry-After") == "5", second.describe()
    assert statuses(third) == [100, 486], "admitted again, then the number's own 486"
    refused = wait_cdr(switch, call_id_of(second))
    assert (refused["final_code"], refused["disconnect_reason"], refused["trunk"],
            refused["attempts"]) == (503, "limit:concurrent", "limited-carrier", 0), refused
    assert wait_cdr(switch, call_id_of(first))["final_code"] == 200
    assert switch.metric(LIMIT_REFUSALS, trunk="limited-carrier", reason="concurrent") == \
        refused_before + 1


def test_trunk_rate_limit_refuses_the_excess_with_503_and_retry_after(lab, sipp_dir):
    """slow-carrier admits one new call a second: of three calls sent within 40 ms the
    first is admitted (and answered 486 by its number), the others get 503."""
    switch = lab.switch
    refused_before = switch.metric(LIMIT_REFUSALS, trunk="slow-carrier", reason="cps")

    result = carrier_call(lab, sipp_dir, "call_uac_failure.xml", BUSY_DID, ip=SLOW_CARRIER_IP,
                          calls=3, rate=50).expect_ok()

    finals = {}
    for message in result.responses():
        if message.status >= 200:
            finals[message.header("Call-ID")] = message
    assert sorted(m.status for m in finals.values()) == [486, 503, 503], result.describe()
    assert {m.header("Retry-After") for m in finals.values() if m.status == 503} == {"1"}
    for call_id, final in finals.items():
        record = wait_cdr(switch, call_id)
        assert record["final_code"] == final.status, record
        if final.status == 503:
            assert record["disconnect_reason"] == "limit:cps", record
    assert switch.metric(LIMIT_REFUSALS, trunk="slow-carrier", reason="cps") == \
        refused_before + 2


def test_outbound_trunk_limit_refuses_with_503_and_retry_after(lab, sipp_dir):
    switch = lab.switch
    refused_before = switch.metric(LIMIT_REFUSALS, trunk="closed-out", reason="concurrent")

    result = run_call(switch.sip_target, "call_uac_auth_failure.xml", sipp_dir, ip=PHONE_IP,
                      keys={"dialled": CLOSED_NUMBER, "domain": switch.domain,
                            "user": "alice"},
                      auth=("alice", "alice-pw"), extra=("-p", str(lab.ports["phone-alice"])))

    assert switch.metric(LIMIT_REFUSALS, trunk="closed-out", reason="concurrent") == \
        refused_before + 1
    result.expect_ok()
    assert statuses(result) == [407, 100, 503], result.describe()
    assert result.final_response().header("Retry-After"), result.describe()


# -- CANCEL, re-INVITE, reject ---------------------------------------------------------------
def test_cancel_before_answer_gives_the_caller_487(lab, agents, sipp_dir):
    switch = lab.switch
    callee_agent = gateway(lab, agents, sipp_dir, "ring-a", "call_uas_ring.xml")

    caller = carrier_call(lab, sipp_dir, "call_uac_cancel.xml", RING_DID)
    callee = callee_agent.finish()

    assert caller.ok and callee.ok, both(caller, callee)
    assert statuses(caller) == [100, 180, 487], caller.describe()
    assert statuses(caller, "CANCEL") == [200], caller.describe()
    [cancel] = requests_received(callee, "CANCEL")
    [invite] = requests_received(callee, "INVITE")
    # The switch's CANCEL names its own branch of the INVITE (RFC 3261 §9.1).
    assert cancel.headers("Via") == invite.headers("Via")[:1], callee.describe()
    assert len(requests_received(callee, "ACK")) == 1, callee.describe()

    record = wait_cdr(switch, call_id_of(caller))
    assert record["final_code"] == 487 and record["answer_at"] is None, record
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "cancel"), \
        record
    assert record["ring_at"] is not None and record["attempts"] == 1, record
    assert record["gateway"] == lab.gateway("ring-a"), record


@pytest.mark.parametrize("holder", ["callee", "caller"])
def test_reinvite_within_the_dialog_goes_through_the_proxy(lab, agents, sipp_dir, holder):
    """Hold (a=sendonly) from either side: the re-INVITE follows the Record-Route,
    is answered 200 (a=recvonly, checked by the scenarios) and ACKed end to end."""
    switch = lab.switch
    caller_scenario, callee_scenario = {
        "callee": ("call_uac_held.xml", "call_uas_hold.xml"),
        "caller": ("call_uac_hold.xml", "call_uas_held.xml"),
    }[holder]
    callee_agent = gateway(lab, agents, sipp_dir, "pbx-a", callee_scenario)

    caller = carrier_call(lab, sipp_dir, caller_scenario, PBX_DID)
    callee = callee_agent.finish()

    assert caller.ok and callee.ok, both(caller, callee)
    holding, held = (caller, callee) if holder == "caller" else (callee, caller)
    reinvites = [m for m in held.received() if m.method == "INVITE"]
    assert len(reinvites) == (1 if holder == "callee" else 2), held.describe()
    reinvite = reinvites[-1]
    assert "a=sendonly" in reinvite.text and reinvite.header("To").count("tag=") == 1
    assert reinvite.header("Route") is None, "the switch pops its own Route"
    assert [m.status for m in holding.responses()
            if m.header("CSeq").endswith("INVITE")][-1] == 200, holding.describe()
    assert len(requests_received(held, "ACK")) == (2 if holder == "caller" else 1)

    record = wait_cdr(switch, call_id_of(caller))
    assert_answered_record(record, direction="inbound", route_kind="trunk", route_target="pbx",
                           rang=False)  # the callee answers without a 180
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye"), record


def test_number_routed_to_reject_answers_486(lab, sipp_dir):
    switch = lab.switch
    sent_before = switch.metric(REQUESTS_SENT, method="INVITE")

    caller = carrier_call(lab, sipp_dir, "call_uac_failure.xml", BUSY_DID).expect_ok()

    assert statuses(caller) == [100, 486], caller.describe()
    assert switch.metric(REQUESTS_SENT, method="INVITE") == sent_before
    record = wait_cdr(switch, call_id_of(caller))
    assert record["final_code"] == 486 and record["answer_at"] is None, record
    assert (record["route_kind"], record["attempts"], record["did"]) == ("reject", 0, BUSY_DID)
    assert record["disconnect_side"] == "callee", record


def test_unknown_source_is_challenged_and_never_relayed(lab, agents, sipp_dir):
    switch = lab.switch
    carol = phone(lab, agents, sipp_dir, "carol")
    sent_before = switch.metric(REQUESTS_SENT, method="INVITE")

    stranger = run_call(switch.sip_target, "call_uac_failure.xml", sipp_dir, ip=STRANGER_IP,
                        keys={"dialled": CAROL_DID, "domain": switch.domain,
                              "caller": CALLER}).expect_ok()

    assert statuses(stranger) == [407], stranger.describe()  # no 100 before a refusal
    assert stranger.final_response().header("Proxy-Authenticate"), stranger.describe()
    time.sleep(0.5)  # past a call-record batch, and time for anything relayed to land
    carol.stop()
    assert carol.result.messages == [], "the phone was reached:\n" + carol.result.describe()
    assert switch.metric(REQUESTS_SENT, method="INVITE") == sent_before
    assert cdr_rows(switch.engine, call_id_of(stranger)) == []


# -- media through the relay ------------------------------------------------------------------
RTP_PACKETS = 50  # one second of G.711 from the caller's pcap
INJECTED = 10


def test_rtp_flows_both_ways_through_the_relay_and_a_third_party_is_not_forwarded(
        lab, agents, sipp_dir):
    """The caller plays a pcap of RTP, the callee echoes it (SIPp -rtp_echo); both SDPs
    name the relay, not the other party; packets from a stranger to either relay port are
    dropped, so each side gets exactly what the other sent."""
    switch = lab.switch
    sipp_dir.mkdir(parents=True, exist_ok=True)
    write_rtp_pcap(sipp_dir / "rtp.pcap", RTP_PACKETS)
    callee_agent = start_agent(
        agents, "call_uas_answer.xml", sipp_dir, ip=GATEWAY_A_IP, port=lab.ports["media-a"],
        keys={"user": "gw"}, extra=("-rtp_echo", "-mp", free_udp_port(GATEWAY_A_IP)))
    caller_agent = SippAgent(
        "call_uac_pcap.xml", sipp_dir, ip=CARRIER_IP, target=switch.sip_target, timeout=15,
        keys={"dialled": MEDIA_DID.removeprefix("+1"), "domain": switch.domain,
              "caller": CALLER},
        extra=("-d", "1500", "-mp", free_udp_port(CARRIER_IP)))
    agents.append(caller_agent)

    answer = caller_agent.wait_for_message(lambda m: m.status == 200 and "m=audio" in m.text)
    offer = callee_agent.wait_for_message(lambda m: m.method == "INVITE")
    towards_caller, towards_callee = sdp_media(answer), sdp_media(offer)
    assert towards_caller[0] == towards_callee[0] == SWITCH_IP, (answer.text, offer.text)
    time.sleep(0.3)  # both sides are latched by now (the echo follows the pcap)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind((STRANGER_IP, 0))
        for i in range(INJECTED):
            for address in (towards_caller, towards_callee):
                stranger.sendto(rtp_packet(1000 + i, 160 * i, 0xBADBAD), address)
    caller, callee = caller_agent.finish(), callee_agent.finish()

    assert caller.ok and callee.ok, both(caller, callee)
    record = wait_cdr(switch, call_id_of(caller))
    assert_answered_record(record, direction="inbound", route_kind="trunk", route_target="media")
    media = record["media_stats"]
    assert media is not None, record
    [from_caller] = media["caller"]["streams"]
    [from_callee] = media["callee"]["streams"]
    assert from_caller["local_port"] == towards_caller[1], media
    assert from_callee["local_port"] == towards_callee[1], media
    for stream, ip in ((from_caller, CARRIER_IP), (from_callee, GATEWAY_A_IP)):
        assert stream["peer"][0] == ip, media  # latched to the party, not the stranger
        assert stream["rtp"]["packets"] == RTP_PACKETS, media
        assert stream["forwarded"] == RTP_PACKETS, media
        assert stream["dropped_foreign"] >= INJECTED, media
        assert stream["send_errors"] == 0 and stream["rtp"]["lost"] == 0, media


def test_media_inactivity_ends_the_call_with_bye_to_both_sides(tmp_path, agents, sipp_dir):
    """No RTP either way for [media] inactivity_timeout: the switch hangs up both legs
    and records it."""
    switch = CallSwitch(tmp_path / "switch", sip={"t1": T1, "drain_timeout": 1.0},
                        sections={"media": {"inactivity_timeout": 1.0},
                                  "trunks": {"probe_interval": NO_PROBES}})
    gateway_port = free_udp_port(GATEWAY_A_IP)
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                         allowed_sources=(CARRIER_IP,), number_format="nanp"),
                TrunkRow("pbx", (GatewayRow(GATEWAY_A_IP, gateway_port),))],
        numbers=[NumberRow(PBX_DID, (("trunk", "pbx"),))]))
    switch.start()
    try:
        callee_agent = start_agent(agents, "call_uas_answer.xml", sipp_dir, ip=GATEWAY_A_IP,
                                   port=gateway_port, keys={"user": "gw"}, timeout=10)
        started = time.monotonic()
        caller = run_call(switch.sip_target, "call_uac_wait_bye.xml", sipp_dir, ip=CARRIER_IP,
                          keys={"dialled": PBX_DID.removeprefix("+1"),
                                "domain": switch.domain, "caller": CALLER}, timeout=10)
        took = time.monotonic() - started
        callee = callee_agent.finish()

        assert caller.ok and callee.ok, both(caller, callee)
        assert 1.0 <= took < 5.0, took
        for side in (caller, callee):
            [bye] = requests_received(side, "BYE")
            assert bye.header("Reason"), bye.text
        record = wait_cdr(switch, call_id_of(caller))
        assert record["final_code"] == 200 and record["answer_at"] is not None, record
        assert (record["disconnect_side"], record["disconnect_reason"]) == (
            "switch", "media-timeout"), record
        # The relay counts idleness from its own view of the answer, a moment earlier.
        assert record["end_at"] - record["answer_at"] >= 0.9, record
    finally:
        switch.close()


# -- gateway health and carrier registration (each on a switch of its own) ---------------------
def test_gateway_down_after_failed_probes_is_skipped(tmp_path, agents, sipp_dir):
    """Gateway A (priority 1) never answers the OPTIONS probes: after two timeouts it is
    down and calls go straight to gateway B, which answers its probes."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((GATEWAY_A_IP, 0))
    port_a, port_b = silent.getsockname()[1], free_udp_port(GATEWAY_B_IP)
    label_a, label_b = f"{GATEWAY_A_IP}:{port_a}", f"{GATEWAY_B_IP}:{port_b}"
    # t1 = 0.02: a probe times out (Timer F) after 1.28 s.
    switch = CallSwitch(tmp_path / "switch", sip={"t1": 0.02, "drain_timeout": 1.0},
                        sections={"trunks": {"probe_interval": 0.3, "probe_failures": 2,
                                             "probe_successes": 1}})
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                         allowed_sources=(CARRIER_IP,), number_format="nanp"),
                TrunkRow("probed", (GatewayRow(GATEWAY_A_IP, port_a, priority=1),
                                    GatewayRow(GATEWAY_B_IP, port_b, priority=2)))],
        numbers=[NumberRow(PBX_DID, (("trunk", "probed"),))]))
    gateway_b = start_agent(agents, "call_uas_answer_probes.xml", sipp_dir, ip=GATEWAY_B_IP,
                            port=port_b, keys={"user": "gw"}, calls=1_000_000, timeout=30)
    switch.start()
    try:
        wait_until(lambda: switch.metric(GATEWAY_UP, trunk="probed", gateway=label_a) == 0
                   and switch.metric(GATEWAY_UP, trunk="probed", gateway=label_b) == 1, 10.0,
                   message=lambda: f"gateway A down and B up: {switch.metrics()}")
        assert switch.metric(PROBES, result="timeout") >= 2
        assert switch.metric(PROBES, result="ok") >= 1
        assert 0 < switch.metric(GATEWAY_RTT, trunk="probed", gateway=label_b) < 0.5

        started = time.monotonic()
        caller = run_call(switch.sip_target, "call_uac.xml", sipp_dir, ip=CARRIER_IP,
                          keys={"dialled": PBX_DID.removeprefix("+1"), "domain": switch.domain,
                                "caller": CALLER}, extra=("-d", "200"))
        took = time.monotonic() - started
        callee = gateway_b.terminate()

        assert caller.ok, caller.describe()
        assert statuses(caller) == [100, 180, 200] and took < 2.0, (took, caller.describe())
        assert len(requests_received(callee, "INVITE")) == 1, callee.describe()
        assert len(requests_received(callee, "OPTIONS")) >= 1, callee.describe()
        record = wait_cdr(switch, call_id_of(caller))
        assert (record["attempts"], record["gateway"]) == (1, f"udp:{label_b}"), record
        silent.settimeout(0.05)
        seen = []
        while True:
            try:
                seen.append(silent.recv(65535).split(b" ", 1)[0])
            except socket.timeout:
                break
        assert seen and set(seen) == {b"OPTIONS"}, f"gateway A got {set(seen)}"
    finally:
        silent.close()
        switch.close()


def test_carrier_registration_answers_the_challenge_refreshes_and_unregisters(
        tmp_path, agents, sipp_dir):
    """A trunk with register = true: REGISTER to its gateway with the trunk's digest
    credentials, refreshed before the 2 s granted run out (challenged again), and
    Expires: 0 when the switch stops."""
    realm, nonce, user, password = "carrier.test", "e2e-nonce", "trunk-user", "trunk-secret"
    port = free_udp_port(GATEWAY_B_IP)
    registrar = start_agent(agents, "call_carrier_registrar.xml", sipp_dir, ip=GATEWAY_B_IP,
                            port=port, keys={"realm": realm, "nonce": nonce}, timeout=20)
    switch = CallSwitch(tmp_path / "switch", sip={"t1": T1, "drain_timeout": 1.0},
                        sections={"trunks": {"probe_interval": NO_PROBES}})
    seed_routing(switch.db_url, Routing(trunks=[TrunkRow(
        "upstream", (GatewayRow(GATEWAY_B_IP, port),), register=True,
        auth_username=user, auth_password=password)]))
    switch.start()
    try:
        wait_until(lambda: switch.metric(TRUNK_REGISTERED, trunk="upstream") == 1, 5.0,
                   message="the trunk to register")
        registered_at = time.monotonic()
        registrar.wait_for_message(
            lambda m: m.method == "REGISTER" and m.header("CSeq").startswith("3 "), 2.5)
        refreshed_after = time.monotonic() - registered_at
        wait_until(lambda: switch.metric(REGISTRATION_ATTEMPTS, result="ok") >= 2, 3.0,
                   message="the refresh to succeed")
        assert switch.metric(TRUNK_REGISTERED, trunk="upstream") == 1
    finally:
        switch.close()  # drains, then unregisters
    result = registrar.finish()

    assert result.ok, result.describe()
    assert refreshed_after < 2.0, refreshed_after
    registers, branches = [], set()
    for message in requests_received(result, "REGISTER"):
        if message.header("Via") not in branches:  # leave retransmissions out
            branches.add(message.header("Via"))
            registers.append(message)
    assert [m.header("Expires") for m in registers] == ["600", "600", "600", "600", "0"]
    assert [m.header("CSeq") for m in registers] == [f"{n} REGISTER" for n in range(1, 6)]
    assert len({m.header("Call-ID") for m in registers}) == 1, result.describe()
    assert registers[0].first_line == f"REGISTER sip:{GATEWAY_B_IP}:{port} SIP/2.0"
    for message, nonce_used in ((registers[1], f"{nonce}-1"), (registers[3], f"{nonce}-2")):
        scheme, params = auth_params(message.header("Authorization"))
        assert (scheme, params["username"], params["realm"], params["nonce"]) == (
            "Digest", user, realm, nonce_used), message.text
        assert params["response"] == expected_digest(params, password, "REGISTER"), \
            message.text
    for message in (registers[0], registers[2], registers[4]):
        assert message.header("Authorization") is None, message.text


def expected_digest(params: dict, password: str, method: str) -> str:
    """RFC 2617 MD5 qop=auth response for the parameters a client sent."""
    def md5(text):
        return hashlib.md5(text.encode()).hexdigest()
    ha1 = md5(f"{params['username']}:{params['realm']}:{password}")
    ha2 = md5(f"{method}:{params['uri']}")
    return md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")


# -- hostile input during a call ---------------------------------------------------------------
GARBAGE_TORTURE = ["badinv01.dat", "insuf.dat", "multi01.dat", "quotbal.dat", "clerr.dat",
                   "ncl.dat", "scalarlg.dat", "mcl01.dat", "bigcode.dat"]
JUNK = [b"\x00\xff\xfe garbage \x80\x81" * 40, b"SIP/2.0 200 OK\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n", b"\r\n\r\n" * 50,
        bytes(range(256)) * 4]


def forged_request(client, method, cseq, call_id, target, route=None) -> bytes:
    """A request from a third party that names a call in progress: its Call-ID (and,
    for CANCEL, its INVITE's CSeq) with tags that are not the dialog's."""
    to_tag = "" if method == "CANCEL" else ";tag=forged-to"
    lines = [f"{method} {target} SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bK-forged-{method}-"
             f"{cseq};rport"]
    if route:
        lines.append(f"Route: <sip:{route};lr>")
    lines += ["Max-Forwards: 70", "From: <sip:mallory@127.0.0.1>;tag=forged-from",
              f"To: <sip:victim@127.0.0.1>{to_tag}", f"Call-ID: {call_id}",
              f"CSeq: {cseq} {method}", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def call_in_progress(lab, agents, sipp_dir, talk_ms=2500, timeout=20):
    """A carrier call to a gateway, answered and talking for `talk_ms`: (caller agent,
    callee agent, Call-ID), returned once the switch has relayed the 200."""
    switch = lab.switch
    answered_before = switch.metric(RESPONSES_SENT, method="INVITE", status_class="2xx")
    callee = gateway(lab, agents, sipp_dir, "quiet-b", timeout=timeout)
    caller = SippAgent(
        "call_uac.xml", sipp_dir, ip=CARRIER_IP, target=switch.sip_target, timeout=timeout,
        keys={"dialled": TORTURE_DID.removeprefix("+1"), "domain": switch.domain,
              "caller": CALLER}, extra=("-d", str(talk_ms)))
    agents.append(caller)
    wait_until(lambda: switch.metric(RESPONSES_SENT, method="INVITE", status_class="2xx")
               > answered_before, 5.0, message="the call to be answered")
    # SIPp's Call-ID is [call_number]-[pid]@[local_ip].
    return caller, callee, f"1-{caller.process.pid}@{CARRIER_IP}"


def assert_call_was_undisturbed(lab, caller_agent, callee_agent, talk_s):
    caller, callee = caller_agent.finish(), callee_agent.finish()
    assert caller.ok and callee.ok, both(caller, callee)
    assert statuses(caller) == [100, 180, 200], caller.describe()
    assert statuses(caller, "BYE") == [200], caller.describe()
    [bye] = requests_received(callee, "BYE")
    assert bye.header("From") == requests_received(callee, "INVITE")[0].header("From")
    record = wait_cdr(lab.switch, call_id_of(caller))
    assert_answered_record(record, direction="inbound", route_kind="trunk",
                           route_target="quiet")
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye"), record
    assert record["end_at"] - record["answer_at"] >= talk_s - 0.2, record


def test_garbage_during_a_call_does_not_disturb_it(lab, agents, sipp_dir):
    switch = lab.switch
    dropped_before = switch.metric(DROPPED, reason="malformed-request")
    caller, callee, call_id = call_in_progress(lab, agents, sipp_dir)

    with UdpClient(switch.sip_port) as client:
        for name in GARBAGE_TORTURE:
            client.send(client.torture(name))
        for junk in JUNK:
            client.send(junk)
        # A CANCEL for the answered INVITE: nothing left to cancel.
        client.send(forged_request(client, "CANCEL", 1, call_id,
                                   f"sip:{TORTURE_DID}@{switch.domain}"))
        answers = []
        while (answer := client.receive(timeout=0.3)) is not None:
            answers.append(answer)

    assert_call_was_undisturbed(lab, caller, callee, 2.5)
    by_method = {a.header("CSeq").split()[-1]: a.status for a in answers if a.header("CSeq")}
    assert by_method.get("CANCEL") == 481, [a.first_line for a in answers]
    assert sum(a.status == 400 for a in answers) >= 4, [a.first_line for a in answers]
    assert switch.metric(DROPPED, reason="malformed-request") >= dropped_before + 4
    assert switch.health()["status"] == "ok"


@pytest.mark.parametrize("routed", [False, True], ids=["no-route", "our-route"])
def test_forged_in_dialog_requests_from_a_third_party_are_not_relayed(lab, agents, sipp_dir,
                                                                      routed):
    """The Call-ID of a live call with tags that are not its dialog's, sent by a third
    party (with or without a Route naming the switch): refused, never relayed, so a
    forged BYE cannot end the call."""
    switch = lab.switch
    caller, callee, call_id = call_in_progress(lab, agents, sipp_dir, talk_ms=1500,
                                               timeout=8)
    target = f"sip:gw@{callee.address}"
    route = switch.sip_target if routed else None

    with UdpClient(switch.sip_port) as client:
        for method, cseq in (("INFO", 5), ("ACK", 6), ("BYE", 7)):
            client.send(forged_request(client, method, cseq, call_id, target, route))
        answers = []
        while (answer := client.receive(timeout=0.3)) is not None:
            answers.append(answer)

    assert_call_was_undisturbed(lab, caller, callee, 1.5)
    assert sorted((a.header("CSeq"), a.status) for a in answers) == [
        ("5 INFO", 481), ("7 BYE", 481)], [a.first_line for a in answers]
    assert not [m for m in callee.result.received() if "mallory" in (m.header("From") or "")], \
        callee.result.describe()
