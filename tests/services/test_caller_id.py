"""The caller-ID policy as a pure function (services.caller_id): which numbers a
caller may present, what is asserted toward a trunk, which identity headers survive,
and Privacy (RFC 3323/3325)."""

from softswitch.services.caller_id import (
    ANONYMOUS_FROM,
    Caller,
    allowed_caller_ids,
    apply_presentation,
    is_owned_number,
    present,
    privacy_of,
)
from softswitch.services.routing import Agent, Number, RoutingSnapshot, Target, Trunk
from softswitch.sip.message import parse_message

TRUNK = Trunk("carrier", ())
UNTRUSTED = Trunk("grey", (), trust_identity=False)
WITH_DEFAULT = Trunk("carrier", (), default_caller_id="+14155550000")
HIDING = Trunk("carrier", (), topology_hiding=True)
ALICE = Caller("user", "alice")
ALLOWED = ("+14155550100", "+14155550101")
FORGED = ("P-Asserted-Identity: <sip:+12025550123@evil.example>\r\n"
          "Remote-Party-ID: <sip:+12025550123@evil.example>;party=calling\r\n"
          "Identity: eyJhbGciOiJFUzI1NiJ9.e30.c2ln;info=<https://evil.example/c.pem>\r\n")


def request(from_user="+14155550100", extra=""):
    text = ("INVITE sip:+12125550199@gw.example SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bK1\r\n"
            f"From: \"Alice\" <sip:{from_user}@example.com>;tag=a1\r\n"
            "To: <sip:+12125550199@gw.example>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:alice@192.0.2.30>\r\n{extra}Content-Length: 0\r\n\r\n")
    return parse_message(text.encode())


def applied(presentation, message):
    apply_presentation(message, presentation, "switch.example")
    return parse_message(message.to_bytes())


def snapshot():
    numbers = [Number("+14155550177", (Target("user", "alice"),)),
               Number("+14155550100", (Target("user", "alice"), Target("user", "bob"))),
               Number("+14155550188", (Target("agent", "bot"),)),
               Number("+14155550199", (Target("user", "alice"),), enabled=False)]
    agents = [Agent("bot", "ws://127.0.0.1:1/", "raw", 16000, caller_ids=("+14155550155",))]
    return RoutingSnapshot(numbers=numbers, agents=agents, users=["alice", "bob", "carol"],
                           user_caller_ids={"alice": ("+14155550100", "+14155550111")})


def test_configured_caller_ids_come_first_then_the_numbers_routed_to_the_caller():
    snap = snapshot()
    assert allowed_caller_ids(snap, "user", "alice") == (
        "+14155550100", "+14155550111", "+14155550177")
    assert allowed_caller_ids(snap, "user", "bob") == ("+14155550100",)
    assert allowed_caller_ids(snap, "user", "carol") == ()
    assert allowed_caller_ids(snap, "agent", "bot") == ("+14155550155", "+14155550188")
    assert allowed_caller_ids(snap, "trunk", "carrier") == ()


def test_is_owned_number_reads_any_form_of_the_number():
    snap = snapshot()
    assert is_owned_number(snap, ALICE, "+1 (415) 555-0177")
    assert is_owned_number(snap, ALICE, "14155550111")
    assert not is_owned_number(snap, ALICE, "+14155550199")  # a disabled number
    assert not is_owned_number(snap, ALICE, "alice")
    assert is_owned_number(snap, Caller("agent", "bot"), "+14155550155")
    assert not is_owned_number(snap, Caller("trunk", "carrier", True), "+14155550100")


def test_an_allowed_from_is_asserted_and_kept():
    presentation = present(ALICE, ALLOWED, request("+14155550101"), TRUNK)
    assert (presentation.asserted, presentation.from_number) == ("+14155550101", None)
    out = applied(presentation, request("+14155550101"))
    assert out.headers.get("P-Asserted-Identity") == "<sip:+14155550101@switch.example>"
    assert out.headers.get("From") == '"Alice" <sip:+14155550101@example.com>;tag=a1'


def test_a_number_not_owned_becomes_the_default_in_pai_and_from():
    presentation = present(ALICE, ALLOWED, request("+12025550123"), TRUNK)
    assert (presentation.asserted, presentation.from_number) == ("+14155550100", "+14155550100")
    out = applied(presentation, request("+12025550123"))
    assert out.headers.get("P-Asserted-Identity") == "<sip:+14155550100@switch.example>"
    assert out.headers.get("From") == "<sip:+14155550100@switch.example>;tag=a1"


def test_forged_identity_headers_of_a_user_are_gone():
    out = applied(present(ALICE, ALLOWED, request(extra=FORGED), TRUNK), request(extra=FORGED))
    assert out.headers.values("P-Asserted-Identity") == ["<sip:+14155550100@switch.example>"]
    for name in ("Remote-Party-ID", "P-Preferred-Identity", "Identity"):
        assert name not in out.headers


def test_p_preferred_identity_picks_among_the_allowed_ones_only():
    chosen = "P-Preferred-Identity: <sip:+14155550101@example.com>\r\n"
    presentation = present(ALICE, ALLOWED, request(extra=chosen), TRUNK)
    assert presentation.asserted == "+14155550101"
    out = applied(presentation, request(extra=chosen))
    assert "P-Preferred-Identity" not in out.headers
    assert out.from_.uri.user == "+14155550101"
    forged = "P-Preferred-Identity: <tel:+12025550123>\r\n"
    assert present(ALICE, ALLOWED, request(extra=forged), TRUNK).asserted == "+14155550100"


def test_no_allowed_identity_takes_the_trunk_default_or_is_refused():
    assert present(ALICE, (), request(), WITH_DEFAULT).asserted == "+14155550000"
    assert present(ALICE, (), request(), TRUNK).refuse == 403


def test_privacy_id_keeps_pai_toward_a_trusted_trunk_with_an_anonymous_from():
    message = request(extra="Privacy: id\r\n")
    out = applied(present(ALICE, ALLOWED, message, TRUNK), request(extra="Privacy: id\r\n"))
    assert out.headers.get("From") == f"{ANONYMOUS_FROM};tag=a1"
    assert out.headers.get("P-Asserted-Identity") == "<sip:+14155550100@switch.example>"
    assert out.headers.get("Privacy") == "id"


def test_privacy_id_toward_an_untrusted_trunk_sends_no_pai():
    out = applied(present(ALICE, ALLOWED, request(extra="Privacy: id\r\n"), UNTRUSTED),
                  request(extra="Privacy: id\r\n"))
    assert "P-Asserted-Identity" not in out.headers
    assert out.from_.uri.host == "anonymous.invalid"


def test_privacy_header_removes_what_names_the_user_and_user_privacy_hides_from():
    extra = "Privacy: header;user\r\nUser-Agent: Alice's phone\r\nOrganization: Acme\r\n"
    out = applied(present(ALICE, ALLOWED, request(extra=extra), TRUNK), request(extra=extra))
    assert "User-Agent" not in out.headers and "Organization" not in out.headers
    assert out.from_.uri.user == "anonymous" and out.from_.display == "Anonymous"
    assert out.headers.get("P-Asserted-Identity") == "<sip:+14155550100@switch.example>"


def test_privacy_none_wins_and_an_oversized_privacy_is_read_as_full_privacy():
    assert privacy_of(request(extra="Privacy: id; none\r\n")) == frozenset()
    assert privacy_of(request(extra="Privacy: " + "x;" * 100 + "\r\n")) == {"id", "header", "user"}


def test_a_trusted_trunk_keeps_its_identity_and_an_untrusted_one_loses_it():
    trusted = Caller("trunk", "upstream", trusted=True)
    out = applied(present(trusted, (), request("+12025550123", FORGED), TRUNK),
                  request("+12025550123", FORGED))
    assert out.headers.get("P-Asserted-Identity") == "<sip:+12025550123@evil.example>"
    assert "Identity" in out.headers
    assert out.from_.uri.user == "+12025550123"
    stranger = Caller("trunk", "grey", trusted=False)
    out = applied(present(stranger, (), request("+12025550123", FORGED), TRUNK),
                  request("+12025550123", FORGED))
    assert not any(name in out.headers for name in (
        "P-Asserted-Identity", "Remote-Party-ID", "Identity"))


def test_topology_hiding_comes_from_the_trunk():
    assert present(ALICE, ALLOWED, request(), HIDING).hide_topology
    assert not present(ALICE, ALLOWED, request(), TRUNK).hide_topology
