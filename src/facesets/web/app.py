"""`facesets serve`: review people in the browser. Server-rendered pages over the catalog.

Every page opens the catalog for the length of one request (WAL + busy timeout, so a running
`embed` never shows "database is locked"); every change goes through `facesets.people` inside
one short transaction, so the CLI and later runs respect it. State-changing requests must carry
the per-server token; images are served by catalog id only.
"""
from __future__ import annotations

import base64
import contextlib
import json
import secrets
import threading
from pathlib import Path
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (JSONResponse, PlainTextResponse, RedirectResponse,
                                 Response)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from facesets import people as P
from facesets.catalog import Catalog
from facesets.media.decode import DecodeError
from facesets.web import queries, settings as S
from facesets.web.finder import Finder
from facesets.web.images import PLACEHOLDER, cached_thumbnail, face_thumbnail, photo_jpeg
from facesets.web.jobs import Jobs

HERE = Path(__file__).resolve().parent
TOKEN_HEADER = "x-facesets-token"
MAX_UPLOAD = 64 * 1024 * 1024
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


class Web:
    """The server's state: catalog path, token, background jobs, find-by-photo queries."""

    def __init__(self, catalog_path: Path, token: str | None = None):
        self.catalog_path = Path(catalog_path).resolve()
        self.token = token or secrets.token_urlsafe(32)
        self.jobs = Jobs(self.catalog_path)
        self.finder = Finder()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(token=self.token, catalog_name=self.catalog_path.name)
        for name in self.templates.env.list_templates():   # compiled now, not on the first visit
            self.templates.env.get_template(name)

    @contextlib.contextmanager
    def catalog(self):
        """A connection for one request: short-lived, so readers never queue behind a writer."""
        catalog = Catalog.open(self.catalog_path, create=False)
        try:
            yield catalog
        finally:
            catalog.close()

    def page(self, request: Request, name: str, **context) -> Response:
        context.setdefault("msg", request.query_params.get("msg", ""))
        context.setdefault("err", request.query_params.get("err", ""))
        return self.templates.TemplateResponse(request, name, context)


def back(url: str, **params) -> RedirectResponse:
    """303 to a page, with a message for the user."""
    params = {k: v for k, v in params.items() if v}
    joiner = "&" if "?" in url else "?"
    return RedirectResponse(url + (joiner + urlencode(params) if params else ""), status_code=303)


def _int(value, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def create_app(catalog_path: str | Path, *, token: str | None = None,
               allowed_hosts: list[str] | None = None, prewarm_pages: int = 0) -> Starlette:
    """The app over one catalog. `prewarm_pages`: cut the cover thumbnails of that many grid pages
    in a background thread at start, so the first screen the user opens is already cached."""
    web = Web(Path(catalog_path), token)

    def mutation(handler):
        """POST endpoint: checks the token (form field or header), then runs `handler(request, form)`
        in a worker thread. Without the right token: 403 and nothing changes."""
        async def endpoint(request: Request) -> Response:
            form = await request.form(max_files=4, max_fields=5000)
            supplied = request.headers.get(TOKEN_HEADER) or form.get("token") or ""
            if not isinstance(supplied, str) or not secrets.compare_digest(supplied, web.token):
                return PlainTextResponse("refused: missing or wrong token", status_code=403)
            return await run_in_threadpool(handler, request, form)
        return endpoint

    # -- people grid ---------------------------------------------------------------------------
    def grid(request: Request) -> Response:
        qp = request.query_params
        args = dict(sort=qp.get("sort", "count"), q=qp.get("q", ""), min_faces=_int(qp.get("min"), 1),
                    named=qp.get("named", ""), status=qp.get("status", ""))
        with web.catalog() as cat:
            result = queries.people_grid(cat.conn, page=_int(qp.get("page"), 1), **args)
            counts = cat.counts()
        for row in result.rows:   # cached covers travel inside the page: the first screen is one request
            cached = cached_thumbnail(web.catalog_path, row["cover"]) if row["cover"] else None
            row["cover_src"] = ("data:image/jpeg;base64," + base64.b64encode(cached.read_bytes()).decode()
                                if cached else f"/thumb/{row['cover']}")
        keep = {k: v for k, v in qp.items() if k != "page" and v}
        return web.page(request, "people.html", grid=result, args=args, sorts=list(queries.SORTS),
                        counts=counts, query=urlencode(keep), nav="people")

    def merge_selected(request: Request, form) -> Response:
        ids = [_int(v) for v in form.getlist("person") if _int(v)]
        if len(ids) < 2:
            return back("/", err="select two or more people to merge")
        with web.catalog() as cat:
            with cat.transaction() as conn:
                rows = [queries.person(conn, P.resolve(conn, i)) for i in ids]
                rows = [r for r in rows if r]
                into = max(rows, key=lambda r: (r["name"] is not None, r["n_faces"], -r["id"]))
                P.merge_people(conn, [r["id"] for r in rows], into["id"])
                _keep_name(conn, into, rows)
        return back(f"/person/{into['id']}", msg=f"merged {len(rows) - 1} people into {into['label']}")

    # -- person page ---------------------------------------------------------------------------
    def person_page(request: Request) -> Response:
        pid = request.path_params["pid"]
        page = _int(request.query_params.get("page"), 1)
        with web.catalog() as cat:
            current = P.resolve(cat.conn, pid)
            if current != pid:
                return back(f"/person/{current}", msg=f"person {pid} was merged into person {current}")
            person = queries.person(cat.conn, pid)
            if person is None:
                return PlainTextResponse("no such person", status_code=404)
            faces = queries.person_faces(cat.conn, pid, page)
            choices = queries.people_choices(cat.conn)
            removed = cat.conn.execute("SELECT COUNT(*) FROM face_exclusions WHERE person_id = ?", (pid,)).fetchone()[0]
        pages = max(1, -(-person["n_faces"] // queries.FACE_PAGE))
        return web.page(request, "person.html", person=person, faces=faces, choices=choices, page=page,
                        pages=pages, removed=removed, nav="people")

    def face_action(request: Request, form) -> Response:
        pid = request.path_params["pid"]
        faces = [_int(v) for v in form.getlist("face") if _int(v)]
        action = form.get("action", "")
        url = f"/person/{pid}"
        if not faces:
            return back(url, err="select one or more faces first")
        with web.catalog() as cat:
            with cat.transaction() as conn:
                held = {r[0] for r in conn.execute(
                    "SELECT id FROM faces WHERE person_id = ? AND id IN (%s)" % ",".join("?" * len(faces)),
                    (pid, *faces))}
                faces = [f for f in faces if f in held]
                if not faces:
                    return back(url, err="those faces are no longer in this person")
                if action == "remove":
                    P.remove_faces(conn, faces, pid)
                    return back(url, msg=f"removed {len(faces)} face(s); they will not rejoin this person")
                if action == "move":
                    target = queries.find_person(conn, form.get("target", ""))
                    if target is None or target == pid:
                        return back(url, err=f"no other person called {form.get('target', '')!r}")
                    P.move_faces(conn, faces, target)
                    return back(url, msg=f"moved {len(faces)} face(s) to person {target}")
                if action == "split":
                    new = P.split_faces(conn, faces, name=(form.get("name") or "").strip() or None)
                    return back(f"/person/{new}", msg=f"split {len(faces)} face(s) off into this new person")
        return back(url, err=f"unknown action {action!r}")

    def rename(request: Request, form) -> Response:
        pid = request.path_params["pid"]
        name = " ".join(str(form.get("name", "")).split())[:200]
        with web.catalog() as cat:
            with cat.transaction() as conn:
                if conn.execute("SELECT 1 FROM people WHERE id = ?", (pid,)).fetchone() is None:
                    return PlainTextResponse("no such person", status_code=404)
                P.rename_person(conn, pid, name or None)
        return back(f"/person/{pid}", msg=f"renamed to {name}" if name else "name cleared")

    def merge_into(request: Request, form) -> Response:
        pid = request.path_params["pid"]
        with web.catalog() as cat:
            with cat.transaction() as conn:
                if P.resolve(conn, pid) != pid or queries.person(conn, pid) is None:
                    return PlainTextResponse("no such person (merged or never made)", status_code=404)
                other = queries.find_person(conn, form.get("other", ""))
                if other is None or other == pid:
                    return back(f"/person/{pid}", err=f"no other person called {form.get('other', '')!r}")
                rows = [queries.person(conn, pid), queries.person(conn, other)]
                P.merge_people(conn, [other], pid)
                _keep_name(conn, rows[0], rows)
        return back(f"/person/{pid}", msg=f"merged person {other} into this person")

    # -- unsorted ------------------------------------------------------------------------------
    def unsorted_page(request: Request) -> Response:
        page = _int(request.query_params.get("page"), 1)
        with web.catalog() as cat:
            faces, total = queries.unsorted(cat, page)
        pages = max(1, -(-total // queries.PAGE_SIZE))
        return web.page(request, "unsorted.html", faces=faces, total=total, page=page, pages=pages, nav="unsorted")

    def unsorted_action(request: Request, form) -> Response:
        face = request.path_params["face_id"]
        action = form.get("action", "")
        url = "/unsorted" + (f"?page={_int(form.get('page'), 1)}" if _int(form.get("page"), 1) > 1 else "")
        with web.catalog() as cat:
            with cat.transaction() as conn:
                if conn.execute("SELECT 1 FROM faces WHERE id = ?", (face,)).fetchone() is None:
                    return PlainTextResponse("no such face", status_code=404)
                target = queries.find_person(conn, form.get("target", ""))
                if target is None:
                    return back(url, err="no such person")
                if action in ("accept", "assign"):
                    P.move_faces(conn, [face], target)
                    msg = f"face {face} now belongs to person {target}"
                elif action == "reject":
                    P.remove_faces(conn, [face], target)   # records the exclusion; the face stays put
                    msg = f"face {face} will not be suggested for person {target} again"
                else:
                    return back(url, err=f"unknown action {action!r}")
        return back(url, msg=msg)

    # -- find by photo -------------------------------------------------------------------------
    def find_page(request: Request) -> Response:
        return web.page(request, "find.html", query=None, nav="find")

    def find_upload(request: Request, form) -> Response:
        upload = form.get("photo")
        if upload is None or isinstance(upload, str):
            return back("/find", err="choose a photo to upload")
        data = upload.file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return back("/find", err=f"that file is over {MAX_UPLOAD // 2**20} MB")
        suffix = Path(upload.filename or "").suffix.lower()[:8] or ".jpg"
        try:
            with web.catalog() as cat:
                query = web.finder.from_upload(cat, data, suffix)
        except (DecodeError, ValueError) as exc:
            return back("/find", err=f"cannot use that photo: {exc}")
        return back(f"/find/q/{query.id}", msg=f"{len(query.boxes)} face(s) found")

    def find_catalog_photo(request: Request) -> Response:
        try:
            with web.catalog() as cat:
                query = web.finder.from_catalog(cat, request.path_params["file_id"])
        except DecodeError as exc:
            return back("/find", err=f"cannot read that photo: {exc}")
        if query is None:
            return PlainTextResponse("no such photo", status_code=404)
        return back(f"/find/q/{query.id}")

    def find_results(request: Request) -> Response:
        query = web.finder.get(request.path_params["qid"])
        if query is None:
            return back("/find", err="that search has expired; upload the photo again")
        chosen = _int(request.query_params.get("face"), -1)
        if chosen < 0 and len(query.boxes) == 1:
            chosen = 0
        people = faces = None
        if 0 <= chosen < len(query.boxes):
            with web.catalog() as cat:
                people, faces = queries.rank(cat, query.embeddings[chosen], skip_face=query.face_ids[chosen])
        return web.page(request, "find.html", query=query, chosen=chosen, people=people, faces=faces, nav="find")

    def find_image(request: Request) -> Response:
        query = web.finder.get(request.path_params["qid"])
        if query is None:
            return PlainTextResponse("expired", status_code=404)
        return Response(query.jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})

    # -- export and settings (background jobs) --------------------------------------------------
    def export_page(request: Request) -> Response:
        with web.catalog() as cat:
            history = cat.conn.execute("SELECT * FROM exports ORDER BY id DESC LIMIT 20").fetchall()
            facesets = cat.conn.execute("SELECT COUNT(*) FROM people WHERE faceset = 1 AND merged_into IS NULL").fetchone()[0]
        job = web.jobs.latest("export")
        default_out = (job.detail if job else history[0]["out"] if history
                       else str(web.catalog_path.with_name(web.catalog_path.stem + "-export")))
        return web.page(request, "export.html", history=history, default_out=default_out, facesets=facesets,
                        job=job, nav="export")

    def export_start(request: Request, form) -> Response:
        out = str(form.get("out", "")).strip()
        targets = tuple(t for t in form.getlist("target") if t in S.EXPORT_TARGETS) or ("roop", "folders")
        if not out or not Path(out).expanduser().is_absolute():
            return back("/export", err="give an absolute output folder")
        out_path = Path(out).expanduser()

        def work(catalog, hook):
            from facesets.export import export
            return export(catalog, out_path, targets=targets, progress=hook)
        try:
            job = web.jobs.start("export", work, detail=str(out_path))
        except RuntimeError as exc:
            return back("/export", err=str(exc))
        return back("/export", msg=f"export started (job {job.id})")

    def job_status(request: Request) -> Response:
        job = web.jobs.get(request.path_params["job_id"])
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return JSONResponse(job.as_dict())

    def settings_page(request: Request) -> Response:
        with web.catalog() as cat:
            fields = S.fields(cat)
        return web.page(request, "settings.html", fields=fields, job=web.jobs.latest("cluster"), nav="settings")

    def settings_save(request: Request, form) -> Response:
        with web.catalog() as cat:
            try:
                params = S.parse(cat, form)
            except ValueError as exc:
                return back("/settings", err=str(exc))
            with cat.transaction():
                cat.set_meta(S.META_KEY, json.dumps(params, sort_keys=True))
        return back("/settings", msg="saved")

    def recluster(request: Request, form) -> Response:
        def work(catalog, hook):
            from facesets.cluster import cluster
            return cluster(catalog, params=S.stored(catalog) or None, progress=hook)
        try:
            job = web.jobs.start("cluster", work)
        except RuntimeError as exc:
            return back("/settings", err=str(exc))
        return back("/settings", msg=f"re-cluster started (job {job.id}); names, removals and merges are kept")

    # -- images, by catalog id only -------------------------------------------------------------
    def make_thumb(face_id: int) -> bytes | None:
        with web.catalog() as cat:
            path = face_thumbnail(cat.conn, web.catalog_path, face_id)
        return path.read_bytes() if path else None

    async def thumb(request: Request) -> Response:
        face_id = request.path_params["face_id"]
        cached = cached_thumbnail(web.catalog_path, face_id)
        data = cached.read_bytes() if cached else await run_in_threadpool(make_thumb, face_id)
        if data is None:
            return Response(PLACEHOLDER, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    def photo(request: Request) -> Response:
        with web.catalog() as cat:
            result = photo_jpeg(cat.conn, request.path_params["file_id"])
        if result is None:
            return PlainTextResponse("no such photo", status_code=404)
        return Response(result[0], media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})

    routes = [
        Route("/", grid), Route("/people/merge", mutation(merge_selected), methods=["POST"]),
        Route("/person/{pid:int}", person_page),
        Route("/person/{pid:int}/faces", mutation(face_action), methods=["POST"]),
        Route("/person/{pid:int}/rename", mutation(rename), methods=["POST"]),
        Route("/person/{pid:int}/merge", mutation(merge_into), methods=["POST"]),
        Route("/unsorted", unsorted_page),
        Route("/unsorted/{face_id:int}", mutation(unsorted_action), methods=["POST"]),
        Route("/find", find_page), Route("/find", mutation(find_upload), methods=["POST"]),
        Route("/find/photo/{file_id:int}", find_catalog_photo),
        Route("/find/q/{qid:str}", find_results), Route("/find/q/{qid:str}/image", find_image),
        Route("/export", export_page), Route("/export", mutation(export_start), methods=["POST"]),
        Route("/jobs/{job_id:int}", job_status),
        Route("/settings", settings_page), Route("/settings", mutation(settings_save), methods=["POST"]),
        Route("/settings/recluster", mutation(recluster), methods=["POST"]),
        Route("/thumb/{face_id:int}", thumb), Route("/photo/{file_id:int}", photo),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.web = web
    if prewarm_pages:
        threading.Thread(target=_prewarm, args=(web, prewarm_pages), name="facesets-prewarm", daemon=True).start()
    return app


def _prewarm(web: Web, pages: int) -> None:
    """Cover thumbnails of the first grid pages (default sort); failures are the pages' to show."""
    try:
        with web.catalog() as cat:
            for page in range(1, pages + 1):
                for row in queries.people_grid(cat.conn, page=page).rows:
                    if row["cover"] and not cached_thumbnail(web.catalog_path, row["cover"]):
                        face_thumbnail(cat.conn, web.catalog_path, row["cover"])
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


def _keep_name(conn, into: dict, rows: list[dict]) -> None:
    """A merge keeps a name the user gave: an unnamed target takes the one named source's name."""
    if into.get("name"):
        return
    names = {r["name"] for r in rows if r and r.get("name")}
    if len(names) == 1:
        P.rename_person(conn, into["id"], names.pop())
