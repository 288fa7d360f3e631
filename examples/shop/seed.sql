-- 20,000 products and 60,000 reviews: enough rows that a search scans for a while.
INSERT INTO product (name, description, price_cents, stock)
SELECT 'product ' || i,
       'a ' || (ARRAY['red', 'blue', 'green', 'small', 'large', 'sturdy'])[1 + i % 6]
           || ' thing, model ' || md5(i::text),
       100 + (i * 37) % 10000,
       (i * 13) % 200
FROM generate_series(1, 20000) AS i;
INSERT INTO review (product_id, stars, body)
SELECT 1 + (i * 7919) % 20000, 1 + i % 5, 'review ' || md5((i * 31)::text)
FROM generate_series(1, 60000) AS i;
ANALYZE;
