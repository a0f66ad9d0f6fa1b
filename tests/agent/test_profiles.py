"""The agent wire profiles, message by message, against their public specifications."""

import base64
import json

import pytest

from softswitch.agent.events import (
    AgentAudio, AgentClear, AgentDtmf, AgentHangup, AgentMark, AgentTransfer, CallEnded,
    CallerAudio, CallerDtmf, CallInfo, CallStarted, MarkPlayed, ResponseStarted, SpeechStarted,
    TransferFailed,
)
from softswitch.agent.profiles import ProfileError, make_agent_profile, make_profile

INFO = CallInfo("CA123", "MZ456", "AC789", "+12125550123", "+14155550100", did="+14155550100",
                custom_parameters={"tier": "gold"})


def sent(profile, event):
    return [json.loads(f) if isinstance(f, str) else f for f in profile.encode(event)]


class TestTwilio:
    def test_the_exact_sequence_of_a_call(self):
        p = make_profile("twilio")
        connected, start = sent(p, CallStarted(INFO))
        assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        assert start["event"] == "start" and start["sequenceNumber"] == "1"
        assert start["streamSid"] == "MZ456"
        body = start["start"]
        assert body["callSid"] == "CA123" and body["accountSid"] == "AC789"
        assert body["tracks"] == ["inbound"]
        assert body["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                       "channels": 1}
        assert body["customParameters"] == {"from": "+12125550123", "to": "+14155550100",
                                            "from_number": "+12125550123",
                                            "to_number": "+14155550100",
                                            "did": "+14155550100", "direction": "inbound",
                                            "tier": "gold"}
        [media] = sent(p, CallerAudio(b"\xff" * 160, 20))
        assert media["sequenceNumber"] == "2" and media["media"]["chunk"] == "1"
        assert media["media"]["timestamp"] == "20" and media["media"]["track"] == "inbound"
        assert base64.b64decode(media["media"]["payload"]) == b"\xff" * 160
        [dtmf] = sent(p, CallerDtmf("5"))
        assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"}
        [mark] = sent(p, MarkPlayed("greeting"))
        assert mark["mark"] == {"name": "greeting"} and mark["sequenceNumber"] == "4"
        [stop] = sent(p, CallEnded("caller-hangup"))
        assert stop["event"] == "stop" and stop["stop"]["callSid"] == "CA123"
        assert stop["sequenceNumber"] == "5"

    def test_messages_from_the_agent(self):
        p = make_profile("twilio")
        payload = base64.b64encode(b"\x01\x02").decode()
        assert p.decode_text(json.dumps({"event": "media", "streamSid": "MZ",
                                         "media": {"payload": payload}})) == [AgentAudio(b"\x01\x02")]
        assert p.decode_text('{"event":"mark","mark":{"name":"m1"}}') == [AgentMark("m1")]
        assert p.decode_text('{"event":"clear","streamSid":"MZ"}') == [AgentClear()]
        assert p.decode_text('{"event":"hangup"}') == [AgentHangup("agent")]
        assert p.decode_text('{"event":"transfer","transfer":{"target":"+14155550100","warm":true}}'
                             ) == [AgentTransfer("+14155550100", True)]
        assert p.decode_text('{"event":"dtmf","dtmf":{"digits":"12#"}}') == [AgentDtmf("12#")]
        assert p.decode_text('{"event":"somethingNew"}') == []

    @pytest.mark.parametrize("text", ["nope", "[]", '{"event":"media"}',
                                      '{"event":"media","media":{"payload":"***"}}',
                                      '{"event":"media","media":{"payload":"QUJ"}}',
                                      '{"event":"media","media":{"payload":"\u00e9QUJD"}}',
                                      '{"event":"media","media":{"payload":5}}',
                                      '{"event":"dtmf","dtmf":{"digits":"x"}}'])
    def test_malformed_frames_are_profile_errors(self, text):
        with pytest.raises(ProfileError):
            make_profile("twilio").decode_text(text)


class TestRaw:
    def test_start_then_binary_audio_both_ways(self):
        p = make_profile("raw", sample_rate=16000)
        [start] = sent(p, CallStarted(INFO))
        assert start["format"] == {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}
        assert start["call"]["from"] == "+12125550123"
        assert p.encode(CallerAudio(b"\x00\x01" * 320, 0)) == [b"\x00\x01" * 320]
        # Odd-length frames from the agent never split a sample.
        assert p.decode_binary(b"\x01\x02\x03") == [AgentAudio(b"\x01\x02")]
        assert p.decode_binary(b"\x04") == [AgentAudio(b"\x03\x04")]
        assert p.decode_text('{"event":"transfer","target":"user:alice"}') == [
            AgentTransfer("user:alice")]

    def test_sample_rate_is_checked(self):
        with pytest.raises(ValueError):
            make_profile("raw", sample_rate=44100)


class TestOpenAIRealtime:
    def test_session_uses_pcmu_both_ways_and_declares_the_call_tools(self):
        p = make_profile("openai-realtime", instructions="Be brief.")
        [update] = sent(p, CallStarted(INFO))
        session = update["session"]
        assert update["type"] == "session.update" and session["type"] == "realtime"
        assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        assert session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
        assert {t["name"] for t in session["tools"]} == {"end_call", "transfer_call"}
        [append] = sent(p, CallerAudio(b"\xff" * 160, 0))
        assert append["type"] == "input_audio_buffer.append"

    def test_instructions_and_voice_go_in_the_ga_session(self):
        p = make_profile("openai-realtime", instructions="Be brief.", voice="marin")
        [update] = sent(p, CallStarted(INFO))
        assert update["type"] == "session.update"
        tools = update["session"].pop("tools")
        assert update["session"] == {
            "type": "realtime", "instructions": "Be brief.",
            "audio": {"input": {"format": {"type": "audio/pcmu"},
                                "turn_detection": {"type": "server_vad"}},
                      "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}}}
        assert [(t["type"], t["name"]) for t in tools] == [("function", "end_call"),
                                                           ("function", "transfer_call")]

    def test_without_them_the_servers_defaults_apply(self):
        [update] = sent(make_profile("openai-realtime", instructions=""), CallStarted(INFO))
        assert "instructions" not in update["session"]
        assert "voice" not in update["session"]["audio"]["output"]

    def test_an_agents_profile_takes_them_from_the_custom_parameters(self):
        parameters = {"instructions": "Sell.", "voice": "cedar", "tier": "gold"}
        [update] = sent(make_agent_profile("openai-realtime", 8000, parameters),
                        CallStarted(INFO))
        assert update["session"]["instructions"] == "Sell."
        assert update["session"]["audio"]["output"]["voice"] == "cedar"
        # Other profiles pass custom parameters to the agent, not to themselves.
        twilio = make_agent_profile("twilio", 8000, parameters)
        assert sent(twilio, CallStarted(INFO))[1]["event"] == "start"
        assert make_agent_profile("raw", 24000, parameters).audio_format.sample_rate == 24000

    def test_audio_deltas_barge_in_and_truncate(self):
        p = make_profile("openai-realtime")
        delta = {"type": "response.output_audio.delta", "item_id": "item_1",
                 "delta": base64.b64encode(b"\x10" * 80).decode()}
        assert p.decode_text(json.dumps(delta)) == [ResponseStarted("item_1"),
                                                    AgentAudio(b"\x10" * 80)]
        assert p.decode_text(json.dumps(delta)) == [AgentAudio(b"\x10" * 80)]
        assert p.decode_text('{"type":"input_audio_buffer.speech_started","item_id":"u1"}') == [
            SpeechStarted("u1")]
        [truncate] = [json.loads(f) for f in p.truncate(1234)]
        assert truncate == {"type": "conversation.item.truncate", "item_id": "item_1",
                            "content_index": 0, "audio_end_ms": 1234}
        assert p.truncate(10) == []

    def test_tool_calls_hang_up_and_transfer(self):
        p = make_profile("openai-realtime")
        done = {"type": "response.function_call_arguments.done", "name": "transfer_call",
                "call_id": "c1", "arguments": json.dumps({"target": "+14155550100"})}
        assert p.decode_text(json.dumps(done)) == [AgentTransfer("+14155550100")]
        done.update(name="end_call", arguments="{}")
        assert p.decode_text(json.dumps(done)) == [AgentHangup("agent")]
        done.update(name="transfer_call", call_id="c2",
                    arguments=json.dumps({"target": "user:alice", "warm": True}))
        assert p.decode_text(json.dumps(done)) == [AgentTransfer("user:alice", True)]
        done.update(arguments='["not", "an", "object"]')
        with pytest.raises(ProfileError):
            p.decode_text(json.dumps(done))

    def test_the_transfer_tool_offers_a_warm_transfer(self):
        [update] = sent(make_profile("openai-realtime"), CallStarted(INFO))
        [tool] = [t for t in update["session"]["tools"] if t["name"] == "transfer_call"]
        assert tool["parameters"]["properties"]["warm"]["type"] == "boolean"
        assert tool["parameters"]["required"] == ["target"]

    def test_a_failed_transfer_is_the_tool_calls_output_then_a_response(self):
        p = make_profile("openai-realtime")
        sent(p, CallStarted(INFO))
        done = {"type": "response.function_call_arguments.done", "name": "transfer_call",
                "call_id": "call_8f2", "item_id": "item_7",
                "arguments": json.dumps({"target": "+14155550199", "warm": True})}
        assert p.decode_text(json.dumps(done)) == [AgentTransfer("+14155550199", True)]
        item_create, response_create = sent(p, TransferFailed("+14155550199", 486, "busy"))
        assert item_create == {"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": "call_8f2",
            "output": item_create["item"]["output"]}}
        # The output is a string (the API's rule), holding JSON the model can read.
        assert json.loads(item_create["item"]["output"]) == {
            "transferred": False, "target": "+14155550199", "sip_code": 486,
            "outcome": "busy"}
        assert response_create == {"type": "response.create"}

        # The tool call was answered: a later failure (a transfer asked some other
        # way) is told as a system message, never as a second output for call_8f2.
        item_create, response_create = sent(p, TransferFailed("trunk:humans", 408,
                                                              "no-answer"))
        item = item_create["item"]
        assert (item_create["type"], item["type"], item["role"]) == (
            "conversation.item.create", "message", "system")
        [content] = item["content"]
        assert content["type"] == "input_text"
        assert "trunk:humans" in content["text"] and "no-answer" in content["text"]
        assert "408" in content["text"]
        assert response_create == {"type": "response.create"}


def test_unknown_profile():
    with pytest.raises(ValueError):
        make_profile("sip-over-carrier-pigeon")


class TestVerstat:
    """STIR/SHAKEN of a call from a trunk in the start message (none: not verified)."""

    VERIFIED = CallInfo("CA1", "MZ1", "AC1", "+12125550123", "+14155550100",
                        verstat="TN-Validation-Failed", attestation="B")

    def test_twilio_custom_parameters_carry_verstat_and_attestation(self):
        _, start = sent(make_profile("twilio"), CallStarted(self.VERIFIED))
        parameters = start["start"]["customParameters"]
        assert (parameters["verstat"], parameters["attestation"]) == ("TN-Validation-Failed",
                                                                      "B")
        _, start = sent(make_profile("twilio"), CallStarted(INFO))
        assert "verstat" not in start["start"]["customParameters"]

    def test_raw_start_names_verstat_and_attestation(self):
        [start] = sent(make_profile("raw"), CallStarted(self.VERIFIED))
        assert (start["call"]["verstat"], start["call"]["attestation"]) == (
            "TN-Validation-Failed", "B")
        [start] = sent(make_profile("raw"), CallStarted(INFO))
        assert start["call"]["verstat"] is None and start["call"]["attestation"] is None


class TestTransferByRefer:
    """`mode` and `headers` of a transfer, spelt the same in every profile."""

    REFER = AgentTransfer("+14155550199", False, "refer", (("User-to-User", "42"),))

    def test_each_profile_reads_the_mode(self):
        fields = {"target": "+14155550199", "mode": "refer",
                  "headers": {"User-to-User": "42"}}
        twilio = make_profile("twilio")
        assert twilio.decode_text(json.dumps(
            {"event": "transfer", "streamSid": "MZ456", "transfer": fields})) == [self.REFER]
        raw = make_profile("raw")
        assert raw.decode_text(json.dumps({"event": "transfer", **fields})) == [self.REFER]
        realtime = make_profile("openai-realtime")
        done = {"type": "response.function_call_arguments.done", "name": "transfer_call",
                "call_id": "c1", "arguments": json.dumps(fields)}
        assert realtime.decode_text(json.dumps(done)) == [self.REFER]
        assert raw.decode_text('{"event": "transfer", "target": "+1415"}') == [
            AgentTransfer("+1415", False, "bridge", ())]

    @pytest.mark.parametrize("fields", [
        {"mode": "blind"},
        {"mode": "refer", "headers": ["User-to-User"]},
        {"mode": "refer", "headers": {"X-A": 1}},
        {"mode": "refer", "headers": {f"X-{n}": "v" for n in range(17)}},
    ])
    def test_bad_mode_or_headers_are_refused(self, fields):
        raw = make_profile("raw")
        with pytest.raises(ProfileError):
            raw.decode_text(json.dumps({"event": "transfer", "target": "+1415", **fields}))
