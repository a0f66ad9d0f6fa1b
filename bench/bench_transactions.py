"""Throughput of the sans-IO transaction layer.

    python bench/bench_transactions.py [--count 100000]

1. Non-INVITE server transactions per second, whole life: receive the request, the
   TU answers 200 (make_response), send it, run the timers until Timer J ends it.
   Requests are parsed before the clock starts; the parse cost is shown apart.
2. The layer's own cost per message, each step timed alone over `count` messages.

Time is simulated (1,000 new transactions per simulated second), so Timer J keeps
about 32,000 transactions alive, as under real load; only the CPU time is measured.
"""

import argparse
import gc
import time

from softswitch.sip.message import make_response, parse_message
from softswitch.sip.transaction import TransactionLayer, new_branch

PEER = ("UDP", "192.0.2.10", 5060)
RATE = 1000.0  # new transactions per simulated second


def wire_request(method: str, branch: str, n: int) -> bytes:
    return (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: \"Alice\" <sip:alice@example.com>;tag=a{n}\r\n"
        "To: <sip:bob@example.com>\r\n"
        f"Call-ID: {n}@192.0.2.10\r\n"
        f"CSeq: 1 {method}\r\n"
        "Contact: <sip:alice@192.0.2.10:5060>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def parsed_requests(method: str, count: int):
    return [parse_message(wire_request(method, new_branch(), n)) for n in range(count)]


def parse_cost(batch: int = 1000, repeat: int = 5) -> float:
    """Seconds to parse one request, best of `repeat` batches (for comparison only)."""
    datagrams = [wire_request("OPTIONS", new_branch(), n) for n in range(batch)]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for data in datagrams:
            parse_message(data)
        best = min(best, (time.perf_counter() - started) / batch)
    return best


def timed(label: str, count: int, run) -> float:
    # Setup objects are frozen out of the cycle collector so a full collection of
    # them is not billed to whichever step it happens to land in.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    run()
    gc.unfreeze()
    per_op = (time.perf_counter() - started) / count
    print(f"  {label:<52} {per_op * 1e6:8.2f} us   {1 / per_op:>10,.0f} /s")
    return per_op


def bench_server_lifecycle(count: int) -> None:
    requests = parsed_requests("OPTIONS", count)
    layer = TransactionLayer()
    gc.collect()
    gc.freeze()  # the pre-parsed requests would not all be alive in a real switch
    started = time.perf_counter()
    peak = 0
    for n, request in enumerate(requests):
        now = n / RATE
        layer.handle_timer(now)
        key = layer.receive_request(request, PEER, now)[0].key
        layer.send_response(key, make_response(request, 200, to_tag="b"), now)
        if n % 1000 == 0:
            peak = max(peak, len(layer))
    while (deadline := layer.get_timer()) is not None:
        layer.handle_timer(deadline)
    elapsed = time.perf_counter() - started
    gc.unfreeze()
    assert len(layer) == 0
    print(f"non-INVITE server transactions, receive -> 200 -> Timer J ({count:,}):")
    print(f"  {count / elapsed:,.0f} transactions/s ({elapsed / count * 1e6:.1f} us each, "
          f"peak {peak:,} alive); parsing the request adds {parse_cost() * 1e6:.1f} us")


def bench_per_message(count: int) -> None:
    print(f"per message, layer only ({count:,} each):")
    requests = parsed_requests("OPTIONS", count)
    layer = TransactionLayer()
    keys = []
    timed("receive_request, new transaction (Via parse incl.)", count,
          lambda: keys.extend(layer.receive_request(r, PEER, 0.0)[0].key for r in requests))
    timed("receive_request, retransmission absorbed", count,
          lambda: [layer.receive_request(r, PEER, 0.1) for r in requests])
    responses = [make_response(r, 200, to_tag="b") for r in requests]
    timed("send_response, final (serialising incl.)", count,
          lambda: [layer.send_response(k, resp, 0.2) for k, resp in zip(keys, responses)])
    timed("receive_request, retransmission -> final re-sent", count,
          lambda: [layer.receive_request(r, PEER, 0.3) for r in requests])
    timed("get_timer + handle_timer, Timer J (termination)", count,
          lambda: [layer.handle_timer(layer.get_timer()) for _ in range(count)])
    assert len(layer) == 0

    invites = parsed_requests("INVITE", count)
    client = TransactionLayer()
    timed("send_request, INVITE client (serialising incl.)", count,
          lambda: [client.send_request(r, PEER, False, 0.0) for r in invites])
    ringing = [parse_message(bytes(make_response(r, 180, to_tag="b"))) for r in invites]
    timed("receive_response, 180 (Via parse incl.)", count,
          lambda: [client.receive_response(resp, 0.1) for resp in ringing])
    busy = [parse_message(bytes(make_response(r, 486, to_tag="b"))) for r in invites]
    timed("receive_response, 486 -> ACK built and sent", count,
          lambda: [client.receive_response(resp, 0.2) for resp in busy])
    timed("get_timer + handle_timer, Timer D (termination)", count,
          lambda: [client.handle_timer(client.get_timer()) for _ in range(count)])
    assert len(client) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    bench_server_lifecycle(args.count)
    bench_per_message(args.count)


if __name__ == "__main__":
    main()
