"""The built-in echo agent: a Twilio Media Streams WebSocket served by the switch
itself that plays the caller's audio back after a short delay, so a newcomer can call
the switch from any softphone and hear it work before writing an agent."""

import json

from twisted.logger import Logger
from twisted.web.websocket import WebSocketResource

log = Logger()
ECHO_DELAY = 0.5  # seconds: long enough to hear yourself as an echo


class EchoAgent:
    """One call (twisted.web.websocket's WebSocketProtocol)."""

    def __init__(self, clock, delay: float):
        self._clock = clock
        self._delay = delay
        self._transport = None
        self._stream_sid = None
        self._pending = []

    def negotiationStarted(self, transport) -> None:
        self._transport = transport

    def negotiationFinished(self) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            return
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "start":
            self._stream_sid = event.get("streamSid") or event.get("start", {}).get("streamSid")
            self._send({"event": "mark", "streamSid": self._stream_sid,
                        "mark": {"name": "echo-ready"}})
        elif kind == "media":
            payload = (event.get("media") or {}).get("payload")
            if payload:
                self._pending = [c for c in self._pending if c.active()]
                self._pending.append(self._clock.callLater(
                    self._delay, self._send,
                    {"event": "media", "streamSid": self._stream_sid,
                     "media": {"payload": payload}}))
        elif kind == "stop":
            self._transport.loseConnection()

    def bytesMessageReceived(self, data: bytes) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def connectionLost(self, reason) -> None:
        for call in self._pending:
            if call.active():
                call.cancel()
        self._pending = []

    def _send(self, message: dict) -> None:
        if self._transport is not None:
            self._transport.sendTextMessage(json.dumps(message, separators=(",", ":")))


class EchoAgentFactory:
    def __init__(self, clock, delay: float = ECHO_DELAY):
        self._clock = clock
        self._delay = delay

    def buildProtocol(self, request) -> EchoAgent:
        return EchoAgent(self._clock, self._delay)


def echo_agent_resource(clock, delay: float = ECHO_DELAY) -> WebSocketResource:
    return WebSocketResource(EchoAgentFactory(clock, delay))
