BEGIN;

-- Running upgrade 0001 -> 0002

ALTER TABLE gateways ALTER COLUMN port DROP NOT NULL;

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

COMMIT;

