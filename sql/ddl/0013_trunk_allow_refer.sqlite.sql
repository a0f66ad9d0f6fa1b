-- Running upgrade 0008 -> 0013

ALTER TABLE trunks ADD COLUMN allow_refer BOOLEAN DEFAULT 0 NOT NULL;

UPDATE alembic_version SET version_num='0013' WHERE alembic_version.version_num = '0008';

