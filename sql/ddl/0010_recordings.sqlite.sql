-- Running upgrade 0009 -> 0010

CREATE TABLE recordings (
    id VARCHAR NOT NULL,
    call_id TEXT NOT NULL,
    file_path TEXT NOT NULL,
    format VARCHAR NOT NULL,
    channels INTEGER NOT NULL,
    sample_rate INTEGER NOT NULL,
    state VARCHAR NOT NULL,
    started_at DOUBLE NOT NULL,
    ended_at DOUBLE,
    duration DOUBLE,
    size BIGINT,
    pauses JSON,
    node VARCHAR,
    CONSTRAINT pk_recordings PRIMARY KEY (id),
    CONSTRAINT ck_recordings_state CHECK (state IN ('recording', 'paused', 'completed', 'failed')),
    CONSTRAINT ck_recordings_format CHECK (format IN ('wav'))
);

CREATE INDEX ix_recordings_call_id ON recordings (call_id);

CREATE INDEX ix_recordings_started_at ON recordings (started_at);

ALTER TABLE numbers ADD COLUMN record BOOLEAN DEFAULT 0 NOT NULL;

ALTER TABLE agents ADD COLUMN record BOOLEAN DEFAULT 0 NOT NULL;

ALTER TABLE cdrs ADD COLUMN recording_id VARCHAR;

UPDATE alembic_version SET version_num='0010' WHERE alembic_version.version_num = '0009';

