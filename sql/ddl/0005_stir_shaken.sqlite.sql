-- Running upgrade 0004 -> 0005

ALTER TABLE trunks ADD COLUMN stir_shaken VARCHAR DEFAULT 'off' NOT NULL;

ALTER TABLE numbers ADD COLUMN unverified_when VARCHAR;

ALTER TABLE route_targets ADD COLUMN unverified BOOLEAN DEFAULT 0 NOT NULL;

ALTER TABLE cdrs ADD COLUMN verstat VARCHAR;

ALTER TABLE cdrs ADD COLUMN attestation VARCHAR;

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

