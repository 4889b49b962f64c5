-- Retention: idempotency keys are removed oldest first once past their window, and the
-- outbox is trimmed from its oldest end; `retention_marks` remembers how far it was trimmed
-- (`outbox_trimmed_through`), so that a stream resuming from before that gets a clear answer
-- instead of a silent gap.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at_us);
CREATE TABLE retention_marks (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
