"""Each profile's handoff request (decoded to AgentHandoff) and its start message for
a call handed over (docs/agents.md "Handoff")."""

import json

import pytest

from softswitch.agent.events import AgentHandoff, CallInfo, CallStarted
from softswitch.agent.profiles import MAX_HANDOFF_TEXT, ProfileError, make_profile

INFO = CallInfo("c1", "MZ1", "AC1", "+12125550123", "+14155550100",
                handoff_from="front-desk", handoff_reason="billing question")


@pytest.mark.parametrize("profile, message", [
    ("raw", {"event": "handoff", "agent": "billing", "reason": "invoice"}),
    ("twilio", {"event": "handoff", "streamSid": "MZ1",
                "handoff": {"agent": "billing", "reason": "invoice"}}),
    ("openai-realtime", {"type": "softswitch.handoff", "agent": "billing",
                         "reason": "invoice"}),
])
def test_each_profile_decodes_its_handoff_message(profile, message):
    assert make_profile(profile).decode_text(json.dumps(message)) == [
        AgentHandoff("billing", "invoice")]


@pytest.mark.parametrize("message", [
    {"event": "handoff"}, {"event": "handoff", "agent": ""},
    {"event": "handoff", "agent": 7}, {"event": "handoff", "agent": "x" * 129},
])
def test_a_handoff_without_a_usable_agent_name_is_a_profile_error(message):
    with pytest.raises(ProfileError):
        make_profile("raw").decode_text(json.dumps(message))


def test_the_reason_is_cut_and_stripped_of_control_characters():
    [event] = make_profile("raw").decode_text(json.dumps(
        {"event": "handoff", "agent": "b", "reason": "a\r\nb" + "c" * 300}))
    assert event.reason == "ab" + "c" * (MAX_HANDOFF_TEXT - 4)
    [event] = make_profile("raw").decode_text('{"event": "handoff", "agent": "b"}')
    assert event.reason == "agent"


def test_a_twilio_handoff_must_be_an_object():
    with pytest.raises(ProfileError):
        make_profile("twilio").decode_text('{"event": "handoff", "handoff": "billing"}')


def test_the_start_messages_name_the_agent_handing_over():
    raw = json.loads(make_profile("raw").encode(CallStarted(INFO))[0])
    assert raw["call"]["handoff"] == {"from": "front-desk", "reason": "billing question"}
    start = json.loads(make_profile("twilio").encode(CallStarted(INFO))[1])
    parameters = start["start"]["customParameters"]
    assert (parameters["HandoffFrom"], parameters["HandoffReason"]) == (
        "front-desk", "billing question")
    update, note = map(json.loads, make_profile("openai-realtime").encode(CallStarted(INFO)))
    assert update["type"] == "session.update"
    assert note["item"]["role"] == "system"
    assert "front-desk (billing question)" in note["item"]["content"][0]["text"]


def test_a_call_not_handed_over_has_no_handoff_fields():
    plain = CallInfo("c1", "MZ1", "AC1", "+1", "+2")
    assert "handoff" not in json.loads(make_profile("raw").encode(CallStarted(plain))[0])["call"]
    assert len(make_profile("openai-realtime").encode(CallStarted(plain))) == 1
