-- People and machines: staff accounts (password hashes only, argon2id), the stores a
-- store_staff account works at, sign-in sessions and API tokens (both stored as SHA-256 of
-- their secret, never the secret), and failed sign-ins (for rate limits and the record).
CREATE TABLE accounts (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    partner_code  TEXT,
    password_hash TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL
);
CREATE TABLE account_stores (
    username   TEXT NOT NULL,
    store_code TEXT NOT NULL,
    PRIMARY KEY (username, store_code)
);
CREATE TABLE sessions (
    secret_hash   TEXT PRIMARY KEY,
    principal     TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    expires_at_us BIGINT NOT NULL
);
CREATE INDEX sessions_by_principal ON sessions (principal);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_us);
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL UNIQUE,
    username      TEXT NOT NULL,
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    expires_at_us BIGINT NOT NULL,
    revoked_at_us BIGINT
);
CREATE INDEX api_tokens_by_username ON api_tokens (username);
CREATE TABLE sign_in_failures (
    id       TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    address  TEXT NOT NULL,
    at_us    BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_username ON sign_in_failures (username, at_us);
CREATE INDEX sign_in_failures_by_address ON sign_in_failures (address, at_us);
