"""The guard end to end, against real attacker tools: sipvicious (svcrack guessing a
real user's password, svwar enumerating users) and SIPp floods from one loopback
address while a legitimate phone registers with digest from another.

The switch runs as `twistd -n softswitch`; bans are read over the admin API
(/v1/bans) and counters from /metrics.
"""

import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from e2e_sipp import SCENARIOS, run_sipp, sipp_path
from e2e_switch import free_port, wait_until
from far_end_support import AdminApi, create_api_token

ATTACKER = "127.0.0.1"
PHONE = "127.0.0.2"
# Ten common passwords, then the right one: after any sensible threshold.
WORDS = ["123456", "password", "12345678", "qwerty", "letmein", "monkey", "dragon",
         "111111", "iloveyou", "sunshine"]
PASSWORD = "tiger-7"
FAIL2BAN_FILTER = Path(__file__).resolve().parents[2] / "docs" / "fail2ban" / "softswitch.conf"
FLOOD_RATE = 2500  # per second, SIPp's pace on a shared two-core machine
FLOOD_SECONDS = 4


def sipvicious(tool: str) -> str:
    path = shutil.which(f"sipvicious_{tool}")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("sipvicious is missing (pip install sipvicious); CI is set.",
                        pytrace=False)
        pytest.skip(f"!!! sipvicious_{tool} is missing (pip install sipvicious): "
                    "SKIPPED !!!")
    return path


def svcrack(switch, words, tmp_path, user="alice") -> str:
    wordlist = tmp_path / f"words-{len(words)}-{time.monotonic_ns()}.txt"
    wordlist.write_text("\n".join(words) + "\n")
    completed = subprocess.run(
        [sipvicious("svcrack"), "-u", user, "-d", str(wordlist), "--maximumtime", "3",
         f"udp://127.0.0.1:{switch.sip_port}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    return completed.stdout + completed.stderr


def found_password(output: str, password: str) -> bool:
    return f"| {password} " in output


def api_of(switch) -> AdminApi:
    return AdminApi(switch, create_api_token(switch.db_url))


def test_svcrack_finds_nothing_after_the_ban_threshold(make_switch, tmp_path):
    # sipvicious calls itself "friendly-scanner", which the guard drops by default;
    # crackers change that, so here the scanner list is empty and credentials decide.
    guard = {"scanner_user_agents": [], "auth_failures": 5, "ban_time": 300.0}
    control = make_switch(users={"alice": PASSWORD}, guard=guard)
    output = svcrack(control, WORDS[:2] + [PASSWORD], tmp_path)
    assert found_password(output, PASSWORD), output  # the tool works against the switch
    control.close()

    switch = make_switch(users={"alice": PASSWORD}, guard=guard)
    api = api_of(switch)
    output = svcrack(switch, WORDS + [PASSWORD], tmp_path)
    assert not found_password(output, PASSWORD), output
    assert switch.metric("softswitch_auth_failures_total", reason="bad-password") == 5

    ban = api.get(f"/v1/bans/{ATTACKER}")
    assert ban.status == 200, ban
    assert (ban.json["reason"], ban.json["offences"]) == ("auth", 1)
    assert 250 < ban.json["remaining"] <= 300
    assert ban.json["dropped"] >= 5  # the rest of the list, unanswered
    listed = api.get("/v1/bans")
    assert [b["address"] for b in listed.json["items"]] == [ATTACKER]
    assert switch.metric("softswitch_guard_bans_total", reason="auth") == 1
    assert switch.metric("softswitch_guard_bans_active") == 1
    assert "security: event=banned source=127.0.0.1 user=\"alice\" method=REGISTER " \
           "reason=\"auth\" seconds=300" in switch.output(tail=400)

    # Lifted over the API, the source is answered again.
    assert api.delete(f"/v1/bans/{ATTACKER}").status == 204
    assert api.get(f"/v1/bans/{ATTACKER}").status == 404
    assert found_password(svcrack(switch, [PASSWORD], tmp_path), PASSWORD)

    # fail2ban, given the switch's own output and the sample filter, sees the five
    # failures and the ban (and the unban is no failure).
    found = subprocess.run([fail2ban_regex(), "-o", "ip", str(switch.output_path),
                            str(FAIL2BAN_FILTER)], capture_output=True, text=True,
                           timeout=60, check=True).stdout.split()
    assert found == [ATTACKER] * 6, found


def fail2ban_regex() -> str:
    path = shutil.which("fail2ban-regex")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("fail2ban-regex is missing (apt install fail2ban); CI is set.",
                        pytrace=False)
        pytest.skip("!!! fail2ban-regex is missing (apt install fail2ban): SKIPPED !!!")
    return path


def svwar(switch, tmp_path, *extra) -> str:
    wordlist = tmp_path / "extensions.txt"
    wordlist.write_text("\n".join(["alice", "bob", "100", "101", "1000", "admin", "test",
                                   "nobody"]) + "\n")
    completed = subprocess.run(
        [sipvicious("svwar"), "-d", str(wordlist), "-m", "REGISTER", *extra,
         f"udp://127.0.0.1:{switch.sip_port}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    return completed.stdout + completed.stderr


def test_svwar_finds_no_users(make_switch, tmp_path):
    switch = make_switch(users={"alice": PASSWORD, "100": PASSWORD})
    output = svwar(switch, tmp_path)
    assert "found nothing" in output, output
    # Dropped as a scanner: not one byte went back.
    assert switch.metric("softswitch_guard_dropped_total", reason="scanner") >= 1
    assert sum(v for (name, _), v in switch.metrics().items()
               if name == "softswitch_sip_responses_sent_total") == 0
    switch.close()

    # Even let through, known and unknown users look alike: svwar answers its probe
    # of a made-up user and its first real guess alike, and gives up.
    open_switch = make_switch(users={"alice": PASSWORD, "100": PASSWORD},
                              guard={"scanner_user_agents": []})
    output = svwar(open_switch, tmp_path, "--force")
    assert "found nothing" in output, output
    assert open_switch.metric("softswitch_register_outcomes_total", outcome="challenged") >= 2


def start_flood(switch, scenario: str, workdir) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sipp_path(), switch.sip_target, "-sf", str(SCENARIOS / scenario), "-t", "u1",
               "-i", ATTACKER, "-p", str(free_port()), "-m", str(FLOOD_RATE * FLOOD_SECONDS),
               "-r", str(FLOOD_RATE), "-rp", "1000", "-key", "user_name", "legit",
               "-key", "domain", switch.domain, "-nostdin", "-nd"]
    return subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.sipp
@pytest.mark.usefixtures("sipp")
@pytest.mark.parametrize("scenario", ["flood_register.xml", "flood_invite.xml"])
def test_a_flooder_is_banned_within_two_seconds_while_a_phone_keeps_registering(
        make_switch, sipp_dir, scenario):
    switch = make_switch(users={"legit": "legit-pw"})
    api = api_of(switch)
    started = time.time()
    flood = start_flood(switch, scenario, sipp_dir / "flood")
    try:
        # 10 registrations a second (each a challenge and an answer) from another address.
        legit = run_sipp(switch.sip_target, "register.xml", sipp_dir, calls=30, rate=10,
                         auth=("legit", "legit-pw"), local_ip=PHONE, timeout=20,
                         trace_messages=False,
                         keys={"user_name": "legit", "domain": switch.domain,
                               "contact": f"<sip:legit@{PHONE}:5999>", "expires": 300})
        ban = wait_until(lambda: api.get(f"/v1/bans/{ATTACKER}").json, 5,
                         message="the flooder's ban")
    finally:
        flood.wait(timeout=FLOOD_SECONDS + 30)
    legit.expect_ok()  # 30 of 30: at least 99 %
    assert ban["reason"] == "flood"
    banned_at = datetime.fromisoformat(ban["banned_at"]).timestamp()  # RFC 3339
    assert banned_at - started < 2.0, ban
    assert switch.metric("softswitch_guard_dropped_total", reason="banned") > 1000
    assert api.get(f"/v1/bans/{PHONE}").status == 404


@pytest.mark.sipp
@pytest.mark.usefixtures("sipp")
def test_guessing_a_callers_password_through_the_proxy_ends_in_a_ban(make_switch, sipp_dir):
    guesser = "127.0.0.4"
    switch = make_switch(users={"alice": PASSWORD}, guard={"auth_failures": 3})
    api = api_of(switch)
    keys = {"dialled": "+14155550199", "domain": switch.domain, "user": "alice"}
    # INVITE, 407, INVITE with a wrong Proxy-Authorization, 407: three times.
    run_sipp(switch.sip_target, "call_uac_auth_failure.xml", sipp_dir, calls=3, rate=10,
             keys=keys, auth=("alice", "not-her-password"), local_ip=guesser).expect_ok()
    ban = api.get(f"/v1/bans/{guesser}")
    assert ban.status == 200 and ban.json["reason"] == "auth", ban
    assert ('security: event=banned source=127.0.0.4 user="alice" method=INVITE '
            'reason="auth"') in switch.output(tail=400)
    # Now even the right password gets no answer.
    result = run_sipp(switch.sip_target, "call_uac_auth_failure.xml", sipp_dir, keys=keys,
                      auth=("alice", PASSWORD), local_ip=guesser, timeout=3)
    assert not result.ok and result.responses() == [], result.describe()
