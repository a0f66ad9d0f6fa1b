"""The guard's cost per message, against the parser's.

    python bench/bench_guard.py [--count 200000]

`GuardPolicy.check` (services/guard.py, default settings) on a phone's REGISTER from
one of 10,000 addresses (LRU lookup, a token bucket, the User-Agent scan), on an INVITE
from a trunk gateway (budget not limited), and on a datagram from a banned address
(one dictionary lookup); then `parse_message` on the same REGISTER, which every
admitted message costs anyway. Microseconds per message, best of 5.
"""

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from softswitch.services.guard import GuardConfig, GuardPolicy  # noqa: E402
from softswitch.sip.message import parse_message  # noqa: E402

REGISTER = (
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\nTo: <sip:alice@example.com>\r\n"
    "From: <sip:alice@example.com>;tag=456248\r\nCall-ID: 843817637684230@998sdasdh09\r\n"
    "CSeq: 1826 REGISTER\r\nContact: <sip:alice@192.0.2.10:5060>;expires=3600\r\n"
    "User-Agent: Yealink SIP-T46S 66.86.0.15\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n").encode()
INVITE = REGISTER.replace(b"REGISTER", b"INVITE")


def best(statement, count: int) -> float:
    return min(timeit.repeat(statement, number=count, repeat=5)) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    args = parser.parse_args()
    n = args.count
    trunk = "198.51.100.1"
    guard = GuardPolicy(GuardConfig(register_rate=1e9, register_burst=10**9),
                        is_trunk=lambda host: host == trunk)
    phones = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(10_000)]
    guard.ban("203.0.113.7", 1e6, 0.0)
    state = {"i": 0}

    def phone():
        state["i"] += 1
        guard.check(REGISTER, phones[state["i"] % 10_000], 1.0)

    rows = [
        ("phone REGISTER, 10,000 sources", best(phone, n)),
        ("trunk INVITE", best(lambda: guard.check(INVITE, trunk, 1.0), n)),
        ("banned source", best(lambda: guard.check(REGISTER, "203.0.113.7", 1.0), n)),
        ("parse_message (for scale)", best(lambda: parse_message(REGISTER), n // 10)),
    ]
    for name, micros in rows:
        print(f"{name:<34} {micros:6.2f} µs")


if __name__ == "__main__":
    main()
