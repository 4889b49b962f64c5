-- Which order a reservation is held for: looked up by every stock command on a reservation
-- and by the sweeper, so that an order's hold moves only with its order.
CREATE INDEX order_allocations_by_reservation ON order_allocations (reservation_id);
