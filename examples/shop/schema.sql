-- The shop's tables, created in the lab's PostgreSQL before the app starts (lab-app.toml).
CREATE TABLE product (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL,
    price_cents integer NOT NULL,
    stock       integer NOT NULL
);
CREATE TABLE review (
    id         serial PRIMARY KEY,
    product_id integer NOT NULL REFERENCES product (id),
    stars      integer NOT NULL CHECK (stars BETWEEN 1 AND 5),
    body       text NOT NULL
);
CREATE INDEX review_product ON review (product_id);
CREATE TABLE orders (
    id         serial PRIMARY KEY,
    product_id integer NOT NULL REFERENCES product (id),
    quantity   integer NOT NULL CHECK (quantity > 0),
    created    timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON product, review, orders TO app;
GRANT USAGE ON SEQUENCE orders_id_seq TO app;
