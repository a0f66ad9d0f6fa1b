"""Outbound AI calls end to end: the admin API (`POST /v1/calls`) asks the switch to
call a number, a SIPp UAS is the carrier's gateway, and an agent on the `websockets`
library (Twilio profile) talks to whoever answers.

Checked on the wire: the INVITE's offer (PCMU, PCMA, telephone-event on the relay);
the agent's socket opened while the far end rings and its `start` (direction
outbound, the custom parameters); RTP both ways once answered (the agent's audio at
the gateway's media address, the gateway's pcap at the agent); the call in
`GET /v1/calls/{id}` while it is up; hang-up by `DELETE` or by the far end, or by the
switch when the far end sends no RTP ([media] inactivity_timeout); busy and
unanswered calls ([agents] outbound_ring_timeout) in `GET /v1/cdrs`; a trunk's
max_cps pacing a burst of calls (INVITE arrival times at the gateway); and SIGTERM
while calls are up and queued: `POST /v1/calls` gets 503, the queued calls fail
("shutdown"), the answered one is waited for.

Addresses: 127.0.0.1 the switch and the agent server; 127.0.0.4 the carrier's
gateways (SIPp).
"""

import asyncio
import signal
import time
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from ws_agent_server import AgentServer

from agents_support import AgentRow, AgentScripts, chirp_frames, find_in_order, seed_agents
from calls_support import (
    GATEWAY_B_IP,
    CallSwitch,
    GatewayRow,
    OutboundRow,
    Routing,
    SippAgent,
    TrunkRow,
    cdr_rows,
    free_udp_port,
    requests_received,
    sdp_media,
    seed_routing,
)
from e2e_switch import CLEAN_EXITS, wait_until
from far_end_support import (
    AdminApi,
    MediaCallee,
    create_api_token,
    invite_of,
    sdp_body,
    timed_messages,
    wall,
    when,
)


def sipp_test(function):
    """An end-to-end test with SIPp (missing SIPp: a failure in CI, a loud skip else)."""
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


NO_PROBES = 86400.0  # [trunks] probe_interval: no OPTIONS lands on the SIPp gateways
OUTBOUND_RING_TIMEOUT = 1.5  # [agents] outbound_ring_timeout
MAX_CPS = 2.0  # the paced trunk's
CAMPAIGN = {"campaign": "spring"}  # the agents' own custom parameters
OURS = "+14155550100"  # the number calls are placed from
CALLEE = "+12025550150"

AGENT_FRAMES = chirp_frames(50, 2500, 500, amplitude=6000)  # 1 s the agent says
CALLEE_FRAMES = chirp_frames(50, 400, 2800, amplitude=7000)  # 1 s the callee says


async def dialer(agent):
    """Says one second once the call is answered (its `start`)."""
    await asyncio.sleep(0.2)
    await agent.media(b"".join(AGENT_FRAMES))


AGENT_PATHS = ("/answered", "/hung-up", "/busy", "/unanswered", "/paced", "/draining",
               "/silent")


@pytest.fixture(scope="module")
def agent_server():
    scripts = AgentScripts()
    scripts.scripts.update({path: dialer for path in AGENT_PATHS})
    with AgentServer(scripts) as server:
        yield server, scripts


@dataclass
class Lab:
    switch: CallSwitch
    api: AdminApi
    scripts: AgentScripts
    carrier_port: int
    paced_port: int


def outbound_switch(workdir, agent_server, *, drain_timeout: float = 1.0,
                    carrier_cps: float | None = None, ring_timeout: float = OUTBOUND_RING_TIMEOUT,
                    media: dict | None = None) -> tuple[CallSwitch, AdminApi, int, int]:
    """A switch (not started) with two trunks to SIPp gateways: "carrier" (the outbound
    route of +1202), "paced" (max_cps MAX_CPS), an agent per AGENT_PATHS and a token;
    `media`: its [media] settings."""
    server, _ = agent_server
    sections = {"agents": {"connect_timeout": 2.0, "echo_number": "",
                           "outbound_ring_timeout": ring_timeout},
                "trunks": {"probe_interval": NO_PROBES}}
    if media:
        sections["media"] = media
    switch = CallSwitch(workdir, sip={"drain_timeout": drain_timeout},
                        database={"reload_interval": 0.5}, sections=sections)
    carrier_port, paced_port = free_udp_port(GATEWAY_B_IP), free_udp_port(GATEWAY_B_IP)
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("carrier", (GatewayRow(GATEWAY_B_IP, carrier_port),),
                         max_cps=carrier_cps),
                TrunkRow("paced", (GatewayRow(GATEWAY_B_IP, paced_port),), max_cps=MAX_CPS)],
        outbound=[OutboundRow("1202", ("carrier",))]))
    seed_agents(switch.db_url, [
        AgentRow(path.strip("/"), f"ws://127.0.0.1:{server.port}{path}",
                 custom_parameters=CAMPAIGN, caller_ids=(OURS,)) for path in AGENT_PATHS], [])
    api = AdminApi(switch, create_api_token(switch.db_url))
    return switch, api, carrier_port, paced_port


@pytest.fixture(scope="module")
def lab(tmp_path_factory, agent_server):
    switch, api, carrier_port, paced_port = outbound_switch(
        tmp_path_factory.mktemp("outbound"), agent_server)
    switch.start()
    try:
        yield Lab(switch, api, agent_server[1], carrier_port, paced_port)
    finally:
        switch.close()


def place(api: AdminApi, agent: str, **extra) -> dict:
    reply = api.post("/v1/calls", {"to": CALLEE, "from": OURS, "agent": agent, **extra})
    assert reply.status == 201, reply
    assert reply.headers["Location"] == "/v1/calls/" + quote(reply.json["call_id"], safe="+")
    return reply.json


def call_url(call_id: str) -> str:
    return "/v1/calls/" + quote(call_id, safe="+")


def wait_state(api: AdminApi, call_id: str, state: str, timeout: float = 5.0) -> dict:
    def reached():
        reply = api.get(call_url(call_id))
        return reply.json if reply.status == 200 and reply.json["state"] == state else None
    return wait_until(reached, timeout, message=f"call {call_id} to be {state}")


def wait_closed(scripts: AgentScripts, path: str):
    def closed():
        call = scripts.only_call(path)
        return call if call.closed_at is not None else None
    return wait_until(closed, 5.0, message=f"the agent connection {path} to close")


def far_end(lab: Lab, workdir, **options) -> MediaCallee:
    return MediaCallee(workdir / "far-end", ip=GATEWAY_B_IP, port=lab.carrier_port,
                       frames=CALLEE_FRAMES, user="callee", **options)


def sent_status(result, status: int) -> float:
    """When the far end sent its `status` to the INVITE (SIPp's wall clock)."""
    return when(result, lambda m: m.direction == "sent" and m.is_response
                and m.status == status and m.header("CSeq").endswith("INVITE"))


def assert_media_both_ways(far: MediaCallee, callee, agent) -> None:
    relay = sdp_media(invite_of(callee))
    packets = far.sink.audio()
    assert packets and {p.source for p in packets} == {relay}, relay
    found = find_in_order([p.payload for p in packets], AGENT_FRAMES)
    assert all(at >= 0 for at in found), f"the agent's audio is missing: {found}"
    heard = agent.caller_audio()
    ours = [p for p in heard if p in set(CALLEE_FRAMES)]
    assert ours == CALLEE_FRAMES, f"{len(ours)} of the callee's {len(CALLEE_FRAMES)} frames"


# -- answered -------------------------------------------------------------------------------
@sipp_test
def test_an_answered_outbound_call_is_bridged_to_the_agent_and_hung_up_by_delete(
        lab, tmp_path):
    far = far_end(lab, tmp_path, ring_ms=600)
    try:
        call = place(lab.api, "answered", custom_parameters={"lead": "42"})
        call_id = call["call_id"]
        assert (call["state"], call["direction"], call["caller"], call["callee"],
                call["agent"]) == ("trying", "outbound", OURS, CALLEE, "answered"), call
        row = wait_state(lab.api, call_id, "answered")
        assert (row["trunk"], row["agent"], row["direction"]) == ("carrier", "answered",
                                                                  "outbound"), row
        time.sleep(1.6)  # the callee's pcap and the agent's second, both ways
        assert lab.api.delete(call_url(call_id)).status == 204
        callee = far.finish()
    except BaseException:
        far.stop()
        raise
    assert callee.ok, callee.describe()
    assert lab.api.get(call_url(call_id)).status == 404

    invite = invite_of(callee)
    assert invite.first_line == f"INVITE sip:{CALLEE}@{GATEWAY_B_IP}:{lab.carrier_port} " \
                                "SIP/2.0", invite.text
    assert invite.header("Call-ID") == call_id and f"sip:{OURS}@" in invite.header("From")
    # The agent's caller ID, asserted to the (trusted) carrier: services.caller_id.
    assert invite.header("P-Asserted-Identity") == f"<sip:{OURS}@{lab.switch.domain}>", \
        invite.text
    body = sdp_body(invite)
    [m_line] = [line for line in body.split("\n") if line.startswith("m=")]
    assert m_line.split()[3:] == ["0", "8", "101"], body
    assert "a=rtpmap:101 telephone-event/8000" in body
    assert sdp_media(invite)[0] == "127.0.0.1"

    agent = wait_closed(lab.scripts, "/answered")
    rang, answered = sent_status(callee, 180), sent_status(callee, 200)
    assert rang <= wall(agent.opened_at) < answered - 0.3, (
        "the agent's socket opens while the far end rings")
    _, start = agent.first("start")
    assert start["start"]["callSid"] == call_id
    assert start["start"]["customParameters"] == {
        "from": OURS, "to": CALLEE, "from_number": OURS, "to_number": CALLEE, "did": OURS,
        "direction": "outbound", **CAMPAIGN, "lead": "42"}
    assert_media_both_ways(far, callee, agent)
    stop = agent.events()[-1]
    assert (stop["event"], stop["stop"]["reason"]) == ("stop", "api")

    record = lab.api.cdr(call_id)
    assert (record["direction"], record["caller"], record["callee"], record["trunk"]) == (
        "outbound", OURS, CALLEE, "carrier"), record
    assert (record["route_kind"], record["agent"], record["profile"]) == (
        "agent", "answered", "twilio")
    assert (record["final_code"], record["disconnect_side"], record["disconnect_reason"]) == (
        200, "switch", "api"), record
    assert record["ring_at"] <= record["answer_at"] and record["duration"] >= 1.5


@sipp_test
def test_the_far_ends_bye_ends_an_outbound_call(lab, tmp_path):
    far = far_end(lab, tmp_path, ring_ms=200, talk_ms=1500)
    try:
        call_id = place(lab.api, "hung-up")["call_id"]
        callee = far.finish()
    except BaseException:
        far.stop()
        raise
    assert callee.ok, callee.describe()
    [ok] = [m for m in callee.received() if m.is_response and m.status == 200]
    assert ok.header("CSeq").endswith("BYE")  # the switch answered the far end's BYE
    agent = wait_closed(lab.scripts, "/hung-up")
    assert_media_both_ways(far, callee, agent)
    stop = agent.events()[-1]
    assert (stop["event"], stop["stop"]["reason"]) == ("stop", "bye")
    record = lab.api.cdr(call_id)
    assert (record["final_code"], record["disconnect_side"], record["disconnect_reason"]) == (
        200, "callee", "bye"), record
    assert lab.api.get(call_url(call_id)).status == 404


INACTIVITY_TIMEOUT = 1.5  # [media] inactivity_timeout of the silent far end's switch


@sipp_test
def test_a_far_end_that_sends_no_rtp_is_hung_up_after_the_inactivity_timeout(
        tmp_path, agent_server):
    # It rings longer than the timeout: only the silence after the answer counts.
    switch, api, carrier_port, _ = outbound_switch(
        tmp_path / "switch", agent_server, ring_timeout=5.0,
        media={"inactivity_timeout": INACTIVITY_TIMEOUT})
    switch.start()
    lab = Lab(switch, api, agent_server[1], carrier_port, 0)
    far = None
    try:
        far = far_end(lab, tmp_path, ring_ms=2000, scenario="media_uas_answer_silent.xml")
        call_id = place(api, "silent")["call_id"]
        callee = far.finish()
        record = api.cdr(call_id)
    except BaseException:
        if far is not None:
            far.stop()
        raise
    finally:
        switch.close()
    assert callee.ok, callee.describe()
    answered = sent_status(callee, 200)
    hung_up = when(callee, lambda m: m.direction == "received" and m.method == "BYE")
    assert INACTIVITY_TIMEOUT - 0.1 <= hung_up - answered <= INACTIVITY_TIMEOUT + 1.0, (
        f"BYE {hung_up - answered:.2f} s after the answer")
    assert far.sink.audio(), "the agent's RTP went out: it does not keep the call alive"
    stop = wait_closed(lab.scripts, "/silent").events()[-1]
    assert (stop["event"], stop["stop"]["reason"]) == ("stop", "media-timeout")
    assert (record["final_code"], record["disconnect_side"], record["disconnect_reason"]) == (
        200, "switch", "media-timeout"), record
    assert record["agent_stats"]["media"] is not None


# -- not answered ------------------------------------------------------------------------------
@sipp_test
def test_a_busy_far_end_is_in_the_call_record(lab, tmp_path):
    gateway = SippAgent("call_uas_486.xml", tmp_path, ip=GATEWAY_B_IP, port=lab.carrier_port,
                        timeout=10).wait_ready()
    try:
        call_id = place(lab.api, "busy", trunk="carrier")["call_id"]
        callee = gateway.finish()
    except BaseException:
        gateway.stop()
        raise
    assert callee.ok, callee.describe()
    record = lab.api.cdr(call_id)
    assert (record["final_code"], record["disconnect_side"], record["disconnect_reason"]) == (
        486, "callee", "busy"), record
    assert record["answer_at"] is None and record["duration"] is None
    assert "/busy" not in lab.scripts.calls  # never rang: the agent was not called


@sipp_test
def test_a_far_end_that_rings_past_outbound_ring_timeout_is_cancelled(lab, tmp_path):
    gateway = SippAgent("call_uas_ring.xml", tmp_path, ip=GATEWAY_B_IP, port=lab.carrier_port,
                        keys={"user": "callee"}, timeout=10).wait_ready()
    try:
        call_id = place(lab.api, "unanswered")["call_id"]
        callee = gateway.finish()
    except BaseException:
        gateway.stop()
        raise
    assert callee.ok, callee.describe()
    assert [m.method for m in callee.received() if not m.is_response] == [
        "INVITE", "CANCEL", "ACK"]
    invited = when(callee, lambda m: m.direction == "received" and m.method == "INVITE")
    cancelled = when(callee, lambda m: m.direction == "received" and m.method == "CANCEL")
    assert OUTBOUND_RING_TIMEOUT - 0.05 <= cancelled - invited <= OUTBOUND_RING_TIMEOUT + 0.5
    record = lab.api.cdr(call_id)
    assert (record["final_code"], record["disconnect_side"], record["disconnect_reason"]) == (
        408, "callee", "no-answer"), record
    agent = wait_closed(lab.scripts, "/unanswered")  # opened while it rang, then let go
    assert agent.first("start") is None


# -- pacing ------------------------------------------------------------------------------------
@sipp_test
def test_a_burst_of_calls_is_placed_no_faster_than_the_trunks_max_cps(lab, tmp_path):
    count = 6
    gateway = SippAgent("call_uas_486.xml", tmp_path, ip=GATEWAY_B_IP, port=lab.paced_port,
                        calls=count, timeout=15).wait_ready()
    try:
        calls = [place(lab.api, "paced", trunk="paced") for _ in range(count)]
        callee = gateway.finish()
    except BaseException:
        gateway.stop()
        raise
    assert callee.ok, callee.describe()
    # The bucket holds max_cps calls: two go at once, the others wait their turn.
    assert [c["state"] for c in calls] == ["trying"] * 2 + ["queued"] * (count - 2), calls
    arrivals = sorted(at for at, m in timed_messages(callee)
                      if m.direction == "received" and m.method == "INVITE")
    assert len(arrivals) == count, arrivals
    capacity = int(MAX_CPS)
    gaps = [b - a for a, b in zip(arrivals, arrivals[capacity:])]
    assert min(gaps) >= 0.9, f"more than {capacity} calls within a second: {arrivals}"
    span = arrivals[-1] - arrivals[0]
    assert (count - capacity) / span <= MAX_CPS * 1.05, f"{span:.2f} s for {count} calls"
    assert span <= (count - capacity) / MAX_CPS + 1.0, f"placed too slowly: {span:.2f} s"
    order = [m.header("Call-ID") for m in requests_received(callee, "INVITE")]
    assert order == [c["call_id"] for c in calls], "placed in the order asked"
    for call in calls:
        record = lab.api.cdr(call["call_id"])
        assert (record["trunk"], record["final_code"], record["disconnect_reason"]) == (
            "paced", 486, "busy"), record


# -- SIGTERM -----------------------------------------------------------------------------------
def refused_while_draining(api: AdminApi):
    reply = api.post("/v1/calls", {"to": CALLEE, "from": OURS, "agent": "draining"})
    return reply if reply.status == 503 else None


@sipp_test
def test_sigterm_refuses_new_calls_fails_the_queued_and_waits_for_the_answered(
        tmp_path, agent_server):
    drain_timeout = 6.0
    # One new call per 5 s on the carrier's trunk: the first is placed, the others wait.
    switch, api, carrier_port, _ = outbound_switch(tmp_path / "switch", agent_server,
                                                   drain_timeout=drain_timeout,
                                                   carrier_cps=0.2)
    switch.start()
    lab = Lab(switch, api, agent_server[1], carrier_port, 0)
    far = far_end(lab, tmp_path, ring_ms=100, talk_ms=2500)
    try:
        answered = place(api, "draining")["call_id"]
        wait_state(api, answered, "answered")
        queued = [place(api, "draining")["call_id"] for _ in range(2)]
        states = {c["call_id"]: c["state"] for c in api.get("/v1/calls").json["items"]}
        assert states == {answered: "answered", queued[0]: "queued", queued[1]: "queued"}

        switch.process.send_signal(signal.SIGTERM)
        terminated = time.time()
        refused = wait_until(lambda: refused_while_draining(api), 2.0,
                             message="POST /v1/calls to be refused")
        assert refused.json == {"error": {
            "status": 503, "message": "the switch is shutting down: it places no new calls"}}
        assert refused.headers["Retry-After"] == "30"
        listed = api.get("/v1/calls").json["items"]
        assert [(c["call_id"], c["state"]) for c in listed] == [(answered, "answered")]
        switch.process.wait(drain_timeout + 5)
        exited = time.time()
        callee = far.finish()
    except BaseException:
        far.stop()
        switch.close()
        raise
    code = switch.stop()
    switch.close()
    assert code in CLEAN_EXITS, switch.output()
    assert callee.ok, callee.describe()
    hung_up = when(callee, lambda m: m.direction == "sent" and m.method == "BYE")
    assert terminated < hung_up <= exited < hung_up + 1.5, (
        "the switch stopped once its last call ended, not at the drain timeout")
    [record] = cdr_rows(switch.engine, answered)
    assert (record["disconnect_side"], record["disconnect_reason"]) == ("callee", "bye")
    for call_id in queued:
        [record] = cdr_rows(switch.engine, call_id)
        assert (record["disconnect_side"], record["disconnect_reason"],
                record["final_code"], record["answer_at"]) == ("switch", "shutdown", 503, None)
    stop = wait_closed(lab.scripts, "/draining").events()[-1]
    assert (stop["event"], stop["stop"]["reason"]) == ("stop", "bye")
