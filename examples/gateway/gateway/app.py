"""The gateway's routes: a backend-for-frontend that spends most of each request waiting
on the service behind it (``GATEWAY_RATES_URL``, the lab's upstream service here), through
``requests`` with one pooled session per process, and a little CPU shaping the answer.

Configuration from the environment (lab-app.toml sets it): ``GATEWAY_RATES_URL``,
``GATEWAY_RATES_MS`` (how long the rates service takes, passed to it as ``ms``),
``GATEWAY_POOL`` (connections the session keeps per host).
"""

from __future__ import annotations

import os

import requests
from flask import Flask, jsonify, request
from requests.adapters import HTTPAdapter

#: Items a quote prices: the CPU part of a request (a few ms of Python).
QUOTE_ITEMS = 400
#: Seconds a call to the rates service may take before the gateway gives up.
RATES_TIMEOUT_S = 10


def create_app() -> Flask:
    """The gateway: one ``requests.Session`` per process (its pool opens lazily, after the
    fork), shared by the process's threads or greenlets."""
    app = Flask(__name__)
    base = os.environ.get("GATEWAY_RATES_URL", "http://upstream:8081")
    wait_ms = int(os.environ.get("GATEWAY_RATES_MS", "150"))
    pool = int(os.environ.get("GATEWAY_POOL", "64"))
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=pool))

    def rates(ms: int) -> dict:
        answer = session.get(f"{base}/delay", params={"ms": ms}, timeout=RATES_TIMEOUT_S)
        answer.raise_for_status()
        return answer.json()

    @app.get("/quote")
    def quote():
        item = request.args.get("item", "1")
        if not item.isdigit() or not 1 <= int(item) <= 100_000:
            return jsonify(error="item must be a whole number from 1 to 100000"), 400
        upstream = rates(wait_ms)
        base_cents = 100 + int(item) % 900
        lines = sorted(({"sku": f"{int(item)}-{i}", "cents": (base_cents * (i + 7)) % 9973,
                         "discount": round(((i * 37) % 17) / 100, 2)} for i in range(QUOTE_ITEMS)),
                       key=lambda line: (line["cents"], line["sku"]))
        total = sum(line["cents"] * (1 - line["discount"]) for line in lines)
        return jsonify(item=int(item), waited_ms=upstream["slept_ms"], total_cents=round(total),
                       cheapest=lines[:5])

    @app.get("/status")
    def status():
        upstream = rates(wait_ms // 3)
        return jsonify(status="ok", rates_ms=upstream["slept_ms"])

    return app
