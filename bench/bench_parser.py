"""Parser throughput: parse_message + bytes() on a typical carrier INVITE and its 200 OK.

    python bench/bench_parser.py --seconds 3

Reports messages per second for each message in two modes: validate=True (what the
SIP edge does with every datagram) and validate=False (framing and header split only).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from softswitch.sip.message import parse_message  # noqa: E402

SDP_OFFER = (
    "v=0\r\n"
    "o=- 3958402017 3958402017 IN IP4 203.0.113.10\r\n"
    "s=-\r\n"
    "c=IN IP4 203.0.113.10\r\n"
    "t=0 0\r\n"
    "m=audio 18462 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)

SDP_ANSWER = (
    "v=0\r\n"
    "o=softswitch 1700000000 1700000001 IN IP4 198.51.100.20\r\n"
    "s=softswitch\r\n"
    "c=IN IP4 198.51.100.20\r\n"
    "t=0 0\r\n"
    "m=audio 30000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)


def _message(start: str, headers: list[str], body: str) -> bytes:
    lines = [start, *headers, f"Content-Length: {len(body)}", "", body]
    return "\r\n".join(lines).encode()


INVITE = _message(
    "INVITE sip:+14155550100@198.51.100.20:5060;user=phone SIP/2.0",
    [
        "Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK6f1c2a7d0e9b4c3a;rport",
        "Max-Forwards: 69",
        'From: "+12125550199" <sip:+12125550199@203.0.113.10;user=phone>;tag=as5f2c9e1d',
        "To: <sip:+14155550100@198.51.100.20;user=phone>",
        "Call-ID: 4c2f1e6a3b9d8c7e5f0a1b2c3d4e5f60@203.0.113.10",
        "CSeq: 102 INVITE",
        "Contact: <sip:+12125550199@203.0.113.10:5060;transport=udp>",
        "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE",
        "Supported: replaces, timer",
        "User-Agent: CarrierSBC 4.2",
        "Session-Expires: 1800",
        "Content-Type: application/sdp",
    ],
    SDP_OFFER,
)

OK_200 = _message(
    "SIP/2.0 200 OK",
    [
        "Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-sw-7a1e3c5b9d;rport=5060",
        "Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK6f1c2a7d0e9b4c3a;rport=5060;"
        "received=203.0.113.10",
        "Record-Route: <sip:198.51.100.20;lr;ftag=as5f2c9e1d>",
        'From: "+12125550199" <sip:+12125550199@203.0.113.10;user=phone>;tag=as5f2c9e1d',
        "To: <sip:+14155550100@198.51.100.20;user=phone>;tag=8d3e2f1a",
        "Call-ID: 4c2f1e6a3b9d8c7e5f0a1b2c3d4e5f60@203.0.113.10",
        "CSeq: 102 INVITE",
        "Contact: <sip:agent@198.51.100.20:5060;transport=udp>",
        "Supported: timer",
        "Session-Expires: 1800;refresher=uac",
        "Require: timer",
        "Content-Type: application/sdp",
    ],
    SDP_ANSWER,
)

MESSAGES = {"INVITE": INVITE, "200 OK": OK_200}


def run(data: bytes, validate: bool, seconds: float) -> float:
    # Sanity: the message parses and survives a round trip.
    bytes(parse_message(data, validate=validate))
    count = 0
    batch = 1000
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            bytes(parse_message(data, validate=validate))
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="time to spend on each measurement (default 2)")
    args = parser.parse_args()
    for name, data in MESSAGES.items():
        for validate in (True, False):
            rate = run(data, validate, args.seconds)
            print(f"{name:7} {len(data):4d} bytes  validate={str(validate):5}  "
                  f"{rate:10,.0f} msg/s")


if __name__ == "__main__":
    main()
