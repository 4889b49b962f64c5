-- Wrong pickup codes are counted; after five the handover is locked.
ALTER TABLE orders ADD COLUMN pickup_attempts BIGINT NOT NULL DEFAULT 0;
