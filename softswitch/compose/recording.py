"""The call recorder (docs/recording.md): its writer thread, retention sweep and
metrics, and which calls are recorded."""

import time

from twisted.application import service
from twisted.application.internet import TimerService
from twisted.internet.defer import gatherResults
from twisted.logger import Logger

from ..config import Settings
from ..edge.storage.recording_store import RecordingStore
from ..edge.storage.recording_writer import RecordingMetrics, RecordingWriter
from ..services.recordings import Recordings
from ..store import recordings as recording_rows

log = Logger()


def build_recordings(settings: Settings, reactor, database, metrics, root,
                     node: str) -> Recordings:
    """The recorder: its file writer's thread (stopped once the calls have ended and
    their files are complete), the retention sweep on a timer, its metrics."""
    r = settings.recording
    writer = RecordingWriter(reactor, max_pending=r.max_queue)
    RecordingWriterService(writer).setServiceParent(root)  # its thread runs once started
    recordings = Recordings(reactor, RecordingStore(database), writer, r, node=node)
    failed = database.run_sync(recording_rows.fail_unfinished, node, time.time())
    if failed:
        log.warn("{n} recordings left unfinished by the previous process are marked failed",
                 n=failed)
    metrics.registry.register(RecordingMetrics(writer, recordings.active))

    def finish_files():
        d = gatherResults(list(recordings.closing), consumeErrors=True)
        return d.addBoth(lambda _: writer.stop())

    root.on_stop.append(finish_files)
    sweeper = TimerService(r.sweep_interval, recordings.sweep)
    sweeper.clock = reactor
    sweeper.setServiceParent(root)
    return recordings


class RecordingWriterService(service.Service):
    """Starts the recording writer's thread with the switch (a switch built and never
    started has none to hold its exit); it is stopped after the files are complete."""

    def __init__(self, writer: RecordingWriter):
        self._writer = writer

    def startService(self):
        super().startService()
        self._writer.start()


def record_number(snapshot):
    """record_number(did): the number's `record` (relayed calls)."""
    def record(did: str) -> bool:
        number = snapshot().number(did)
        return number is not None and number.record
    return record


def record_policy(snapshot):
    """record_policy(agent, info): the agent's `record`, or the call's number's."""
    def record(agent, info: dict) -> bool:
        if agent.record:
            return True
        number = snapshot().number(info.get("did") or "")
        return number is not None and number.record
    return record
