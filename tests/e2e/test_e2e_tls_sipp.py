"""SIPp over TLS: Debian's SIPp is built without TLS (`-t l1` is refused), so SIPp
speaks SIP over TCP to stunnel, which carries it over TLS (OpenSSL, certificates from
the test CA): a SIPp phone registers with the switch over TLS and calls out through a
TLS trunk whose gateway is stunnel in front of a SIPp callee. The switch sees TLS
peers only; the Python `ssl` peers of test_e2e_tls.py cover the rest.

Addresses: 127.0.0.1 the switch; 127.0.0.5 the phone (SIPp, and stunnel's side of
it); 127.0.0.3 the gateway (stunnel's TLS listener, and SIPp's TCP one behind it).
"""

import shutil
import socket
import subprocess

import pytest

from calls_support import (
    CallSwitch,
    GatewayRow,
    OutboundRow,
    Routing,
    TrunkRow,
    call_id_of,
    seed_routing,
    wait_cdr,
)
from e2e_sipp import TRANSPORTS, in_ci, run_sipp, scenario_args, sipp_path
from e2e_switch import free_port, wait_until
from tls_pki import Pki

pytestmark = [pytest.mark.sipp, pytest.mark.usefixtures("sipp")]

PHONE_IP = "127.0.0.5"
GATEWAY_IP = "127.0.0.3"
USER, PASSWORD = "alice", "alice-pw"
DIALLED = "+15550001999"
STUNNEL_MISSING = ("stunnel is not installed (no `stunnel` on PATH): the SIPp-over-TLS "
                   "tests need it. Install it with `apt-get install stunnel4` or run "
                   "`bash .ci/setup`.")


def stunnel_path() -> str:
    found = shutil.which("stunnel") or shutil.which("stunnel4")
    if found is None:
        if in_ci():
            pytest.fail(f"{STUNNEL_MISSING} CI is set, so this is a failure, not a skip.",
                        pytrace=False)
        pytest.skip(f"!!! {STUNNEL_MISSING} SIPp-over-TLS tests SKIPPED. !!!")
    return found


def listening(ip: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((ip, port)) == 0


class TlsSwitch(CallSwitch):
    def __init__(self, workdir, tls_port: int, **kwargs):
        super().__init__(workdir, **kwargs)
        self.tls_port = tls_port

    def _write_config(self) -> None:
        self.sip_overrides["listen"] = [f"udp:127.0.0.1:{self.sip_port}",
                                        f"tls:127.0.0.1:{self.tls_port}"]
        super()._write_config()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    stunnel = stunnel_path()
    workdir = tmp_path_factory.mktemp("tls-sipp")
    pki = Pki(workdir / "pki")
    switch_cert, switch_key = pki.issue("switch", "127.0.0.1")
    gateway_cert, gateway_key = pki.issue("gateway", GATEWAY_IP)
    ports = {"tls": free_port(), "phone": free_port(), "gateway_tls": free_port(),
             "gateway_sipp": free_port()}
    config = workdir / "stunnel.conf"
    config.write_text("\n".join([
        "foreground = yes", "pid =", "debug = 5", f"output = {workdir / 'stunnel.log'}",
        # The phone's side: SIPp connects here over TCP, stunnel goes on over TLS,
        # checking the switch's certificate for its address.
        "[phone]", "client = yes", f"accept = {PHONE_IP}:{ports['phone']}",
        f"connect = 127.0.0.1:{ports['tls']}", f"local = {PHONE_IP}",
        f"CAfile = {pki.ca_file}", "verifyChain = yes", "checkIP = 127.0.0.1",
        # The gateway's side: the switch connects here over TLS; SIPp listens behind.
        "[gateway]", f"accept = {GATEWAY_IP}:{ports['gateway_tls']}",
        f"connect = {GATEWAY_IP}:{ports['gateway_sipp']}",
        f"cert = {gateway_cert}", f"key = {gateway_key}", ""]))
    tunnel = subprocess.Popen([stunnel, str(config)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    switch = TlsSwitch(workdir / "switch", ports["tls"], sip={"drain_timeout": 1.0},
                       sections={"trunks": {"probe_interval": 86400.0},
                                 "tls": {"certificate": str(switch_cert),
                                         "key": str(switch_key), "ca_file": str(pki.ca_file),
                                         "reload_interval": 0.0}})
    switch.add_user(USER, PASSWORD, caller_ids=("+14155550100",))
    seed_routing(switch.db_url, Routing(
        trunks=[TrunkRow("secure", (GatewayRow(GATEWAY_IP, ports["gateway_tls"],
                                               transport="tls"),))],
        outbound=[OutboundRow("1555", ("secure",))]))
    try:
        wait_until(lambda: listening(PHONE_IP, ports["phone"]), 5, message="stunnel")
        switch.start()
        yield switch, ports, workdir
    finally:
        switch.close()
        tunnel.terminate()
        tunnel.wait(5)


def phone_sipp(switch, ports, workdir, scenario, **kwargs):
    """SIPp as alice's phone, over TCP to stunnel (TLS from there to the switch)."""
    return run_sipp(f"{PHONE_IP}:{ports['phone']}", scenario, workdir, transport="tcp",
                    local_ip=PHONE_IP, auth=(USER, PASSWORD), **kwargs)


def test_a_sipp_phone_registers_over_tls(lab):
    switch, ports, workdir = lab
    result = phone_sipp(switch, ports, workdir, "register.xml", keys={
        "user_name": USER, "domain": switch.domain, "expires": 300,
        "contact": f"<sip:{USER}@{PHONE_IP}:5060;transport=tls>"})
    result.expect_ok()
    rows = wait_until(lambda: switch.registration_rows(switch.aor(USER)), 5,
                      message="alice's binding")
    assert rows[0]["received"].startswith(f"tls:{PHONE_IP}:"), rows
    assert rows[0]["contact"] == f"sip:{USER}@{PHONE_IP}:5060;transport=tls", rows


def test_a_sipp_phone_calls_through_a_tls_trunk_to_a_sipp_gateway(lab):
    switch, ports, workdir = lab
    sipp = sipp_path()
    naming, _ = scenario_args("call_uas_answer.xml")
    callee_log = workdir / "gateway.messages.log"
    callee = subprocess.Popen(
        [sipp, *naming, "-t", TRANSPORTS["tcp"], "-i", GATEWAY_IP, "-p",
         str(ports["gateway_sipp"]), "-m", "1", "-timeout", "20s", "-timeout_error",
         "-nostdin", "-nd", "-key", "user", "gw", "-trace_msg", "-message_file",
         str(callee_log)],
        cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: listening(GATEWAY_IP, ports["gateway_sipp"]), 5,
                   message="the SIPp gateway to listen")
        caller = phone_sipp(switch, ports, workdir, "call_uac_auth.xml", timeout=15,
                            keys={"dialled": DIALLED, "domain": switch.domain, "user": USER},
                            extra=("-d", "300"))
        caller.expect_ok()
        assert callee.wait(20) == 0, callee_log.read_text()
    finally:
        if callee.poll() is None:
            callee.kill()
            callee.wait(5)
    received = callee_log.read_text()
    assert f"INVITE sip:{DIALLED}@{GATEWAY_IP}:{ports['gateway_tls']};transport=tls" in received
    assert "Via: SIP/2.0/TLS 127.0.0.1:" in received
    record = wait_cdr(switch, call_id_of(caller))
    assert (record["final_code"], record["trunk"]) == (200, "secure"), record
