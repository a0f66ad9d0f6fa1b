"""An SRTP caller for the end-to-end tests: SIP over UDP from its own loopback address,
an SDES offer (RTP/SAVP, one a=crypto with a key of its own), and media through its own
libsrtp binding (pylibsrtp): what it sends is protected with its key, what it receives
is unprotected with the key the switch's answer gave. Independent of the switch's
code: the SIP is written here by hand and the SDP read with regular expressions."""

import base64
import os
import re
import socket
import struct
import threading
import time
import uuid

from pylibsrtp import Error, Policy, Session

from e2e_sip import SipMessage

PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AES_CM_128_HMAC_SHA1_32": (Policy.SRTP_PROFILE_AES128_CM_SHA1_32, 30),
    "AEAD_AES_128_GCM": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
}
_CRYPTO = re.compile(r"^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)", re.MULTILINE)
_M_LINE = re.compile(r"^m=audio (\d+) (\S+)", re.MULTILINE)
_C_LINE = re.compile(r"^c=IN IP4 (\S+)", re.MULTILINE)


def rtp(seq: int, ssrc: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF,
                       ssrc) + payload


class SrtpCaller:
    """One call from `ip` to `user`@the switch, offering SRTP with `suite`."""

    def __init__(self, ip: str, switch_port: int, suite: str = "AES_CM_128_HMAC_SHA1_80",
                 proto: str = "RTP/SAVP"):
        self.ip, self.switch = ip, ("127.0.0.1", switch_port)
        self.suite, self.proto = suite, proto
        self.key = os.urandom(PROFILES[suite][1])
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((ip, 0))
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind((ip, 0))
        self.media.settimeout(0.1)
        self.call_id = f"{uuid.uuid4().hex}@srtp-caller"
        self.tag = uuid.uuid4().hex[:10]
        self.received: list[bytes] = []  # unprotected RTP from the switch
        self.unprotect_failures = 0
        self.answer: SipMessage | None = None
        self.relay: tuple[str, int] | None = None
        self._rx = None
        self._running = False
        self._thread = None

    # -- SIP ----------------------------------------------------------------------
    def _send(self, text: str) -> None:
        self.sip.sendto(text.replace("\n", "\r\n").encode(), self.switch)

    def _receive(self, timeout: float) -> SipMessage | None:
        self.sip.settimeout(timeout)
        try:
            data, _ = self.sip.recvfrom(65535)
        except socket.timeout:
            return None
        return SipMessage("received", data.decode("utf-8", "replace"))

    def offer_sdp(self) -> str:
        port = self.media.getsockname()[1]
        key = base64.b64encode(self.key).decode()
        return (f"v=0\no=caller 1 1 IN IP4 {self.ip}\ns=-\nc=IN IP4 {self.ip}\nt=0 0\n"
                f"m=audio {port} {self.proto} 0\na=rtpmap:0 PCMU/8000\n"
                f"a=rtcp:{port}\n"
                f"a=crypto:7 {self.suite} inline:{key}\na=ptime:20\na=sendrecv\n")

    def _head(self, method: str, user: str, cseq: int, to_tag: str = "",
              target: str | None = None) -> str:
        sip_port = self.sip.getsockname()[1]
        to = f"<sip:{user}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
        return (f"{method} {target or f'sip:{user}@127.0.0.1'} SIP/2.0\n"
                f"Via: SIP/2.0/UDP {self.ip}:{sip_port};rport;branch=z9hG4bK{uuid.uuid4().hex}\n"
                f"Max-Forwards: 70\nFrom: <sip:+12125550123@{self.ip}>;tag={self.tag}\n"
                f"To: {to}\nCall-ID: {self.call_id}\nCSeq: {cseq} {method}\n"
                f"Contact: <sip:caller@{self.ip}:{sip_port}>\n")

    def invite(self, user: str, timeout: float = 10.0, answer_srtp: bool = True) -> SipMessage:
        """Send the INVITE; the final response (ACKed when 2xx; with `answer_srtp`
        its SDP must give SRTP keys, and media starts)."""
        body = self.offer_sdp().replace("\n", "\r\n")
        self._send(self._head("INVITE", user, 1) +
                   f"Content-Type: application/sdp\nContent-Length: {len(body)}\n\n"
                   + body.replace("\r\n", "\n"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._receive(deadline - time.monotonic())
            if message is None or not message.is_response or message.status < 200:
                continue
            self.answer = message
            self._to_tag = re.search(r";tag=([^;\s>]+)", message.header("To") or "")
            self._to_tag = self._to_tag.group(1) if self._to_tag else ""
            self._routes = list(reversed(message.headers("Record-Route")))
            contact = re.search(r"<([^>]+)>", message.header("Contact") or "")
            self._target = contact.group(1) if contact else None
            if message.status < 300:
                self._in_dialog("ACK", user, 1)
                if answer_srtp:
                    self._take_answer(message)
            else:
                self._ack_failure(user, message)
            return message
        raise AssertionError("no final response to the SRTP INVITE")

    def _in_dialog(self, method: str, user: str, cseq: int) -> None:
        routes = "".join(f"Route: {route}\n" for route in self._routes)
        self._send(self._head(method, user, cseq, self._to_tag, self._target) + routes
                   + "Content-Length: 0\n\n")

    def _ack_failure(self, user: str, response: SipMessage) -> None:
        via = response.header("Via")
        self._send(f"ACK sip:{user}@127.0.0.1 SIP/2.0\nVia: {via}\nMax-Forwards: 70\n"
                   f"From: {response.header('From')}\nTo: {response.header('To')}\n"
                   f"Call-ID: {self.call_id}\nCSeq: 1 ACK\nContent-Length: 0\n\n")

    def rekey(self, user: str, timeout: float = 5.0) -> SipMessage | None:
        """A re-INVITE (CSeq 2) offering a new key under the same tag and suite
        (RFC 4568 §7.1.4); what is sent from then on is protected with it. The final
        response (ACKed)."""
        self.key = os.urandom(len(self.key))
        body = self.offer_sdp()
        routes = "".join(f"Route: {route}\n" for route in self._routes)
        self._send(self._head("INVITE", user, 2, self._to_tag, self._target) + routes
                   + f"Content-Type: application/sdp\nContent-Length: "
                   f"{len(body.replace(chr(10), chr(13) + chr(10)))}\n\n" + body)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._receive(deadline - time.monotonic())
            if message is None or not message.is_response or message.status < 200 \
                    or "INVITE" not in (message.header("CSeq") or ""):
                continue
            self._in_dialog("ACK", user, 2)
            self._tx = Session(Policy(key=self.key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                      srtp_profile=PROFILES[self.suite][0]))
            return message
        return None

    def bye(self, user: str, timeout: float = 5.0, cseq: int = 2) -> SipMessage | None:
        self._in_dialog("BYE", user, cseq)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._receive(deadline - time.monotonic())
            if message is not None and message.is_response and "BYE" in \
                    (message.header("CSeq") or "") and message.status >= 200:
                return message
        return None

    def _take_answer(self, message: SipMessage) -> None:
        body = message.text.replace("\r\n", "\n").split("\n\n", 1)[1]
        port, proto = _M_LINE.search(body).groups()
        self.answer_proto = proto
        self.relay = (_C_LINE.search(body).group(1), int(port))
        self.answer_cryptos = _CRYPTO.findall(body)
        tag, suite, key = self.answer_cryptos[0]
        assert (int(tag), suite) == (7, self.suite), self.answer_cryptos
        self.relay_key = base64.b64decode(key)
        profile = PROFILES[suite][0]
        self._tx = Session(Policy(key=self.key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                  srtp_profile=profile))
        self._rx = Session(Policy(key=self.relay_key, ssrc_type=Policy.SSRC_ANY_INBOUND,
                                  srtp_profile=profile))
        self._running = True
        self._thread = threading.Thread(target=self._receive_media, daemon=True)
        self._thread.start()

    # -- media --------------------------------------------------------------------
    def _receive_media(self) -> None:
        while self._running:
            try:
                data, _ = self.media.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) >= 2 and 192 <= data[1] <= 223:
                continue  # SRTCP
            try:
                self.received.append(self._rx.unprotect(data))
            except Error:
                self.unprotect_failures += 1

    def play(self, frames: list[bytes], ssrc: int = 0x5A5A0001,
             first_seq: int = 1) -> list[bytes]:
        """Send `frames` as SRTP at 20 ms intervals, from sequence number `first_seq`;
        the plain RTP packets sent."""
        sent = []
        start = time.monotonic()
        for seq, frame in enumerate(frames):
            packet = rtp(seq + first_seq, ssrc, frame)
            sent.append(packet)
            self.media.sendto(self._tx.protect(packet), self.relay)
            delay = start + (seq + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return sent

    def payloads(self) -> list[bytes]:
        return [packet[12:] for packet in self.received]

    def close(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(2)
        self.media.close()
        self.sip.close()


class SrtpCallee:
    """A carrier's gateway at `ip`:`port` answering the switch's INVITEs: with its own
    SDES key under the offer's first AES_CM_128_HMAC_SHA1_80 line (`answer="srtp"`),
    with plain RTP (`"plain"`), or refusing with 503 (`"503"`). Once it answered it
    plays `frames` as SRTP and unprotects what the switch sends with the key of the
    switch's offer. SIP written by hand, SDP read with regular expressions."""

    def __init__(self, ip: str, port: int, frames: list[bytes], answer: str = "srtp"):
        self.ip, self.frames, self.mode = ip, frames, answer
        self.key = os.urandom(PROFILES["AES_CM_128_HMAC_SHA1_80"][1])
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((ip, port))
        self.sip.settimeout(0.1)
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind((ip, 0))
        self.media.settimeout(0.1)
        self.invites: list[SipMessage] = []
        self.received: list[bytes] = []  # unprotected RTP from the switch
        self.unprotect_failures = 0
        self.offer_proto = self.offer_key = None
        self._rx = self._tx = None
        self._running = True
        self._threads = [threading.Thread(target=self._serve_sip, daemon=True),
                         threading.Thread(target=self._receive_media, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _serve_sip(self) -> None:
        while self._running:
            try:
                data, source = self.sip.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            message = SipMessage("received", data.decode("utf-8", "replace"))
            if message.is_response or message.method == "ACK":
                continue
            if message.method == "INVITE":
                self._invite(message, source)
            else:
                self._respond(message, source, "200 OK")

    def _respond(self, request: SipMessage, source, status: str, body: str = "",
                 to_tag: str = "") -> None:
        head = [f"SIP/2.0 {status}"] + [f"Via: {v}" for v in request.headers("Via")]
        to = request.header("To") + (f";tag={to_tag}" if to_tag and "tag=" not in
                                     request.header("To") else "")
        head += [f"From: {request.header('From')}", f"To: {to}",
                 f"Call-ID: {request.header('Call-ID')}", f"CSeq: {request.header('CSeq')}",
                 f"Contact: <sip:callee@{self.ip}:{self.sip.getsockname()[1]}>"]
        if body:
            head.append("Content-Type: application/sdp")
        head.append(f"Content-Length: {len(body.encode())}")
        self.sip.sendto(("\r\n".join(head) + "\r\n\r\n" + body).encode(), source)

    def _invite(self, invite: SipMessage, source) -> None:
        if any(m.header("Call-ID") == invite.header("Call-ID") for m in self.invites):
            return  # a retransmission
        self.invites.append(invite)
        if self.mode == "503":
            self._respond(invite, source, "503 Service Unavailable")
            return
        offer = invite.text.replace("\r\n", "\n").split("\n\n", 1)[1]
        _, self.offer_proto = _M_LINE.search(offer).groups()
        relay = (_C_LINE.search(offer).group(1), int(_M_LINE.search(offer).group(1)))
        port = self.media.getsockname()[1]
        media = f"m=audio {port} RTP/AVP 0\r\n"
        if self.mode == "srtp":
            tag, suite, key = [c for c in _CRYPTO.findall(offer)
                               if c[1] == "AES_CM_128_HMAC_SHA1_80"][0]
            self.offer_key = base64.b64decode(key)
            media = (f"m=audio {port} {self.offer_proto} 0\r\n"
                     f"a=crypto:{tag} {suite} inline:{base64.b64encode(self.key).decode()}\r\n")
            profile = PROFILES[suite][0]
            self._tx = Session(Policy(key=self.key, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                      srtp_profile=profile))
            self._rx = Session(Policy(key=self.offer_key, ssrc_type=Policy.SSRC_ANY_INBOUND,
                                      srtp_profile=profile))
        body = (f"v=0\r\no=callee 1 1 IN IP4 {self.ip}\r\ns=-\r\nc=IN IP4 {self.ip}\r\n"
                f"t=0 0\r\n{media}a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n")
        self._respond(invite, source, "200 OK", body, to_tag=uuid.uuid4().hex[:8])
        threading.Thread(target=self._play, args=(relay,), daemon=True).start()

    def _play(self, relay) -> None:
        time.sleep(0.5)  # the switch takes the answer, the agent's audio starts
        start = time.monotonic()
        for seq, frame in enumerate(self.frames):
            if not self._running:
                return
            packet = rtp(seq + 1, 0x7E7E0001, frame)
            self.media.sendto(self._tx.protect(packet) if self._tx else packet, relay)
            delay = start + (seq + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _receive_media(self) -> None:
        while self._running:
            try:
                data, _ = self.media.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) >= 2 and 192 <= data[1] <= 223:
                continue  # (S)RTCP
            if self._rx is None:
                self.received.append(data)
                continue
            try:
                self.received.append(self._rx.unprotect(data))
            except Error:
                self.unprotect_failures += 1

    def payloads(self) -> list[bytes]:
        return [packet[12:] for packet in self.received]

    def close(self) -> None:
        self._running = False
        for thread in self._threads:
            thread.join(2)
        self.media.close()
        self.sip.close()
