"""Slow and greedy clients against the running switch's doors, with real sockets.

    python bench/bench_door.py [--connections 500] [--message-timeout 20]
                               [--admin-connections 2000] [--upload-mb 500]

Starts `twistd -n softswitch` (the e2e harness's SwitchProcess: free loopback ports, a
fresh SQLite database) with the default limits but `[sip] tcp_message_timeout`, then:

1. SIP over TCP: opens --connections connections from 127.0.0.1, each trickling one
   byte of an OPTIONS every second (slowloris), and reports how many the switch
   accepted (at most `tcp_max_connections_per_address`), how many it closed at once,
   and how long the accepted ones lived (the message deadline).
2. Admin listener: opens --admin-connections connections sending a request head one
   header line a second; reports how many were refused at once (beyond
   `[admin] max_connections`) and when the rest were closed (`header_timeout`).
3. Admin upload: POSTs a --upload-mb body with a wrong token and reports the answer,
   how much of the body the switch took before answering, and the switch's RSS before
   and after (nothing is spooled: the body is never read).
"""

import argparse
import os
import selectors
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from e2e_switch import SwitchProcess  # noqa: E402

OPTIONS = (b"OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;"
           b"branch=z9hG4bK-slow\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n"
           b"Call-ID: slow\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def trickle(port: int, count: int, payload: bytes, seconds: float) -> dict:
    """Open `count` connections; send one byte per second on each; report how long
    each lived from its own connect (closed within 1 s counts as refused at once)."""
    selector = selectors.DefaultSelector()
    opened, refused, born = {}, 0, {}
    started = time.monotonic()
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(True)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            refused += 1
            sock.close()
            continue
        sock.setblocking(False)
        opened[sock] = 0
        born[sock] = time.monotonic()
        selector.register(sock, selectors.EVENT_READ)
    lifetimes = []
    closed_at_once = 0
    next_byte = time.monotonic()
    while opened and time.monotonic() - started < seconds:
        for key, _ in selector.select(timeout=0.1):
            sock = key.fileobj
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if data == b"":
                life = time.monotonic() - born[sock]
                if life > 1.0:
                    lifetimes.append(life)
                else:
                    closed_at_once += 1
                selector.unregister(sock)
                sock.close()
                del opened[sock]
        if time.monotonic() >= next_byte:
            next_byte += 1.0
            for sock, sent in list(opened.items()):
                if sent < len(payload):
                    try:
                        sock.send(payload[sent:sent + 1])
                        opened[sock] = sent + 1
                    except OSError:
                        pass
    still_open = len(opened)
    for sock in opened:
        sock.close()
    return {"refused_connect": refused, "closed_at_once": closed_at_once,
            "closed_later": len(lifetimes), "still_open": still_open,
            "max_lifetime": max(lifetimes, default=0.0),
            "min_lifetime": min(lifetimes, default=0.0)}


def upload(port: int, megabytes: int) -> tuple[bytes, int]:
    sock = socket.create_connection(("127.0.0.1", port))
    total = megabytes * 1_000_000
    sock.sendall(b"POST /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % total)
    chunk = b"x" * 65536
    sent = 0
    sock.settimeout(0.05)
    answer = b""
    try:
        while sent < total:
            try:
                sent += sock.send(chunk)
            except TimeoutError:
                pass
            except OSError:
                break
            try:
                answer += sock.recv(4096)
                if answer:
                    break
            except TimeoutError:
                pass
    finally:
        sock.settimeout(2)
        try:
            answer += sock.recv(4096)
        except OSError:
            pass
        sock.close()
    return answer.split(b"\r\n", 1)[0], sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--message-timeout", type=float, default=20.0)
    parser.add_argument("--admin-connections", type=int, default=2000)
    parser.add_argument("--upload-mb", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-door-") as workdir:
        switch = SwitchProcess(Path(workdir),
                               sip={"tcp_message_timeout": args.message_timeout})
        switch.start()
        try:
            before = rss_kib(switch.pid)
            sip = trickle(switch.sip_port, args.connections, OPTIONS,
                          args.message_timeout + 10)
            print(f"SIP TCP slowloris, {args.connections} connections from one address: "
                  f"{sip}")
            admin = trickle(switch.admin_port, args.admin_connections,
                            b"GET /v1/users HTTP/1.1\r\n" + b"X-Slow: 1\r\n" * 60, 30)
            print(f"admin trickling heads, {args.admin_connections} connections: {admin}")
            status, sent = upload(switch.admin_port, args.upload_mb)
            print(f"admin {args.upload_mb} MB upload with a wrong token: {status.decode()!r} "
                  f"after {sent / 1e6:.1f} MB sent")
            print(f"switch RSS {before} KiB before, {rss_kib(switch.pid)} KiB after; "
                  f"files in its work directory: {sorted(os.listdir(workdir))}")
        finally:
            switch.close()


if __name__ == "__main__":
    main()
