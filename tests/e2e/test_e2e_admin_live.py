"""The admin API of a running switch (twistd, the real composition root) as a user
meets it: every GET route of /v1/openapi.json answers without a 5xx (trunk status
included); a write is live when its answer arrives (a number created over the API
and called the same instant is routed, not 404); a region created or changed over
the API reaches the relay of the next proxied call; a region in use cannot be deleted.

Addresses as in calls_support: 127.0.0.1 the switch, 127.0.0.2 the carrier (raw
socket or SIPp), 127.0.0.3 the gateway (SIPp).
"""

import re
import socket
import uuid
from urllib.parse import quote

import pytest

from calls_support import (
    CARRIER_IP,
    GATEWAY_A_IP,
    CallSwitch,
    SippAgent,
    free_udp_port,
    run_call,
    sdp_media,
    statuses,
)
from far_end_support import AdminApi, create_api_token, invite_of

CALLER = "+12025550142"
READ_YOUR_WRITES_ROUNDS = 25


def sipp_test(function):
    """An end-to-end test with SIPp (missing SIPp: a failure in CI, a loud skip else)."""
    return pytest.mark.sipp(pytest.mark.usefixtures("sipp")(function))


@pytest.fixture
def live(tmp_path):
    switch = CallSwitch(tmp_path / "switch", sip={"t1": 0.1},
                        database={"reload_interval": 3600.0})  # no timer to hide behind
    switch.start()
    try:
        yield switch, AdminApi(switch, create_api_token(switch.db_url))
    finally:
        switch.close()


def created(reply):
    assert reply.status == 201, reply
    return reply.json


# -- every GET route --------------------------------------------------------------------------
def test_every_get_route_of_the_document_answers_without_a_server_error(live):
    switch, api = live
    created(api.post("/v1/regions", {"name": "west", "bind": "127.0.0.1",
                                     "port_min": 41000, "port_max": 41099}))
    created(api.post("/v1/trunks", {
        "name": "carrier", "gateways": [{"host": CARRIER_IP, "port": 5060, "region": "west"}],
        "number_format": "nanp"}))
    created(api.post("/v1/agents", {"name": "bot", "url": "ws://127.0.0.1:9/agent",
                                    "profile": "twilio", "region": "west"}))
    created(api.post("/v1/users", {"username": "alice", "password": "alice-password"}))
    created(api.post("/v1/numbers", {"number": "+14155550100",
                                     "route": [{"type": "agent", "agent": "bot"}]}))
    route_id = created(api.post("/v1/routes", {"prefix": "+1", "trunks": ["carrier"]}))["id"]
    token_id = created(api.post("/v1/tokens", {"name": "reader"}))["id"]
    created(api.post("/v1/bans", {"address": "192.0.2.66", "seconds": 60}))
    values = {"name": None, "username": "alice", "number": quote("+14155550100"),
              "call_id": "no-such-call", "address": "192.0.2.66",
              "recording_id": "RE" + "0" * 32}
    names = {"regions": "west", "trunks": "carrier", "agents": "bot"}
    ids = {"routes": route_id, "tokens": token_id, "registrations": 1, "cdrs": 1,
           "webhooks": 1}  # (no webhooks configured: a 404)

    document = api.get("/v1/openapi.json")
    assert document.status == 200, document
    answers = {}
    for pattern, operations in document.json["paths"].items():
        if "get" not in operations:
            continue
        collection = pattern.split("/")[2]

        def fill(match, collection=collection):
            key = match.group(1)
            if key == "name":
                return names[collection]
            if key == "id":
                return str(ids[collection])
            return values[key]
        path = re.sub(r"\{(\w+)\}", fill, pattern)
        answers[pattern] = api.get(path)
    assert len(answers) >= 20, sorted(answers)
    failed = {pattern: reply for pattern, reply in answers.items() if reply.status >= 500}
    assert not failed, f"{failed}\n{switch.output(60)}"
    status = answers["/v1/trunks/{name}/status"]
    assert status.status == 200, status
    assert status.json["trunk"] == "carrier"
    assert [g["gateway"] for g in status.json["gateways"]] == [f"{CARRIER_IP}:5060"], status
    for pattern in ("/v1/regions/{name}", "/v1/trunks/{name}", "/v1/agents/{name}",
                    "/v1/users/{username}", "/v1/numbers/{number}", "/v1/routes/{id}",
                    "/v1/tokens/{id}"):
        assert answers[pattern].status == 200, (pattern, answers[pattern])


def test_a_region_in_use_cannot_be_deleted_and_the_answer_names_its_users(live):
    _, api = live
    created(api.post("/v1/regions", {"name": "west", "bind": "127.0.0.1",
                                     "port_min": 41100, "port_max": 41199}))
    created(api.post("/v1/trunks", {"name": "carrier", "gateways": [
        {"host": CARRIER_IP, "port": 5060, "region": "west"}]}))
    created(api.post("/v1/agents", {"name": "bot", "url": "ws://127.0.0.1:9/agent",
                                    "profile": "twilio", "region": "west"}))
    refused = api.delete("/v1/regions/west")
    assert refused.status == 409, refused
    message = refused.json["error"]["message"]
    assert "carrier" in message and "bot" in message, message
    assert api.delete("/v1/agents/bot").status == 204
    assert api.delete("/v1/trunks/carrier").status == 204
    assert api.delete("/v1/regions/west").status == 204


# -- read-your-writes -----------------------------------------------------------------------------
def invite(target_port: int, local: tuple[str, int], dialled: str) -> tuple[bytes, str]:
    call_id = uuid.uuid4().hex
    host, port = local
    message = (
        f"INVITE sip:{dialled}@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{CALLER}@{host}>;tag={uuid.uuid4().hex[:10]}\r\n"
        f"To: <sip:{dialled}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:{CALLER}@{host}:{port}>\r\n"
        "Content-Length: 0\r\n\r\n")
    return message.encode(), call_id


def final_status(sock: socket.socket, call_id: str) -> int:
    """The first final response to `call_id`'s INVITE (OPTIONS probes to the carrier's
    address and provisional responses are passed over)."""
    while True:
        data, _ = sock.recvfrom(65535)
        if not data.startswith(b"SIP/2.0 ") or f"Call-ID: {call_id}".encode() not in data:
            continue
        status = int(data.split(b" ", 2)[1])
        if status >= 200:
            return status


def test_a_number_created_over_the_api_is_routed_the_instant_its_201_arrives(live):
    """Each round creates a number routed to `reject 486` and sends its INVITE as soon
    as the 201 is read: 486 every time, never the 404 of a number not yet loaded."""
    switch, api = live
    carrier = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    carrier.bind((CARRIER_IP, 0))
    carrier.settimeout(5.0)
    try:
        created(api.post("/v1/trunks", {
            "name": "carrier", "number_format": "e164",
            "gateways": [{"host": CARRIER_IP, "port": carrier.getsockname()[1]}]}))
        seen = []
        for round_ in range(READ_YOUR_WRITES_ROUNDS):
            number = f"+1415555{round_:04d}"
            created(api.post("/v1/numbers", {"number": number,
                                             "route": [{"type": "reject", "code": 486}]}))
            message, call_id = invite(switch.sip_port, carrier.getsockname(), number)
            carrier.sendto(message, ("127.0.0.1", switch.sip_port))
            seen.append(final_status(carrier, call_id))
        assert seen == [486] * READ_YOUR_WRITES_ROUNDS, seen
    finally:
        carrier.close()


# -- regions reach the relay ---------------------------------------------------------------
def carrier_call(switch, workdir, dialled: str):
    return run_call(switch.sip_target, "call_uac.xml", workdir, ip=CARRIER_IP,
                    keys={"dialled": dialled, "domain": switch.domain, "caller": CALLER},
                    timeout=15.0, extra=("-d", "200"))


@sipp_test
def test_a_region_created_then_changed_over_the_api_carries_the_next_proxied_call(
        live, sipp_dir):
    """A trunk's gateway in a region made over the API: the call's offer to the gateway
    names that region's address and ports at once (no restart), and after a PUT of
    the region the next call uses the new range."""
    switch, api = live
    port = free_udp_port(GATEWAY_A_IP)
    created(api.post("/v1/regions", {"name": "west", "bind": "127.0.0.1",
                                     "advertise": "127.0.0.1",
                                     "port_min": 42000, "port_max": 42099}))
    created(api.post("/v1/trunks", {"name": "carrier", "number_format": "e164",
                                    "gateways": [{"host": CARRIER_IP, "port": 5060}],
                                    # SIPp calls from an ephemeral port
                                    "inbound": {"allowed_sources": [CARRIER_IP]}}))
    created(api.post("/v1/trunks", {"name": "out", "gateways": [
        {"host": GATEWAY_A_IP, "port": port, "region": "west"}]}))
    created(api.post("/v1/numbers", {"number": "+14155550177",
                                     "route": [{"type": "trunk", "trunk": "out"}]}))
    offers = []
    for port_min in (42000, 42200):
        if port_min != 42000:
            reply = api.request("PUT", "/v1/regions/west", {
                "bind": "127.0.0.1", "port_min": port_min, "port_max": port_min + 99})
            assert reply.status == 200, reply
        workdir = sipp_dir / str(port_min)
        gateway = SippAgent("call_uas_answer.xml", workdir, ip=GATEWAY_A_IP, port=port,
                            keys={"user": "gw"}, extra=("-d", "200"))
        try:
            gateway.wait_ready()
            caller = carrier_call(switch, workdir, "+14155550177")
            callee = gateway.finish()
        finally:
            gateway.stop()
        assert statuses(caller)[-1] == 200, f"{caller.describe()}\n{switch.output(40)}"
        offers.append(sdp_media(invite_of(callee)))
    (host, first), (_, second) = offers
    assert host == "127.0.0.1"
    assert 42000 <= first <= 42099, offers
    assert 42200 <= second <= 42299, offers
