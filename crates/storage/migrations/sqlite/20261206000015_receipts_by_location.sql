-- The console's page of one location shows its latest receipts, newest first, whatever
-- the size of the location's ledger.
CREATE INDEX stock_entries_receipts_by_location ON stock_entries (location_code, seq) WHERE kind = 'receipt';
