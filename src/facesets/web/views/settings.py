"""Clustering settings (stored in the catalog, so `facesets cluster` reads them too) and the
re-cluster button (a background job holding the writer lock; user decisions are kept)."""
from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from facesets.web import settings as params
from facesets.web.state import Web, back


def page(web: Web, request: Request) -> Response:
    return web.page(request, "settings.html", fields=params.fields(web.catalog()), job=web.jobs.latest("cluster"),
                    nav="settings")


def save(web: Web, request: Request, form) -> Response:
    catalog = web.catalog()
    try:
        values = params.parse(catalog, form)
    except ValueError as exc:
        return back("/settings", err=str(exc))
    with catalog.transaction():
        catalog.set_meta(params.META_KEY, json.dumps(values, sort_keys=True))
    return back("/settings", msg="saved")


def recluster(web: Web, request: Request, form) -> Response:
    def work(catalog, hook):
        from facesets.cluster import cluster
        return cluster(catalog, params=params.stored(catalog) or None, progress=hook)
    try:
        job = web.jobs.start("cluster", work)
    except RuntimeError as exc:
        return back("/settings", err=str(exc))
    return back("/settings", msg=f"re-cluster started (job {job.id}); names, removals and merges are kept")
