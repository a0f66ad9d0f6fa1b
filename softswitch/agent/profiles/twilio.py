"""Twilio Media Streams, bidirectional (what Pipecat's Twilio serializer, Vocode and
most agent frameworks accept).

To the agent: connected, start, media, dtmf, mark, stop — every message after
`connected` with a string `sequenceNumber` counting from 1. From the agent: media,
mark, clear; and two documented extensions Twilio itself does not have:

    {"event": "hangup", "streamSid": ..., "hangup": {"reason": "done",
                                                     "headers": {"X-Outcome": "sale"}}}
    {"event": "transfer", "streamSid": ..., "transfer": {"target": "+14155550100",
                                                         "warm": false,
                                                         "headers": {"X-Intent": "billing"}}}

(`headers`, optional: SIP headers for the BYE to the caller or the INVITE to the
human, checked by agent.sip_headers: at most 16, names tokens and not routing or
credential headers, values without CR/LF up to 512 characters; a message with a
refused header is refused. The INVITE's headers named in the agent's `sip_headers`
come in the start message's customParameters, by name. "mode": "refer" in
"transfer" asks for a SIP REFER to the caller's carrier, services.calls.refer.)
    {"event": "dtmf", "streamSid": ..., "dtmf": {"digits": "123"}}   (play to the caller)
    {"event": "recording", "streamSid": ..., "recording": {"action": "pause"}}
        (start, pause, resume or stop the call's recording: docs/recording.md)

Unknown events are ignored, as Twilio does.

One extension event goes to the agent: when a warm transfer it asked for fails
(busy, no answer, unreachable), the agent stays connected with the caller and gets

    {"event": "transfer-failed", "sequenceNumber": "7", "streamSid": ...,
     "transfer": {"target": "+14155550100", "code": 486, "reason": "busy"}}

(`reason` is "busy", "no-answer" or "failed"; `code` the SIP status). A cold transfer
stops the agent (`stop`) before dialling, so it is never told.

Answering-machine detection of an outbound call (docs/amd.md) is another extension,
in Twilio's AnsweredBy words:

    {"event": "amd", "sequenceNumber": "4", "streamSid": ...,
     "amd": {"answeredBy": "machine_end_beep", "result": "machine_end",
             "decisionMs": 7260, "reason": "beep"}}

and a call that waited for the result before starting the agent carries it in
`start.customParameters.AnsweredBy`, as a TwiML <Parameter> of Twilio's AnsweredBy would."""

import binascii
import json
from binascii import a2b_base64, b2a_base64

from ..events import (
    DTMF_DIGITS,
    RECORDING_ACTIONS,
    MULAW_8K,
    AgentAudio,
    AgentClear,
    AgentDtmf,
    AgentHangup,
    AgentMark,
    AgentRecording,
    AgentTransfer,
    AmdReported,
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


class TwilioProfile:
    audio_format = MULAW_8K

    def __init__(self, **_options):
        self.stream_sid = ""
        self._sid_json = '""'  # the stream id as a JSON string, for the media fast path
        self._info = None
        self._sequence = 0
        self._chunk = 0

    def _next(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def encode(self, event) -> list[str | bytes]:
        if type(event) is CallerAudio:  # the hot path, every 20 ms: no json.dumps
            self._sequence += 1
            self._chunk += 1
            payload = b2a_base64(event.audio, newline=False).decode("ascii")
            return [f'{{"event":"media","sequenceNumber":"{self._sequence}",'
                    f'"streamSid":{self._sid_json},"media":{{"track":"inbound",'
                    f'"chunk":"{self._chunk}","timestamp":"{int(event.timestamp_ms)}",'
                    f'"payload":"{payload}"}}}}']
        if isinstance(event, CallStarted):
            info = self._info = event.info
            self.stream_sid = info.stream_id
            self._sid_json = _dump(self.stream_sid)
            # from_number/to_number: where pipecat's runner looks for caller and callee.
            # The INVITE's headers the agent asked for (agent.sip_headers) by their
            # names; configured parameters win over what a caller sent.
            parameters = {**info.sip_headers,
                          "from": info.caller, "to": info.callee,
                          "from_number": info.caller, "to_number": info.callee,
                          "did": info.did or "", "direction": info.direction,
                          **_verification(info), **info.custom_parameters}
            if info.answered_by is not None:
                parameters["AnsweredBy"] = info.answered_by
            if info.handoff_from is not None:  # (docs/agents.md "Handoff")
                parameters["HandoffFrom"] = info.handoff_from
                parameters["HandoffReason"] = info.handoff_reason or ""
            connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
            start = {
                "event": "start", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
                "start": {
                    "accountSid": info.account, "streamSid": self.stream_sid,
                    "callSid": info.call_id, "tracks": ["inbound"],
                    "customParameters": parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                    "channels": 1},
                },
            }
            return [_dump(connected), _dump(start)]
        if isinstance(event, CallerDtmf):
            return [_dump({"event": "dtmf", "sequenceNumber": self._next(),
                           "streamSid": self.stream_sid,
                           "dtmf": {"track": "inbound_track", "digit": event.digit}})]
        if isinstance(event, MarkPlayed):
            return [_dump({"event": "mark", "sequenceNumber": self._next(),
                           "streamSid": self.stream_sid, "mark": {"name": event.name}})]
        if isinstance(event, (CallerHeld, CallerResumed)):
            name = "hold" if isinstance(event, CallerHeld) else "resume"
            return [_dump({"event": name, "sequenceNumber": self._next(),
                           "streamSid": self.stream_sid})]
        if isinstance(event, TransferFailed):
            return [_dump({"event": "transfer-failed", "sequenceNumber": self._next(),
                           "streamSid": self.stream_sid,
                           "transfer": {"target": event.target, "code": event.code,
                                        "reason": event.reason}})]
        if isinstance(event, AmdReported):
            return [_dump({"event": "amd", "sequenceNumber": self._next(),
                           "streamSid": self.stream_sid,
                           "amd": {"answeredBy": event.answered_by, "result": event.result,
                                   "decisionMs": event.at_ms, "reason": event.reason}})]
        if isinstance(event, CallEnded):
            info = self._info
            return [_dump({"event": "stop", "sequenceNumber": self._next(),
                           "streamSid": self.stream_sid,
                           "stop": {"accountSid": info.account if info else "",
                                    "callSid": info.call_id if info else "",
                                    "reason": event.reason}})]
        return []

    def decode_text(self, text: str) -> list:
        try:
            message = json.loads(text)
        except ValueError as exc:
            raise ProfileError(f"not JSON: {exc}") from None
        if not isinstance(message, dict):
            raise ProfileError("a message must be a JSON object")
        kind = message.get("event")
        if kind == "media":
            payload = _field(message, "media", "payload")
            try:
                # (base64.b64decode(payload, validate=True) without its wrapper)
                audio = a2b_base64(payload, strict_mode=True)
            except (binascii.Error, TypeError, ValueError):
                raise ProfileError("media.payload is not base64") from None
            return [AgentAudio(audio)] if audio else []
        if kind == "mark":
            return [AgentMark(str(_field(message, "mark", "name")))]
        if kind == "clear":
            return [AgentClear()]
        if kind == "hangup":
            hangup = message.get("hangup") or {}
            if not isinstance(hangup, dict):
                raise ProfileError("hangup must be an object")
            return [AgentHangup(str(hangup.get("reason", "agent")),
                                agent_set_headers(hangup.get("headers")))]
        if kind == "transfer":
            target = _field(message, "transfer", "target")
            transfer = message["transfer"]
            try:
                mode = transfer_mode(transfer)
            except ValueError as exc:
                raise ProfileError(str(exc)) from None
            return [AgentTransfer(str(target), bool(transfer.get("warm", False)), mode,
                                  agent_set_headers(transfer.get("headers")))]
        if kind == "recording":
            return [_recording(_field(message, "recording", "action"))]
        if kind == "handoff":  # an extension, like transfer
            handoff = message.get("handoff")
            if not isinstance(handoff, dict):
                raise ProfileError("handoff must be an object")
            return [handoff_request(handoff.get("agent"), handoff.get("reason"))]
        if kind == "dtmf":
            digits = str(_field(message, "dtmf", "digits"))
            if not digits or not set(digits) <= DTMF_DIGITS:
                raise ProfileError("dtmf.digits must be made of 0-9, *, #, A-D")
            return [AgentDtmf(digits)]
        return []

    def decode_binary(self, data: bytes) -> list:
        raise ProfileError("the twilio profile sends no binary frames")


def _recording(action) -> AgentRecording:
    if action not in RECORDING_ACTIONS:
        raise ProfileError("recording.action must be one of " + ", ".join(RECORDING_ACTIONS))
    return AgentRecording(action)


def _field(message: dict, section: str, name: str):
    inner = message.get(section)
    if not isinstance(inner, dict) or name not in inner:
        raise ProfileError(f"{message.get('event')} message without {section}.{name}")
    return inner[name]


def _dump(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"))


def _verification(info) -> dict:
    """STIR/SHAKEN of a call from a trunk, as the string parameters Twilio sends."""
    if info.verstat is None:
        return {}
    return {"verstat": info.verstat, "attestation": info.attestation or ""}
