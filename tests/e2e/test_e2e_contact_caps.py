"""Contacts per AOR end to end: SIPp phones register one contact after another for one
user; the switch keeps [sip] max_contacts_per_aor of them, replacing the binding closest
to expiry, or refuses the REGISTER with 403 when contacts_overflow = "reject"."""

import pytest

from e2e_sip import contact_expiries
from e2e_sipp import run_sipp
from e2e_switch import wait_until

pytestmark = [pytest.mark.sipp, pytest.mark.usefixtures("sipp")]

CAP = 3
USER, PASSWORD = "zoe", "zoe-password"


def contact(n: int) -> str:
    return f"sip:{USER}-{n}@127.0.0.1:{5900 + n};transport=udp"


def register(switch, sipp_dir, n: int, scenario="register.xml"):
    return run_sipp(switch.sip_target, scenario, sipp_dir, auth=(USER, PASSWORD),
                    keys={"user_name": USER, "domain": switch.domain,
                          "contact": f"<{contact(n)}>", "expires": 300})


def stored(switch) -> list[str]:
    return sorted(r["contact"] for r in switch.registration_rows(switch.aor(USER)))


def test_the_oldest_contacts_are_replaced_beyond_the_cap(make_switch, sipp_dir):
    switch = make_switch(users={USER: PASSWORD}, sip={"max_contacts_per_aor": CAP})
    for n in range(1, 6):
        result = register(switch, sipp_dir, n).expect_ok()
    listed = contact_expiries(result.final_response())
    assert sorted(listed) == sorted(contact(n) for n in (3, 4, 5)), result.describe()
    wait_until(lambda: stored(switch) == sorted(contact(n) for n in (3, 4, 5)), 3.0,
               message=lambda: f"three contacts in the database, not {stored(switch)}")
    assert switch.health()["registrations"] == CAP


def test_reject_answers_403_and_keeps_what_was_registered(make_switch, sipp_dir):
    switch = make_switch(users={USER: PASSWORD},
                         sip={"max_contacts_per_aor": CAP, "contacts_overflow": "reject"})
    for n in range(1, CAP + 1):
        register(switch, sipp_dir, n).expect_ok()
    refused = register(switch, sipp_dir, CAP + 1, "register_refused.xml").expect_ok()
    assert refused.final_response().status == 403, refused.describe()
    assert switch.health()["registrations"] == CAP
    # A contact already registered is still refreshed.
    register(switch, sipp_dir, 1).expect_ok()
