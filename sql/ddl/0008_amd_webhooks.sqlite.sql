-- Running upgrade 0007 -> 0008

ALTER TABLE cdrs ADD COLUMN amd_result VARCHAR;

ALTER TABLE cdrs ADD COLUMN amd_decision_ms INTEGER;

ALTER TABLE cdrs ADD COLUMN amd JSON;

ALTER TABLE agents ADD COLUMN webhook_url TEXT;

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

