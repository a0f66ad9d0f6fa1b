"""A WebSocket agent server for tests, on the `websockets` library (asyncio, in its own
thread) — a different implementation from the switch's wsproto client, so each checks
the other. Handlers are plain async functions of (websocket, request_headers)."""

import asyncio
import base64
import threading

from websockets.asyncio.server import serve


class AgentServer:
    def __init__(self, handler, host="127.0.0.1", reject_status=None, ssl_context=None,
                 url_host=None):
        self._handler = handler
        self._host = host
        self._ssl = ssl_context  # an ssl.SSLContext: wss://
        self._url_host = url_host or host  # the name in `url` (a certificate's name)
        self._reject_status = reject_status
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop = None
        self.port = None
        self.requests = []  # request headers of every upgrade received
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("agent server did not start")
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    @property
    def url(self) -> str:
        scheme = "wss" if self._ssl is not None else "ws"
        return f"{scheme}://{self._url_host}:{self.port}/agent?x=1"

    def _run(self):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self):
        self._stop = self._loop.create_future()

        def process_request(connection, request):
            self.requests.append(dict(request.headers.raw_items()) | {":path": request.path})
            if self._reject_status is not None:
                return connection.respond(self._reject_status, "no\n")
            return None

        async def handle(websocket):
            await self._handler(websocket)

        async with serve(handle, self._host, 0, process_request=process_request,
                         ssl=self._ssl) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop


def heard_audio(events: list) -> list[bytes]:
    """The caller's audio in the twilio `media` messages an agent logged, without the
    silence the switch sends while the caller has sent nothing yet."""
    silence = b"\xff" * 160  # µ-law
    return [p for p in (base64.b64decode(e["media"]["payload"])
                        for e in events if e.get("event") == "media") if p != silence]
