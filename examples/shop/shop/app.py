"""The shop's routes. Configuration comes from the environment (lab-app.toml sets it):
``SHOP_DATABASE_URL`` and ``SHOP_DB_POOL_SIZE`` (connections per process)."""

from __future__ import annotations

import os
import statistics

from flask import Flask, abort, jsonify, render_template, request
from sqlalchemy import create_engine, text

#: Products per page of /products.
PAGE_SIZE = 20
#: Reviews /stats reads and summarises in Python.
STATS_REVIEWS = 3000


def create_app() -> Flask:
    """The shop: one SQLAlchemy engine per process (its pool opens after the fork)."""
    app = Flask(__name__)
    engine = create_engine(
        os.environ.get("SHOP_DATABASE_URL", "postgresql+psycopg://app@postgres/postgres"),
        pool_size=int(os.environ.get("SHOP_DB_POOL_SIZE", "4")), max_overflow=0,
        pool_timeout=10, pool_pre_ping=False)

    @app.get("/products")
    def products():
        page = request.args.get("page", "1")
        if not page.isdigit() or not 1 <= int(page) <= 1000:
            return jsonify(error="page must be a whole number from 1 to 1000"), 400
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT id, name, price_cents, stock FROM product ORDER BY id "
                "LIMIT :n OFFSET :skip"), {"n": PAGE_SIZE, "skip": (int(page) - 1) * PAGE_SIZE})
            return jsonify(products=[dict(r._mapping) for r in rows])

    @app.get("/products/<int:product_id>")
    def product(product_id: int):
        with engine.connect() as conn:
            found = conn.execute(text("SELECT * FROM product WHERE id = :id"),
                                 {"id": product_id}).first()
            if found is None:
                abort(404)
            reviews = conn.execute(text(
                "SELECT stars, body FROM review WHERE product_id = :id ORDER BY id"),
                {"id": product_id}).all()
        return render_template("product.html", product=found, reviews=reviews)

    @app.get("/search")
    def search():
        term = request.args.get("q", "")
        if not 2 <= len(term) <= 40:
            return jsonify(error="q must be 2 to 40 characters"), 400
        with engine.connect() as conn:  # a scan: the database does the waiting
            rows = conn.execute(text(
                "SELECT id, name FROM product WHERE description ILIKE :pattern "
                "ORDER BY price_cents LIMIT 50"), {"pattern": f"%{term}%"}).all()
        return jsonify(results=[{"id": r.id, "name": r.name} for r in rows])

    @app.get("/stats")
    def stats():
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT product_id, stars FROM review ORDER BY id LIMIT :n"),
                                {"n": STATS_REVIEWS}).all()
        by_product: dict[int, list[int]] = {}
        for product_id, stars in rows:  # the CPU part: grouping, averages, a sort, in Python
            by_product.setdefault(product_id, []).append(stars)
        ranked = sorted(((statistics.fmean(s), len(s), p) for p, s in by_product.items()),
                        reverse=True)
        spread = statistics.pstdev(stars for s in by_product.values() for stars in s)
        return jsonify(products=len(by_product), spread=round(spread, 3),
                       top=[{"product": p, "average": round(a, 2), "reviews": n}
                            for a, n, p in ranked[:10]])

    @app.post("/orders")
    def order():
        body = request.get_json(silent=True) or {}
        product_id, quantity = body.get("product"), body.get("quantity")
        if not isinstance(product_id, int) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
            return jsonify(error="send {\"product\": <id>, \"quantity\": 1..100}"), 400
        with engine.begin() as conn:
            stock = conn.execute(text("SELECT stock FROM product WHERE id = :id"),
                                 {"id": product_id}).scalar()
            if stock is None:
                return jsonify(error="no such product"), 404
            new = conn.execute(text("INSERT INTO orders (product_id, quantity) VALUES (:p, :q) "
                                    "RETURNING id"), {"p": product_id, "q": quantity}).scalar()
        return jsonify(order=new), 201

    @app.errorhandler(404)
    def not_found(error):
        return jsonify(error="not found"), 404

    return app
