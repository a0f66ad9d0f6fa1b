-- Running upgrade 0001 -> 0002

CREATE TABLE _gateways_new (
    id INTEGER NOT NULL,
    trunk_id INTEGER NOT NULL,
    host VARCHAR NOT NULL,
    port INTEGER,
    transport VARCHAR NOT NULL,
    region_id INTEGER,
    priority INTEGER NOT NULL,
    weight INTEGER NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_gateways PRIMARY KEY (id),
    CONSTRAINT uq_gateways_trunk_id_host_port_transport UNIQUE (trunk_id, host, port, transport),
    CONSTRAINT ck_gateways_transport CHECK (transport IN ('udp', 'tcp', 'tls')),
    CONSTRAINT ck_gateways_port CHECK (port >= 1 AND port <= 65535),
    CONSTRAINT fk_gateways_trunk_id_trunks FOREIGN KEY(trunk_id) REFERENCES trunks (id) ON DELETE CASCADE,
    CONSTRAINT fk_gateways_region_id_regions FOREIGN KEY(region_id) REFERENCES regions (id) ON DELETE RESTRICT
);

INSERT INTO _gateways_new (id, trunk_id, host, port, transport, region_id, priority, weight, created_at, updated_at) SELECT id, trunk_id, host, port, transport, region_id, priority, weight, created_at, updated_at FROM gateways;

DROP INDEX ix_gateways_region_id;

DROP TABLE gateways;

ALTER TABLE _gateways_new RENAME TO gateways;

CREATE INDEX ix_gateways_region_id ON gateways (region_id);

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

