BEGIN;

-- Running upgrade 0008 -> 0009

ALTER TABLE sip_users ADD COLUMN caller_ids JSON DEFAULT '[]' NOT NULL;

ALTER TABLE agents ADD COLUMN caller_ids JSON DEFAULT '[]' NOT NULL;

ALTER TABLE agents ADD COLUMN sip_headers JSON DEFAULT '[]' NOT NULL;

ALTER TABLE trunks ADD COLUMN trust_identity BOOLEAN DEFAULT true NOT NULL;

ALTER TABLE trunks ADD COLUMN default_caller_id VARCHAR;

ALTER TABLE trunks ADD COLUMN topology_hiding BOOLEAN DEFAULT false NOT NULL;

UPDATE alembic_version SET version_num='0009' WHERE alembic_version.version_num = '0008';

COMMIT;

