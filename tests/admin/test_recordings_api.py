"""/v1/recordings and POST /v1/calls/{call_id}/recording over HTTP, with the real
recorder (services.recordings), its file writer thread and the store."""

import io
import time
import wave
from urllib.parse import quote

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater

from admin_harness import ApiTestCase
from softswitch.edge.storage.recording_store import RecordingStore
from softswitch.edge.storage.recording_writer import RecordingWriter
from softswitch.media.recording import CALLER, OTHER
from softswitch.services.recordings import Recordings, RecordingSettings

CALL_ID = "a/b@host.example"  # a '/' the path must percent-encode
PATH = f"/v1/calls/{quote(CALL_ID, safe='')}/recording"


class Source:
    """A call's media clock at 50 slots a second of the reactor's time."""

    law = "PCMU"

    def __init__(self):
        self.origin = reactor.seconds()
        self.recorder = None

    def next_slot(self, now):
        return int((now - self.origin) * 50)

    def attach(self, recorder):
        self.recorder = recorder


class RecordingsApiTests(ApiTestCase):
    def setUp(self):
        super().setUp()
        self.writer = RecordingWriter(reactor)
        self.writer.start()
        self.addCleanup(self.writer.stop)
        self.recordings = Recordings(
            reactor, RecordingStore(self.database), self.writer,
            RecordingSettings(directory=self.mktemp()))
        self.api._context.recordings = self.recordings  # (build_api's recordings=)
        self.source = Source()
        self.recordings.call_began(CALL_ID, self.source, record=False)

    @defer.inlineCallbacks
    def until_state(self, recording_id, state, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            got = yield self.get(f"/v1/recordings/{recording_id}")
            if got.status == 200 and got.json["state"] == state:
                return got.json
            if time.monotonic() > deadline:
                self.fail(f"recording never {state}: {got.json}")
            yield deferLater(reactor, 0.01, lambda: None)

    @defer.inlineCallbacks
    def test_start_pause_resume_stop_then_download_and_delete(self):
        refused = yield self.post(PATH, {"action": "pause"})
        self.assertEqual((refused.status, refused.error["message"]),
                         (409, f"call {CALL_ID!r} has no recording running to pause"))
        started = yield self.post(PATH, {"action": "start"})
        self.assertEqual(started.status, 200, started.json)
        recording_id = started.json["id"]
        self.assertEqual(started.json["state"], "recording")
        self.assertRegex(recording_id, r"^RE[0-9a-f]{32}$")
        again = yield self.post(PATH, {"action": "start"})
        self.assertEqual(again.status, 409)
        for slot in range(self.source.next_slot(reactor.seconds()), 120):
            self.source.recorder.write(CALLER, slot, bytes([slot % 100]) * 160)
            self.source.recorder.write(OTHER, slot, bytes([100 + slot % 100]) * 160)
        shown = yield self.until_state(recording_id, "recording")
        self.assertEqual(shown["audio_url"], f"/v1/recordings/{recording_id}/audio")
        early = yield self.get(f"/v1/recordings/{recording_id}/audio")
        self.assertEqual(early.status, 409)
        busy = yield self.delete(f"/v1/recordings/{recording_id}")
        self.assertEqual(busy.status, 409)
        paused = yield self.post(PATH, {"action": "pause"})
        self.assertEqual(paused.json["state"], "paused")
        yield self.until_state(recording_id, "paused")
        resumed = yield self.post(PATH, {"action": "resume"})
        self.assertEqual(resumed.json["state"], "recording")
        stopped = yield self.post(PATH, {"action": "stop"})
        self.assertEqual(stopped.json["state"], "stopped")
        meta = yield self.until_state(recording_id, "completed")
        self.assertEqual((meta["channels"], meta["sample_rate"], meta["format"]),
                         (2, 8000, "wav"))
        audio = yield self.get(f"/v1/recordings/{recording_id}/audio")
        self.assertEqual(audio.status, 200)
        self.assertEqual(audio.header("content-type"), "audio/wav")
        self.assertEqual(len(audio.raw), meta["size"])
        with wave.open(io.BytesIO(audio.raw)) as wav:
            self.assertEqual((wav.getnchannels(), wav.getframerate()), (2, 8000))
            self.assertEqual(wav.getnframes(), round(meta["duration"] * 8000))
        listed = yield self.get(f"/v1/recordings?call_id={quote(CALL_ID)}")
        self.assertEqual([r["id"] for r in listed.json["items"]], [recording_id])
        gone = yield self.delete(f"/v1/recordings/{recording_id}")
        self.assertEqual(gone.status, 204)
        for path in (f"/v1/recordings/{recording_id}", f"/v1/recordings/{recording_id}/audio"):
            missing = yield self.get(path)
            self.assertEqual(missing.status, 404)

    @defer.inlineCallbacks
    def test_pages_newest_first_and_bad_input_is_refused(self):
        ids = []
        for _ in range(3):
            started = yield self.post(PATH, {"action": "start"})
            ids.append(started.json["id"])
            yield self.post(PATH, {"action": "stop"})
            yield deferLater(reactor, 0.01, lambda: None)
        for recording_id in ids:
            yield self.until_state(recording_id, "completed")
        first = yield self.get("/v1/recordings?limit=2")
        self.assertEqual([r["id"] for r in first.json["items"]], ids[::-1][:2])
        rest = yield self.get(f"/v1/recordings?limit=2&after={first.json['next']}")
        self.assertEqual([r["id"] for r in rest.json["items"]], ids[:1])
        self.assertIsNone(rest.json["next"])
        bad = yield self.post(PATH, {"action": "erase"})
        self.assertEqual(bad.status, 422)
        unknown = yield self.post("/v1/calls/nope/recording", {"action": "start"})
        self.assertEqual(unknown.status, 404)
        for path in ("/v1/recordings/RE123", "/v1/recordings/" + "RE" + "0" * 32):
            missing = yield self.get(path)
            self.assertEqual(missing.status, 404)
        cursor = yield self.get("/v1/recordings?after=zzz")
        self.assertEqual(cursor.status, 422)
