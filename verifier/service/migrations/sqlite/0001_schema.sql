-- Warden verifier store, SQLite dialect. The PostgreSQL migration of the same number creates the same
-- tables and columns; only the type names differ (BLOB here, BYTEA there).

-- Resources, sealed with AES-256-GCM under the store key: nonce || ciphertext || tag.
CREATE TABLE resources (
    path        TEXT PRIMARY KEY,
    policy_name TEXT NOT NULL,
    sealed      BLOB NOT NULL
);

-- Reference values whose DSSE signature was checked before they were stored.
CREATE TABLE reference_values (
    id           TEXT PRIMARY KEY,
    image        TEXT NOT NULL,
    -- The accepted launch measurements, 48 bytes each, concatenated.
    measurements BLOB NOT NULL,
    -- The SNP guest policy, 0x-prefixed hex (a u64 does not fit every SQL integer type).
    policy       TEXT NOT NULL,
    payload      BLOB NOT NULL
);

-- Resource policies by name, as JSON.
CREATE TABLE policies (
    name   TEXT PRIMARY KEY,
    policy TEXT NOT NULL
);

-- Challenges already answered: the primary key makes the replay check atomic across replicas.
CREATE TABLE used_challenges (
    session_id TEXT PRIMARY KEY,
    -- Unix seconds after which the challenge cannot be answered anyway (the row may then go).
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_challenges_expiry ON used_challenges (expires_at);

-- The key-check row: sealed under the store key by the first replica, so a wrong key fails at start-up.
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
