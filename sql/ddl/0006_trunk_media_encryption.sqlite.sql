-- Running upgrade 0005 -> 0006

ALTER TABLE trunks ADD COLUMN media_encryption VARCHAR DEFAULT 'none' NOT NULL CONSTRAINT ck_trunks_media_encryption CHECK (media_encryption IN ('none', 'sdes', 'optional'));

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

