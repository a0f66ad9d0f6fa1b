"""Fuzz target over the whole SIP side: endpoint, transactions, dispatcher, registrar
and proxy in memory (tests/support/hostile_switch.py), driven by atheris.

Each input is one datagram from an unknown UDP source, then the same bytes on a TCP
connection in two chunks (the stream framer), then (every other input) from the
carrier's gateway, whose calls the proxy routes without a challenge. The properties,
checked per input:

- nothing but a RemoteProtocolError (answered 400 and the like) reaches the message
  boundary: any other exception there is a bug and crashes the run with its traceback;
- every response goes to the source of the packet it answers;
- over UDP, what an unknown source gets back is at most AMPLIFICATION times what it
  sent;
- every few hundred inputs the clock passes every timer and no transaction, proxy
  call or dialog is left.

    python tests/fuzz/fuzz_sip_stack.py CORPUS_DIR [libFuzzer options, e.g.
        -max_total_time=60 -runs=100000]

tests/fuzz/test_fuzz_sip_stack.py runs it for a bounded time, seeded with the
torture corpus (tests/fixtures/torture).
"""

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))  # the repository: its softswitch package
sys.path.insert(0, str(HERE.parents[1] / "support"))

# Coverage feedback for every softswitch module the stack imports (services too).
with atheris.instrument_imports(include=["softswitch"]):
    from hostile_switch import CARRIER, hostile_switch
    from softswitch.sip.amplification import AMPLIFICATION
    from softswitch.sip.errors import RemoteProtocolError
    from softswitch.sip.framing import StreamFramer
    from softswitch.sip.message import parse_message
    from softswitch.sip.transport import Peer

UDP_SOURCE = Peer("udp", "192.0.2.66", 5060)
TCP_SOURCE = Peer("tcp", "192.0.2.67", 40000)
SWEEP_EVERY = 256
# The proxy's client transactions (Timer B/F) and then the server's (Timer H/J).
SWEEP_SECONDS = 200


class Stack:
    def __init__(self):
        self.switch = hostile_switch()
        self.inputs = 0
        self.failures: list[BaseException] = []
        # Call-ID -> the peers that sent a message with it: a response may go there
        self.senders: dict[bytes, set] = {}
        endpoint = self.switch.endpoint
        original = endpoint._failed

        def failed(source, exc, what):
            if not isinstance(exc, RemoteProtocolError):
                self.failures.append(exc)
            original(source, exc, what)

        endpoint._failed = failed

    def feed(self, data: bytes) -> None:
        switch = self.switch
        raw = switch.raw
        self._deliver(UDP_SOURCE, [data])
        udp_out = sum(len(d) for d, p in raw if p == UDP_SOURCE)
        if not data.startswith(b"SIP/") and udp_out > AMPLIFICATION * max(len(data), 1):
            raise AssertionError(f"{udp_out} bytes answered {len(data)}: {raw!r}")
        framer = StreamFramer()
        cut = data[0] % (len(data) + 1) if data else 0
        try:
            frames = framer.feed(data[:cut]) + framer.feed(data[cut:])
        except RemoteProtocolError:
            frames = []  # the TCP edge closes the connection
        self._deliver(TCP_SOURCE, frames)
        if len(data) % 2:
            self._deliver(CARRIER, [data])
        self.inputs += 1
        if self.inputs % SWEEP_EVERY == 0:
            self.sweep()

    def _deliver(self, source: Peer, frames: list[bytes]) -> None:
        raw = self.switch.raw
        raw.clear()
        for frame in frames:
            call_id = _call_id(frame, source.reliable)
            if call_id is not None:
                self.senders.setdefault(call_id, set()).add(source)
            self.switch.endpoint.message_received(frame, source)
        self._check(source)
        at_once = len(raw)
        self.switch.clock.advance(0.6)
        self._check(None, start=at_once)

    def _check(self, source: Peer | None, start: int = 0) -> None:
        """Every response sent goes to this input's sender (`source`, while it is
        handled) or to a peer that sent a message with its Call-ID (the final of an
        earlier call, a timer's answer)."""
        if self.failures:
            raise self.failures[0]
        for sent, peer in self.switch.raw[start:]:
            if not sent.startswith(b"SIP/2.0 ") or peer == source:
                continue
            if peer not in self.senders.get(_call_id(sent, False), ()):
                raise AssertionError(f"a response went to {peer}, which never sent its "
                                     f"Call-ID: {sent!r}")

    def sweep(self) -> None:
        self.switch.raw.clear()
        self.switch.clock.advance(SWEEP_SECONDS)
        self.switch.clock.advance(SWEEP_SECONDS)
        self._check(None)
        self.switch.raw.clear()
        self.senders.clear()
        left = len(self.switch.layer)
        if left:
            raise AssertionError(f"{left} transactions outlived their timers")
        calls = len(self.switch.proxy)
        if calls:
            raise AssertionError(f"{calls} proxy calls or dialogs outlived their timers")


def _call_id(data: bytes, stream: bool) -> str | None:
    """The Call-ID as the stack's parser reads it, if it can."""
    try:
        return parse_message(data, stream=stream, validate=False).headers.get("Call-ID")
    except RemoteProtocolError:
        return None


STACK = None


def test_one_input(data: bytes) -> None:
    global STACK
    if STACK is None:
        STACK = Stack()
    STACK.feed(data)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
