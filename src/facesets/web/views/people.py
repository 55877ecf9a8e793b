"""The people grid (filter, sort, page through thousands; hidden people only when asked) and what
the user does there: merge the people selected, hide or show them, hide every stranger (an
unnamed person of at most N faces). From htmx each action answers with the grid's part of the
page, under the same filters; without scripts, with a redirect."""
from __future__ import annotations

import base64
import logging
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response

from facesets.catalog import Catalog
from facesets.web import queries
from facesets.web.images import cached_thumbnail, face_thumbnail
from facesets.web.state import Web, back, live, number

log = logging.getLogger("facesets")
STRANGERS_MAX = 1


def grid(web: Web, request: Request) -> Response:
    return web.page(request, "people.html", **_context(web, request.query_params), nav="people")


def _context(web: Web, params) -> dict:
    """What the grid's part of the page shows under these filters (query parameters)."""
    params = dict(params)
    args = dict(sort=params.get("sort", "count"), q=params.get("q", ""), min_faces=number(params.get("min"), 1),
                named=params.get("named", ""), status=params.get("status", ""),
                hidden=params.get("hidden", "") if params.get("hidden", "") in queries.HIDDEN_FILTERS else "")
    catalog = web.catalog()
    result = queries.people_grid(catalog, page=number(params.get("page"), 1), **args)
    covers = {}
    for row in result.rows:   # cached covers travel inside the page: the first screen is one request
        cached = cached_thumbnail(web.catalog_path, row.cover) if row.cover else None
        covers[row.id] = ("data:image/jpeg;base64," + base64.b64encode(cached.read_bytes()).decode()
                          if cached else f"/thumb/{row.cover}")
    hidden = catalog.people.hidden_ids()
    keep = {k: v for k, v in params.items() if k != "page" and v}
    return dict(grid=result, covers=covers, args=args, sorts=list(catalog.people.GRID_SORTS), counts=catalog.counts(),
                query=urlencode(keep), hidden=hidden, n_hidden=len(hidden),
                strangers_max=number(params.get("max_faces"), STRANGERS_MAX))


def _answer(web: Web, request: Request, form, msg: str = "", err: str = "", url: str | None = None) -> Response:
    """The grid under the filters it was shown with (htmx), else a redirect to it (or `url`)."""
    query = str(form.get("query", ""))
    if not live(request):
        return back(url or ("/?" + query if query else "/"), msg=msg, err=err)
    return web.fragment(request, "_people.html", msg=msg, err=err, **_context(web, parse_qsl(query)))


def merge_selected(web: Web, request: Request, form) -> Response:
    """The selected people become one: the person `priority_key` puts first (named or pinned,
    then the most faces, then the oldest number); it keeps a name the user gave."""
    ids = [number(v) for v in form.getlist("person") if number(v)]
    if len(ids) < 2:
        return _answer(web, request, form, err="select two or more people to merge")
    catalog = web.catalog()
    with catalog.transaction():
        found = {catalog.people.resolve(i) for i in ids}
        found = [pid for pid in found if catalog.people.get(pid)]
        if not found:
            return _answer(web, request, form, err="select two or more people to merge")
        into = catalog.people.merge_winner(found)
        catalog.people.merge(found, into.id)
        label = catalog.people.get(into.id).label
    return _answer(web, request, form, msg=f"merged {len(found) - 1} people into {label}", url=f"/person/{into.id}")


def hide_selected(web: Web, request: Request, form) -> Response:
    """Hide the selected people (out of the grid, the review queue, exports and XMP tags), or
    show them again."""
    ids = [number(v) for v in form.getlist("person") if number(v)]
    action = form.get("action", "hide")
    if not ids:
        return _answer(web, request, form, err="select one or more people first")
    catalog = web.catalog()
    with catalog.transaction():
        catalog.people.set_hidden(ids, hidden=action != "show")
    if action == "show":
        web.review.invalidate()         # their items come back with the next build
    else:
        web.review.drop_people(ids)
    return _answer(web, request, form, msg=f"{'showing' if action == 'show' else 'hid'} {len(ids)} "
                   f"{'person' if len(ids) == 1 else 'people'}" + (" again" if action == "show" else ""))


def hide_strangers(web: Web, request: Request, form) -> Response:
    """Hide every unnamed person holding at most N faces."""
    most = number(form.get("max_faces"), 0)
    if most < 1:
        return _answer(web, request, form, err="give the most faces a stranger holds (1 or more)")
    catalog = web.catalog()
    with catalog.transaction():
        strangers = catalog.people.strangers(most)
        catalog.people.set_hidden(strangers)
    web.review.drop_people(strangers)
    return _answer(web, request, form, msg=f"hid {len(strangers)} unnamed people with at most {most} "
                   f"face{'s' if most > 1 else ''}; the hidden filter shows them")


def prewarm(web: Web, pages: int) -> None:
    """Cut the cover thumbnails of the first grid pages (default sort) and build the review
    queue, so the first screens the user opens are ready. Failures are the pages' to show."""
    try:
        with Catalog.open(web.catalog_path, create=False, migrate=False) as catalog:
            for page in range(1, pages + 1):
                for row in queries.people_grid(catalog, page=page).rows:
                    if row.cover and not cached_thumbnail(web.catalog_path, row.cover):
                        face_thumbnail(catalog, row.cover)
            web.review.refresh(catalog)
    except Exception:  # noqa: BLE001 - an optimisation only
        log.debug("serve: cutting the first covers failed", exc_info=True)
