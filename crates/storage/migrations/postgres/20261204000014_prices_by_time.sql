-- Each server's price clock finds the next versions to take effect, across all SKUs, to tell
-- the open tills the moment a price changes.
CREATE INDEX price_versions_by_time ON price_versions (effective_at_us);
