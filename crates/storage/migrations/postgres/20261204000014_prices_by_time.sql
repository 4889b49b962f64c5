-- Each server's price clock finds the next versions to take effect, across all SKUs, to tell
-- the open tills the moment a price changes.
CREATE INDEX price_versions_by_time ON price_versions (effective_at_us);

-- The console's sales figures sum paid orders by day.
CREATE INDEX orders_by_paid ON orders (paid_at_us);

-- An order's page in the console lists its ledger entries: those of its holds and transfers,
-- and its returns (referenced by order).
CREATE INDEX stock_entries_by_reservation ON stock_entries (reservation_id) WHERE reservation_id IS NOT NULL;
CREATE INDEX stock_entries_by_transfer ON stock_entries (transfer_id) WHERE transfer_id IS NOT NULL;
CREATE INDEX stock_entries_by_reference ON stock_entries (reference) WHERE reference IS NOT NULL;
