"""The review queue page: one item at a time, the face large and the suggested person's best faces
beside it (or two people side by side), decided with one key. Each decision answers with the
next item (htmx), whose pictures the page already fetched; without scripts the buttons post
and redirect. Server time goes out in a Server-Timing header (the benchmark reads it)."""
from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from facesets.catalog import Catalog
from facesets.curate.suggest import Item
from facesets.web.review import DEFAULT_MIN
from facesets.web.state import Web, back, live

BEST = 6       # the suggested person's best faces shown beside the face


def page(web: Web, request: Request) -> Response:
    started = time.perf_counter()
    minimum = _minimum(request.query_params.get("min"))
    catalog = web.catalog()
    web.review.refresh(catalog)
    face = request.query_params.get("face", "")
    prefer = next((f"{kind}:{face}" for kind in ("face", "weak") if web.review.find(f"{kind}:{face}")), None)
    context = _context(web, catalog, minimum, prefer)
    return _timed(web.page(request, "review.html", **context, nav="review"), started)


def decide(web: Web, request: Request, form) -> Response:
    started = time.perf_counter()
    minimum = _minimum(form.get("min"))
    catalog = web.catalog()
    outcome = web.review.decide(catalog, str(form.get("item", "")), str(form.get("stamp", "")),
                                str(form.get("decision", "")), minimum)
    return _timed(_answer(web, request, catalog, minimum, outcome), started)


def undo(web: Web, request: Request, form) -> Response:
    started = time.perf_counter()
    minimum = _minimum(form.get("min"))
    catalog = web.catalog()
    return _timed(_answer(web, request, catalog, minimum, web.review.undo(catalog)), started)


def _answer(web: Web, request: Request, catalog: Catalog, minimum: float, outcome) -> Response:
    msg, err = (outcome.message, "") if outcome.applied else ("", outcome.message)
    if not live(request):
        return back(f"/review?min={minimum:g}", msg=msg, err=err)
    return web.fragment(request, "_review_item.html", msg=msg, err=err, **_context(web, catalog, minimum))


def _minimum(raw) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        return DEFAULT_MIN
    return min(1.0, max(0.0, value))


def _context(web: Web, catalog: Catalog, minimum: float, prefer: str | None = None) -> dict:
    queue = web.review
    item = queue.current(catalog, prefer)
    people = catalog.people
    context = dict(item=item, minimum=minimum, stamp=queue.generation, left=queue.left(), skipped=len(queue.skipped),
                   can_undo=bool(queue.undo_stack), upcoming=_pictures(catalog, queue.after(item)))
    if item is None:
        return context
    ids = [item.was] + [c.person_id for c in item.choices] if item.was else [c.person_id for c in item.choices]
    counted = {pid: people.get(pid, with_count=True) for pid in ids}
    context.update(labels={pid: p.label for pid, p in counted.items() if p},
                   sizes={pid: p.n_faces for pid, p in counted.items() if p},
                   covers=catalog.faces.best_faces(ids))
    if item.kind == "merge":
        context["best"] = {pid: catalog.faces.cards_of_person(pid, limit=BEST + 2) for pid in ids}
        return context
    first = item.choices[0].person_id
    context.update(best=catalog.faces.cards_of_person(first, limit=BEST), face=catalog.faces.box(item.face_id),
                   more=len(queue.same_person(item, minimum)))
    return context


def _pictures(catalog: Catalog, item: Item | None) -> list[str]:
    """The addresses of an item's pictures, fetched while the user looks at the one before."""
    if item is None:
        return []
    if item.kind == "merge":
        people = [item.was, item.choices[0].person_id]
        return [f"/thumb/{c.id}" for pid in people for c in catalog.faces.cards_of_person(pid, limit=BEST + 2)]
    return [f"/thumb/{item.face_id}/large"] + [f"/thumb/{c.id}" for c in
                                               catalog.faces.cards_of_person(item.choices[0].person_id, limit=BEST)]


def _timed(response: Response, started: float) -> Response:
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response
