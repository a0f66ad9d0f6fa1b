"""Registrar behaviour (RFC 3261 §10.3) through the dispatcher, on a Clock."""

import pytest
from memory_switch import DOMAIN


def contact_expiries(response):
    return {c.address.uri.__str__(): int(c.address.params["expires"])
            for c in response.contacts}


def test_register_without_credentials_is_challenged_with_both_algorithms(switch):
    response = switch.send(switch._register("alice", ("<sip:alice@192.0.2.10>",), None,
                                            "c1", "", ""))
    assert response.status == 401
    challenges = response.headers.values("WWW-Authenticate")
    assert [c.split("algorithm=")[1].split(",")[0] for c in challenges] == ["SHA-256", "MD5"]
    assert response.to_tag


def test_register_with_digest_binds_and_lists_the_contact(switch):
    response = switch.register(expires=600)
    assert response.status == 200
    assert contact_expiries(response) == {"sip:alice@192.0.2.10:5060": 600}
    [binding] = switch.location.lookup(f"sip:alice@{DOMAIN}")
    assert binding.received == "udp:192.0.2.10:5060"
    assert switch.store.saved[-1] == binding


def test_md5_works_too(switch):
    assert switch.register(algorithm="MD5").status == 200


def test_wrong_password_and_unknown_user_answer_alike(switch):
    wrong = switch.register(password="nope")
    unknown = switch.register(user="mallory", password="nope")
    assert wrong.status == unknown.status == 401

    def shape(response):
        return sorted((name, value.split("nonce=")[0]) for name, value in response.headers
                      if name not in ("To", "From", "Call-ID", "CSeq", "Via"))

    assert shape(wrong) == shape(unknown)
    assert len(switch.location) == 0


def test_reregister_refreshes_the_same_binding(switch):
    switch.register(expires=600)
    switch.clock.advance(100)
    response = switch.register(expires=900)
    assert contact_expiries(response) == {"sip:alice@192.0.2.10:5060": 900}
    assert len(switch.location) == 1


def test_several_contacts_with_q_values_are_ordered(switch):
    response = switch.register(contacts=("<sip:alice@192.0.2.10>;q=0.5",
                                         "<sip:alice@192.0.2.11>;q=0.9"))
    assert response.status == 200
    aor = f"sip:alice@{DOMAIN}"
    assert [b.contact for b in switch.location.lookup(aor)] == [
        "sip:alice@192.0.2.11", "sip:alice@192.0.2.10"]


def test_expires_zero_removes_one_contact(switch):
    switch.register(contacts=("<sip:alice@192.0.2.10>", "<sip:alice@192.0.2.11>"))
    response = switch.register(contacts=("<sip:alice@192.0.2.10>;expires=0",))
    assert list(contact_expiries(response)) == ["sip:alice@192.0.2.11"]
    assert switch.store.removed == [(f"sip:alice@{DOMAIN}", "sip:alice@192.0.2.10")]


def test_star_unregisters_everything(switch):
    switch.register(contacts=("<sip:alice@192.0.2.10>", "<sip:alice@192.0.2.11>"))
    response = switch.register(contacts=("*",), expires=0)
    assert response.status == 200
    assert response.contacts == []
    assert len(switch.location) == 0


def test_star_without_expires_zero_is_a_bad_request(switch):
    switch.register()
    assert switch.register(contacts=("*",), expires=100).status == 400


def test_interval_too_brief_gets_423_with_min_expires(switch):
    response = switch.register(expires=10)
    assert response.status == 423
    assert response.headers.get("Min-Expires") == "60"


def test_expiry_is_capped_at_max_expires(switch):
    response = switch.register(expires=999999)
    assert contact_expiries(response) == {"sip:alice@192.0.2.10:5060": 3600}


def test_bindings_expire_on_the_clock_and_are_removed_from_the_store(switch):
    switch.register(expires=120)
    switch.clock.advance(119)
    assert len(switch.location) == 1
    switch.clock.advance(1)
    assert len(switch.location) == 0
    assert switch.store.removed == [(f"sip:alice@{DOMAIN}", "sip:alice@192.0.2.10:5060")]


def test_query_without_contact_lists_current_bindings(switch):
    switch.register(expires=600)
    switch.clock.advance(100)
    response = switch.register(contacts=())
    assert contact_expiries(response) == {"sip:alice@192.0.2.10:5060": 500}


def test_out_of_order_cseq_on_the_same_call_id_is_refused(switch):
    switch.cseq = 100
    switch.register()
    switch.cseq = 50
    assert switch.register().status == 500


def test_a_user_cannot_register_another_users_aor(switch):
    first = switch.send(switch._register("bob", ("<sip:x@192.0.2.1>",), None, "c", "", ""))
    from memory_switch import authorization
    challenge = first.headers.values("WWW-Authenticate")[0]
    auth = authorization(challenge, "alice", "secret", "REGISTER", f"sip:{DOMAIN}")
    response = switch.send(switch._register("bob", ("<sip:x@192.0.2.1>",), None, "c",
                                            f"Authorization: {auth}\n", ""))
    assert response.status == 403


def test_other_domains_are_not_served(switch):
    raw = switch._register("alice", (), None, "c", "", "").replace(
        f"To: <sip:alice@{DOMAIN}>", "To: <sip:alice@elsewhere.example.org>")
    assert switch.send(raw).status == 404


# -- RFC 5626 instance-id -----------------------------------------------------------------
INSTANCE = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"


def test_the_instance_id_is_kept_without_quotes_and_echoed_in_the_200(switch):
    response = switch.register(contacts=(
        f'<sip:alice@192.0.2.10:5060>;+sip.instance="{INSTANCE}";reg-id=1',))
    assert response.status == 200
    [contact] = response.headers.values("Contact")
    assert contact == f'<sip:alice@192.0.2.10:5060>;expires=3600;+sip.instance="{INSTANCE}"'
    # No SIP Outbound: reg-id is neither kept nor echoed, and nothing is Required.
    assert response.headers.get("Require") is None
    [binding] = switch.location.lookup(f"sip:alice@{DOMAIN}")
    assert (binding.instance_id, binding.reg_id) == (INSTANCE, None)
    assert switch.store.saved[-1].instance_id == INSTANCE


def test_a_new_contact_of_the_same_instance_replaces_the_old_binding(switch):
    switch.register(contacts=(f'<sip:alice@192.0.2.10:5060>;+sip.instance="{INSTANCE}"',),
                    call_id="before-reboot")
    other = '<sip:alice@192.0.2.99>;+sip.instance="<urn:uuid:other-phone>"'
    switch.register(contacts=(other,), call_id="desk-phone")
    # The same phone after a reboot: a new Call-ID, a new port.
    response = switch.register(
        contacts=(f'<sip:alice@192.0.2.10:5070>;+sip.instance="{INSTANCE}"',),
        call_id="after-reboot")
    assert sorted(response.headers.values("Contact")) == [
        f'<sip:alice@192.0.2.10:5070>;expires=3600;+sip.instance="{INSTANCE}"',
        '<sip:alice@192.0.2.99>;expires=3600;+sip.instance="<urn:uuid:other-phone>"']
    assert len(switch.location) == 2
    assert switch.store.removed == [(f"sip:alice@{DOMAIN}", "sip:alice@192.0.2.10:5060")]


def test_expires_zero_with_an_instance_removes_that_device_by_instance(switch):
    switch.register(contacts=(f'<sip:alice@192.0.2.10:5060>;+sip.instance="{INSTANCE}"',))
    response = switch.register(
        contacts=(f'<sip:alice@192.0.2.10:6000>;+sip.instance="{INSTANCE}";expires=0',))
    assert (response.status, response.contacts) == (200, [])
    assert len(switch.location) == 0


def test_an_instance_replacement_keeps_the_cseq_order(switch):
    switch.cseq = 100
    switch.register(contacts=(f'<sip:alice@192.0.2.10:5060>;+sip.instance="{INSTANCE}"',))
    switch.cseq = 10
    response = switch.register(
        contacts=(f'<sip:alice@192.0.2.10:5070>;+sip.instance="{INSTANCE}"',))
    assert response.status == 500
    assert [b.contact for b in switch.location.lookup(f"sip:alice@{DOMAIN}")] == [
        "sip:alice@192.0.2.10:5060"]


@pytest.mark.parametrize("value", [
    "<urn:uuid:no-quotes>", '"urn:uuid:no-brackets"', '"<urn:uuid:a\\"b>"', '"<>"',
    '"<urn:' + "x" * 300 + '>"'])
def test_a_malformed_instance_is_ignored_and_the_contact_bound_by_uri(switch, value):
    response = switch.register(contacts=(f"<sip:alice@192.0.2.10:5060>;+sip.instance={value}",))
    assert response.status == 200
    assert response.headers.values("Contact") == ["<sip:alice@192.0.2.10:5060>;expires=3600"]
    [binding] = switch.location.lookup(f"sip:alice@{DOMAIN}")
    assert binding.instance_id is None
