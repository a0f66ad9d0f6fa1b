"""Debian's baresip as a phone for the end-to-end tests.

Each `Baresip` gets a generated configuration directory (`-f DIR`): one account, no
audio device (a WAV file is the microphone, the `aubridge` module the speaker), and
the `ctrl_tcp` module on a loopback port, which takes commands and reports events as
netstring-framed JSON. The `uuid` module keeps the phone's instance-id in the directory,
so a second `Baresip` on the same directory is the same device. Every wait is bounded
and the process is killed on close.
"""

import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import wave
from pathlib import Path

from e2e_switch import free_port

BARESIP_MISSING = ("baresip is not installed (no `baresip` on PATH): the end-to-end phone "
                   "tests need it. Install it with `apt-get install baresip-core` or run "
                   "`bash .ci/setup`.")
MODULES = "/usr/lib/baresip/modules"
CONNECT_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
# Outside the switch's relay range (20000-30000) and the kernel's ephemeral ports.
RTP_PORTS = "10000-10999"


def baresip_path() -> str | None:
    return shutil.which("baresip")


def write_tone(path: Path, seconds: float = 3.0, rate: int = 8000) -> None:
    """A 440 Hz tone as 16-bit mono WAV: what the phone's "microphone" says."""
    samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate))
               for i in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))


class BaresipError(AssertionError):
    pass


class Baresip:
    """One baresip process registered as `user` at the switch (outbound proxy)."""

    def __init__(self, workdir: Path, switch, user: str, password: str,
                 account_params: str = "", extra_modules: tuple[str, ...] = ()):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port()
        self.ctrl_port = free_port()
        while self.ctrl_port == self.sip_port:
            self.ctrl_port = free_port()
        self.aor = f"sip:{user}@{switch.domain}"
        tone = self.workdir / "tone.wav"
        write_tone(tone)
        (self.workdir / "config").write_text("\n".join([
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{self.sip_port}",
            f"rtp_ports {RTP_PORTS}",
            f"audio_source aufile,{tone}",
            "audio_player aubridge,speaker",
            "audio_alert aubridge,speaker",
            f"module_path {MODULES}",
            # (extra modules, e.g. srtp, before account: it reads the accounts'
            # mediaenc and the like when it loads)
            *(f"module {name}.so" for name in (
                "uuid", "g711", "aufile", "aubridge", *extra_modules, "account", "menu",
                "ctrl_tcp")),
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            "",
        ]))
        (self.workdir / "accounts").write_text(
            f"<{self.aor}>;auth_pass={password};outbound=\"sip:{switch.sip_target}\""
            f";regint=600{account_params}\n")
        self.output_path = self.workdir / "baresip.log"
        self.process = None
        self._socket = None
        self._buffer = b""
        self.events: list[dict] = []

    def start(self) -> None:
        with open(self.output_path, "wb") as out:
            self.process = subprocess.Popen(
                [baresip_path(), "-f", str(self.workdir)], cwd=self.workdir,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env={**os.environ, "HOME": str(self.workdir)})
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise BaresipError(f"baresip exited with {self.process.returncode}\n"
                                   f"{self.output()}")
            try:
                self._socket = socket.create_connection(("127.0.0.1", self.ctrl_port), 1.0)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise BaresipError(f"baresip's ctrl_tcp did not listen\n{self.output()}")
                time.sleep(0.05)

    def command(self, name: str, params: str = "") -> dict:
        """Run one command; its response (the events that came first are kept)."""
        body = json.dumps({"command": name, "params": params, "token": name}).encode()
        self._socket.sendall(str(len(body)).encode() + b":" + body + b",")
        return self.wait_for(lambda m: m.get("response") and m.get("token") == name,
                             f"baresip's answer to {name}")

    def wait_event(self, kind: str, timeout: float = 10.0) -> dict:
        """The next event of this type (earlier ones included)."""
        for event in self.events:
            if event.get("type") == kind:
                self.events.remove(event)
                return event
        return self.wait_for(lambda m: m.get("event") and m.get("type") == kind,
                             f"baresip's {kind} event", timeout)

    def wait_for(self, predicate, what: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline, what)
            if predicate(message):
                return message
            if message.get("event"):
                self.events.append(message)

    def _read(self, deadline: float, what: str) -> dict:
        while True:
            length, colon, rest = self._buffer.partition(b":")
            if colon and length.isdigit() and len(rest) > int(length):
                body, self._buffer = rest[:int(length)], rest[int(length) + 1:]
                return json.loads(body)
            left = deadline - time.monotonic()
            if left <= 0:
                raise BaresipError(f"no {what} in time; events {self.events}\n{self.output()}")
            self._socket.settimeout(left)
            try:
                data = self._socket.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise BaresipError(f"baresip closed ctrl_tcp before {what}\n{self.output()}")
            self._buffer += data

    def output(self, tail: int = 60) -> str:
        if not self.output_path.exists():
            return ""
        # Progress lines end in carriage returns; keep the lines a reader wants.
        text = self.output_path.read_text(errors="replace").replace("\r", "\n")
        lines = [line for line in text.splitlines() if line and not line.startswith("[0:")]
        return "\n".join(lines[-tail:])

    def kill(self) -> None:
        """SIGKILL, as a phone that loses power: it does not unregister."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def close(self) -> None:
        if self._socket is not None:
            try:
                self.command("quit")
            except (OSError, BaresipError):
                pass
            self._socket.close()
            self._socket = None
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
