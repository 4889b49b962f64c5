-- Foundation: catalog, locations, one price book, one stock ledger, outbox, idempotency.
-- Times are integer microseconds since the Unix epoch (UTC); dates are 'YYYY-MM-DD'.
-- The PostgreSQL twin of migrations/sqlite: the same tables, columns and constraints; only identity columns and collation differ.
-- Text columns use the "C" collation so that ORDER BY and keyset cursors sort bytewise, exactly as SQLite does, whatever the database locale.

CREATE TABLE products (
    code          TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL,
    category      TEXT COLLATE "C" NOT NULL,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL
);

CREATE TABLE skus (
    code          TEXT COLLATE "C" PRIMARY KEY,
    product_code  TEXT COLLATE "C" NOT NULL REFERENCES products(code),
    name          TEXT COLLATE "C" NOT NULL,
    attributes    TEXT COLLATE "C" NOT NULL,            -- JSON object, sorted by name
    gtin          TEXT COLLATE "C" NOT NULL UNIQUE,
    active        BOOLEAN NOT NULL,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL
);
CREATE INDEX skus_by_product ON skus (product_code, code);

CREATE TABLE partners (
    code          TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL,
    created_at_us BIGINT NOT NULL
);

CREATE TABLE locations (
    code               TEXT COLLATE "C" PRIMARY KEY,
    name               TEXT COLLATE "C" NOT NULL,
    kind               TEXT COLLATE "C" NOT NULL CHECK (kind IN ('warehouse', 'direct', 'authorized', 'township_authorized')),
    county_code        TEXT COLLATE "C" NOT NULL,
    township_code      TEXT COLLATE "C",
    longitude          DOUBLE PRECISION NOT NULL,
    latitude           DOUBLE PRECISION NOT NULL,
    status             TEXT COLLATE "C" NOT NULL CHECK (status IN ('planned', 'open', 'closed')),
    opened_on          TEXT COLLATE "C",
    closed_on          TEXT COLLATE "C",
    pickup             BOOLEAN NOT NULL,
    ship_from_store    BOOLEAN NOT NULL,
    delivery_radius_km INTEGER NOT NULL,
    partner_code       TEXT COLLATE "C" REFERENCES partners(code),
    created_at_us      BIGINT NOT NULL,
    updated_at_us      BIGINT NOT NULL
);
CREATE INDEX locations_by_kind ON locations (kind, code);
CREATE INDEX locations_by_county ON locations (county_code);

-- Price versions are never updated or deleted: the full history is the audit trail.
CREATE TABLE price_versions (
    sku_code         TEXT COLLATE "C" NOT NULL REFERENCES skus(code),
    version          BIGINT NOT NULL,
    list_price_fen   BIGINT NOT NULL CHECK (list_price_fen > 0),
    member_price_fen BIGINT CHECK (member_price_fen > 0 AND member_price_fen <= list_price_fen),
    effective_at_us  BIGINT NOT NULL,
    scheduled_at_us  BIGINT NOT NULL,
    note             TEXT COLLATE "C",
    PRIMARY KEY (sku_code, version)
);
CREATE INDEX price_versions_by_effective ON price_versions (sku_code, effective_at_us);

-- Balances derived from stock_entries, keyed by custodian location, SKU and owner.
CREATE TABLE stock_positions (
    location_code TEXT COLLATE "C" NOT NULL REFERENCES locations(code),
    sku_code      TEXT COLLATE "C" NOT NULL REFERENCES skus(code),
    owner         TEXT COLLATE "C" NOT NULL,
    on_hand       BIGINT NOT NULL,
    reserved      BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (location_code, sku_code, owner),
    CHECK (reserved >= 0 AND reserved <= on_hand)
);
CREATE INDEX stock_positions_by_sku ON stock_positions (sku_code, location_code);

CREATE TABLE safety_stock (
    location_code TEXT COLLATE "C" NOT NULL REFERENCES locations(code),
    sku_code      TEXT COLLATE "C" NOT NULL REFERENCES skus(code),
    quantity      BIGINT NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (location_code, sku_code)
);

-- Append-only: never updated, never deleted.
CREATE TABLE stock_entries (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT COLLATE "C" NOT NULL UNIQUE,
    command_id     TEXT COLLATE "C" NOT NULL,
    kind           TEXT COLLATE "C" NOT NULL,
    location_code  TEXT COLLATE "C" NOT NULL REFERENCES locations(code),
    sku_code       TEXT COLLATE "C" NOT NULL REFERENCES skus(code),
    owner          TEXT COLLATE "C" NOT NULL,
    on_hand_delta  BIGINT NOT NULL,
    reserved_delta BIGINT NOT NULL,
    reservation_id TEXT COLLATE "C",
    transfer_id    TEXT COLLATE "C",
    reference      TEXT COLLATE "C",
    recorded_at_us BIGINT NOT NULL
);
CREATE INDEX stock_entries_by_position ON stock_entries (location_code, sku_code, seq);
CREATE INDEX stock_entries_by_sku ON stock_entries (sku_code, seq);

CREATE TABLE reservations (
    id            TEXT COLLATE "C" PRIMARY KEY,
    location_code TEXT COLLATE "C" NOT NULL REFERENCES locations(code),
    sku_code      TEXT COLLATE "C" NOT NULL REFERENCES skus(code),
    owner         TEXT COLLATE "C" NOT NULL,
    quantity      BIGINT NOT NULL CHECK (quantity > 0),
    expires_at_us BIGINT NOT NULL,
    status        TEXT COLLATE "C" NOT NULL CHECK (status IN ('active', 'released', 'expired', 'committed')),
    reference     TEXT COLLATE "C",
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL
);
CREATE INDEX reservations_due ON reservations (status, expires_at_us);

CREATE TABLE transfers (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    from_location_code TEXT COLLATE "C" NOT NULL REFERENCES locations(code),
    to_location_code   TEXT COLLATE "C" NOT NULL REFERENCES locations(code),
    sku_code           TEXT COLLATE "C" NOT NULL REFERENCES skus(code),
    owner              TEXT COLLATE "C" NOT NULL,
    quantity           BIGINT NOT NULL CHECK (quantity > 0),
    status             TEXT COLLATE "C" NOT NULL CHECK (status IN ('in_transit', 'received')),
    shipped_at_us      BIGINT NOT NULL,
    received_at_us     BIGINT
);

-- Every mutation writes its event here in the same transaction.
CREATE TABLE outbox (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT COLLATE "C" NOT NULL UNIQUE,
    event_type     TEXT COLLATE "C" NOT NULL,
    subject        TEXT COLLATE "C" NOT NULL,
    payload        TEXT COLLATE "C" NOT NULL,
    occurred_at_us BIGINT NOT NULL
);

-- One row per (scope, key): the request's fingerprint and the response it got.
CREATE TABLE idempotency_keys (
    scope         TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    request_hash  TEXT COLLATE "C" NOT NULL,
    status        INTEGER NOT NULL,
    body          TEXT COLLATE "C" NOT NULL,
    created_at_us BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
