"""The lab's upstream HTTP service: answers ``GET /delay?ms=`` after that delay.

Built on aiohttp, so that a thousand waiting requests are a thousand suspended coroutines
on one event loop and cost it almost nothing: whatever concurrency the lab measures is the
calling configuration's, never this service's. It counts its own requests in flight and
keeps their peak, the third observer of the ``upstream`` workload:

    GET /delay?ms=<0..20000>   wait, then answer {"slept_ms": ms}
    GET /stats                 {"inflight": n, "peak": n, "served": n}
    POST /stats/reset          set the peak to the requests in flight now
    GET /healthz               {"status": "ok"}

The lab's agent (``labinstrument.agent``), forked before it serves, answers the container's
counters on a port of its own, and runs the fault scenarios' own clients inside the lab's
networks (``labinstrument.clients``).

A malformed or out-of-range ``ms`` is a 400 with a JSON message.
"""

from __future__ import annotations

import asyncio
import os
import re

from aiohttp import web

from labinstrument import agent, clients

#: Longest delay accepted, ms (the app's own /io bound).
MAX_DELAY_MS = 20_000
_WHOLE = re.compile(r"^[0-9]+$")
STATE = web.AppKey("state", dict)


async def delay(request: web.Request) -> web.Response:
    raw = request.query.get("ms", "")
    if not _WHOLE.match(raw) or int(raw) > MAX_DELAY_MS:
        return web.json_response(
            {"error": f"ms must be a whole number 0..{MAX_DELAY_MS}, got {raw!r}"}, status=400)
    state = request.app[STATE]
    state["inflight"] += 1
    state["peak"] = max(state["peak"], state["inflight"])
    try:
        await asyncio.sleep(int(raw) / 1000.0)
    finally:
        state["inflight"] -= 1
        state["served"] += 1
    return web.json_response({"slept_ms": int(raw)})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE])


async def reset(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state["peak"] = state["inflight"]
    return web.json_response(state)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app() -> web.Application:
    app = web.Application()
    app[STATE] = {"inflight": 0, "peak": 0, "served": 0}
    app.add_routes([web.get("/delay", delay), web.get("/stats", stats),
                    web.post("/stats/reset", reset), web.get("/healthz", healthz)])
    return app


if __name__ == "__main__":
    # The container's counters over HTTP, and the lab's own clients inside its networks.
    agent.start({**agent.ROUTES, **clients.ROUTES})
    # backlog: above the most connections the lab's configurations can open at once.
    web.run_app(make_app(), host="0.0.0.0", port=int(os.environ.get("PORT", "8081")),
                backlog=4096, access_log=None, print=None)
