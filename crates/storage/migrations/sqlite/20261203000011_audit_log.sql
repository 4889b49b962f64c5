-- The audit trail: one row per change, written in the change's transaction, never updated
-- or deleted (no retention job touches it). `resource` is the request path.
CREATE TABLE audit_log (
    id              TEXT PRIMARY KEY,
    at_us           BIGINT NOT NULL,
    principal       TEXT NOT NULL,
    role            TEXT NOT NULL,
    address         TEXT NOT NULL,
    user_agent      TEXT NOT NULL,
    idempotency_key TEXT,
    action          TEXT NOT NULL,
    resource        TEXT NOT NULL,
    status          BIGINT NOT NULL,
    request         TEXT NOT NULL,
    response        TEXT NOT NULL
);
CREATE INDEX audit_log_by_principal ON audit_log (principal, id);
CREATE INDEX audit_log_by_resource ON audit_log (resource, id);
CREATE INDEX audit_log_by_time ON audit_log (at_us);
