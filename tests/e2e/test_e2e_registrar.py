"""The registrar end to end: SIPp is the phone, the switch runs as `twistd -n softswitch`.

Each test checks what the phone received (from SIPp's message log), what the switch
counts (/metrics, /healthz) and what it wrote through to the `registrations` table.
"""

import re
import time

import pytest

from e2e_sip import auth_params, contact_expiries
from e2e_sipp import auth_field, run_sipp, write_injection
from e2e_switch import wait_until

pytestmark = [pytest.mark.sipp, pytest.mark.usefixtures("sipp")]

OUTCOMES = "softswitch_register_outcomes_total"
REGISTRATIONS = "softswitch_registrations"
AUTH_FAILURES = "softswitch_auth_failures_total"
DB_WAIT = 3.0  # write-through is batched (50 ms); allow for a slow machine


def contact_uri(user: str, transport: str = "udp", port: int = 5999, tag: str = "") -> str:
    """A contact URI nobody is asked to reach (the registrar never sends to it)."""
    return f"sip:{user}{tag}@127.0.0.1:{port};transport={transport}"


def register(switch, sipp_dir, user, password, contact, *, expires=300, transport="udp",
             scenario="register.xml", **keys):
    return run_sipp(
        switch.sip_target, scenario, sipp_dir, transport=transport, auth=(user, password),
        keys={"user_name": user, "domain": switch.domain, "contact": contact,
              "expires": expires, **keys})


def rows_of(switch, user):
    return switch.registration_rows(switch.aor(user))


def wait_rows(switch, user, count, timeout=DB_WAIT):
    """The user's registration rows, once there are exactly `count` of them."""
    seen = {}

    def settled():
        seen["rows"] = rows_of(switch, user)
        return len(seen["rows"]) == count

    wait_until(settled, timeout,
               message=lambda: f"{count} registration rows for {user}, not {seen['rows']}")
    return seen["rows"]


def assert_expires_close(actual, expected, result=None, slack=2):
    assert actual is not None and expected - slack <= actual <= expected, (
        f"expires {actual} is not about {expected}\n{result.describe() if result else ''}")


@pytest.mark.parametrize("transport, user", [("udp", "alice"), ("tcp", "bob")])
def test_register_with_digest_auth(switch, sipp_dir, transport, user):
    before_ok = switch.metric(OUTCOMES, outcome="ok")
    before_challenged = switch.metric(OUTCOMES, outcome="challenged")
    before_gauge = switch.metric(REGISTRATIONS)
    uri = contact_uri(user, transport)
    started = time.time()

    result = register(switch, sipp_dir, user, f"{user}-pw", f"<{uri}>", expires=300,
                      transport=transport).expect_ok()

    statuses = [m.status for m in result.responses()]
    assert statuses == [401, 200], result.describe()
    challenge = result.responses(401)[0]
    offered = [auth_params(c) for c in challenge.headers("WWW-Authenticate")]
    # The default: one challenge, MD5, which every common phone answers.
    assert [(scheme, p["algorithm"]) for scheme, p in offered] == [("Digest", "MD5")], \
        result.describe()
    assert all(p["realm"] == switch.domain and p["qop"] == "auth" for _, p in offered)
    authorization = result.sent()[1].header("Authorization")
    assert authorization and f'username="{user}"' in authorization, result.describe()

    ok = result.responses(200)[0]
    assert ok.first_line == "SIP/2.0 200 OK", result.describe()
    listed = contact_expiries(ok)
    assert list(listed) == [uri], result.describe()
    assert_expires_close(listed[uri], 300, result)
    via = ok.header("Via")
    assert f"SIP/2.0/{transport.upper()}" in via and "received=127.0.0.1" in via, via

    [row] = wait_rows(switch, user, 1)
    assert row["contact"] == uri
    assert row["received"].startswith(f"{transport}:127.0.0.1:")
    assert row["cseq"] == 2 and row["user_agent"] == "SIPp e2e"
    assert started + 295 <= row["expires_at"] <= time.time() + 301

    assert switch.metric(OUTCOMES, outcome="ok") == before_ok + 1
    assert switch.metric(OUTCOMES, outcome="challenged") == before_challenged + 1
    assert switch.metric(REGISTRATIONS) == before_gauge + 1
    assert switch.health()["registrations"] == switch.metric(REGISTRATIONS)


def test_register_users_from_injection_file(switch, sipp_dir, tmp_path):
    users = ["csv1", "csv2", "csv3"]
    inject = write_injection(tmp_path / "users.csv",
                             [[u, auth_field(u, f"{u}-pw")] for u in users])
    before_ok = switch.metric(OUTCOMES, outcome="ok")

    result = run_sipp(switch.sip_target, "register_csv.xml", sipp_dir, calls=3, rate=30,
                      inject=inject, keys={"domain": switch.domain, "expires": 120})

    result.expect_ok()
    assert [m.status for m in result.responses()].count(200) == 3, result.describe()
    for user in users:
        [row] = wait_rows(switch, user, 1)
        assert row["contact"].startswith(f"sip:{user}@127.0.0.1:")
    assert switch.metric(OUTCOMES, outcome="ok") == before_ok + 3


def _normalised(message):
    """The response with what differs per request or per challenge masked out."""
    text = message.text
    text = re.sub(r"(?mi)^(Via|From|To|Call-ID|CSeq):.*$", r"\1: *", text)
    return re.sub(r'nonce="[^"]*"', 'nonce="*"', text)


def test_wrong_password_and_unknown_user_fail_alike(switch, sipp_dir):
    before = {reason: switch.metric(AUTH_FAILURES, reason=reason)
              for reason in ("bad-password", "unknown-user")}
    runs = {}
    for case, user, password in [("wrong password", "carol", "not-carols-password"),
                                 ("unknown user", "mallory", "whatever")]:
        runs[case] = run_sipp(
            switch.sip_target, "register_bad_credentials.xml", sipp_dir,
            auth=(user, password), name=case.replace(" ", "-"),
            keys={"user_name": user, "domain": switch.domain,
                  "contact": contact_uri(user)}).expect_ok()

    finals = {}
    for case, result in runs.items():
        assert [m.status for m in result.responses()] == [401, 401], result.describe()
        first, final = result.responses(401)
        assert result.sent()[1].header("Authorization"), result.describe()
        first_nonces = {auth_params(c)[1]["nonce"] for c in first.headers("WWW-Authenticate")}
        final_nonces = {auth_params(c)[1]["nonce"] for c in final.headers("WWW-Authenticate")}
        assert first_nonces.isdisjoint(final_nonces), f"{case}: the nonce was not renewed"
        finals[case] = final

    wrong, unknown = finals["wrong password"], finals["unknown user"]
    detail = f"\n--- wrong password ---\n{wrong.text}\n--- unknown user ---\n{unknown.text}"
    assert wrong.first_line == unknown.first_line == "SIP/2.0 401 Unauthorized", detail
    assert wrong.header_names() == unknown.header_names(), detail
    shapes = []
    for final in (wrong, unknown):
        challenges = [auth_params(c) for c in final.headers("WWW-Authenticate")]
        shapes.append([(scheme, sorted(p), p.get("algorithm"), p.get("realm"), p.get("qop"),
                        p.get("stale")) for scheme, p in challenges])
        assert all("stale" not in p for _, p in challenges), detail
    assert shapes[0] == shapes[1] and len(shapes[0]) == 1, detail
    assert _normalised(wrong) == _normalised(unknown), detail
    nonce = [auth_params(c)[1]["nonce"] for f in (wrong, unknown)
             for c in f.headers("WWW-Authenticate")]
    assert nonce[0] != nonce[1], "both failures got the same nonce"

    assert not rows_of(switch, "carol") and not rows_of(switch, "mallory")
    assert switch.metric(AUTH_FAILURES, reason="bad-password") == before["bad-password"] + 1
    assert switch.metric(AUTH_FAILURES, reason="unknown-user") == before["unknown-user"] + 1


def test_reregister_refreshes_the_binding(switch, sipp_dir):
    user, uri = "dave", contact_uri("dave")
    before_gauge = switch.metric(REGISTRATIONS)

    result = run_sipp(switch.sip_target, "register_refresh.xml", sipp_dir,
                      auth=(user, "dave-pw"),
                      keys={"user_name": user, "domain": switch.domain, "contact": uri,
                            "expires": 300, "expires2": 900}).expect_ok()

    assert [m.status for m in result.responses()] == [401, 200, 200], result.describe()
    first, refreshed = result.responses(200)
    assert list(contact_expiries(first)) == [uri], result.describe()
    assert_expires_close(contact_expiries(first)[uri], 300, result)
    assert list(contact_expiries(refreshed)) == [uri], result.describe()
    assert_expires_close(contact_expiries(refreshed)[uri], 900, result)

    wait_until(lambda: [r["cseq"] for r in rows_of(switch, user)] == [3], DB_WAIT,
               message=f"the refresh (CSeq 3) in the database: {rows_of(switch, user)}")
    [row] = rows_of(switch, user)
    assert row["expires_at"] >= time.time() + 890
    assert switch.metric(REGISTRATIONS) == before_gauge + 1


def test_several_contacts_then_unregister_one_then_all(switch, sipp_dir):
    user, password = "erin", "erin-pw"
    a, b = contact_uri(user, tag="-desk"), contact_uri(user, tag="-mobile", port=5998)
    baseline = switch.metric(REGISTRATIONS)

    both = run_sipp(switch.sip_target, "register_two_contacts.xml", sipp_dir,
                    auth=(user, password),
                    keys={"user_name": user, "domain": switch.domain, "contact_a": a,
                          "contact_b": b, "expires": 600}).expect_ok()
    listed = contact_expiries(both.final_response())
    assert sorted(listed) == sorted([a, b]), both.describe()
    for uri in (a, b):
        assert_expires_close(listed[uri], 600, both)
    assert [r["contact"] for r in wait_rows(switch, user, 2)] == sorted([a, b])
    assert switch.metric(REGISTRATIONS) == baseline + 2

    one = register(switch, sipp_dir, user, password, f"<{a}>;expires=0", expires=600)
    one.expect_ok()
    assert list(contact_expiries(one.final_response())) == [b], one.describe()
    wait_until(lambda: [r["contact"] for r in rows_of(switch, user)] == [b], DB_WAIT,
               message=f"only {b} left in the database: {rows_of(switch, user)}")
    assert switch.metric(REGISTRATIONS) == baseline + 1

    everything = register(switch, sipp_dir, user, password, "*", expires=0).expect_ok()
    final = everything.final_response()
    assert final.status == 200 and final.headers("Contact") == [], everything.describe()
    wait_rows(switch, user, 0)
    assert switch.metric(REGISTRATIONS) == baseline
    assert switch.health()["registrations"] == baseline


def test_expires_below_minimum_gets_423(switch, sipp_dir):
    user = "frank"
    before = switch.metric(OUTCOMES, outcome="refused")

    result = run_sipp(switch.sip_target, "register_too_brief.xml", sipp_dir,
                      auth=(user, "frank-pw"),
                      keys={"user_name": user, "domain": switch.domain,
                            "contact": contact_uri(user), "expires": 30}).expect_ok()

    final = result.final_response()
    assert final.status == 423, result.describe()
    assert final.headers("Min-Expires") == ["60"], result.describe()  # [sip] min_expires
    assert final.headers("Contact") == [], result.describe()
    assert switch.metric(OUTCOMES, outcome="refused") == before + 1
    time.sleep(0.2)  # past a write-through batch
    assert not rows_of(switch, user)


def test_binding_expires(make_switch, sipp_dir):
    switch = make_switch({"ivan": "ivan-pw"}, sip={"min_expires": 1, "default_expires": 60})
    uri = contact_uri("ivan")

    result = register(switch, sipp_dir, "ivan", "ivan-pw", f"<{uri}>", expires=2).expect_ok()
    assert_expires_close(contact_expiries(result.final_response())[uri], 2, result, slack=1)
    wait_rows(switch, "ivan", 1)
    assert switch.metric(REGISTRATIONS) == 1

    wait_until(lambda: switch.metric(REGISTRATIONS) == 0, 8.0,
               message="the binding to expire from the softswitch_registrations gauge")
    wait_rows(switch, "ivan", 0)
    assert switch.health()["registrations"] == 0
