"""Calls to the lab's upstream HTTP service (``GET /delay?ms=``) with two kinds of client.

- ``requests`` (urllib3 over the ``socket`` module, pure Python): as cooperative as the
  socket module is, so greenlets yield while it waits once gevent or eventlet patched it.
- ``pycurl`` (libcurl, C): the wait happens inside ``curl_easy_perform``, which no
  monkey-patching reaches (pycurl docs: it is a thin layer over libcurl's blocking easy
  interface), so it blocks a gevent or eventlet hub; it releases the GIL, so threads are
  unaffected.

Both open a new connection per request, and both give up after a connect timeout and the
delay plus a margin: an unreachable upstream is a 503, never a hang.
"""

from __future__ import annotations

import io
import logging
import os

import requests

#: Clients this interpreter cannot import, with the reason (pycurl may have no wheel for
#: a free-threaded build); asking for one answers a 503 that says so.
UNAVAILABLE: dict[str, str] = {}
try:
    import pycurl
except ImportError as exc:
    pycurl = None
    UNAVAILABLE["pycurl"] = str(exc)

CLIENTS = ("requests", "pycurl")
#: Seconds to connect before giving up.
CONNECT_TIMEOUT_S = 5
#: Seconds beyond the delay asked for before a call gives up.
READ_MARGIN_S = 5


class UpstreamUnavailable(RuntimeError):
    """The upstream service did not answer 200 in time (answered with a 503). Its message
    is for the client and names no address; the client library's own text is logged."""


log = logging.getLogger(__name__)


def base_url() -> str:
    """The upstream service's address on the lab's internal network (compose/app.yml)."""
    return os.environ.get("LAB_UPSTREAM_URL", "http://upstream:8081")


def _requests(url: str, timeout_s: float) -> int:
    return requests.get(url, timeout=(CONNECT_TIMEOUT_S, timeout_s)).status_code


def _pycurl(url: str, timeout_s: float) -> int:
    curl = pycurl.Curl()
    try:
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.WRITEDATA, io.BytesIO())
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_S * 1000)
        curl.setopt(pycurl.TIMEOUT_MS, int(timeout_s * 1000))
        curl.setopt(pycurl.NOSIGNAL, 1)  # no SIGALRM for timeouts: safe in threads
        curl.perform()
        return curl.getinfo(pycurl.RESPONSE_CODE)
    finally:
        curl.close()


_CALL = {"requests": _requests, "pycurl": _pycurl}
_ERRORS = (requests.RequestException, OSError) + ((pycurl.error,) if pycurl else ())


def delay(client: str, ms: int) -> None:
    """``GET /delay?ms=<ms>`` on the upstream service with ``client``.

    Raises:
        ValueError: an unknown client.
        UpstreamUnavailable: the client is not installed here (``UNAVAILABLE``), or no
            200 from the upstream service (its message says why, naming
            no address).
    """
    if client not in _CALL:
        raise ValueError(f"client must be one of {', '.join(CLIENTS)}, got {client!r}")
    if client in UNAVAILABLE:
        raise UpstreamUnavailable(f"client {client} is not installed on this configuration's Python")
    url = f"{base_url()}/delay?ms={ms}"
    try:
        status = _CALL[client](url, ms / 1000.0 + READ_MARGIN_S)
    except _ERRORS as exc:
        log.warning("upstream unavailable (%s): %s: %s", client, type(exc).__name__,
                    " ".join(str(exc).split()))
        raise UpstreamUnavailable("the upstream service could not be reached in time") from exc
    if status != 200:
        log.warning("upstream unavailable (%s): it answered %s", client, status)
        raise UpstreamUnavailable(f"the upstream service answered {status}")
