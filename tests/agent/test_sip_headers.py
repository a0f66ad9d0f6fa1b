"""SIP headers to and from agents (agent.sip_headers): names the agent may read or
set, values made safe, and the profiles carrying them both ways."""

import json
import re

import pytest

from softswitch.agent.events import AgentHangup, AgentTransfer, CallInfo, CallStarted
from softswitch.agent.profiles import ProfileError, make_profile
from softswitch.agent.sip_headers import (
    FORBIDDEN,
    MAX_NAMES,
    NAME_PATTERN,
    MAX_VALUE_LENGTH,
    HeaderRefused,
    check_name,
    headers_for_agent,
    headers_from_agent,
)
from softswitch.sip.message import parse_message


def invite(extra: str):
    text = ("INVITE sip:+14155550100@switch.example SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1\r\n"
            "From: <sip:+12125550123@carrier.example>;tag=c1\r\n"
            "To: <sip:+14155550100@switch.example>\r\nCall-ID: h1\r\nCSeq: 1 INVITE\r\n"
            f"{extra}Content-Length: 0\r\n\r\n")
    return parse_message(text.encode())


@pytest.mark.parametrize("name", ["X-Customer-Id", "User-to-User", "Diversion",
                                  "P-Asserted-Identity", "x.odd!name"])
def test_token_names_that_carry_no_routing_state_are_taken(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["Via", "v", "call-id", "CSeq", "Route", "Record-Route",
                                  "Contact", "Max-Forwards", "Content-Length", "From", "To",
                                  "Proxy-Authorization", "Identity", "X Space", "X:Colon",
                                  "X-Crlf\r\nVia", "", "X-" + "a" * 70])
def test_forbidden_and_malformed_names_are_refused(name):
    with pytest.raises(HeaderRefused):
        check_name(name)


def test_the_invites_headers_the_agent_asked_for_are_picked_and_cleaned():
    request = invite("X-Customer-Id: 42\r\nUser-to-User: 56a390f3d2b7310023a2;encoding=hex\r\n"
                     "Diversion: <sip:+14155550999@pbx>;reason=no-answer\r\n"
                     "Diversion: <sip:+14155550998@pbx>;reason=busy\r\n"
                     "X-Long: " + "y" * 600 + "\r\nX-Tab: a\tb\r\n"
                     "P-Asserted-Identity: <sip:+12125550123@carrier.example>\r\n")
    names = ["X-Customer-Id", "User-to-User", "Diversion", "X-Long", "X-Tab",
             "X-Absent", "P-Asserted-Identity"]
    found = headers_for_agent(request, names, identity_trusted=True)
    assert found["X-Customer-Id"] == "42"
    assert found["User-to-User"] == "56a390f3d2b7310023a2;encoding=hex"
    assert found["Diversion"] == ("<sip:+14155550999@pbx>;reason=no-answer, "
                                  "<sip:+14155550998@pbx>;reason=busy")
    assert len(found["X-Long"]) == MAX_VALUE_LENGTH
    assert found["X-Tab"] == "a b" and "X-Absent" not in found
    assert found["P-Asserted-Identity"] == "<sip:+12125550123@carrier.example>"
    # From an untrusted source an identity header is not passed on as if it were true.
    assert "P-Asserted-Identity" not in headers_for_agent(request, names, False)


@pytest.mark.parametrize("value, why", [
    ({"Via": "SIP/2.0/UDP evil"}, "routing"),
    ({"X-Ok": "a\r\nVia: SIP/2.0/UDP evil"}, "control character"),
    ({"X-Ok": "a\nb"}, "control character"),
    ({"X-Ok": "z" * (MAX_VALUE_LENGTH + 1)}, "longer"),
    ({"X-Ok": 5}, "string"),
    ({"X-Ok": "  "}, "empty"),
    ({f"X-{i}": "v" for i in range(MAX_NAMES + 1)}, "at most"),
    (["X-Ok", "v"], "object"),
])
def test_headers_an_agent_sets_are_refused_when_unsafe(value, why):
    with pytest.raises(HeaderRefused, match=why):
        headers_from_agent(value)


def test_headers_an_agent_sets_come_back_as_pairs():
    assert headers_from_agent({"X-Outcome": " sale ", "User-to-User": "00ff;encoding=hex"}) == (
        ("X-Outcome", "sale"), ("User-to-User", "00ff;encoding=hex"))
    assert headers_from_agent(None) == ()


INFO = CallInfo(call_id="CA1", stream_id="MZ1", account="AC1", caller="+12125550123",
                callee="+14155550100", did="+14155550100",
                custom_parameters={"campaign": "spring", "X-Customer-Id": "configured"},
                sip_headers={"X-Customer-Id": "42", "User-to-User": "00ff"})


def test_twilio_start_carries_the_headers_in_custom_parameters_below_configured_ones():
    profile = make_profile("twilio")
    start = json.loads(profile.encode(CallStarted(INFO))[1])
    parameters = start["start"]["customParameters"]
    assert parameters["User-to-User"] == "00ff" and parameters["campaign"] == "spring"
    assert parameters["X-Customer-Id"] == "configured"  # the operator's value wins


def test_raw_start_has_a_sip_headers_field():
    start = json.loads(make_profile("raw").encode(CallStarted(INFO))[0])
    assert start["call"]["sip_headers"] == {"X-Customer-Id": "42", "User-to-User": "00ff"}


def test_openai_realtime_is_told_the_headers_in_a_system_message():
    frames = [json.loads(f) for f in make_profile("openai-realtime").encode(CallStarted(INFO))]
    assert [f["type"] for f in frames] == ["session.update", "conversation.item.create"]
    text = frames[1]["item"]["content"][0]["text"]
    assert frames[1]["item"]["role"] == "system" and '"User-to-User":"00ff"' in text


def test_twilio_and_raw_hangup_and_transfer_carry_checked_headers():
    twilio = make_profile("twilio")
    assert twilio.decode_text(json.dumps({"event": "transfer", "transfer": {
        "target": "+14155550199", "headers": {"X-Intent": "billing"}}})) == [
        AgentTransfer("+14155550199", False, headers=(("X-Intent", "billing"),))]
    assert twilio.decode_text(json.dumps({"event": "hangup", "hangup": {
        "reason": "done", "headers": {"X-Outcome": "sale"}}})) == [
        AgentHangup("done", (("X-Outcome", "sale"),))]
    raw = make_profile("raw")
    assert raw.decode_text(json.dumps({"event": "hangup", "headers": {"X-A": "1"}})) == [
        AgentHangup("agent", (("X-A", "1"),))]
    with pytest.raises(ProfileError, match="headers"):
        raw.decode_text(json.dumps({"event": "transfer", "target": "+14155550199",
                                    "headers": {"Call-ID": "mine"}}))
    with pytest.raises(ProfileError, match="headers"):
        twilio.decode_text(json.dumps({"event": "hangup", "hangup": {
            "headers": {"X-A": "1\r\nVia: x"}}}))


@pytest.mark.parametrize("name", sorted(FORBIDDEN) + ["VIA", "call-ID", "X", "X-Ok", "Viaduct",
                                                      "Tos", "x-crlf\r\n", "a b", "é"])
def test_the_documents_pattern_says_what_check_name_does(name):
    try:
        check_name(name)
        taken = True
    except HeaderRefused:
        taken = False
    assert bool(re.fullmatch(NAME_PATTERN.removesuffix("$"), name)) == taken, name
