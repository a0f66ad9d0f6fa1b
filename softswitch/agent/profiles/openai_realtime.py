"""Straight to a Realtime-style API (OpenAI Realtime, GA event names; the beta names of
the audio delta are accepted too). G.711 u-law in and out for G.711 callers, so no
transcoding; a wideband caller (G.722, Opus: `wideband=True`) gets `audio/pcm` at the
24 kHz the API takes both ways instead, so its audio never passes through 8 kHz:

    -> session.update {session: {type: realtime, instructions?,
                                  audio: {input: {format: audio/pcmu,
                                                  turn_detection: server_vad},
                                          output: {format: audio/pcmu, voice?}},
                                  tools: [end_call, transfer_call]}}
    -> input_audio_buffer.append {audio: base64 u-law}
    <- response.output_audio.delta {item_id, delta: base64 u-law}   (played to the caller)
    <- input_audio_buffer.speech_started  -> clear playout, then
    -> conversation.item.truncate {item_id, content_index: 0, audio_end_ms: heard}
    <- response.function_call_arguments.done {name: end_call | transfer_call, call_id,
                                              arguments}  -> hangup / transfer
    (a warm transfer_call that fails: the model is given the tool call's result)
    -> conversation.item.create {item: {type: function_call_output, call_id,
                                        output: '{"transferred": false, "target": ...,
                                                  "sip_code": 486, "outcome": "busy"}'}}
    -> response.create   (a function call output does not start a response by itself)

transfer_call with "warm": true keeps the model on the call while the human's phone
rings; without it the model's session ends before the human is dialled (cold), so a
failure is never reported to it. A failure with no transfer_call to answer (the
transfer was asked some other way) is told as a system message instead.

The two tools are declared in the session.update itself. The model's calls of them
come back on the same socket and become a hangup or a transfer; only a failed warm
transfer_call gets a function_call_output (above), otherwise the session ends with
the call (the socket is closed).

`instructions` and `voice` (the call's custom parameters of those names, see
`make_agent_profile`) are put in the session only when given; the server's defaults
apply otherwise. A voice is a built-in voice's name ("marin") or a custom voice's
reference object ({"id": "voice_1234"}), as the Realtime API's session takes them.

The caller's DTMF is sent as a user text item ("DTMF 5") so the model can act on it.

Answering-machine detection of an outbound call (docs/amd.md) is told to the model as
a system message item (AMD_MESSAGES: a person, a machine, not sure); when a machine's
greeting is over (its beep, or its silence) a `response.create` follows, so the model
speaks its voicemail message now:

    -> conversation.item.create {item: {type: message, role: system, content: [
           {type: input_text, text: "Answering-machine detection: ..."}]}}
    -> response.create   (machine_end only)"""

import base64
import binascii
import json

from ..events import (
    MULAW_8K,
    AgentAudio,
    AgentHangup,
    AgentTransfer,
    AmdReported,
    AudioFormat,
    CallEnded,
    CallerAudio,
    CallerDtmf,
    CallStarted,
    ResponseStarted,
    SpeechStarted,
    TransferFailed,
    transfer_mode,
)
from ..sip_headers import agent_set_headers
from . import ProfileError, handoff_request

AUDIO_DELTA_EVENTS = ("response.output_audio.delta", "response.audio.delta")
TOOLS = [
    {"type": "function", "name": "end_call",
     "description": "Hang up the phone call when the conversation is over.",
     "parameters": {"type": "object", "properties": {
         "reason": {"type": "string"}}, "required": []}},
    {"type": "function", "name": "transfer_call",
     "description": "Transfer the caller to a human at the given phone number.",
     "parameters": {"type": "object", "properties": {
         "target": {"type": "string", "description": "E.164 number, e.g. +14155550100"},
         "warm": {"type": "boolean",
                  "description": "Stay on the call while the human's phone rings; if the "
                                 "transfer fails you are told and keep talking with the "
                                 "caller. Default false: you leave the call at once."},
         "mode": {"type": "string", "enum": ["bridge", "refer"],
                  "description": "refer: ask the caller's carrier to transfer the call "
                                 "(SIP REFER) instead of connecting it through here."}},
         "required": ["target"]}},
]
AMD_MESSAGES = {
    "human": "a person answered the call.",
    "machine": "an answering machine or voicemail answered; its greeting is playing. "
               "Do not speak until told that it is over.",
    "machine_end": "the voicemail greeting is over ({reason}): leave your message now.",
    "unknown": "it could not tell whether a person or a machine answered.",
}


PCM_24K = AudioFormat("pcm16", 24000)  # the Realtime API's audio/pcm rate


class OpenAIRealtimeProfile:
    audio_format = MULAW_8K

    def __init__(self, instructions: str = "", voice: str | dict | None = None,
                 wideband: bool = False, **_options):
        if wideband:
            self.audio_format = PCM_24K
        self._wire_format = ({"type": "audio/pcm", "rate": PCM_24K.sample_rate}
                             if wideband else {"type": "audio/pcmu"})
        self._instructions = instructions
        # A built-in voice's name, or a custom voice as {"id": "voice_..."}.
        self._voice = {"id": str(voice["id"])} if isinstance(voice, dict) else voice
        self.current_item: str | None = None  # the assistant audio item being played
        self.transfer_call_id: str | None = None  # the transfer_call awaiting its result

    def encode(self, event) -> list[str | bytes]:
        if isinstance(event, CallStarted):
            session = {
                "type": "realtime",
                "audio": {"input": {"format": dict(self._wire_format),
                                    "turn_detection": {"type": "server_vad"}},
                          "output": {"format": dict(self._wire_format)}},
                "tools": TOOLS,
            }
            if self._voice:
                session["audio"]["output"]["voice"] = self._voice
            if self._instructions:
                session["instructions"] = self._instructions
            frames = [_dump({"type": "session.update", "session": session})]
            if event.info.sip_headers:
                # The INVITE's headers the agent asked for, as the model reads them.
                frames.append(_dump({"type": "conversation.item.create", "item": {
                    "type": "message", "role": "system", "content": [{
                        "type": "input_text",
                        "text": "SIP headers of this call: "
                                + _dump(event.info.sip_headers)}]}}))
            info = event.info
            if info.handoff_from is not None:  # (docs/agents.md "Handoff")
                frames.append(_dump({"type": "conversation.item.create", "item": {
                    "type": "message", "role": "system", "content": [{
                        "type": "input_text",
                        "text": f"This call was handed over to you from the agent "
                                f"{info.handoff_from} ({info.handoff_reason}). "
                                f"The caller is still on the line."}]}}))
            return frames
        if isinstance(event, CallerAudio):
            return [_dump({"type": "input_audio_buffer.append",
                           "audio": base64.b64encode(event.audio).decode("ascii")})]
        if isinstance(event, CallerDtmf):
            return [_dump({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": f"DTMF {event.digit}"}]}})]
        if isinstance(event, TransferFailed):
            return self._transfer_failed(event)
        if isinstance(event, AmdReported):
            return self._amd(event)
        if isinstance(event, CallEnded):
            return []  # the socket closing is the end of the session
        return []

    def _transfer_failed(self, event: TransferFailed) -> list[str]:
        """The tool call's output (or a system message), then a response so that the
        model tells the caller now rather than after the caller's next words."""
        call_id, self.transfer_call_id = self.transfer_call_id, None
        if call_id is not None:
            result = {"transferred": False, "target": event.target, "sip_code": event.code,
                      "outcome": event.reason}
            item = {"type": "function_call_output", "call_id": call_id,
                    "output": _dump(result)}
        else:
            item = {"type": "message", "role": "system", "content": [{
                "type": "input_text",
                "text": f"The transfer to {event.target} failed: {event.reason} "
                        f"(SIP {event.code}). You are still talking with the caller."}]}
        return [_dump({"type": "conversation.item.create", "item": item}),
                _dump({"type": "response.create"})]

    def _amd(self, event: AmdReported) -> list[str]:
        text = AMD_MESSAGES.get(event.result, AMD_MESSAGES["unknown"]).format(
            reason=event.reason)
        item = {"type": "message", "role": "system", "content": [{
            "type": "input_text", "text": f"Answering-machine detection: {text}"}]}
        frames = [_dump({"type": "conversation.item.create", "item": item})]
        if event.result == "machine_end":
            frames.append(_dump({"type": "response.create"}))
        return frames

    def truncate(self, audio_end_ms: int) -> list[str]:
        """What to send after a barge-in: cut the item at what the caller heard."""
        if self.current_item is None:
            return []
        item, self.current_item = self.current_item, None
        return [_dump({"type": "conversation.item.truncate", "item_id": item,
                       "content_index": 0, "audio_end_ms": max(0, int(audio_end_ms))})]

    def decode_text(self, text: str) -> list:
        try:
            message = json.loads(text)
        except ValueError as exc:
            raise ProfileError(f"not JSON: {exc}") from None
        if not isinstance(message, dict):
            raise ProfileError("a message must be a JSON object")
        kind = message.get("type")
        if kind in AUDIO_DELTA_EVENTS:
            try:
                audio = base64.b64decode(message.get("delta", ""), validate=True)
            except (binascii.Error, TypeError):
                raise ProfileError("audio delta is not base64") from None
            item = message.get("item_id")
            events = []
            if item is not None and item != self.current_item:
                self.current_item = item
                events.append(ResponseStarted(item))
            if audio:
                events.append(AgentAudio(audio))
            return events
        if kind == "softswitch.handoff":  # the switch's own control message
            return [handoff_request(message.get("agent"), message.get("reason"))]
        if kind == "input_audio_buffer.speech_started":
            return [SpeechStarted(message.get("item_id"))]
        if kind == "response.function_call_arguments.done":
            return self._function_call(message)
        if kind == "error":
            raise ProfileError(f"agent error: {(message.get('error') or {}).get('message')}")
        return []

    def decode_binary(self, data: bytes) -> list:
        raise ProfileError("the realtime API sends no binary frames")

    def _function_call(self, message: dict) -> list:
        try:
            arguments = json.loads(message.get("arguments") or "{}")
        except ValueError:
            raise ProfileError("function call arguments are not JSON") from None
        if not isinstance(arguments, dict):
            raise ProfileError("function call arguments are not a JSON object")
        name = message.get("name")
        if name == "end_call":
            return [AgentHangup(str(arguments.get("reason", "agent")))]
        if name == "transfer_call" and arguments.get("target"):
            call_id = message.get("call_id")
            self.transfer_call_id = str(call_id) if call_id else None
            try:
                mode = transfer_mode(arguments)
            except ValueError as exc:
                raise ProfileError(str(exc)) from None
            return [AgentTransfer(str(arguments["target"]), arguments.get("warm") is True,
                                  mode, agent_set_headers(arguments.get("headers")))]
        return []


def _dump(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"))
