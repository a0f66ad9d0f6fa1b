-- Running upgrade 0006 -> 0007

ALTER TABLE trunks ADD COLUMN tls_client_certificate VARCHAR;

ALTER TABLE trunks ADD COLUMN tls_client_key VARCHAR;

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0006';

