"""The raw profile: binary frames of 16-bit little-endian PCM at 8, 16 or 24 kHz both
ways, and JSON text frames for metadata and control.

To the agent:   {"event": "start", "call": {...}, "format": {"encoding": "pcm_s16le",
                 "sample_rate": 16000, "channels": 1}}, then binary audio; `call`
                 has call_id, stream_id, from, to, did, direction,
                 custom_parameters and sip_headers (the INVITE's headers named in
                 the agent's `sip_headers`, {"X-Customer": "42"});
                {"event": "dtmf", "digit": "5"}, {"event": "mark", "name": "m1"},
                {"event": "stop", "reason": "caller-hangup"},
                {"event": "transfer-failed", "target": "+14155550100", "code": 486,
                 "reason": "busy"} (a warm transfer did not go through; the agent
                 stays on);
                {"event": "amd", "result": "machine", "answered_by": "machine_start",
                 "at_ms": 2980, "reason": "long-greeting"} (answering-machine detection
                 of an outbound call, docs/amd.md; the start's "call" then has
                 "answered_by" when the call waited for it).
From the agent: binary audio; {"event": "mark", "name": ...}, {"event": "clear"},
                {"event": "dtmf", "digits": "12#"}, {"event": "hangup", "reason": ...},
                {"event": "transfer", "target": "+14155550100", "warm": false}
                (optional "mode": "refer": by SIP REFER);
                hangup and transfer may carry "headers": {"X-Outcome": "sale"} for
                the BYE or the human's INVITE (checked by agent.sip_headers);
                {"event": "recording", "action": "pause"} (start, pause, resume or stop
                the call's recording: docs/recording.md)."""

import json

from ..events import (
    DTMF_DIGITS,
    RECORDING_ACTIONS,
    AgentAudio,
    AgentClear,
    AgentDtmf,
    AgentHangup,
    AgentMark,
    AgentRecording,
    AgentTransfer,
    AmdReported,
    AudioFormat,
    CallEnded,
    CallerAudio,
    CallerDtmf,
    CallerHeld,
    CallerResumed,
    CallStarted,
    MarkPlayed,
    TransferFailed,
    transfer_mode,
)
from ..sip_headers import agent_set_headers
from . import ProfileError, handoff_request

SAMPLE_RATES = (8000, 16000, 24000)


class RawProfile:
    def __init__(self, sample_rate: int = 16000, **_options):
        if sample_rate not in SAMPLE_RATES:
            raise ValueError(f"raw profile sample rate must be one of {SAMPLE_RATES}")
        self.audio_format = AudioFormat("pcm16", sample_rate)
        self._odd_byte = b""

    def encode(self, event) -> list[str | bytes]:
        if isinstance(event, CallStarted):
            info = event.info
            return [_dump({
                "event": "start",
                "call": {"call_id": info.call_id, "stream_id": info.stream_id,
                         "from": info.caller, "to": info.callee, "did": info.did,
                         "direction": info.direction, "verstat": info.verstat,
                         "attestation": info.attestation,
                         "custom_parameters": info.custom_parameters,
                         "sip_headers": info.sip_headers,
                         **({"answered_by": info.answered_by}
                            if info.answered_by is not None else {}),
                         **({"handoff": {"from": info.handoff_from,
                                         "reason": info.handoff_reason}}
                            if info.handoff_from is not None else {})},
                "format": {"encoding": "pcm_s16le", "sample_rate": self.audio_format.sample_rate,
                           "channels": 1},
            })]
        if isinstance(event, CallerAudio):
            return [event.audio]
        if isinstance(event, CallerDtmf):
            return [_dump({"event": "dtmf", "digit": event.digit})]
        if isinstance(event, MarkPlayed):
            return [_dump({"event": "mark", "name": event.name})]
        if isinstance(event, CallEnded):
            return [_dump({"event": "stop", "reason": event.reason})]
        if isinstance(event, CallerHeld):
            return [_dump({"event": "hold"})]
        if isinstance(event, CallerResumed):
            return [_dump({"event": "resume"})]
        if isinstance(event, TransferFailed):
            return [_dump({"event": "transfer-failed", "target": event.target,
                           "code": event.code, "reason": event.reason})]
        if isinstance(event, AmdReported):
            return [_dump({"event": "amd", "result": event.result,
                           "answered_by": event.answered_by, "at_ms": event.at_ms,
                           "reason": event.reason})]
        return []

    def decode_binary(self, data: bytes) -> list:
        # Keep samples whole even when the agent splits a frame mid-sample.
        data = self._odd_byte + data
        whole = len(data) - len(data) % 2
        self._odd_byte = data[whole:]
        return [AgentAudio(data[:whole])] if whole else []

    def decode_text(self, text: str) -> list:
        try:
            message = json.loads(text)
        except ValueError as exc:
            raise ProfileError(f"not JSON: {exc}") from None
        if not isinstance(message, dict):
            raise ProfileError("a message must be a JSON object")
        kind = message.get("event")
        if kind == "mark":
            if "name" not in message:
                raise ProfileError("mark without name")
            return [AgentMark(str(message["name"]))]
        if kind == "clear":
            return [AgentClear()]
        if kind == "dtmf":
            digits = str(message.get("digits", ""))
            if not digits or not set(digits) <= DTMF_DIGITS:
                raise ProfileError("dtmf digits must be made of 0-9, *, #, A-D")
            return [AgentDtmf(digits)]
        if kind == "hangup":
            return [AgentHangup(str(message.get("reason", "agent")),
                                agent_set_headers(message.get("headers")))]
        if kind == "recording":
            action = message.get("action")
            if action not in RECORDING_ACTIONS:
                raise ProfileError("recording action must be one of "
                                   + ", ".join(RECORDING_ACTIONS))
            return [AgentRecording(action)]
        if kind == "transfer":
            if not message.get("target"):
                raise ProfileError("transfer without target")
            try:
                mode = transfer_mode(message)
            except ValueError as exc:
                raise ProfileError(str(exc)) from None
            return [AgentTransfer(str(message["target"]), bool(message.get("warm", False)),
                                  mode, agent_set_headers(message.get("headers")))]
        if kind == "handoff":
            return [handoff_request(message.get("agent"), message.get("reason"))]
        return []


def _dump(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"))
