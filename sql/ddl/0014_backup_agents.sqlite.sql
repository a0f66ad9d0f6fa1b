-- Running upgrade 0008 -> 0014

ALTER TABLE route_targets ADD COLUMN backup_agent_id INTEGER;

UPDATE alembic_version SET version_num='0014' WHERE alembic_version.version_num = '0008';

