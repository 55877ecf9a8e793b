"""What every view shares: the server's state (`Web`), and the small helpers a view answers with.

Catalog connections are reused per thread: each worker thread opens the catalog once (without a
migration check: the app factory already opened it once, which migrates) and keeps it until the
thread ends or the server stops. Reads need no transaction (WAL: a running `embed` never blocks
them); every change is one short `with catalog.transaction():` through the repositories and
never takes the writer lock, so the UI stays usable while a long `facesets run` holds it.
"""
from __future__ import annotations

import contextlib
import secrets
import threading
import weakref
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from facesets.catalog import Catalog
from facesets.web.finder import Finder
from facesets.web.jobs import Jobs
from facesets.web.review import ReviewQueue

HERE = Path(__file__).resolve().parent


class _ThreadCatalog:
    """One worker thread's open catalog; closed when the thread ends (its thread-locals go)."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def __del__(self):
        self.catalog.close()


class Web:
    """The server's state: catalog path, token, per-thread catalogs, background jobs,
    find-by-photo queries and the page templates."""

    def __init__(self, catalog_path: Path, token: str | None = None):
        self.catalog_path = Path(catalog_path).resolve()
        Catalog.open(self.catalog_path, create=False).close()   # the one migration check
        self.token = token or secrets.token_urlsafe(32)
        self.jobs = Jobs(self.catalog_path)
        self.finder = Finder()
        self.review = ReviewQueue()
        self._local = threading.local()
        self._held: weakref.WeakSet[_ThreadCatalog] = weakref.WeakSet()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(token=self.token, catalog_name=self.catalog_path.name)
        for name in self.templates.env.list_templates():   # compiled now, not on the first visit
            self.templates.env.get_template(name)

    def catalog(self) -> Catalog:
        """This thread's catalog, opened on its first request and reused by every later one."""
        held = getattr(self._local, "held", None)
        if held is None:
            held = _ThreadCatalog(Catalog.open(self.catalog_path, create=False, migrate=False))
            self._local.held = held
            self._held.add(held)
        return held.catalog

    def close(self) -> None:
        """Close every thread's catalog (the server stops: no request is running). Served
        again, each thread opens a new one."""
        self._local = threading.local()
        for held in list(self._held):
            held.catalog.close()

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        yield
        self.close()

    def page(self, request: Request, name: str, **context) -> Response:
        context.setdefault("msg", request.query_params.get("msg", ""))
        context.setdefault("err", request.query_params.get("err", ""))
        return self.templates.TemplateResponse(request, name, context)

    def fragment(self, request: Request, name: str, *, msg: str = "", err: str = "", push_url: str | None = None,
                 **context) -> Response:
        """The part of a page an action changed (a template starting with `_`), with the
        message put in the page's flash (an out-of-band swap); `push_url`: the address bar
        follows (a split lands on the new person), so the back button still works."""
        response = self.templates.TemplateResponse(request, name, {**context, "msg": msg, "err": err, "oob_flash": True})
        if push_url:
            response.headers["HX-Push-Url"] = push_url
        return response


def live(request: Request) -> bool:
    """Whether the request came from htmx (answered with a fragment, not a redirect)."""
    return request.headers.get("hx-request") == "true" and not request.headers.get("hx-history-restore-request")


def back(url: str, **params) -> RedirectResponse:
    """303 to a page, with a message for the user."""
    params = {k: v for k, v in params.items() if v}
    joiner = "&" if "?" in url else "?"
    return RedirectResponse(url + (joiner + urlencode(params) if params else ""), status_code=303)


def number(value, default: int = 0) -> int:
    """A whole number from a form field or query parameter; `default` when it is not one."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default
