-- Running upgrade 0004 -> 0005

ALTER TABLE trunks ADD COLUMN tls_client_certificate VARCHAR;

ALTER TABLE trunks ADD COLUMN tls_client_key VARCHAR;

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

