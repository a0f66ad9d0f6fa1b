"""The recordings' rows for services.recordings, on the database's threads."""

from ...store import recordings as store


class RecordingStore:
    def __init__(self, database):
        self._db = database

    def insert(self, row: dict):
        return self._db.run("recordings.insert", store.insert_recording, row)

    def update(self, recording_id: str, changes: dict):
        return self._db.run("recordings.update", store.update_recording, recording_id, changes)

    def expired(self, ended_before: float, limit: int):
        return self._db.run("recordings.expired", store.expired_recordings, ended_before, limit)

    def delete(self, recording_id: str):
        return self._db.run("recordings.delete", store.delete_recording, recording_id)
