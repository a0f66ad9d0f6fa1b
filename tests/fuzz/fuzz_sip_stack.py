"""Fuzz target over the whole SIP side: endpoint, transactions, dispatcher, registrar
and proxy in memory (tests/support/hostile_switch.py), driven by atheris.

Each input is one datagram from an unknown UDP source, then the same bytes on a TCP
connection in two chunks (the stream framer). The properties, checked per input:

- nothing but a RemoteProtocolError (answered 400 and the like) reaches the message
  boundary: any other exception there is a bug and crashes the run with its traceback;
- every response goes to the source of the packet it answers;
- over UDP, what the source gets back is at most AMPLIFICATION times what it sent;
- every few hundred inputs the clock passes every timer and no transaction is left.

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

with atheris.instrument_imports(include=["softswitch"]):
    from softswitch.sip.amplification import AMPLIFICATION
    from softswitch.sip.errors import RemoteProtocolError
    from softswitch.sip.framing import StreamFramer
    from softswitch.sip.transport import Peer

from hostile_switch import hostile_switch  # noqa: E402

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
        raw.clear()
        switch.endpoint.message_received(data, UDP_SOURCE)
        switch.clock.advance(0.6)
        self._check(data, UDP_SOURCE)
        udp_out = sum(len(d) for d, p in raw if p == UDP_SOURCE)
        if not data.startswith(b"SIP/") and udp_out > AMPLIFICATION * max(len(data), 1):
            raise AssertionError(f"{udp_out} bytes answered {len(data)}: {raw!r}")
        raw.clear()
        framer = StreamFramer()
        cut = data[0] % (len(data) + 1) if data else 0
        try:
            messages = framer.feed(data[:cut]) + framer.feed(data[cut:])
        except RemoteProtocolError:
            messages = []  # the TCP edge closes the connection
        for message in messages:
            switch.endpoint.message_received(message, TCP_SOURCE)
        switch.clock.advance(0.6)
        self._check(data, TCP_SOURCE)
        self.inputs += 1
        if self.inputs % SWEEP_EVERY == 0:
            self.sweep()

    def _check(self, data: bytes, source: Peer) -> None:
        if self.failures:
            raise self.failures[0]
        if not data.startswith(b"SIP/"):
            for sent, peer in self.switch.raw:
                if sent.startswith(b"SIP/2.0 ") and peer != source:
                    raise AssertionError(f"a response to {source} went to {peer}: {sent!r}")

    def sweep(self) -> None:
        self.switch.clock.advance(SWEEP_SECONDS)
        self.switch.clock.advance(SWEEP_SECONDS)
        left = len(self.switch.layer)
        if left:
            raise AssertionError(f"{left} transactions outlived their timers")


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
