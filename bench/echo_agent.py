"""The external echo agent of `bench_agent_calls.py` (its own process): Twilio Media
Streams over epoll. It sends every media message back `delay` seconds after the switch
sent it and stamps into the payload (bytes 12-31, `STAMP`) the message's 20 ms slot, the
kernel's receive time of the message (SO_TIMESTAMPNS on the TCP socket: on loopback,
when the switch's `send` delivered it) and the time the agent read it.

wsproto answers the upgrade; the client's masked text frames are then cut here, so the
agent costs little on the core it shares with the load generator.

    python bench/echo_agent.py [--echo-delay 0.5]     (prints "port N", serves forever)
"""

import argparse
import base64
import heapq
import json
import select
import socket
import struct
import time

STAMP = struct.Struct(">Idd")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value


class EchoConnection:
    """One switch connection: wsproto for the upgrade, then the client's masked text
    frames cut here (cheap: the agent shares a core with the generator)."""

    def __init__(self, sock, agent):
        from wsproto import ConnectionType, WSConnection

        self.sock = sock
        self.agent = agent
        self.ws = WSConnection(ConnectionType.SERVER)
        self.open = False
        self.buffer = b""
        self.out = b""
        self.sid = ""

    def read(self) -> bool:
        """False once the connection is over."""
        from wsproto.events import AcceptConnection, Request

        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, 64)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        read_at = time.time()
        kernel_at = read_at
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanos = struct.unpack("qq", value[:16])
                kernel_at = seconds + nanos * 1e-9
        if not self.open:
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, Request):
                    self.send(self.ws.send(AcceptConnection()))
                    self.open = True
            return True
        buffer = self.buffer + data if self.buffer else data
        at, size = 0, len(buffer)
        while size - at >= 6:
            first, second = buffer[at], buffer[at + 1]
            length, header = second & 0x7F, 2
            if length == 126:
                length, header = struct.unpack_from("!H", buffer, at + 2)[0], 4
            elif length == 127:
                length, header = struct.unpack_from("!Q", buffer, at + 2)[0], 10
            end = at + header + 4 + length
            if end > size:
                break
            key = buffer[at + header:at + header + 4]
            payload = (int.from_bytes(buffer[at + header + 4:end], "little")
                       ^ int.from_bytes((key * (length // 4 + 1))[:length], "little")
                       ).to_bytes(length, "little")
            at = end
            opcode = first & 0x0F
            if opcode == 0x1:
                if not self.message(payload, kernel_at, read_at):
                    return False
            elif opcode == 0x8:
                self.send(b"\x88\x02\x03\xe8")
                return False
            elif opcode == 0x9:
                self.send(bytes((0x8A, length)) + payload)
        self.buffer = buffer[at:]
        return True

    def message(self, text: bytes, kernel_at: float, read_at: float) -> bool:
        message = json.loads(text)
        event = message.get("event")
        if event == "media":
            media = message["media"]
            payload = bytearray(base64.b64decode(media["payload"]))
            if len(payload) >= 32:
                STAMP.pack_into(payload, 12, int(media["timestamp"]) // 20, kernel_at, read_at)
            out = ('{"event":"media","streamSid":"%s","media":{"payload":"%s"}}'
                   % (self.sid, base64.b64encode(payload).decode())).encode()
            frame = (bytes((0x81, len(out))) if len(out) < 126
                     else b"\x81\x7e" + struct.pack("!H", len(out))) + out
            self.agent.later(kernel_at + self.agent.delay, self, frame)
        elif event == "start":
            self.sid = message["streamSid"]
        elif event == "stop":
            return False
        return True

    def send(self, data: bytes) -> None:
        if self.out:
            self.out += data
            return
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return
        if sent < len(data):
            self.out = data[sent:]
            self.agent.poller.modify(self.sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def flush(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return
        except OSError:
            sent = len(self.out)
        self.out = self.out[sent:]
        if not self.out:
            self.agent.poller.modify(self.sock.fileno(), select.EPOLLIN)


class EchoAgent:
    """Sends every media message back `delay` seconds after the switch sent it, with
    its slot and receive times stamped into the payload."""

    def __init__(self, delay: float):
        self.delay = delay
        self.poller = select.epoll()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)
        self.listener.setblocking(False)
        self.poller.register(self.listener.fileno(), select.EPOLLIN)
        self.connections: dict[int, EchoConnection] = {}
        self.heap: list = []
        self.order = 0

    def later(self, due: float, connection: EchoConnection, frame: bytes) -> None:
        self.order += 1
        heapq.heappush(self.heap, (due, self.order, connection, frame))

    def run(self) -> None:
        print(f"port {self.listener.getsockname()[1]}", flush=True)
        heap, connections = self.heap, self.connections
        while True:
            timeout = min(0.05, max(0.0, heap[0][0] - time.time())) if heap else 0.05
            for fd, mask in self.poller.poll(timeout):
                if fd == self.listener.fileno():
                    self.accept()
                    continue
                connection = connections.get(fd)
                if connection is None:
                    continue
                if mask & select.EPOLLOUT:
                    connection.flush()
                if mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR) \
                        and not connection.read():
                    self.drop(fd)
            now = time.time()
            while heap and heap[0][0] <= now:
                _, _, connection, frame = heapq.heappop(heap)
                if connections.get(connection.sock.fileno()) is connection:
                    connection.send(frame)

    def accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.connections[sock.fileno()] = EchoConnection(sock, self)
            self.poller.register(sock.fileno(), select.EPOLLIN)

    def drop(self, fd: int) -> None:
        connection = self.connections.pop(fd)
        self.poller.unregister(fd)
        connection.sock.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--echo-delay", type=float, default=0.5)
    EchoAgent(parser.parse_args().echo_delay).run()
