-- Running upgrade 0011 -> 0012

ALTER TABLE route_targets ADD COLUMN backup_agent_id INTEGER;

UPDATE alembic_version SET version_num='0012' WHERE alembic_version.version_num = '0011';

