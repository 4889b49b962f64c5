-- Which order a transfer carries goods for: looked up by every receipt through the stock
-- API, so that goods in transit for a paid order are received only by the order.
CREATE INDEX order_allocations_by_transfer ON order_allocations (transfer_id);
