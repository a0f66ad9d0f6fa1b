"""STIR/SHAKEN end to end: a SIPp carrier sends INVITEs whose Identity the test signed
as the carrier's authentication service would (a test STI PKI made here, its
certificate served over HTTPS by a local server); the switch fetches and checks it,
the agent's `start` and the call record carry the verstat, and a call that fails
verification goes to the number's unverified route (a screening agent). The other
way, an outbound call through a SIPp trunk set to sign carries an Identity that plain
PyJWT verifies with the STI certificate's key: attestation A, our own number.

Addresses: 127.0.0.1 the switch, the agent server and the x5u HTTPS server;
127.0.0.2 the carrier (a trunk known by its address); 127.0.0.4 the outbound
carrier's gateway (SIPp).
"""

import time
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from sti_pki import make_pki
from ws_agent_server import AgentServer
from x5u_server import X5uServer

from agents_support import (
    AgentRow,
    AgentScripts,
    caller_media,
    chirp_frames,
    seed_agents,
    write_audio_pcap,
)
from calls_support import (
    CARRIER_IP,
    GATEWAY_B_IP,
    CallSwitch,
    GatewayRow,
    OutboundRow,
    Routing,
    TrunkRow,
    call_id_of,
    free_udp_port,
    run_call,
    seed_routing,
    statuses,
)
from e2e_switch import wait_until
from far_end_support import AdminApi, MediaCallee, create_api_token, invite_of
from softswitch.stir.signing import Signer


def sipp_test(function):
    """An end-to-end test with SIPp (missing SIPp: a failure in CI, a loud skip else)."""
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


NO_PROBES = 86400.0
CALLER = "+12125550123"
DID = "+14155550140"  # -> agent talk; unverified (failed) -> agent screener
CALLEE = "+12025550150"  # outbound, through the signing trunk
FRAMES = chirp_frames(25)
SCENARIOS = Path(__file__).parent / "scenarios"


@dataclass
class Lab:
    switch: CallSwitch
    api: AdminApi
    scripts: AgentScripts
    pki: object
    other_pki: object
    x5u: X5uServer
    out_port: int

    def identity(self, *, orig=CALLER, dest=DID, age=0.0, path="/sp.pem", key=None) -> str:
        signer = Signer.from_pem(key or self.pki.sti.key_pem, self.x5u.url(path))
        return signer.identity("A", orig, dest, time.time() - age, "carrier-customer")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("stir")
    pki, other = make_pki(days=3650), make_pki(days=3650)
    x5u = X5uServer(work)
    x5u.bodies["/sp.pem"] = pki.chain_pem
    x5u.bodies["/other.pem"] = other.chain_pem
    anchors = work / "anchors"
    anchors.mkdir()
    (anchors / "sti-pa.pem").write_bytes(pki.root.pem)
    key_file = work / "sti.key"
    key_file.write_bytes(pki.sti.key_pem)
    scripts = AgentScripts()
    try:
        with AgentServer(scripts) as server:
            switch = CallSwitch(work / "switch", sip={"drain_timeout": 1.0},
                                database={"reload_interval": 0.5}, sections={
                "agents": {"connect_timeout": 2.0, "echo_number": ""},
                "trunks": {"probe_interval": NO_PROBES},
                "stir": {"certificate_url": x5u.url("/sp.pem"), "key_file": str(key_file),
                         "trust_anchors": str(anchors), "fetch_ca_file": str(x5u.ca_file),
                         "fetch_timeout": 2.0}})
            out_port = free_udp_port(GATEWAY_B_IP)
            seed_routing(switch.db_url, Routing(
                trunks=[TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                                 allowed_sources=(CARRIER_IP,), number_format="nanp"),
                        TrunkRow("out", (GatewayRow(GATEWAY_B_IP, out_port),))],
                outbound=[OutboundRow("1202", ("out",))]))
            seed_agents(switch.db_url, [
                AgentRow("talk", f"ws://127.0.0.1:{server.port}/talk"),
                AgentRow("screener", f"ws://127.0.0.1:{server.port}/screener")], [])
            api = AdminApi(switch, create_api_token(switch.db_url))
            switch.start()
            try:
                # Over the API: the number with its screening route, the trunk signing.
                reply = api.post("/v1/numbers", {
                    "number": DID, "route": [{"type": "agent", "agent": "talk"}],
                    "unverified_route": {"when": "failed",
                                         "route": [{"type": "agent", "agent": "screener"}]}})
                assert reply.status == 201, reply
                assert reply.json["unverified_route"] == {
                    "when": "failed", "route": [{"type": "agent", "agent": "screener"}]}
                reply = api.request("PATCH", "/v1/trunks/out", {"stir_shaken": "sign"})
                assert reply.status == 200 and reply.json["stir_shaken"] == "sign", reply
                yield Lab(switch, api, scripts, pki, other, x5u, out_port)
            finally:
                switch.close()
    finally:
        x5u.close()


def carrier_call(lab: Lab, workdir: Path, identity: str):
    """One SIPp call from the carrier to DID with `identity`; (call id, result)."""
    workdir.mkdir(parents=True, exist_ok=True)
    write_audio_pcap(workdir / "caller.pcap", FRAMES)
    base, sink = caller_media(CARRIER_IP)
    keys = {"dialled": DID.removeprefix("+1"), "domain": lab.switch.domain,
            "caller": CALLER.removeprefix("+1"), "identity": identity}
    try:
        result = run_call(lab.switch.sip_target, "stir_uac_identity.xml", workdir,
                          ip=CARRIER_IP, keys=keys, timeout=15,
                          extra=("-d", 600, "-mi", CARRIER_IP, "-mp", base))
    finally:
        sink.close()
    assert result.ok, result.describe()
    assert statuses(result)[-1] == 200, result.describe()
    return call_id_of(result), result


def start_of(lab: Lab, path: str, call_id: str) -> dict:
    def found():
        for call in lab.scripts.calls.get(path, []):
            start = call.first("start")
            if start is not None and start[1]["start"]["callSid"] == call_id:
                return start[1]
        return None
    return wait_until(found, 5.0, message=f"the start of {call_id} at {path}")


@sipp_test
def test_a_signed_call_reaches_its_agent_with_tn_validation_passed(lab, tmp_path):
    call_id, _ = carrier_call(lab, tmp_path, lab.identity())
    start = start_of(lab, "/talk", call_id)
    parameters = start["start"]["customParameters"]
    assert (parameters["verstat"], parameters["attestation"]) == ("TN-Validation-Passed", "A")
    record = lab.api.cdr(call_id)
    assert (record["verstat"], record["attestation"], record["route_target"]) == (
        "TN-Validation-Passed", "A", "talk"), record
    assert lab.x5u.requests["/sp.pem"] == 1  # fetched once, then from the cache
    call_id, _ = carrier_call(lab, tmp_path / "again", lab.identity())
    assert lab.api.cdr(call_id)["verstat"] == "TN-Validation-Passed"
    assert lab.x5u.requests["/sp.pem"] == 1


def _tampered(lab: Lab) -> str:
    value = lab.identity()
    token, rest = value.split(";", 1)
    header, payload, signature = token.split(".")
    forged = lab.identity(orig="+12125550999").split(";")[0].split(".")[1]
    return f"{header}.{forged}.{signature};{rest}"


FAILURES = {
    "expired": lambda lab: lab.identity(age=120),
    "tampered": _tampered,
    "wrong-number": lambda lab: lab.identity(orig="+12125550999"),
    "unknown-ca": lambda lab: lab.identity(path="/other.pem", key=lab.other_pki.sti.key_pem),
}


@sipp_test
@pytest.mark.parametrize("case", FAILURES)
def test_a_call_failing_verification_goes_to_the_screening_agent(lab, tmp_path, case):
    call_id, _ = carrier_call(lab, tmp_path, FAILURES[case](lab))
    start = start_of(lab, "/screener", call_id)
    assert start["start"]["customParameters"]["verstat"] == "TN-Validation-Failed"
    record = lab.api.cdr(call_id)
    assert (record["verstat"], record["route_target"]) == ("TN-Validation-Failed",
                                                           "screener"), record


@sipp_test
def test_an_unsigned_call_is_no_tn_validation_and_keeps_the_route(lab, tmp_path):
    # "when": "failed" screens failed calls only; an unsigned one is routed as usual.
    workdir = tmp_path / "unsigned"
    workdir.mkdir()
    text = (SCENARIOS / "stir_uac_identity.xml").read_text()
    (workdir / "no_identity.xml").write_text(text.replace("      Identity: [identity]\n", ""))
    write_audio_pcap(workdir / "caller.pcap", FRAMES)
    base, sink = caller_media(CARRIER_IP)
    try:
        result = run_call(lab.switch.sip_target, str(workdir / "no_identity.xml"), workdir,
                          ip=CARRIER_IP, keys={"dialled": DID.removeprefix("+1"),
                                               "domain": lab.switch.domain,
                                               "caller": CALLER.removeprefix("+1")},
                          timeout=15, extra=("-d", 400, "-mi", CARRIER_IP, "-mp", base))
    finally:
        sink.close()
    assert result.ok, result.describe()
    call_id = call_id_of(result)
    assert start_of(lab, "/talk", call_id)["start"]["customParameters"]["verstat"] == \
        "No-TN-Validation"
    assert lab.api.cdr(call_id)["verstat"] == "No-TN-Validation"


@sipp_test
def test_an_outbound_call_through_a_signing_trunk_carries_an_identity_with_attestation_a(
        lab, tmp_path):
    signed = lab.switch.metric("softswitch_stir_signed_total", attestation="A")
    far = MediaCallee(tmp_path / "far-end", ip=GATEWAY_B_IP, port=lab.out_port,
                      frames=FRAMES, user="callee", talk_ms=300)
    try:
        reply = lab.api.post("/v1/calls", {"to": CALLEE, "from": DID, "agent": "talk"})
        assert reply.status == 201, reply
        callee = far.finish()
    except BaseException:
        far.stop()
        raise
    assert callee.ok, callee.describe()
    invite = invite_of(callee)
    value = invite.header("Identity")
    token, _, params = value.partition(";")
    assert params == f"info=<{lab.x5u.url('/sp.pem')}>;alg=ES256;ppt=shaken"
    claims = jwt.decode(token, lab.pki.sti.certificate.public_key(), algorithms=["ES256"],
                        options={"verify_iat": False})
    assert claims["attest"] == "A"
    assert claims["orig"] == {"tn": DID[1:]} and claims["dest"] == {"tn": [CALLEE[1:]]}
    assert abs(claims["iat"] - time.time()) < 30
    assert jwt.get_unverified_header(token)["x5u"] == lab.x5u.url("/sp.pem")
    assert lab.switch.metric("softswitch_stir_signed_total", attestation="A") == signed + 1


@sipp_test
def test_metrics_count_verifications_signatures_and_fetches(lab, tmp_path):
    before = lab.switch.metric("softswitch_stir_verified_total", verstat="TN-Validation-Passed")
    carrier_call(lab, tmp_path, lab.identity())
    assert lab.switch.metric("softswitch_stir_verified_total",
                             verstat="TN-Validation-Passed") == before + 1
    assert lab.switch.metric("softswitch_stir_x5u_fetches_total") >= 1
    assert lab.switch.metric("softswitch_stir_x5u_cache_lookups_total", result="hit") >= 1
    assert lab.switch.metric("softswitch_stir_x5u_cached") >= 1


@sipp_test
def test_an_x5u_that_does_not_answer_gives_no_tn_validation_not_a_hung_call(lab, tmp_path):
    # The x5u server holds the answer 3 s; [stir] fetch_timeout is 2 s.
    began = time.monotonic()
    call_id, _ = carrier_call(lab, tmp_path, lab.identity(path="/slow/sp.pem"))
    start = start_of(lab, "/talk", call_id)
    assert start["start"]["customParameters"]["verstat"] == "No-TN-Validation"
    assert start["start"]["customParameters"]["attestation"] == "A"
    record = lab.api.cdr(call_id)
    assert (record["verstat"], record["route_target"]) == ("No-TN-Validation", "talk")
    # 2 s of fetch, the agent's connection, 0.6 s of talk: well before the x5u's 3 s
    # answer would have let it through, and far from the INVITE's own timeouts.
    assert time.monotonic() - began < 6.0
