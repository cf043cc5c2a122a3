-- Ceiling, hot case: the minimal SQL transaction of a 1-line order of the hot SKU.
-- Same rows as shop.orders.place_order + commit: the order (stock committed), its line
-- with the price copied from the product, a guarded decrement of the inventory row (the one
-- location, main), one order_placed ledger row and the line's allocation there, commit. The whole transaction goes in one round trip
-- (pipeline mode, prepared statements); the row lock is taken by the UPDATE, after the
-- INSERTs, and held only until COMMIT.
-- Variables from bench/ceiling.py: -D run=<tag> -D seq=0 -D hot_id=<product id>.
\set seq :seq + 1
\startpipeline
BEGIN;
INSERT INTO orders (number, status, customer_name, customer_email, stock_committed_at, created_at, updated_at)
VALUES ('P' || :run || '-' || :client_id || '-' || :seq, 'confirmed', 'Bench Client', 'bench@example.com',
        now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');
INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
SELECT currval('orders_id_seq'), p.id, 1, p.price_cents FROM products p WHERE p.id = :hot_id;
-- Guarded decrement and its ledger row in one statement. The one-time filter raises
-- division_by_zero (rolling everything back) unless every line got its stock.
WITH taken AS (
    UPDATE inventory SET quantity = quantity - 1, updated_at = now() AT TIME ZONE 'UTC'
    WHERE product_id = :hot_id AND quantity >= 1
    RETURNING product_id, location_id, quantity),
allocated AS (
    INSERT INTO order_item_allocations (order_item_id, location_id, quantity)
    SELECT currval('order_items_id_seq'), location_id, 1 FROM taken)
INSERT INTO inventory_movements (product_id, location_id, order_id, delta, quantity_after, reason, actor, created_at)
SELECT product_id, location_id, currval('orders_id_seq'), -1, quantity, 'order_placed', 'bench',
       now() AT TIME ZONE 'UTC'
FROM taken
WHERE 1 / ((SELECT count(*) FROM taken) / 1)::int = 1;
COMMIT;
\endpipeline
