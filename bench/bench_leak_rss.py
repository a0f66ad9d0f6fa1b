"""RSS of the switch under issue 12's leak packets over real UDP.

    python bench/bench_leak_rss.py [--packets 100000] [--rate 3000] [--rounds 2]

Starts `twistd -n softswitch` (the end-to-end harness's SwitchProcess, SQLite in a
temporary directory) and sends it, from one loopback socket, --packets OPTIONS each
carrying one of the report's faults in turn (`Require: ,`, `Proxy-Require: foo,,bar`,
an unterminated quote in a list header, a client-written IPv6 `received=`, an empty
first Via line), each with its own branch, at about --rate packets/s. Before the fix
each left a server transaction forever (2 x 60,000 of them: 111 MB -> 652 MB).

It prints the switch's RSS (VmRSS from /proc) before, at the end of each round's flood
and after Timer J (32 s) has let every transaction go, with the answers counted, the
`softswitch_sip_transactions_active` gauge at each point and the lines the switch
logged (a traceback per packet before). While a flood runs, the transactions waiting
out Timer J (rate x 32 s of them) hold memory; the interpreter keeps what it freed for
the next round, so a second round that ends where the first did shows nothing leaks.
"""

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from e2e_switch import SwitchProcess  # noqa: E402

FAULTS = ("Require: ,\r\n", "Proxy-Require: foo,,bar\r\n", 'Require: foo, "bar\r\n',
          "received", "empty-via")


def packet(n: int, port: int) -> bytes:
    fault = FAULTS[n % len(FAULTS)]
    via = f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKrss{n}"
    extra = fault if fault.endswith("\r\n") else ""
    if fault == "received":
        via += ";received=2001:db8::1"
    data = (f"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            f"To: <sip:127.0.0.1>\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\n"
            f"Call-ID: rss{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n{extra}"
            f"Content-Length: 0\r\n\r\n").encode()
    if fault == "empty-via":
        data = data.replace(b"Via: ", b"Via:\r\nVia: ", 1)
    return data


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def drain(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recv(65535)
            count += 1
        except BlockingIOError:
            return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        switch = SwitchProcess(Path(work))
        switch.start()
        try:
            pid = switch.process.pid
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            port = sock.getsockname()[1]
            target = ("127.0.0.1", switch.sip_port)
            time.sleep(1.0)
            before = rss_mb(pid)
            print(f"before:         RSS {before:7.1f} MB, transactions "
                  f"{switch.metric('softswitch_sip_transactions_active'):.0f}")
            answers = 0
            for round_ in range(1, args.rounds + 1):
                answers = 0
                started = time.monotonic()
                for n in range(args.packets):
                    sock.sendto(packet(round_ * args.packets + n, port), target)
                    if n % 100 == 99:
                        answers += drain(sock)
                        ahead = (n + 1) / args.rate - (time.monotonic() - started)
                        if ahead > 0:
                            time.sleep(ahead)
                elapsed = time.monotonic() - started
                time.sleep(1.0)
                answers += drain(sock)
                flood = rss_mb(pid)
                print(f"round {round_} flood:  RSS {flood:7.1f} MB, transactions "
                      f"{switch.metric('softswitch_sip_transactions_active'):.0f} "
                      f"({args.packets} packets in {elapsed:.1f} s, {answers} answers)")
                time.sleep(34.0)  # Timer J
                answers += drain(sock)
                after = rss_mb(pid)
                print(f"round {round_} +33 s:  RSS {after:7.1f} MB, transactions "
                      f"{switch.metric('softswitch_sip_transactions_active'):.0f} "
                      f"({answers} answers in all)")
            lines = switch.output(tail=100000).count("\n")
            tracebacks = switch.output(tail=100000).count("Traceback")
            print(f"switch log: {lines} lines, {tracebacks} tracebacks")
        finally:
            switch.close()


if __name__ == "__main__":
    main()
