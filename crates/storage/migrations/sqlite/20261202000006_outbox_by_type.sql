-- Events of one type in seq order: a filtered event stream catching up (a store's price
-- feed resuming after `price.scheduled` events) reads only the events it delivers, not
-- every event since its position.
CREATE INDEX outbox_by_type ON outbox (event_type, seq);
