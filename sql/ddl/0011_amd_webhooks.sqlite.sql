-- Running upgrade 0004 -> 0011

ALTER TABLE cdrs ADD COLUMN amd_result VARCHAR;

ALTER TABLE cdrs ADD COLUMN amd_decision_ms INTEGER;

ALTER TABLE cdrs ADD COLUMN amd JSON;

ALTER TABLE agents ADD COLUMN webhook_url TEXT;

UPDATE alembic_version SET version_num='0011' WHERE alembic_version.version_num = '0004';

