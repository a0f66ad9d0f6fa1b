"""Answering-machine detection end to end: `POST /v1/calls` with `amd` places an
outbound call through a SIPp gateway whose callee plays, once answered, a pcap made
in the test from the AMD case set (tests/support/amd_cases.py: espeak-ng speech
through G.711 µ-law), and an agent on the `websockets` library (Twilio profile)
receives the result.

- a person ("Hello?"), mode "wait": the agent's `start` comes with the result
  (customParameters.AnsweredBy "human", within 3.5 s of the answer), then the `amd`
  event, then the callee's audio from the answer on (nothing of it is lost);
- a voicemail greeting and its beep, mode "async": the agent starts at once, then
  hears "machine_start" and, after the beep, "machine_end_beep";
- the same greeting with machine_action "hangup": the switch hangs up on it.
The call in `GET /v1/calls/{id}` and its record in `GET /v1/cdrs` carry the result.

Webhooks ride along: the switch's [webhooks] url is a receiver in the test that checks
every signature (call.ringing, call.answered, call.amd, call.ended with the record);
the "amd-hooks" agent's own webhook_url points at a port nobody listens on, and its
deliveries are retried (GET /v1/webhooks/deliveries).

Addresses: 127.0.0.1 the switch and the agent server; 127.0.0.4 the gateway (SIPp).
"""

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from amd_cases import CASES, espeak_path, synthesise
from ws_agent_server import AgentServer

from agents_support import AgentRow, AgentScripts, seed_agents
from calls_support import (
    GATEWAY_B_IP,
    CallSwitch,
    GatewayRow,
    OutboundRow,
    Routing,
    TrunkRow,
    free_udp_port,
    seed_routing,
)
from e2e_switch import wait_until
from far_end_support import AdminApi, MediaCallee, create_api_token
from softswitch.services.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

OURS = "+14155550100"
CALLEE = "+12025550150"
PATHS = ("/amd-wait", "/amd-async", "/amd-hangup", "/amd-hooks")
ESPEAK_MISSING = "espeak-ng is not installed (apt package espeak-ng, see .ci/setup)."
WEBHOOK_SECRET = "e2e-webhook-secret"


class HookReceiver:
    """An HTTP receiver of the switch's webhooks: (event, body, signature valid)."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                valid = verify(WEBHOOK_SECRET, self.headers.get(TIMESTAMP_HEADER, ""),
                               self.headers.get(SIGNATURE_HEADER, ""), body, time.time())
                received.append((json.loads(body), valid))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, call_id: str) -> list[dict]:
        return [body for body, _ in self.received if body["call_id"] == call_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sipp_test(function):
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp", "espeak")(function))


@pytest.fixture(scope="module")
def espeak():
    if espeak_path() is None:
        if os.environ.get("CI"):
            pytest.fail(f"{ESPEAK_MISSING} CI is set, so this is a failure, not a skip.",
                        pytrace=False)
        pytest.skip(f"!!! {ESPEAK_MISSING} The AMD end-to-end tests are SKIPPED. !!!")


def frames_of(case_name: str) -> list[bytes]:
    audio = synthesise(next(c for c in CASES if c.name == case_name))
    return [audio[i:i + 160] for i in range(0, len(audio), 160)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    scripts = AgentScripts()
    hooks = HookReceiver()
    with AgentServer(scripts) as server:
        switch = CallSwitch(tmp_path_factory.mktemp("amd"), database={"reload_interval": 0.5},
                            sections={"agents": {"connect_timeout": 2.0, "echo_number": ""},
                                      "trunks": {"probe_interval": 86400.0},
                                      "webhooks": {"url": hooks.url,
                                                   "secret": WEBHOOK_SECRET}})
        port = free_udp_port(GATEWAY_B_IP)
        seed_routing(switch.db_url, Routing(
            trunks=[TrunkRow("carrier", (GatewayRow(GATEWAY_B_IP, port),))],
            outbound=[OutboundRow("1202", ("carrier",))]))
        seed_agents(switch.db_url, [AgentRow(p.strip("/"), f"ws://127.0.0.1:{server.port}{p}",
                                             caller_ids=(OURS,))
                                    for p in PATHS], [])
        api = AdminApi(switch, create_api_token(switch.db_url))
        switch.start()
        try:
            down = f"http://127.0.0.1:{closed_port()}/down"
            assert api.request("PATCH", "/v1/agents/amd-hooks",
                               {"webhook_url": down}).status == 200
            yield api, scripts, port, hooks
        finally:
            switch.close()
            hooks.close()


def place(api, agent: str, amd: dict) -> str:
    reply = api.post("/v1/calls", {"to": CALLEE, "from": OURS, "agent": agent, "amd": amd})
    assert reply.status == 201, reply
    assert reply.json["amd"]["mode"] == amd["mode"] and reply.json["amd"]["result"] is None
    return reply.json["call_id"]


def call_url(call_id: str) -> str:
    return "/v1/calls/" + quote(call_id, safe="+")


def amd_events(scripts, path: str, count: int, timeout: float) -> list[dict]:
    def enough():
        calls = scripts.calls.get(path, [])
        events = calls[0].events("amd") if calls else []
        return events if len(events) >= count else None
    return wait_until(enough, timeout, message=f"{count} amd events at {path}")


@sipp_test
def test_a_person_answering_starts_a_waiting_agent_with_the_result(lab, tmp_path):
    api, scripts, port, hooks = lab
    frames = frames_of("human-00")  # 0.3 s, "Hello?", then silence
    far = MediaCallee(tmp_path / "far", ip=GATEWAY_B_IP, port=port, frames=frames,
                      user="callee", timeout=30)
    try:
        call_id = place(api, "amd-wait", {"mode": "wait"})
        [told] = amd_events(scripts, "/amd-wait", 1, 10.0)
        row = api.get(call_url(call_id)).json
        assert api.delete(call_url(call_id)).status == 204
        callee = far.finish()
    except BaseException:
        far.stop()
        raise
    assert callee.ok, callee.describe()
    assert told["amd"]["answeredBy"] == "human" and told["amd"]["result"] == "human"
    assert told["amd"]["decisionMs"] <= 3500, told
    agent = scripts.only_call("/amd-wait")
    names = [m["event"] for _, m in agent.received]
    assert names[:2] == ["connected", "start"] and names.index("amd") > 1
    _, start = agent.first("start")
    assert start["start"]["customParameters"]["AnsweredBy"] == "human"
    # Everything from the answer on reached the agent, the words it waited through too.
    heard = b"".join(agent.caller_audio())
    said = b"".join(frames[:40])  # the first 0.8 s: the lead and "Hello?"
    assert said[400:1200] in heard, "the callee's first words are missing"
    media = agent.events("media")
    assert media[0]["media"]["timestamp"] == "0"
    assert (row["amd"]["result"], row["amd"]["answered_by"]) == ("human", "human"), row
    record = api.cdr(call_id)
    assert (record["amd_result"], record["amd_decision_ms"]) == (
        "human", told["amd"]["decisionMs"])
    assert record["amd"]["reason"] == "end-silence" and record["amd"]["options"]["mode"] == \
        "wait"


@sipp_test
def test_a_voicemail_greeting_and_its_beep_reach_an_async_agent(lab, tmp_path):
    api, scripts, port, hooks = lab
    far = MediaCallee(tmp_path / "far", ip=GATEWAY_B_IP, port=port,
                      frames=frames_of("machine-beep-04"), user="voicemail", timeout=30)
    try:
        call_id = place(api, "amd-async", {"mode": "async"})
        machine, end = amd_events(scripts, "/amd-async", 2, 15.0)
        assert api.delete(call_url(call_id)).status == 204
        callee = far.finish()
    except BaseException:
        far.stop()
        raise
    assert callee.ok, callee.describe()
    agent = scripts.only_call("/amd-async")
    _, start = agent.first("start")
    assert "AnsweredBy" not in start["start"]["customParameters"]
    assert (machine["amd"]["answeredBy"], end["amd"]["answeredBy"]) == (
        "machine_start", "machine_end_beep")
    assert machine["amd"]["decisionMs"] < end["amd"]["decisionMs"]
    record = api.cdr(call_id)
    assert record["amd_result"] == "machine"
    assert (record["amd"]["machine_end"], record["amd"]["answered_by"]) == (
        "beep", "machine_end_beep"), record
    assert record["amd"]["machine_end_ms"] == end["amd"]["decisionMs"]


@sipp_test
def test_a_machine_is_hung_up_on_when_the_call_asks(lab, tmp_path):
    api, scripts, port, hooks = lab
    far = MediaCallee(tmp_path / "far", ip=GATEWAY_B_IP, port=port,
                      frames=frames_of("machine-silent-01"), user="voicemail", timeout=30)
    try:
        started = time.monotonic()
        call_id = place(api, "amd-hangup", {"mode": "wait", "machine_action": "hangup"})
        callee = far.finish()  # the switch's BYE ends the scenario
    except BaseException:
        far.stop()
        raise
    assert callee.ok, callee.describe()
    assert time.monotonic() - started < 10
    record = api.cdr(call_id)
    assert (record["disconnect_side"], record["disconnect_reason"], record["amd_result"]) \
        == ("switch", "machine", "machine"), record
    agent = scripts.only_call("/amd-hangup")
    assert agent.events() == []  # a waiting agent never started, nor is told to stop


@sipp_test
def test_call_events_reach_the_webhook_receiver_signed_and_a_down_one_is_retried(
        lab, tmp_path):
    api, scripts, port, hooks = lab
    far = MediaCallee(tmp_path / "far", ip=GATEWAY_B_IP, port=port,
                      frames=frames_of("human-02"), user="callee", timeout=30)
    try:
        call_id = place(api, "amd-hooks", {"mode": "wait"})
        amd_events(scripts, "/amd-hooks", 1, 10.0)
        assert api.delete(call_url(call_id)).status == 204
        callee = far.finish()
    except BaseException:
        far.stop()
        raise
    assert callee.ok, callee.describe()

    def all_in():
        events = hooks.events(call_id)
        return events if "call.ended" in [e["event"] for e in events] else None
    events = wait_until(all_in, 5.0, message="call.ended at the receiver")
    assert [e["event"] for e in events] == ["call.ringing", "call.answered", "call.amd",
                                            "call.ended"], events
    assert all(valid for body, valid in hooks.received if body["call_id"] == call_id)
    amd, ended = events[2], events[3]
    assert amd["agent"] == "amd-hooks" and amd["data"]["amd"]["result"] == "human"
    assert ended["data"]["amd_result"] == "human" and ended["data"]["disconnect_reason"] == \
        "api"

    def retried():
        rows = api.get("/v1/webhooks/deliveries?limit=100").json["items"]
        down = [r for r in rows if r["call_id"] == call_id and r["url"].endswith("/down")]
        return down if down and all(r["attempts"] >= 2 for r in down) else None
    down = wait_until(retried, 8.0, message="the down receiver's deliveries retried")
    assert {r["event"] for r in down} == {"call.ringing", "call.answered", "call.amd",
                                          "call.ended"}
    assert all(r["state"] == "pending" and r["last_error"] for r in down), down
    delivered = [r for r in api.get("/v1/webhooks/deliveries?limit=100").json["items"]
                 if r["call_id"] == call_id and r["url"] == hooks.url]
    assert {r["state"] for r in delivered} == {"delivered"} and len(delivered) == 4
