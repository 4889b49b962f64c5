-- Requests counted per address for rate limits that have no account to count against:
-- member codes sent, wrong member codes given.
CREATE TABLE throttle_events (
    id      TEXT PRIMARY KEY,
    kind    TEXT NOT NULL,
    address TEXT NOT NULL,
    at_us   BIGINT NOT NULL
);
CREATE INDEX throttle_events_by_address ON throttle_events (kind, address, at_us);
CREATE INDEX throttle_events_by_age ON throttle_events (at_us);
