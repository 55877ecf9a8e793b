"""The people grid (filter, sort, page through thousands) and merging the people selected on it."""
from __future__ import annotations

import base64
import logging
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from facesets.catalog import Catalog
from facesets.web import queries
from facesets.web.images import cached_thumbnail, face_thumbnail
from facesets.web.state import Web, back, number

log = logging.getLogger("facesets")


def grid(web: Web, request: Request) -> Response:
    qp = request.query_params
    args = dict(sort=qp.get("sort", "count"), q=qp.get("q", ""), min_faces=number(qp.get("min"), 1),
                named=qp.get("named", ""), status=qp.get("status", ""))
    catalog = web.catalog()
    result = queries.people_grid(catalog, page=number(qp.get("page"), 1), **args)
    counts = catalog.counts()
    covers = {}
    for row in result.rows:   # cached covers travel inside the page: the first screen is one request
        cached = cached_thumbnail(web.catalog_path, row.cover) if row.cover else None
        covers[row.id] = ("data:image/jpeg;base64," + base64.b64encode(cached.read_bytes()).decode()
                          if cached else f"/thumb/{row.cover}")
    keep = {k: v for k, v in qp.items() if k != "page" and v}
    return web.page(request, "people.html", grid=result, covers=covers, args=args,
                    sorts=list(catalog.people.GRID_SORTS), counts=counts, query=urlencode(keep), nav="people")


def merge_selected(web: Web, request: Request, form) -> Response:
    """The selected people become one: the person `priority_key` puts first (named or pinned,
    then the most faces, then the oldest number); it keeps a name the user gave."""
    ids = [number(v) for v in form.getlist("person") if number(v)]
    if len(ids) < 2:
        return back("/", err="select two or more people to merge")
    catalog = web.catalog()
    with catalog.transaction():
        found = {catalog.people.resolve(i) for i in ids}
        found = [pid for pid in found if catalog.people.get(pid)]
        if not found:
            return back("/", err="select two or more people to merge")
        into = catalog.people.merge_winner(found)
        catalog.people.merge(found, into.id)
        label = catalog.people.get(into.id).label
    return back(f"/person/{into.id}", msg=f"merged {len(found) - 1} people into {label}")


def prewarm(web: Web, pages: int) -> None:
    """Cut the cover thumbnails of the first grid pages (default sort), so the first screen the
    user opens is already cached. Failures are the pages' to show."""
    try:
        with Catalog.open(web.catalog_path, create=False, migrate=False) as catalog:
            for page in range(1, pages + 1):
                for row in queries.people_grid(catalog, page=page).rows:
                    if row.cover and not cached_thumbnail(web.catalog_path, row.cover):
                        face_thumbnail(catalog, row.cover)
    except Exception:  # noqa: BLE001 - an optimisation only
        log.debug("serve: cutting the first covers failed", exc_info=True)
