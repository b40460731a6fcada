"""The dashboard's HTTP server (standard library ``ThreadingHTTPServer``): the page and its JSON API.

Routes (docs/serve.md): ``/`` the page, ``/app.js`` and ``/style.css`` its script and style
(served from this package, nothing from elsewhere); ``/api/config``, ``/api/status``,
``/api/hourly?point=ID[&day=YYYY-MM-DD]``, ``/api/quality?point=ID[&day=…]``, ``/api/warnings``.
Each API request opens the database read-only for its own snapshot and closes it (the receiver
may be writing in WAL mode meanwhile); an error is a JSON ``{"error": "one line"}``.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cemtool import substitute
from cemtool.quality import hour_start
from cemtool.records import iso_utc
from cemtool.serve import views
from cemtool.site import Site
from cemtool.store import Store, StoreError

log = logging.getLogger("cemtool.serve")
CACHE_ENTRIES = 256

STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}


def _static() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("cemtool.serve") / "static"
    return {route: ((folder / name).read_bytes(), ctype) for route, (name, ctype) in STATIC.items()}


class NotFound(LookupError):
    """No such API path."""


class Dashboard:
    """The dashboard of one database (and site), answering API paths with JSON-ready dicts."""

    def __init__(self, db_path: str | Path, site: Site | None = None, refresh_s: float = 30,
                 clock: Callable[[], float] = time.time, rule: str = "hj75",
                 hourly_kg_h: float | None = None) -> None:
        if rule not in substitute.RULES:
            raise ValueError(f"unknown substitution rule {rule!r}")
        self.db_path = Path(db_path)
        self.site = site
        self.refresh_s = refresh_s
        self.clock = clock
        self.rule = rule
        self.hourly_kg_h = hourly_kg_h
        self.static = _static()
        self._cache: dict[tuple, dict] = {}
        self._lock = threading.Lock()

    @contextmanager
    def store(self) -> Iterator[Store]:
        if not self.db_path.is_file():
            raise StoreError(f"no database at {self.db_path}")
        store = Store(self.db_path, readonly=True)
        try:
            yield store
        finally:
            store.close()

    def check(self) -> None:
        """Raise StoreError (one line) when the database cannot be read."""
        with self.store():
            pass

    def version(self) -> tuple:
        """Changes whenever the database does (any commit touches the WAL or the file)."""
        out = []
        for path in (self.db_path, self.db_path.with_name(self.db_path.name + "-wal")):
            try:
                st = path.stat()
                out += [st.st_mtime_ns, st.st_size, st.st_ino]
            except FileNotFoundError:
                out += [None]
        return tuple(out)

    def _cached(self, key: tuple, compute: Callable[[], dict]) -> dict:
        """``compute()`` once per key and database version: the hourly series, quality and
        warnings depend on the clock only through its hour, and are the costly views."""
        key = (*key, self.version())
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._lock:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = value
        return value

    def api(self, path: str, query: dict[str, str]) -> dict:
        """The JSON of an API path; ViewError for a bad request, NotFound for an unknown path."""
        if path == "/api/config":
            return {"refresh_s": self.refresh_s, "rule": self.rule, "window_h": views.WINDOW_H,
                    "site": None if self.site is None else str(self.site.path)}
        handler = {"/api/status": self._status, "/api/hourly": self._hourly,
                   "/api/quality": self._quality, "/api/warnings": self._warnings}.get(path)
        if handler is None:
            raise NotFound(path)
        now = self.clock()
        with self.store() as store:
            site = self.site or views.device_site(store)
            return handler(store, site, now, query)

    def _status(self, store: Store, site: Site, now: float, query: dict) -> dict:
        out = views.status(store, site, now)
        out["site"] = None if self.site is None else str(self.site.path)
        return out

    def _point(self, site: Site, query: dict) -> tuple:
        if "point" not in query:
            raise views.ViewError("missing ?point=ID")
        return views.point_of(site, query["point"]), parse_day(query.get("day"))

    def _hourly(self, store: Store, site: Site, now: float, query: dict) -> dict:
        point, day = self._point(site, query)
        return self._cached(("hourly", point.id, day, hour_start(int(now))),
                            lambda: views.hourly(store, site, point, day, now, self.rule))

    def _quality(self, store: Store, site: Site, now: float, query: dict) -> dict:
        point, day = self._point(site, query)
        return self._cached(("quality", point.id, day, hour_start(int(now))),
                            lambda: views.point_quality(store, site, point, day, now, self.rule))

    def _warnings(self, store: Store, site: Site, now: float, query: dict) -> dict:
        found = self._cached(("warnings", hour_start(int(now))), lambda: views.warnings(
            store, site, now, self.rule, self.hourly_kg_h))
        return {**found, "at": iso_utc(int(now))}


def parse_day(text: str | None) -> int | None:
    """UTC midnight of ``YYYY-MM-DD``; None for no day."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise views.ViewError(f"day {text!r} is not YYYY-MM-DD") from None
    return calendar.timegm(day.timetuple())


class Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "cemtool-serve"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        dashboard = self.server.dashboard
        if url.path in dashboard.static:
            body, ctype = dashboard.static[url.path]
            self._send(200, body, ctype)
            return
        if not url.path.startswith("/api/"):
            self._json(404, {"error": f"no page {url.path}"})
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            self._json(200, dashboard.api(url.path, query))
        except NotFound:
            self._json(404, {"error": f"no API {url.path}"})
        except views.ViewError as e:
            self._json(400, {"error": str(e)})
        except StoreError as e:
            log.error("%s: %s", url.path, e)
            self._json(503, {"error": str(e)})
        except Exception as e:  # one line to the page and the log, and the server goes on
            log.error("%s: internal error: %s: %s", url.path, type(e).__name__, e)
            self._json(500, {"error": f"internal error: {type(e).__name__}: {e}"})

    def _json(self, code: int, obj: dict) -> None:
        self._send(code, json.dumps(obj, ensure_ascii=False).encode(), "application/json")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
