"""What the switch answers as a UAS/registrar: RFC 3261 §8.2 order of checks, and the
service-level expectations of the RFC 4475 torture messages (INDEX.tsv)."""

from pathlib import Path

import pytest
from memory_switch import DOMAIN, Switch, authorization

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import parse_message

TORTURE = Path(__file__).resolve().parents[1] / "fixtures" / "torture"
NULL_USER = "null-\x00-null"


@pytest.fixture
def switch():
    return Switch({"alice": "secret", "watson": "w", "user": "u", NULL_USER: "n",
                   "j.user": "j"})


def torture(name: str) -> bytes:
    return (TORTURE / name).read_bytes()


def answer(switch, name: str):
    return switch.send(torture(name))


def with_auth(switch, raw: bytes, user: str, password: str):
    """Send a torture REGISTER, then again with credentials for its challenge."""
    first = switch.send(raw)
    assert first.status == 401
    challenge = first.headers.values("WWW-Authenticate")[0]
    auth = authorization(challenge, user, password, "REGISTER", "sip:example.com")
    head, _, rest = raw.partition(b"\r\n")
    return switch.send(head + b"\r\nAuthorization: " + auth.encode("utf-8", "surrogateescape")
                       + b"\r\n" + rest)


@pytest.mark.parametrize("name", ["intmeth.dat", "esc02.dat"])
def test_unknown_methods_get_501_with_allow(switch, name):
    response = answer(switch, name)
    assert response.status == 501
    assert "REGISTER" in response.headers.get("Allow")


def test_unknown_method_with_cseq_mismatch_is_501():
    with pytest.raises(RemoteProtocolError) as caught:
        parse_message(torture("mismatch02.dat"))
    assert caught.value.status_hint == 501


@pytest.mark.parametrize("name", ["unkscm.dat", "novelsc.dat"])
def test_unknown_request_uri_scheme_gets_416(switch, name):
    assert answer(switch, name).status == 416


def test_unknown_required_extensions_get_420_listing_them(switch):
    response = answer(switch, "bext01.dat")
    assert response.status == 420
    unsupported = {u.strip() for u in response.headers.get("Unsupported").split(",")}
    assert unsupported == {"nothingSupportsThis", "nothingSupportsThisEither",
                           "noProxiesSupportThis", "norDoAnyProxiesSupportThis"}


def test_unknown_content_type_gets_415_with_accept(switch):
    response = answer(switch, "invut.dat")
    assert response.status == 415
    assert response.headers.get("Accept") == "application/sdp"


def test_unacceptable_accept_gets_406_with_warning(switch):
    response = answer(switch, "sdp01.dat")
    assert response.status == 406
    assert response.headers.get("Warning").startswith("399 ")


def test_options_with_max_forwards_zero_to_us_is_answered(switch):
    response = answer(switch, "zeromf.dat")
    assert response.status == 200
    assert {"Allow", "Accept", "Supported"} <= {name for name, _ in response.headers}


def test_register_with_non_sip_to_gets_400(switch):
    assert answer(switch, "unksm2.dat").status == 400


def test_unknown_authorization_scheme_is_challenged_never_accepted(switch):
    response = answer(switch, "regaut01.dat")
    assert response.status == 401
    assert all(c.startswith("Digest ") for c in response.headers.values("WWW-Authenticate"))


def test_escaped_nulls_register_two_distinct_contacts(switch):
    response = with_auth(switch, torture("escnull.dat"), NULL_USER, "n")
    assert response.status == 200
    bindings = switch.location.lookup(f"sip:null-%00-null@{DOMAIN}")
    assert sorted(b.contact for b in bindings) == [
        "sip:%00%00@host5.example.com", "sip:%00@host5.example.com"]


def test_contact_param_outside_brackets_is_not_a_uri_param(switch):
    response = with_auth(switch, torture("cparam01.dat"), "watson", "w")
    assert response.status == 200
    [binding] = switch.location.lookup(f"sip:watson@{DOMAIN}")
    assert binding.contact == "sip:+19725552222@gw1.example.net"


def test_uri_param_inside_brackets_is_kept(switch):
    response = with_auth(switch, torture("cparam02.dat"), "watson", "w")
    assert response.status == 200
    [binding] = switch.location.lookup(f"sip:watson@{DOMAIN}")
    assert binding.contact == "sip:+19725552222@gw1.example.net;unknownparam"
    assert "<sip:+19725552222@gw1.example.net;unknownparam>" in response.headers.get("Contact")


def test_escaped_route_header_in_contact_is_preserved(switch):
    response = with_auth(switch, torture("regescrt.dat"), "user", "u")
    assert response.status == 200
    [binding] = switch.location.lookup(f"sip:user@{DOMAIN}")
    assert binding.contact == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def test_bye_outside_a_dialog_gets_481(switch):
    raw = ("BYE sip:alice@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb1\n"
           "Max-Forwards: 70\nTo: <sip:alice@example.com>;tag=a\nFrom: <sip:b@example.com>;tag=b\n"
           "Call-ID: nodialog\nCSeq: 1 BYE\nContent-Length: 0\n\n")
    assert switch.send(raw).status == 481


def test_ack_gets_no_answer(switch):
    raw = ("ACK sip:alice@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa1\n"
           "Max-Forwards: 70\nTo: <sip:alice@example.com>;tag=a\nFrom: <sip:b@example.com>;tag=b\n"
           "Call-ID: x\nCSeq: 1 ACK\nContent-Length: 0\n\n")
    assert switch.send(raw) is None


def test_known_but_unsupported_method_gets_405(switch):
    raw = ("SUBSCRIBE sip:alice@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKs1\n"
           "Max-Forwards: 70\nTo: <sip:alice@example.com>\nFrom: <sip:b@example.com>;tag=b\n"
           "Call-ID: s\nCSeq: 1 SUBSCRIBE\nEvent: presence\nContent-Length: 0\n\n")
    response = switch.send(raw)
    assert response.status == 405
    assert response.headers.get("Allow")
