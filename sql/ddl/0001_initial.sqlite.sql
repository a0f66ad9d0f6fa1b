CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE regions (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    bind VARCHAR NOT NULL,
    advertise VARCHAR NOT NULL,
    port_min INTEGER NOT NULL,
    port_max INTEGER NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_regions PRIMARY KEY (id),
    CONSTRAINT uq_regions_name UNIQUE (name),
    CONSTRAINT ck_regions_port_range CHECK (port_min >= 1 AND port_max <= 65535 AND port_min <= port_max)
);

CREATE TABLE trunks (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    inbound_allowed_sources JSON NOT NULL,
    auth_username VARCHAR,
    auth_password VARCHAR,
    register BOOLEAN NOT NULL,
    max_concurrent INTEGER,
    max_cps FLOAT,
    number_format VARCHAR NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_trunks PRIMARY KEY (id),
    CONSTRAINT uq_trunks_name UNIQUE (name)
);

CREATE TABLE gateways (
    id INTEGER NOT NULL,
    trunk_id INTEGER NOT NULL,
    host VARCHAR NOT NULL,
    port INTEGER NOT NULL,
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

CREATE INDEX ix_gateways_region_id ON gateways (region_id);

CREATE TABLE agents (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    url TEXT NOT NULL,
    profile VARCHAR NOT NULL,
    sample_rate INTEGER NOT NULL,
    region_id INTEGER,
    headers JSON NOT NULL,
    secret_headers JSON NOT NULL,
    custom_parameters JSON NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_agents PRIMARY KEY (id),
    CONSTRAINT uq_agents_name UNIQUE (name),
    CONSTRAINT ck_agents_profile CHECK (profile IN ('twilio', 'raw', 'openai-realtime')),
    CONSTRAINT fk_agents_region_id_regions FOREIGN KEY(region_id) REFERENCES regions (id) ON DELETE RESTRICT
);

CREATE INDEX ix_agents_region_id ON agents (region_id);

CREATE TABLE sip_users (
    id INTEGER NOT NULL,
    username VARCHAR NOT NULL,
    domain VARCHAR NOT NULL,
    ha1_md5 VARCHAR(32) NOT NULL,
    ha1_sha256 VARCHAR(64) NOT NULL,
    display_name VARCHAR,
    enabled BOOLEAN NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_sip_users PRIMARY KEY (id),
    CONSTRAINT uq_sip_users_username_domain UNIQUE (username, domain)
);

CREATE TABLE numbers (
    id INTEGER NOT NULL,
    number VARCHAR NOT NULL,
    description TEXT,
    enabled BOOLEAN NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_numbers PRIMARY KEY (id),
    CONSTRAINT uq_numbers_number UNIQUE (number)
);

CREATE TABLE route_targets (
    id INTEGER NOT NULL,
    number_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    kind VARCHAR NOT NULL,
    agent_id INTEGER,
    user_id INTEGER,
    trunk_id INTEGER,
    reject_code INTEGER,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_route_targets PRIMARY KEY (id),
    CONSTRAINT uq_route_targets_number_id_position UNIQUE (number_id, position),
    CONSTRAINT ck_route_targets_kind CHECK (kind IN ('agent', 'user', 'trunk', 'reject')),
    CONSTRAINT ck_route_targets_target_matches_kind CHECK ((kind = 'agent' AND agent_id IS NOT NULL AND user_id IS NULL
    AND trunk_id IS NULL AND reject_code IS NULL)
OR (kind = 'user' AND agent_id IS NULL AND user_id IS NOT NULL
    AND trunk_id IS NULL AND reject_code IS NULL)
OR (kind = 'trunk' AND agent_id IS NULL AND user_id IS NULL
    AND trunk_id IS NOT NULL AND reject_code IS NULL)
OR (kind = 'reject' AND agent_id IS NULL AND user_id IS NULL
    AND trunk_id IS NULL AND reject_code IS NOT NULL)),
    CONSTRAINT ck_route_targets_reject_code CHECK (reject_code IS NULL OR (reject_code >= 400 AND reject_code <= 699)),
    CONSTRAINT fk_route_targets_number_id_numbers FOREIGN KEY(number_id) REFERENCES numbers (id) ON DELETE CASCADE,
    CONSTRAINT fk_route_targets_agent_id_agents FOREIGN KEY(agent_id) REFERENCES agents (id) ON DELETE RESTRICT,
    CONSTRAINT fk_route_targets_user_id_sip_users FOREIGN KEY(user_id) REFERENCES sip_users (id) ON DELETE RESTRICT,
    CONSTRAINT fk_route_targets_trunk_id_trunks FOREIGN KEY(trunk_id) REFERENCES trunks (id) ON DELETE RESTRICT
);

CREATE INDEX ix_route_targets_agent_id ON route_targets (agent_id);

CREATE INDEX ix_route_targets_user_id ON route_targets (user_id);

CREATE INDEX ix_route_targets_trunk_id ON route_targets (trunk_id);

CREATE TABLE outbound_routes (
    id INTEGER NOT NULL,
    prefix VARCHAR NOT NULL,
    description TEXT,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_outbound_routes PRIMARY KEY (id),
    CONSTRAINT uq_outbound_routes_prefix UNIQUE (prefix)
);

CREATE TABLE outbound_route_trunks (
    id INTEGER NOT NULL,
    route_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    trunk_id INTEGER NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_outbound_route_trunks PRIMARY KEY (id),
    CONSTRAINT uq_outbound_route_trunks_route_id_position UNIQUE (route_id, position),
    CONSTRAINT fk_outbound_route_trunks_route_id_outbound_routes FOREIGN KEY(route_id) REFERENCES outbound_routes (id) ON DELETE CASCADE,
    CONSTRAINT fk_outbound_route_trunks_trunk_id_trunks FOREIGN KEY(trunk_id) REFERENCES trunks (id) ON DELETE RESTRICT
);

CREATE INDEX ix_outbound_route_trunks_trunk_id ON outbound_route_trunks (trunk_id);

CREATE TABLE registrations (
    id INTEGER NOT NULL,
    aor TEXT NOT NULL,
    contact TEXT NOT NULL,
    expires_at DOUBLE NOT NULL,
    q FLOAT,
    call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL,
    path JSON,
    received VARCHAR,
    user_agent TEXT,
    instance_id TEXT,
    reg_id INTEGER,
    node VARCHAR NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    CONSTRAINT pk_registrations PRIMARY KEY (id),
    CONSTRAINT uq_registrations_aor_contact UNIQUE (aor, contact)
);

CREATE INDEX ix_registrations_expires_at ON registrations (expires_at);

CREATE TABLE cdrs (
    id INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    direction VARCHAR NOT NULL,
    caller TEXT,
    callee TEXT,
    did VARCHAR,
    trunk_id INTEGER,
    trunk VARCHAR,
    gateway VARCHAR,
    region VARCHAR,
    route_kind VARCHAR,
    route_target TEXT,
    agent VARCHAR,
    profile VARCHAR,
    attempts INTEGER NOT NULL,
    final_code INTEGER,
    disconnect_side VARCHAR,
    disconnect_reason TEXT,
    start_at DOUBLE NOT NULL,
    ring_at DOUBLE,
    answer_at DOUBLE,
    end_at DOUBLE NOT NULL,
    transfer_target TEXT,
    media_stats JSON,
    agent_stats JSON,
    CONSTRAINT pk_cdrs PRIMARY KEY (id)
);

CREATE INDEX ix_cdrs_start_at ON cdrs (start_at);

CREATE INDEX ix_cdrs_did ON cdrs (did);

CREATE INDEX ix_cdrs_call_id ON cdrs (call_id);

CREATE TABLE api_tokens (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    token_hash VARCHAR(64) NOT NULL,
    created_at DOUBLE NOT NULL,
    revoked_at DOUBLE,
    last_used_at DOUBLE,
    CONSTRAINT pk_api_tokens PRIMARY KEY (id),
    CONSTRAINT uq_api_tokens_token_hash UNIQUE (token_hash)
);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING version_num;

