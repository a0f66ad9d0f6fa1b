BEGIN;

-- Running upgrade 0003 -> 0004

ALTER TABLE agents ADD COLUMN account_sid VARCHAR;

ALTER TABLE agents ADD COLUMN auth_token VARCHAR;

CREATE INDEX ix_agents_account_sid ON agents (account_sid);

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

COMMIT;

