"""Mid-call handoff end to end (docs/agents.md "Handoff"): SIPp calls from the carrier
playing a known µ-law sweep, the switch bridges it to a first agent on a real
WebSocket (`websockets` library, Twilio profile), and the call moves to a second
agent on another server — by the admin API, and by recovery when the first agent's
server dies (the route target's backup agent). A handoff to an agent that cannot be
reached leaves the call with the first agent.

What is checked: every frame the caller played reached exactly one of the agents, in
order (nothing said during the switch is lost), the second agent's start names the
first, the first got its stop and was closed, and the call record lists the handoff."""

import threading
from pathlib import Path

import pytest
from ws_agent_server import AgentServer

from agents_support import AgentScripts, caller_media, chirp_frames, closed_tcp_port, \
    find_in_order, write_audio_pcap
from calls_support import (
    CARRIER_IP,
    CallSwitch,
    GatewayRow,
    Routing,
    TrunkRow,
    call_id_of,
    run_call,
    seed_routing,
    wait_cdr,
)
from e2e_switch import wait_until
from far_end_support import AdminApi, create_api_token
from softswitch.store import agents as agent_store
from softswitch.store import numbers as number_store
from softswitch.store.database import Database


def sipp_test(function):
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


HANDOFF_DID = "+14155550140"  # -> agent first
FAILING_DID = "+14155550141"  # -> agent first2 (the handoff asked goes to "down")
RECOVER_DID = "+14155550142"  # -> agent mortal, backup agent second
CALLER_FRAMES = chirp_frames(150)  # 3 s, 300 -> 3000 Hz: every frame different


def seed(db_url: str, urls: dict[str, str]) -> None:
    database = Database(db_url, reactor=None)

    def run(conn):
        ids = {name: agent_store.create_agent(conn, {
            "name": name, "url": url, "profile": "twilio", "sample_rate": 8000,
            "region_id": None, "headers": {}, "secret_headers": {},
            "custom_parameters": {"desk": name}})["id"] for name, url in urls.items()}
        for number, name, backup in ((HANDOFF_DID, "first", None),
                                     (FAILING_DID, "first2", None),
                                     (RECOVER_DID, "mortal", "second")):
            number_store.create_number(conn, {"number": number, "enabled": True}, [
                {"kind": "agent", "agent_id": ids[name],
                 "backup_agent_id": ids[backup] if backup else None}])

    try:
        database.run_sync(run)
    finally:
        database.engine.dispose()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    with AgentServer(scripts) as first, AgentServer(scripts) as second:
        mortal = AgentServer(scripts)
        mortal.__enter__()
        alive = [True]

        def kill():
            """The mortal agent's server dies (once), and its sockets with it."""
            if alive:
                alive.pop()
                mortal.__exit__(None, None, None)
        switch = CallSwitch(tmp_path_factory.mktemp("handoff"), database={"reload_interval": 0.5},
                            sections={"agents": {"connect_timeout": 2.0},
                                      "trunks": {"probe_interval": 86400.0}})
        seed_routing(switch.db_url, Routing(trunks=[TrunkRow(
            "carrier", (GatewayRow(CARRIER_IP, 5060),), allowed_sources=(CARRIER_IP,),
            number_format="nanp")]))
        seed(switch.db_url, {
            "first": f"ws://127.0.0.1:{first.port}/first",
            "first2": f"ws://127.0.0.1:{first.port}/first2",
            "second": f"ws://127.0.0.1:{second.port}/second",
            "mortal": f"ws://127.0.0.1:{mortal.port}/mortal",
            "down": f"ws://127.0.0.1:{closed_tcp_port()}/down"})
        switch.start()
        try:
            yield switch, scripts, kill, AdminApi(switch, create_api_token(switch.db_url))
        finally:
            switch.close()
            kill()


class Caller(threading.Thread):
    """SIPp calling `did` and playing CALLER_FRAMES, in the background."""

    def __init__(self, switch, workdir: Path, did: str, talk_ms: int = 4500):
        super().__init__(daemon=True)
        workdir.mkdir(parents=True, exist_ok=True)
        write_audio_pcap(workdir / "caller.pcap", CALLER_FRAMES)
        self.switch, self.workdir, self.did, self.talk_ms = switch, workdir, did, talk_ms
        self.result = None

    def run(self):
        base, sink = caller_media(CARRIER_IP)
        try:
            self.result = run_call(
                self.switch.sip_target, "agent_uac_talk.xml", self.workdir, ip=CARRIER_IP,
                keys={"dialled": self.did.removeprefix("+1"), "domain": self.switch.domain,
                      "caller": "+12125550123"},
                timeout=20, extra=("-d", self.talk_ms, "-mi", CARRIER_IP, "-mp", base))
        finally:
            sink.close()

    def finish(self):
        self.join(25)
        assert self.result is not None and self.result.ok, \
            self.result.describe() if self.result else "SIPp did not finish"
        return call_id_of(self.result)


def connection(scripts, path: str, index: int = 0, timeout: float = 8.0):
    return wait_until(lambda: (scripts.calls.get(path) or [None] * (index + 1))[index]
                      if len(scripts.calls.get(path, [])) > index else None,
                      timeout, message=f"a connection to {path}")


def heard_frames(call, timeout: float, count: int) -> None:
    wait_until(lambda: sum(p in FRAMES for p in call.caller_audio()) >= count or None,
               timeout, message=f"{count} caller frames at {call.path}")


FRAMES = set(CALLER_FRAMES)


def spoken(call) -> list[bytes]:
    return [p for p in call.caller_audio() if p in FRAMES]


def assert_every_frame_once_in_order(*calls, stats) -> None:
    """The caller's frames across the agents, in order, each once; the only ones
    missing are those the jitter buffer dropped to shrink its delay (counted in the
    record), and none of them near a switch from one agent to the next."""
    combined = [p for call in calls for p in spoken(call)]
    positions = find_in_order(CALLER_FRAMES, combined)
    assert -1 not in positions and len(set(combined)) == len(combined), "order, repeats"
    indexes = {CALLER_FRAMES.index(p) for p in combined}
    missing = sorted(set(range(len(CALLER_FRAMES))) - indexes)
    dropped = stats["jitter"]["dropped"]
    assert len(missing) == dropped, (missing, stats["jitter"], stats.get("handoffs"))
    for call in calls[1:]:  # around the first frame the next agent heard
        at = CALLER_FRAMES.index(spoken(call)[0])
        assert not [m for m in missing if at - 10 <= m <= at + 10], (missing, at)


@sipp_test
def test_an_api_handoff_moves_the_call_and_what_was_said_meanwhile(lab, tmp_path):
    switch, scripts, _, api = lab
    caller = Caller(switch, tmp_path / "api", HANDOFF_DID)
    caller.start()
    first = connection(scripts, "/first")
    heard_frames(first, 8.0, 40)  # 0.8 s into the sweep
    call_sid = first.first("start")[1]["start"]["callSid"]
    reply = api.post(f"/v1/calls/{call_sid}/handoff",
                     {"agent": "second", "reason": "escalation"})
    assert reply.status == 200, reply.body
    assert reply.json == {"call_id": call_sid, "agent": "second",
                            "previous_agent": "first", "reason": "escalation"}
    second = connection(scripts, "/second")
    call_id = caller.finish()
    assert call_id == call_sid
    wait_until(lambda: second.closed_at, 5.0, message="the second agent's close")
    # The first agent: its stop says why, and its socket was closed.
    assert first.events()[-1]["event"] == "stop"
    assert first.events()[-1]["stop"]["reason"] == "handoff"
    assert first.closed_at is not None
    # The second agent's start names the first; then the rest of the caller's words.
    start = second.first("start")[1]["start"]
    assert start["callSid"] == call_sid
    parameters = start["customParameters"]
    assert (parameters["HandoffFrom"], parameters["HandoffReason"], parameters["desk"]) == (
        "first", "escalation", "second")
    record = wait_cdr(switch, call_id)
    assert len(spoken(first)) >= 40 and len(spoken(second)) >= 40
    assert_every_frame_once_in_order(first, second, stats=record["agent_stats"])
    stamps = [int(m["media"]["timestamp"]) for m in second.events("media")]
    assert all(b - a == 20 for a, b in zip(stamps, stamps[1:])), stamps
    [handoff] = record["agent_stats"]["handoffs"]
    assert (handoff["from"], handoff["to"], handoff["reason"]) == (
        "first", "second", "escalation")
    assert record["agent_stats"]["handoff_dropped_frames"] == 0


@sipp_test
def test_a_handoff_to_an_unreachable_agent_leaves_the_call_with_the_first(lab, tmp_path):
    switch, scripts, _, api = lab
    caller = Caller(switch, tmp_path / "failed", FAILING_DID)
    caller.start()
    first = connection(scripts, "/first2")
    heard_frames(first, 8.0, 30)
    call_sid = first.first("start")[1]["start"]["callSid"]
    reply = api.post(f"/v1/calls/{call_sid}/handoff", {"agent": "down"})
    assert reply.status == 502, reply.body
    assert "not handed over" in reply.json["error"]["message"]
    assert api.post(f"/v1/calls/{call_sid}/handoff", {"agent": "nobody"}).status == 404
    assert api.post("/v1/calls/no-such-call/handoff", {"agent": "second"}).status == 404
    call_id = caller.finish()
    wait_until(lambda: first.closed_at, 5.0, message="the first agent's close")
    assert first.events()[-1]["stop"]["reason"] != "handoff"
    record = wait_cdr(switch, call_id)
    # it heard everything, what was said during the attempt included
    assert_every_frame_once_in_order(first, stats=record["agent_stats"])
    assert "handoffs" not in record["agent_stats"]


@sipp_test
def test_the_backup_agent_takes_the_call_when_the_first_agents_server_dies(lab, tmp_path):
    switch, scripts, kill, _ = lab
    caller = Caller(switch, tmp_path / "recover", RECOVER_DID)
    caller.start()
    first = connection(scripts, "/mortal")
    heard_frames(first, 8.0, 40)
    kill()
    call_id = caller.finish()
    record = wait_cdr(switch, call_id)
    backup = next(c for c in scripts.calls["/second"]
                  if c.first("start")[1]["start"]["callSid"] == call_id)
    parameters = backup.first("start")[1]["start"]["customParameters"]
    assert (parameters["HandoffFrom"], parameters["HandoffReason"]) == ("mortal", "agent-lost")
    assert record["disconnect_reason"] != "agent-lost", record
    [handoff] = record["agent_stats"]["handoffs"]
    assert (handoff["from"], handoff["to"], handoff["reason"]) == (
        "mortal", "second", "agent-lost")
    assert_every_frame_once_in_order(first, backup, stats=record["agent_stats"])
