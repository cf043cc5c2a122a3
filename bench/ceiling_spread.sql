-- Ceiling, spread case: the minimal SQL transaction of a 3-line order over 1,000 SKUs
-- (product ids 1..1000, three distinct ones, 1 unit each), same rows as the service layer.
-- One round trip (pipeline mode, prepared statements). The inventory rows are locked
-- in (product, location) order (no deadlocks between orders sharing products) after the
-- INSERTs, decremented with a guard, ledgered and allocated (the one location, main) in one
-- statement, held until COMMIT.
-- Variables from bench/ceiling.py: -D run=<tag> -D seq=0.
\set seq :seq + 1
\set a random(0, 999)
\set b (:a + random(1, 499)) % 1000
\set c (:b + random(1, 499)) % 1000
\set a :a + 1
\set b :b + 1
\set c :c + 1
\startpipeline
BEGIN;
INSERT INTO orders (number, status, customer_name, customer_email, stock_committed_at, created_at, updated_at)
VALUES ('P' || :run || '-' || :client_id || '-' || :seq, 'confirmed', 'Bench Client', 'bench@example.com',
        now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');
INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
SELECT currval('orders_id_seq'), p.id, 1, p.price_cents FROM products p WHERE p.id IN (:a, :b, :c);
WITH locked AS (
    SELECT product_id, location_id FROM inventory WHERE product_id IN (:a, :b, :c)
    ORDER BY product_id, location_id FOR UPDATE),
taken AS (
    UPDATE inventory i SET quantity = i.quantity - 1, updated_at = now() AT TIME ZONE 'UTC'
    FROM locked l
    WHERE i.product_id = l.product_id AND i.location_id = l.location_id AND i.quantity >= 1
    RETURNING i.product_id, i.location_id, i.quantity),
allocated AS (
    INSERT INTO order_item_allocations (order_item_id, location_id, quantity)
    SELECT oi.id, taken.location_id, 1 FROM taken
    JOIN order_items oi ON oi.product_id = taken.product_id AND oi.order_id = currval('orders_id_seq'))
INSERT INTO inventory_movements (product_id, location_id, order_id, delta, quantity_after, reason, actor, created_at)
SELECT product_id, location_id, currval('orders_id_seq'), -1, quantity, 'order_placed', 'bench',
       now() AT TIME ZONE 'UTC'
FROM taken
WHERE 1 / ((SELECT count(*) FROM taken) / 3)::int = 1;
COMMIT;
\endpipeline
