"""A trunk whose gateway is a host name without a port: the switch looks it up with
DNS SRV (a twisted.names server on loopback, `[trunks] dns_servers`) and an outbound
call goes to the SRV target's address and port, where a SIPp UAS answers 486.

The SRV records: priority 10 to a target on 127.0.0.4 (the SIPp gateway), priority 20
to a backup at an address nothing listens on, which a busy answer never reaches.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents_support import AgentRow, seed_agents
from calls_support import (
    GATEWAY_B_IP,
    CallSwitch,
    GatewayRow,
    Routing,
    SippAgent,
    TrunkRow,
    free_udp_port,
    requests_received,
    seed_routing,
)
from far_end_support import AdminApi, create_api_token

NO_PROBES = 86400.0
DNS_SERVER = Path(__file__).with_name("dns_server_process.py")
DNS_STOP_TIMEOUT = 10.0


@pytest.fixture
def dns_server():
    """`start(zone)` runs a DNS server process serving `zone` (see dns_server_process.py)
    and returns its "127.0.0.1:PORT"; the processes end with the test."""
    processes = []

    def start(zone: dict) -> str:
        process = subprocess.Popen([sys.executable, str(DNS_SERVER), json.dumps(zone)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        processes.append(process)
        line = process.stdout.readline()  # the server prints its port once listening
        assert line.strip().isdigit(), f"the DNS server did not start: {line!r}"
        return f"127.0.0.1:{line.strip()}"

    yield start
    for process in processes:
        process.stdin.close()  # its end of file stops it
        try:
            process.wait(timeout=DNS_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.sipp
@pytest.mark.usefixtures("sipp")
def test_an_outbound_call_goes_to_the_srv_target(tmp_path, dns_server):
    gateway_port = free_udp_port(GATEWAY_B_IP)
    address = dns_server({
        "zone": "carrier.test",
        "srv": {"_sip._udp.sip.carrier.test": [[10, 1, gateway_port, "gw1.carrier.test"],
                                               [20, 1, 5060, "gw2.carrier.test"]]},
        "a": {"gw1.carrier.test": [GATEWAY_B_IP], "gw2.carrier.test": ["127.0.0.99"]}})
    switch = CallSwitch(tmp_path / "switch", database={"reload_interval": 0.5}, sections={
        "agents": {"echo_number": ""},
        "trunks": {"probe_interval": NO_PROBES, "dns_servers": [address]}})
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("srv", (GatewayRow("sip.carrier.test", None),))]))
    # A busy far end never rings, so the agent is never called.
    seed_agents(switch.db_url, [AgentRow("busy", "ws://127.0.0.1:9/busy",
                                         caller_ids=("+14155550100",))], [])
    api = AdminApi(switch, create_api_token(switch.db_url))
    gateway = SippAgent("call_uas_486.xml", tmp_path, ip=GATEWAY_B_IP, port=gateway_port,
                        timeout=10).wait_ready()
    switch.start()
    try:
        reply = api.post("/v1/calls", {"to": "+12025550150", "from": "+14155550100",
                                       "agent": "busy", "trunk": "srv"})
        assert reply.status == 201, reply
        callee = gateway.finish()
    except BaseException:
        gateway.stop()
        switch.close()
        raise
    try:
        assert callee.ok, callee.describe()
        invite = requests_received(callee, "INVITE")[0]
        # Sent to the SRV target's address and port (SIPp listens there), naming the
        # carrier by the name it is known by (RFC 3263): no address in the Request-URI.
        assert invite.first_line.startswith("INVITE sip:+12025550150@sip.carrier.test "), \
            invite.first_line
        record = api.cdr(reply.json["call_id"])
        assert (record["trunk"], record["final_code"]) == ("srv", 486), record
    finally:
        switch.close()
