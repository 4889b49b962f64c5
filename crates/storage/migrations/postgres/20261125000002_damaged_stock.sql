-- Damaged units are held apart from sellable stock: returned damaged, awaiting disposal.
ALTER TABLE stock_positions ADD COLUMN damaged BIGINT NOT NULL DEFAULT 0 CHECK (damaged >= 0);
ALTER TABLE stock_entries ADD COLUMN damaged_delta BIGINT NOT NULL DEFAULT 0;
