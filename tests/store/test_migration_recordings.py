"""0009 adds the recordings table, `record` on numbers and agents (false for the rows
already there) and the call record's recording id; its downgrade takes them away and
keeps the rows."""

import sqlalchemy as sa

from softswitch.store import migrate


def _rows(url: str, sql: str) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _columns(url: str, table: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_rows_keep_and_gain_record_false_then_lose_it_on_downgrade(database_url):
    migrate.upgrade(database_url, "0009")
    _rows(database_url, "INSERT INTO agents (name, url, profile, sample_rate, headers, "
                        "secret_headers, custom_parameters, created_at, updated_at) "
                        "VALUES ('bot', 'ws://127.0.0.1:9000/', 'twilio', 8000, '{}', '{}', "
                        "'{}', 1, 1)")
    _rows(database_url, "INSERT INTO numbers (number, enabled, created_at, updated_at) "
                        "VALUES ('+14155550100', true, 1, 1)")
    migrate.upgrade(database_url, "0010")
    assert _rows(database_url, "SELECT name, record FROM agents") == [("bot", False)]
    assert _rows(database_url, "SELECT number, record FROM numbers") == [
        ("+14155550100", False)]
    _rows(database_url, "INSERT INTO recordings (id, call_id, file_path, format, channels, "
                        "sample_rate, state, started_at) VALUES ('RE1', 'c1', '/x.wav', "
                        "'wav', 2, 8000, 'recording', 1)")
    assert "recording_id" in _columns(database_url, "cdrs")
    migrate.downgrade(database_url, "0009")
    assert "recordings" not in _tables(database_url)
    assert "record" not in _columns(database_url, "agents")
    assert "record" not in _columns(database_url, "numbers")
    assert "recording_id" not in _columns(database_url, "cdrs")
    assert _rows(database_url, "SELECT name FROM agents") == [("bot",)]
    migrate.upgrade(database_url)
    assert "recordings" in _tables(database_url)


def test_a_recording_state_outside_the_list_is_refused(database_url):
    migrate.upgrade(database_url)
    try:
        _rows(database_url, "INSERT INTO recordings (id, call_id, file_path, format, channels, "
                            "sample_rate, state, started_at) VALUES ('RE1', 'c1', '/x.wav', "
                            "'wav', 2, 8000, 'lost', 1)")
    except sa.exc.IntegrityError:
        return
    raise AssertionError("a state outside RECORDING_STATES was stored")


def test_a_node_fails_only_its_own_unfinished_recordings_at_start(database_url):
    from softswitch.store.database import Database
    from softswitch.store.recordings import fail_unfinished, get_recording, insert_recording

    migrate.upgrade(database_url)
    database = Database(database_url, reactor=None)
    try:
        for recording_id, node, state in (("RE1", "a", "recording"), ("RE2", "a", "paused"),
                                          ("RE3", "b", "recording"), ("RE4", "a", "completed")):
            database.run_sync(insert_recording, {
                "id": recording_id, "call_id": "c", "file_path": "/x.wav", "format": "wav",
                "channels": 2, "sample_rate": 8000, "state": state, "started_at": 1.0,
                "node": node})
        assert database.run_sync(fail_unfinished, "a", 9.0) == 2
        states = {r: database.run_sync(get_recording, r)["state"]
                  for r in ("RE1", "RE2", "RE3", "RE4")}
        assert states == {"RE1": "failed", "RE2": "failed", "RE3": "recording",
                          "RE4": "completed"}
        assert database.run_sync(get_recording, "RE1")["ended_at"] == 9.0
    finally:
        database.engine.dispose()
