-- Running upgrade 0010 -> 0011

ALTER TABLE trunks ADD COLUMN allow_refer BOOLEAN DEFAULT 0 NOT NULL;

UPDATE alembic_version SET version_num='0011' WHERE alembic_version.version_num = '0010';

