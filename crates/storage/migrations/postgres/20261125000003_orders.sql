-- One customer and one order flow across every channel.

CREATE TABLE customers (
    mobile         TEXT COLLATE "C" PRIMARY KEY,
    points_balance BIGINT NOT NULL DEFAULT 0 CHECK (points_balance >= 0),
    created_at_us  BIGINT NOT NULL
);

-- Append-only: every change to a points balance.
CREATE TABLE points_entries (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mobile         TEXT COLLATE "C" NOT NULL REFERENCES customers(mobile),
    order_id       TEXT COLLATE "C",
    delta          BIGINT NOT NULL,
    reason         TEXT COLLATE "C" NOT NULL,
    recorded_at_us BIGINT NOT NULL
);
CREATE INDEX points_entries_by_customer ON points_entries (mobile, seq);

CREATE TABLE orders (
    id                      TEXT COLLATE "C" PRIMARY KEY,
    channel                 TEXT COLLATE "C" NOT NULL CHECK (channel IN ('online', 'store')),
    store_code              TEXT COLLATE "C" REFERENCES locations(code),
    fulfilment              TEXT COLLATE "C" NOT NULL CHECK (fulfilment IN ('delivery', 'pickup', 'carry_out', 'endless_aisle')),
    status                  TEXT COLLATE "C" NOT NULL,
    customer_mobile         TEXT COLLATE "C" REFERENCES customers(mobile),
    pickup_store_code       TEXT COLLATE "C" REFERENCES locations(code),
    pickup_code             TEXT COLLATE "C",
    destination_longitude   DOUBLE PRECISION,
    destination_latitude    DOUBLE PRECISION,
    destination_county_code TEXT COLLATE "C",
    sourcing                TEXT COLLATE "C",                -- JSON: the decision and why
    subtotal_fen            BIGINT NOT NULL,
    discount_fen            BIGINT NOT NULL,
    total_fen               BIGINT NOT NULL CHECK (total_fen >= 0),
    points_redeemed         BIGINT NOT NULL,
    points_earned           BIGINT NOT NULL DEFAULT 0,
    paid_fen                BIGINT NOT NULL DEFAULT 0,
    refunded_fen            BIGINT NOT NULL DEFAULT 0 CHECK (refunded_fen <= paid_fen),
    points_reversed         BIGINT NOT NULL DEFAULT 0,
    expires_at_us           BIGINT NOT NULL,
    placed_at_us            BIGINT NOT NULL,
    paid_at_us              BIGINT,
    fulfilled_at_us         BIGINT,
    completed_at_us         BIGINT,
    cancelled_at_us         BIGINT,
    updated_at_us           BIGINT NOT NULL
);
CREATE INDEX orders_by_customer ON orders (customer_mobile, id);
CREATE INDEX orders_due ON orders (status, expires_at_us);

CREATE TABLE order_lines (
    order_id          TEXT COLLATE "C" NOT NULL REFERENCES orders(id),
    line_no           BIGINT NOT NULL,
    sku_code          TEXT COLLATE "C" NOT NULL REFERENCES skus(code),
    quantity          BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_fen    BIGINT NOT NULL,
    list_price_fen    BIGINT NOT NULL,
    price_version     BIGINT NOT NULL,
    points_redeemed   BIGINT NOT NULL,
    discount_fen      BIGINT NOT NULL,
    paid_fen          BIGINT NOT NULL,
    returned_quantity BIGINT NOT NULL DEFAULT 0 CHECK (returned_quantity >= 0 AND returned_quantity <= quantity),
    PRIMARY KEY (order_id, line_no),
    FOREIGN KEY (sku_code, price_version) REFERENCES price_versions(sku_code, version)
);

-- Where each line's units are held: a reservation, and for a pickup elsewhere the transfer.
CREATE TABLE order_allocations (
    id             TEXT COLLATE "C" PRIMARY KEY,
    order_id       TEXT COLLATE "C" NOT NULL REFERENCES orders(id),
    line_no        BIGINT NOT NULL,
    location_code  TEXT COLLATE "C" NOT NULL REFERENCES locations(code),
    owner          TEXT COLLATE "C" NOT NULL,
    quantity       BIGINT NOT NULL CHECK (quantity > 0),
    reservation_id TEXT COLLATE "C" REFERENCES reservations(id),
    transfer_id    TEXT COLLATE "C" REFERENCES transfers(id)
);
CREATE INDEX order_allocations_by_order ON order_allocations (order_id, line_no);

CREATE TABLE payments (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    order_id           TEXT COLLATE "C" NOT NULL REFERENCES orders(id),
    kind               TEXT COLLATE "C" NOT NULL CHECK (kind IN ('payment', 'refund')),
    amount_fen         BIGINT NOT NULL CHECK (amount_fen >= 0),
    external_reference TEXT COLLATE "C" NOT NULL,
    method             TEXT COLLATE "C" NOT NULL,
    recorded_at_us     BIGINT NOT NULL
);
CREATE INDEX payments_by_order ON payments (order_id);

CREATE TABLE returns (
    id              TEXT COLLATE "C" PRIMARY KEY,
    order_id        TEXT COLLATE "C" NOT NULL REFERENCES orders(id),
    store_code      TEXT COLLATE "C" NOT NULL REFERENCES locations(code),
    refund_fen      BIGINT NOT NULL,
    points_restored BIGINT NOT NULL,
    points_reversed BIGINT NOT NULL,
    recorded_at_us  BIGINT NOT NULL
);
CREATE INDEX returns_by_order ON returns (order_id);

CREATE TABLE return_lines (
    return_id  TEXT COLLATE "C" NOT NULL REFERENCES returns(id),
    line_no    BIGINT NOT NULL,
    quantity   BIGINT NOT NULL CHECK (quantity > 0),
    damaged    BOOLEAN NOT NULL,
    refund_fen BIGINT NOT NULL,
    PRIMARY KEY (return_id, line_no)
);
