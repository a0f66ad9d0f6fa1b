"""Helpers for the end-to-end tests of calls the switch places itself — the human of a
transfer, the far end of an outbound AI call — and of the admin API that asks for them.

- `MediaCallee`: a SIPp UAS (media_uas_answer*.xml) that rings, answers, plays a pcap
  of known audio and catches the switch's RTP in a MediaSink on the port its SDP names
  (the same trick as agents_support.caller_media, on the callee's side).
- `timed_messages`: SIPp's message log with the wall-clock time of each message (SIPp
  writes it on the separator line), to measure when INVITEs arrived.
- `AdminApi`: the switch's REST API over HTTP with a bearer token made in its database.
- `wall`: a time.monotonic() reading (the agent server's) as wall-clock time (SIPp's).
"""

import json
import re
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from agents_support import caller_media, write_audio_pcap
from calls_support import SippAgent, sdp_media
from e2e_sip import SipMessage
from e2e_sipp import SippResult
from softswitch.store import tokens
from softswitch.store.database import Database

_STAMPED = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n"
                      r"(UDP|TCP) message (sent|received)[^\n]*\n", re.MULTILINE)
_MONOTONIC_TO_WALL = time.time() - time.monotonic()


def wall(monotonic: float) -> float:
    return monotonic + _MONOTONIC_TO_WALL


def timed_messages(result: SippResult) -> list[tuple[float, SipMessage]]:
    """(epoch seconds, message) for every message SIPp logged, in order."""
    text = result.message_log
    stamps = list(_STAMPED.finditer(text))
    out = []
    for i, match in enumerate(stamps):
        end = stamps[i + 1].start() if i + 1 < len(stamps) else len(text)
        at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        out.append((at, SipMessage(match.group(3).lower(),
                                   text[match.end():end].strip("\n").lstrip("\n"))))
    return out


def when(result: SippResult, predicate) -> float:
    """The time of the first logged message for which predicate(message) holds."""
    for at, message in timed_messages(result):
        if predicate(message):
            return at
    raise AssertionError(f"no such message\n{result.describe()}")


def sdp_body(message: SipMessage) -> str:
    return message.text.replace("\r\n", "\n").split("\n\n", 1)[1]


class MediaCallee:
    """A SIPp callee on ip:port that plays `frames` once answered. `ring_ms` between
    its 180 and its 200; with `talk_ms` it hangs up that long after the ACK
    (media_uas_answer_bye.xml), else it waits for the BYE. The switch's RTP to it is
    kept in `sink` (closed by finish/stop)."""

    def __init__(self, workdir: Path, *, ip: str, port: int, frames: list[bytes],
                 ring_ms: int = 100, talk_ms: int | None = None, user: str = "human",
                 scenario: str | None = None, timeout: float = 15.0):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        write_audio_pcap(workdir / "callee.pcap", frames, ssrc=0xCA11EE01)
        self.media_port, self.sink = caller_media(ip)
        keys = {"user": user}
        if scenario is None:
            scenario = "media_uas_answer.xml" if talk_ms is None else "media_uas_answer_bye.xml"
        if talk_ms is not None:
            keys["talk_ms"] = talk_ms
        try:
            self.agent = SippAgent(scenario, workdir, ip=ip, port=port, keys=keys,
                                   timeout=timeout,
                                   extra=("-d", ring_ms, "-mi", ip, "-mp", self.media_port))
            self.agent.wait_ready()
        except BaseException:
            self.sink.close()
            raise

    def finish(self) -> SippResult:
        try:
            return self.agent.finish()
        finally:
            time.sleep(0.05)  # the last packets in flight
            self.sink.close()

    def stop(self) -> None:
        self.agent.stop()
        self.sink.close()


def invite_of(result: SippResult) -> SipMessage:
    """The first INVITE a callee received."""
    invites = [m for m in result.received() if not m.is_response and m.method == "INVITE"]
    assert invites, f"no INVITE reached the callee\n{result.describe()}"
    return invites[0]


def offer_address(result: SippResult) -> tuple[str, int]:
    """Where the INVITE's SDP offer says the switch's media is."""
    return sdp_media(invite_of(result))


# -- the admin API ---------------------------------------------------------------------------
def create_api_token(db_url: str, name: str = "e2e") -> str:
    """A bearer token made in the switch's database (the store's own function)."""
    database = Database(db_url, reactor=None)
    try:
        token, _ = database.run_sync(tokens.create_token, name)
    finally:
        database.engine.dispose()
    return token


class ApiReply:
    def __init__(self, status: int, body: bytes, headers):
        self.status = status
        self.headers = headers
        self.json = json.loads(body) if body else None

    def __repr__(self) -> str:
        return f"<{self.status} {self.json}>"


class AdminApi:
    def __init__(self, switch, token: str):
        self._switch = switch
        self._token = token

    def request(self, method: str, path: str, body: dict | None = None) -> ApiReply:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self._switch.admin_port}{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self._token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return ApiReply(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            return ApiReply(exc.code, exc.read(), exc.headers)

    def post(self, path: str, body: dict) -> ApiReply:
        return self.request("POST", path, body)

    def get(self, path: str) -> ApiReply:
        return self.request("GET", path)

    def delete(self, path: str) -> ApiReply:
        return self.request("DELETE", path)

    def cdr(self, call_id: str, timeout: float = 5.0) -> dict:
        """The call record of `call_id` from GET /v1/cdrs, once it is written."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.get("/v1/cdrs?limit=200")
            assert reply.status == 200, reply
            found = [r for r in reply.json["items"] if r["call_id"] == call_id]
            if found:
                assert len(found) == 1, found
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no call record of {call_id} after {timeout:g} s")
            time.sleep(0.1)
