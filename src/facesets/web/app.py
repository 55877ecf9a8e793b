"""`facesets serve`: review people in the browser. Server-rendered pages over the catalog.

The app factory, the route table, the middleware and the token check live here; the views live
in web/views/ (one module per page) and share the server's state (web/state.py: per-thread
catalog connections, templates, jobs). State-changing requests must carry the per-server token;
images are served by catalog id only.
"""
from __future__ import annotations

import inspect
import secrets
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from facesets.web.state import HERE, Web
from facesets.web.views import export, find, images, people, person, photo, review, settings, unsorted

TOKEN_HEADER = "x-facesets-token"
GET, POST = "GET", "POST"
# Every page and action: (method, path, view). A GET view is view(web, request); a POST view is
# view(web, request, form) and runs only after the token check.
ROUTES = [
    (GET, "/", people.grid),
    (POST, "/people/merge", people.merge_selected),
    (POST, "/people/hide", people.hide_selected),
    (POST, "/people/strangers", people.hide_strangers),
    (GET, "/person/{pid:int}", person.page),
    (POST, "/person/{pid:int}/faces", person.face_action),
    (POST, "/person/{pid:int}/rename", person.rename),
    (POST, "/person/{pid:int}/merge", person.merge_into),
    (POST, "/person/{pid:int}/facts", person.facts),
    (GET, "/review", review.page),
    (POST, "/review", review.decide),
    (POST, "/review/undo", review.undo),
    (GET, "/photo/{file_id:int}/view", photo.page),
    (POST, "/photo/{file_id:int}/faces", photo.draw),
    (POST, "/photo/{file_id:int}/assign", photo.assign),
    (GET, "/unsorted", unsorted.page),
    (POST, "/unsorted/{face_id:int}", unsorted.action),
    (GET, "/find", find.page),
    (POST, "/find", find.upload),
    (GET, "/find/photo/{file_id:int}", find.catalog_photo),
    (GET, "/find/q/{qid:str}", find.results),
    (GET, "/find/q/{qid:str}/image", find.image),
    (GET, "/export", export.page),
    (POST, "/export", export.start),
    (GET, "/jobs/{job_id:int}", export.job_status),
    (GET, "/settings", settings.page),
    (POST, "/settings", settings.save),
    (POST, "/settings/recluster", settings.recluster),
    (GET, "/thumb/{face_id:int}", images.thumb),
    (GET, "/thumb/{face_id:int}/large", images.large),
    (GET, "/photo/{file_id:int}", images.photo),
]
# scripts and everything else from this server only; no framing (clickjacking); no sniffing
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                 b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Pure ASGI middleware adding SECURITY_HEADERS to every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)
        await self.app(scope, receive, send_with_headers)


def create_app(catalog_path: str | Path, *, token: str | None = None,
               allowed_hosts: list[str] | None = None, prewarm_pages: int = 0) -> Starlette:
    """The app over one catalog (opened once here, which applies its migrations). `prewarm_pages`:
    cut the cover thumbnails of that many grid pages, and build the review queue, in a
    background thread at start, so the first screens the user opens are ready."""
    web = Web(Path(catalog_path), token)
    routes = [Route(path, _endpoint(web, method, view), methods=[method]) for method, path, view in ROUTES]
    routes.append(Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"))
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(routes=routes, middleware=middleware, lifespan=web.lifespan)
    app.state.web = web
    if prewarm_pages:
        threading.Thread(target=people.prewarm, args=(web, prewarm_pages), name="facesets-prewarm",
                         daemon=True).start()
    return app


def _endpoint(web: Web, method: str, view):
    """The Starlette endpoint of one view: a change first checks the token (form field or header;
    without the right one: 403 and nothing changes); plain views run in a worker thread."""
    if method == POST:
        async def endpoint(request: Request) -> Response:
            form = await request.form(max_files=4, max_fields=5000)
            supplied = request.headers.get(TOKEN_HEADER) or form.get("token") or ""
            if not isinstance(supplied, str) or not secrets.compare_digest(supplied, web.token):
                return PlainTextResponse("refused: missing or wrong token", status_code=403)
            return await run_in_threadpool(view, web, request, form)
    elif inspect.iscoroutinefunction(view):
        async def endpoint(request: Request) -> Response:
            return await view(web, request)
    else:
        async def endpoint(request: Request) -> Response:
            return await run_in_threadpool(view, web, request)
    return endpoint
