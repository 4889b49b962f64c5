-- A refund goes back through the provider that took the payment: an online refund is
-- 'pending' until that provider has accepted it; everything else is 'settled'.
ALTER TABLE payments ADD COLUMN state TEXT NOT NULL DEFAULT 'settled' CHECK (state IN ('settled', 'pending'));
CREATE INDEX payments_pending ON payments (state, recorded_at_us);
