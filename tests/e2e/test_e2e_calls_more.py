"""More calls through the stateful proxy end to end, SIPp on loopback as the carrier,
the gateways and the phones: a burst from 10 to 310 concurrent calls, calls over TCP,
183 with early media through the relay, parallel forking to two phones of one user,
Max-Forwards and a trunk that loops back to the switch.

Each test checks what the SIPp user agents saw (exit codes, statistics, message logs),
the call records in the `cdrs` table and /metrics.

Addresses (as in test_e2e_calls.py): 127.0.0.1 the switch; 127.0.0.2 the carrier (the
trunk "carrier", known by its address); 127.0.0.3 and 127.0.0.4 gateways; 127.0.0.5
the registered phones.
"""

import time
from dataclasses import dataclass, field

import pytest

from calls_more_support import (
    GaugePeak,
    TcpSippAgent,
    cdrs_of,
    free_tcp_port,
    sipp_call_ids,
    sipp_totals,
)
from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    GATEWAY_B_IP,
    PHONE_IP,
    SWITCH_IP,
    CallSwitch,
    GatewayRow,
    NumberRow,
    Routing,
    SippAgent,
    TrunkRow,
    call_id_of,
    cdr_rows,
    free_udp_port,
    register_phone,
    requests_received,
    run_call,
    sdp_media,
    seed_routing,
    statuses,
    wait_cdr,
    write_rtp_pcap,
)
from e2e_switch import SwitchProcess, wait_until

pytestmark = [pytest.mark.sipp, pytest.mark.usefixtures("sipp")]

NO_PROBES = 86400.0  # [trunks] probe_interval: no OPTIONS lands on a SIPp callee
CALLER = "+12125550123"
FORK_USER, FORK_PASSWORD = "forked", "forked-pw"

BURST_DID = "+14155550200"  # -> trunk burst: one gateway (UDP) that answers everything
TCP_GW_DID = "+14155550201"  # -> trunk tcp-pbx: a gateway over TCP
UDP_GW_DID = "+14155550202"  # -> trunk udp-pbx: a gateway over UDP
EARLY_DID = "+14155550203"  # -> trunk early: a gateway that answers 183 with SDP first
FORK_DID = "+14155550204"  # -> user "forked", registered from two phones
HOPS_DID = "+14155550205"  # -> trunk hops: a gateway over UDP
LOOP_DID = "+14155550206"  # -> trunk self: its gateway is the switch's own SIP address

REQUESTS = "softswitch_sip_requests_total"
REQUESTS_SENT = "softswitch_sip_requests_sent_total"
RESPONSES_SENT = "softswitch_sip_responses_sent_total"
RESPONSES_RECEIVED = "softswitch_sip_responses_received_total"
ACTIVE_CALLS = "softswitch_trunk_active_calls"
DROPPED = "softswitch_sip_messages_dropped_total"
GATEWAY_UP = "softswitch_gateway_up"

BASELINE_CALLS = 10
BURST_CALLS = 300
BURST_HOLD_MS = 3000  # each burst call stays up 3 s: all 300 are up at once
BASELINE_HOLD_MS = 6000  # the baseline outlasts the burst
RTP_PACKETS = 50  # one second of G.711 in the early media


@dataclass
class Lab:
    switch: SwitchProcess
    ports: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    # RFC 3261 default timers (T1 0.5 s), as a carrier would see them; a short drain so
    # that a failed test leaving a call up does not hold the switch's stop.
    switch = CallSwitch(tmp_path_factory.mktemp("calls-more"), sip={"drain_timeout": 1.0},
                        database={"reload_interval": 0.3},
                        sections={"trunks": {"probe_interval": NO_PROBES}})
    switch.add_user(FORK_USER, FORK_PASSWORD)
    ports = {
        "burst": free_udp_port(GATEWAY_A_IP),
        "tcp-pbx": free_tcp_port(GATEWAY_A_IP),
        "udp-pbx": free_udp_port(GATEWAY_B_IP),
        "early": free_udp_port(GATEWAY_B_IP),
        "hops": free_udp_port(GATEWAY_B_IP),
        "phone-1": free_udp_port(PHONE_IP),
        "phone-2": free_udp_port(PHONE_IP),
    }
    seed_routing(switch.db_url, Routing(
        trunks=[
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                     allowed_sources=(CARRIER_IP,), number_format="nanp"),
            TrunkRow("burst", (GatewayRow(GATEWAY_A_IP, ports["burst"]),)),
            TrunkRow("tcp-pbx", (GatewayRow(GATEWAY_A_IP, ports["tcp-pbx"],
                                            transport="tcp"),)),
            TrunkRow("udp-pbx", (GatewayRow(GATEWAY_B_IP, ports["udp-pbx"]),)),
            TrunkRow("early", (GatewayRow(GATEWAY_B_IP, ports["early"]),)),
            TrunkRow("hops", (GatewayRow(GATEWAY_B_IP, ports["hops"]),)),
        ],
        numbers=[
            NumberRow(BURST_DID, (("trunk", "burst"),)),
            NumberRow(TCP_GW_DID, (("trunk", "tcp-pbx"),)),
            NumberRow(UDP_GW_DID, (("trunk", "udp-pbx"),)),
            NumberRow(EARLY_DID, (("trunk", "early"),)),
            NumberRow(FORK_DID, (("user", FORK_USER),)),
            NumberRow(HOPS_DID, (("trunk", "hops"),)),
        ]))
    switch.start()
    yield Lab(switch, ports)
    switch.close()


@pytest.fixture
def switch(lab):
    """The module's switch, named among a test's arguments so that a failing test's
    report carries the switch's output (conftest.py)."""
    return lab.switch


@pytest.fixture
def fresh_switch(tmp_path):
    """A switch of the test's own, started without routing rows (see load_routing)."""
    process = CallSwitch(tmp_path / "switch", sip={"drain_timeout": 1.0},
                         database={"reload_interval": 0.3},
                         sections={"trunks": {"probe_interval": NO_PROBES}})
    process.start()
    yield process
    process.close()


def load_routing(switch, routing: Routing, trunk: str, gateway: str) -> None:
    """Write routing rows to a running switch and wait for its snapshot to hold them
    (the gateways of a loaded trunk show in softswitch_gateway_up)."""
    seed_routing(switch.db_url, routing)
    wait_until(lambda: switch.metric(GATEWAY_UP, trunk=trunk, gateway=gateway) == 1, 5.0,
               message=f"the switch to load trunk {trunk}")


@pytest.fixture
def agents():
    """SIPp processes a test starts in the background; any still running at the end
    (a failed test) are stopped."""
    started: list[SippAgent] = []
    yield started
    for agent in started:
        agent.stop()


def keys_for(switch, dialled: str, **more) -> dict:
    """SIPp keys for a carrier call to `dialled` (national format, as the NANP trunk
    sends it)."""
    return {"dialled": dialled.removeprefix("+1"), "domain": switch.domain, "caller": CALLER,
            **more}


def callee(agents, workdir, ip, port, scenario="call_uas_answer.xml", *, transport="udp",
           pause_ms=300, timeout=15.0, calls=1, extra=(), **kwargs):
    kind = TcpSippAgent if transport == "tcp" else SippAgent
    agent = kind(scenario, workdir, ip=ip, port=port, keys={"user": "gw"}, timeout=timeout,
                 calls=calls, extra=("-d", str(pause_ms), *extra), **kwargs)
    agents.append(agent)
    return agent.wait_ready()


def both(caller, callee_result):
    return (f"--- caller ---\n{caller.describe()}\n"
            f"--- callee ---\n{callee_result.describe()}")


def assert_answered(record, *, route_kind, route_target, attempts=1):
    assert record["final_code"] == 200 and record["attempts"] == attempts, record
    assert (record["route_kind"], record["route_target"]) == (route_kind, route_target), record
    assert record["start_at"] <= record["answer_at"] <= record["end_at"], record


# -- 1. burst ------------------------------------------------------------------------------
def test_burst_from_10_to_310_concurrent_calls_within_a_second(lab, switch, agents, sipp_dir):
    """10 calls are up; the carrier then opens 300 more within one second (300 cps),
    each up for 3 s, to a trunk with no limits: every call is answered and ended cleanly,
    no 5xx anywhere, one call record each, and the switch is healthy afterwards."""
    total = BASELINE_CALLS + BURST_CALLS
    answered_before = switch.metric(RESPONSES_SENT, method="INVITE", status_class="2xx")
    relayed_before = switch.metric(RESPONSES_RECEIVED, method="INVITE", status_class="2xx")
    errors_before = sum(switch.metric(RESPONSES_SENT, method=m, status_class="5xx")
                        for m in ("INVITE", "ACK", "BYE", "CANCEL"))
    dropped_before = sum(v for (name, _), v in switch.metrics().items() if name == DROPPED)
    gateway = callee(agents, sipp_dir, GATEWAY_A_IP, lab.ports["burst"], calls=total,
                     timeout=25, trace_messages=False, stats_file=sipp_dir / "gateway.csv",
                     extra=("-l", "1000"))
    baseline = SippAgent(
        "call_uac.xml", sipp_dir, ip=CARRIER_IP, target=switch.sip_target,
        calls=BASELINE_CALLS, rate=100, timeout=25, trace_messages=False,
        keys=keys_for(switch, BURST_DID), stats_file=sipp_dir / "baseline.csv",
        extra=("-d", BASELINE_HOLD_MS, "-mp", free_udp_port(CARRIER_IP)), name="baseline")
    agents.append(baseline)
    wait_until(lambda: switch.metric(RESPONSES_SENT, method="INVITE", status_class="2xx")
               >= answered_before + BASELINE_CALLS, 5.0,
               message="the 10 baseline calls to be answered")
    inbound = GaugePeak(switch, ACTIVE_CALLS, trunk="carrier", direction="inbound")
    outbound = GaugePeak(switch, ACTIVE_CALLS, trunk="burst", direction="outbound")

    started = time.monotonic()
    burst = SippAgent(
        "call_uac.xml", sipp_dir, ip=CARRIER_IP, target=switch.sip_target,
        calls=BURST_CALLS, rate=BURST_CALLS, timeout=25, trace_messages=False,
        keys=keys_for(switch, BURST_DID), stats_file=sipp_dir / "burst.csv",
        extra=("-rp", "1000", "-l", BURST_CALLS, "-d", BURST_HOLD_MS,
               "-mp", free_udp_port(CARRIER_IP)), name="burst")
    agents.append(burst)
    burst_result = burst.finish()
    took = time.monotonic() - started
    baseline_result, gateway_result = baseline.finish(), gateway.finish()
    inbound_peak, outbound_peak = inbound.stop(), outbound.stop()

    for name, result, calls, path in (
            ("burst", burst_result, BURST_CALLS, "burst.csv"),
            ("baseline", baseline_result, BASELINE_CALLS, "baseline.csv"),
            ("gateway", gateway_result, total, "gateway.csv")):
        assert result.ok, f"{name}\n{result.describe()}"
        totals = sipp_totals(sipp_dir / path)
        assert (totals["SuccessfulCall"], totals["FailedCall"]) == (calls, 0), (name, totals)
    # 300 calls opened within about a second, each up 3 s: about 4 s here; a loaded
    # machine adds retransmissions (T1 0.5 s), but no call may be lost to them.
    assert took < BURST_HOLD_MS / 1000 + 12, took
    assert inbound_peak == outbound_peak == total, (inbound_peak, outbound_peak)

    call_ids = (sipp_call_ids(burst.process.pid, CARRIER_IP, BURST_CALLS)
                + sipp_call_ids(baseline.process.pid, CARRIER_IP, BASELINE_CALLS))
    records = wait_until(lambda: (found := cdrs_of(switch.engine, call_ids))
                         and len(found) == total and found, 10.0,
                         message="a call record for each of the 310 calls")
    assert all(len(rows) == 1 for rows in records.values()), records
    rows = [rows[0] for rows in records.values()]
    assert {(r["direction"], r["did"], r["final_code"], r["attempts"], r["trunk"],
             r["gateway"], r["disconnect_side"], r["disconnect_reason"]) for r in rows} == {
        ("inbound", BURST_DID, 200, 1, "burst", f"udp:{GATEWAY_A_IP}:{lab.ports['burst']}",
         "caller", "bye")}, rows[:3]
    burst_rows = [records[c][0] for c in call_ids[:BURST_CALLS]]
    opened = max(r["start_at"] for r in burst_rows) - min(r["start_at"] for r in burst_rows)
    # SIPp sends them within a second; the switch takes them in as fast as it can.
    assert opened < 3.0, f"the burst's INVITEs were spread over {opened:.2f} s"
    assert min(r["end_at"] - r["answer_at"] for r in burst_rows) >= BURST_HOLD_MS / 1000 - 0.2

    # Every call answered; on a loaded machine a late ACK makes the gateway retransmit
    # its 200, which the switch relays too (RFC 3261 §16.7), but never invents one.
    answered_after = switch.metric(RESPONSES_SENT, method="INVITE", status_class="2xx")
    relayed = switch.metric(RESPONSES_RECEIVED, method="INVITE", status_class="2xx")
    assert answered_before + total <= answered_after, answered_after
    assert answered_after - answered_before <= relayed - relayed_before, (
        answered_after, relayed)
    assert sum(switch.metric(RESPONSES_SENT, method=m, status_class="5xx")
               for m in ("INVITE", "ACK", "BYE", "CANCEL")) == errors_before
    assert sum(v for (name, _), v in switch.metrics().items() if name == DROPPED) == \
        dropped_before
    assert switch.health()["status"] == "ok"
    assert switch.metric(ACTIVE_CALLS, trunk="carrier", direction="inbound") == 0
    assert switch.metric(ACTIVE_CALLS, trunk="burst", direction="outbound") == 0


# -- 2. TCP --------------------------------------------------------------------------------

TCP_CALL_TIMEOUT = 5.0  # a call over TCP takes well under a second


@pytest.mark.parametrize("carrier_transport,gateway_transport", [
    ("tcp", "udp"),
    ("tcp", "tcp"),
    ("udp", "tcp"),
])
def test_call_over_tcp(lab, switch, agents, sipp_dir, carrier_transport,
                      gateway_transport):
    """A whole call (INVITE, 180, 200, ACK, BYE, 200) with the carrier's side, the
    gateway's side or both over TCP."""
    trunk = f"{gateway_transport}-pbx"
    gateway_ip = GATEWAY_A_IP if gateway_transport == "tcp" else GATEWAY_B_IP
    dialled = TCP_GW_DID if gateway_transport == "tcp" else UDP_GW_DID
    gw = callee(agents, sipp_dir, gateway_ip, lab.ports[trunk], transport=gateway_transport,
                timeout=TCP_CALL_TIMEOUT)

    caller = run_call(switch.sip_target, "call_uac.xml", sipp_dir, ip=CARRIER_IP,
                      transport=carrier_transport, keys=keys_for(switch, dialled),
                      timeout=TCP_CALL_TIMEOUT, extra=("-d", "300"))
    answered = gw.finish()

    assert caller.ok and answered.ok, both(caller, answered)
    assert statuses(caller) == [100, 180, 200], caller.describe()
    assert statuses(caller, "BYE") == [200], caller.describe()
    [invite] = requests_received(answered, "INVITE")
    suffix = ";transport=tcp" if gateway_transport == "tcp" else ""
    assert invite.first_line == (f"INVITE sip:{dialled}@{gateway_ip}:{gw.port}{suffix} "
                                 f"SIP/2.0"), invite.text
    vias = invite.headers("Via")
    assert len(vias) == 2, vias
    assert vias[0].startswith(f"SIP/2.0/{gateway_transport.upper()} {switch.sip_target};"), vias
    assert vias[1].startswith(f"SIP/2.0/{carrier_transport.upper()} {CARRIER_IP}:"), vias
    assert len(requests_received(answered, "ACK")) == 1, answered.describe()
    assert len(requests_received(answered, "BYE")) == 1, answered.describe()

    record = wait_cdr(switch, call_id_of(caller))
    assert_answered(record, route_kind="trunk", route_target=trunk)
    assert (record["trunk"], record["gateway"]) == (
        trunk, f"{gateway_transport}:{gateway_ip}:{gw.port}"), record
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye"), record


def test_record_route_names_the_transport_of_each_call(fresh_switch, agents, sipp_dir):
    """A call over TCP, then one over UDP, on a fresh switch: the TCP caller is told to
    reach the switch over TCP; the UDP call is Record-Routed without ;transport=tcp on
    both of its sides."""
    switch = fresh_switch
    port = free_udp_port(GATEWAY_B_IP)
    load_routing(switch, Routing(
        trunks=[TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                         allowed_sources=(CARRIER_IP,), number_format="nanp"),
                TrunkRow("udp-pbx", (GatewayRow(GATEWAY_B_IP, port),))],
        numbers=[NumberRow(UDP_GW_DID, (("trunk", "udp-pbx"),))]),
        "udp-pbx", f"{GATEWAY_B_IP}:{port}")
    seen = {}
    for transport in ("tcp", "udp"):
        gw = callee(agents, sipp_dir, GATEWAY_B_IP, port, timeout=TCP_CALL_TIMEOUT)
        caller = run_call(switch.sip_target, "call_uac.xml", sipp_dir, ip=CARRIER_IP,
                          transport=transport, keys=keys_for(switch, UDP_GW_DID),
                          timeout=TCP_CALL_TIMEOUT, extra=("-d", "100"))
        answered = gw.finish()
        assert caller.ok and answered.ok, both(caller, answered)
        [final] = [m for m in caller.responses(200) if m.header("CSeq") == "1 INVITE"]
        [invite] = requests_received(answered, "INVITE")
        seen[transport] = (elements(final.headers("Record-Route")),
                           elements(invite.headers("Record-Route")))

    # The TCP call changes transport at the switch: two entries (RFC 5658), the
    # gateway's side on top; the UDP call needs one.
    udp_side, tcp_side = f"<sip:{switch.sip_target};lr>", \
        f"<sip:{switch.sip_target};transport=tcp;lr>"
    assert seen["tcp"] == ([udp_side, tcp_side],) * 2, seen
    assert seen["udp"] == ([udp_side],) * 2, seen


def elements(values: list[str]) -> list[str]:
    """Record-Route values, one per element however they were put on lines."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


# -- 3. 183 with early media ---------------------------------------------------------------
def test_183_with_early_media_is_anchored_then_answered(lab, switch, agents, sipp_dir):
    """The gateway answers 183 with SDP and plays a second of RTP before its 200: the
    caller gets the 183 with the relay's address (not the gateway's), hears the early
    media through the relay (SIPp echoes it back), then gets the 200 naming the same
    relay port."""
    sipp_dir.mkdir(parents=True, exist_ok=True)
    write_rtp_pcap(sipp_dir / "rtp.pcap", RTP_PACKETS)
    gateway_media = free_udp_port(GATEWAY_B_IP)
    gw = callee(agents, sipp_dir, GATEWAY_B_IP, lab.ports["early"], "more_uas_early_media.xml",
                pause_ms=1500, extra=("-mp", gateway_media))

    caller = run_call(switch.sip_target, "call_uac.xml", sipp_dir, ip=CARRIER_IP,
                      keys=keys_for(switch, EARLY_DID),
                      extra=("-d", "300", "-rtp_echo", "-mp", free_udp_port(CARRIER_IP)))
    answered = gw.finish()

    assert caller.ok and answered.ok, both(caller, answered)
    assert statuses(caller) == [100, 183, 200], caller.describe()
    [progress] = caller.responses(183)
    [final] = [m for m in caller.responses(200) if m.header("CSeq") == "1 INVITE"]
    [offer] = requests_received(answered, "INVITE")
    sent_progress = next(m for m in answered.sent() if m.status == 183)
    assert sdp_media(sent_progress) == (GATEWAY_B_IP, gateway_media), sent_progress.text
    early, answer = sdp_media(progress), sdp_media(final)
    assert early[0] == SWITCH_IP and early != sdp_media(sent_progress), progress.text
    assert answer == early, "the 200 names the relay port of the early media\n" + final.text
    assert sdp_media(offer)[0] == SWITCH_IP, offer.text

    record = wait_cdr(switch, call_id_of(caller))
    assert_answered(record, route_kind="trunk", route_target="early")
    assert record["ring_at"] is not None, record
    assert record["answer_at"] - record["ring_at"] >= 1.4, record  # the early media time
    media = record["media_stats"]
    assert media is not None, record
    [from_callee] = media["callee"]["streams"]
    [from_caller] = media["caller"]["streams"]
    assert from_caller["local_port"] == early[1], media
    assert from_callee["local_port"] == sdp_media(offer)[1], media
    assert from_callee["peer"][0] == GATEWAY_B_IP, media
    # Every early packet reached the relay and went on to the caller, whose echo came
    # back through the relay.
    assert from_callee["rtp"]["packets"] == from_callee["forwarded"] == RTP_PACKETS, media
    assert from_caller["rtp"]["packets"] == from_caller["forwarded"] == RTP_PACKETS, media


# -- 4. parallel forking -------------------------------------------------------------------
def test_user_registered_from_two_phones_rings_both_and_one_answers(lab, switch, agents, sipp_dir):
    """A DID routed to a user registered from two phones: both ring at once; when the
    first answers, the other gets CANCEL and answers 487; the caller gets one 200."""
    cancels_before = switch.metric(REQUESTS_SENT, method="CANCEL")
    ports = lab.ports["phone-1"], lab.ports["phone-2"]
    for port in ports:
        register_phone(switch, sipp_dir, FORK_USER, FORK_PASSWORD, PHONE_IP, port)
    contacts = {f"sip:{FORK_USER}@{PHONE_IP}:{port}" for port in ports}
    wait_until(lambda: {row["contact"] for row in switch.registration_rows(
        switch.aor(FORK_USER))} == contacts, 3.0, message=f"two bindings: {contacts}")
    answering = callee(agents, sipp_dir, PHONE_IP, ports[0], "more_uas_ring_answer.xml",
                       pause_ms=500)
    ringing = callee(agents, sipp_dir, PHONE_IP, ports[1], "call_uas_ring.xml")

    caller = run_call(switch.sip_target, "call_uac.xml", sipp_dir, ip=CARRIER_IP,
                      keys=keys_for(switch, FORK_DID), extra=("-d", "300"))
    answered, cancelled = answering.finish(), ringing.finish()

    assert caller.ok and answered.ok and cancelled.ok, (
        both(caller, answered) + "\n--- cancelled phone ---\n" + cancelled.describe())
    codes = statuses(caller)
    assert codes.count(200) == 1 and set(codes) == {100, 180, 200}, caller.describe()
    [to_answering] = requests_received(answered, "INVITE")
    [to_ringing] = requests_received(cancelled, "INVITE")
    assert to_answering.header("Call-ID") == to_ringing.header("Call-ID") == call_id_of(caller)
    assert to_answering.first_line == f"INVITE sip:{FORK_USER}@{PHONE_IP}:{ports[0]} SIP/2.0"
    assert to_ringing.first_line == f"INVITE sip:{FORK_USER}@{PHONE_IP}:{ports[1]} SIP/2.0"
    assert to_answering.headers("Via")[0] != to_ringing.headers("Via")[0], "one branch each"
    [cancel] = requests_received(cancelled, "CANCEL")
    assert cancel.headers("Via") == to_ringing.headers("Via")[:1], cancelled.describe()
    assert [m.status for m in cancelled.sent() if m.is_response][-1] == 487
    assert len(requests_received(cancelled, "ACK")) == 1, "the switch ACKs the 487"
    assert len(requests_received(answered, "ACK")) == 1, answered.describe()
    assert len(requests_received(answered, "BYE")) == 1, answered.describe()

    record = wait_cdr(switch, call_id_of(caller))
    assert_answered(record, route_kind="user", route_target=FORK_USER, attempts=2)
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("caller", "bye"), record
    assert switch.metric(REQUESTS_SENT, method="CANCEL") == cancels_before + 1


# -- 5. Max-Forwards and loops -------------------------------------------------------------
def test_max_forwards_0_is_refused_with_483_before_routing(lab, switch, sipp_dir):
    sent_before = switch.metric(REQUESTS_SENT, method="INVITE")

    caller = run_call(switch.sip_target, "more_uac_max_forwards.xml", sipp_dir, ip=CARRIER_IP,
                      keys=keys_for(switch, HOPS_DID, max_forwards=0)).expect_ok()

    assert statuses(caller) == [483], caller.describe()
    assert caller.final_response().header("To").count("tag=") == 1, caller.describe()
    time.sleep(0.5)  # past a call-record batch
    assert switch.metric(REQUESTS_SENT, method="INVITE") == sent_before
    assert cdr_rows(switch.engine, call_id_of(caller)) == []


def test_max_forwards_1_reaches_the_gateway_with_0(lab, switch, agents, sipp_dir):
    gw = callee(agents, sipp_dir, GATEWAY_B_IP, lab.ports["hops"])

    caller = run_call(switch.sip_target, "more_uac_max_forwards.xml", sipp_dir, ip=CARRIER_IP,
                      keys=keys_for(switch, HOPS_DID, max_forwards=1), extra=("-d", "200"))
    answered = gw.finish()

    assert caller.ok and answered.ok, both(caller, answered)
    assert statuses(caller) == [100, 180, 200], caller.describe()
    [invite] = requests_received(answered, "INVITE")
    assert invite.header("Max-Forwards") == "0", invite.text
    assert wait_cdr(switch, call_id_of(caller))["final_code"] == 200


def test_trunk_whose_gateway_is_the_switch_itself_ends_in_482(fresh_switch, sipp_dir):
    """A trunk whose gateway is the switch's own SIP address: the INVITE comes back
    (from that "gateway", so as a call of the same trunk), goes out once more with the
    same Request-URI, and the third arrival carries a Via of ours whose branch hash
    matches: 482 Loop Detected, relayed back hop by hop to the caller, at once."""
    switch = fresh_switch
    # The gateway is the switch's own port, known once it runs.
    load_routing(switch, Routing(
        trunks=[TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                         allowed_sources=(CARRIER_IP,), number_format="nanp"),
                TrunkRow("self", (GatewayRow(SWITCH_IP, switch.sip_port),))],
        numbers=[NumberRow(LOOP_DID, (("trunk", "self"),))]),
        "self", switch.sip_target)
    received_before = switch.metric(REQUESTS, method="INVITE")
    sent_before = switch.metric(REQUESTS_SENT, method="INVITE")

    started = time.monotonic()
    caller = run_call(switch.sip_target, "call_uac_failure.xml", sipp_dir, ip=CARRIER_IP,
                      keys=keys_for(switch, LOOP_DID), timeout=10).expect_ok()
    took = time.monotonic() - started

    assert statuses(caller) == [100, 482], caller.describe()
    assert took < 2.0, took
    # The carrier's INVITE and the two that came back; the switch sent two.
    assert switch.metric(REQUESTS, method="INVITE") == received_before + 3
    assert switch.metric(REQUESTS_SENT, method="INVITE") == sent_before + 2
    call_id = call_id_of(caller)
    wait_until(lambda: len(cdr_rows(switch.engine, call_id)) >= 2, 5.0,
               message="the call records of both hops")
    time.sleep(0.5)  # past another call-record batch: nothing more comes
    records = cdr_rows(switch.engine, call_id)
    # One record per hop that routed the call (the third arrival was refused before
    # routing); the trunk is the one the call left by.
    assert [(r["final_code"], r["trunk"], r["gateway"], r["attempts"], r["answer_at"])
            for r in records] == [(482, "self", f"udp:{switch.sip_target}", 1, None)] * 2, \
        records
    assert switch.health()["status"] == "ok"
    assert switch.metric(ACTIVE_CALLS, trunk="carrier", direction="inbound") == 0
    assert switch.metric(ACTIVE_CALLS, trunk="self", direction="outbound") == 0
