"""What the openai-realtime profile sends parses with the `openai` package's own
Realtime models (the test extra installs it): the session.update with a built-in
voice's name or a custom voice object, the audio appends, the truncate, the DTMF
item and the failed transfer's function output. Without the package this fails under
CI (env CI set) and is skipped loudly elsewhere."""

import json
import os

import pytest

from softswitch.agent.events import CallerAudio, CallerDtmf, CallInfo, CallStarted, TransferFailed
from softswitch.agent.profiles import make_agent_profile

try:
    from openai.types.realtime import (
        ConversationItemCreateEvent,
        ConversationItemTruncateEvent,
        InputAudioBufferAppendEvent,
        SessionUpdateEvent,
    )
    from openai.types.realtime.realtime_audio_config_output import VoiceID
except ImportError as exc:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI"):
        raise AssertionError(f"openai is required under CI: {exc}") from None
    pytest.skip(f"NOT RUN: openai missing ({exc}); pip install -e '.[test]'",
                allow_module_level=True)

INFO = CallInfo("CA1", "MZ1", "AC1", "+12125550123", "+14155550100")


def session_update(parameters: dict) -> tuple[SessionUpdateEvent, dict]:
    profile = make_agent_profile("openai-realtime", 8000, parameters)
    [frame] = profile.encode(CallStarted(INFO))
    sent = json.loads(frame)
    return SessionUpdateEvent.model_validate(sent, strict=True), sent


@pytest.mark.parametrize("voice, expected", [
    ("marin", "marin"), ({"id": "voice_1234"}, VoiceID(id="voice_1234"))])
def test_the_session_update_is_an_openai_session_update_event(voice, expected):
    event, sent = session_update({"instructions": "Be brief.", "voice": voice})
    session = event.session
    assert session.type == "realtime" and session.instructions == "Be brief."
    assert session.audio.output.voice == expected
    assert session.audio.input.format.type == session.audio.output.format.type == "audio/pcmu"
    assert session.audio.input.turn_detection.type == "server_vad"
    assert [tool.name for tool in session.tools] == ["end_call", "transfer_call"]
    # Nothing the model does not know: the parsed event gives back what was sent.
    assert event.model_dump(exclude_unset=True, mode="json") == sent


def test_without_a_voice_the_servers_default_applies():
    event, sent = session_update({})
    assert event.session.audio.output.voice is None
    assert "voice" not in sent["session"]["audio"]["output"]


def test_the_other_client_events_are_openai_events():
    profile = make_agent_profile("openai-realtime", 8000, {})
    profile.encode(CallStarted(INFO))
    [append] = profile.encode(CallerAudio(b"\xff" * 160, 20))
    InputAudioBufferAppendEvent.model_validate(json.loads(append), strict=True)
    [dtmf] = profile.encode(CallerDtmf("5"))
    assert ConversationItemCreateEvent.model_validate(json.loads(dtmf)).item.role == "user"
    profile.current_item = "item_1"
    [truncate] = profile.truncate(120)
    assert ConversationItemTruncateEvent.model_validate(
        json.loads(truncate), strict=True).audio_end_ms == 120
    profile.transfer_call_id = "call_1"
    output, create = profile.encode(TransferFailed("+14155550199", 486, "busy"))
    item = ConversationItemCreateEvent.model_validate(json.loads(output)).item
    assert (item.type, item.call_id) == ("function_call_output", "call_1")
    assert json.loads(create) == {"type": "response.create"}
