"""Unsorted faces (in no person, or alone in one) with the nearest person suggested: accept,
reject (never suggested for that person again) or assign to a person typed by the user. From
htmx an action answers with the face's card (gone once the face is sorted) and the count."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from facesets.web import queries
from facesets.web.state import Web, back, live, number


def page(web: Web, request: Request) -> Response:
    page = number(request.query_params.get("page"), 1)
    faces, suggestions, total = queries.unsorted(web.catalog(), page)
    return web.page(request, "unsorted.html", faces=faces, suggestions=suggestions, total=total, page=page,
                    pages=queries.pages(total, queries.PAGE_SIZE), nav="unsorted")


def action(web: Web, request: Request, form) -> Response:
    face = request.path_params["face_id"]
    action = form.get("action", "")
    url = "/unsorted" + (f"?page={number(form.get('page'), 1)}" if number(form.get("page"), 1) > 1 else "")
    catalog = web.catalog()
    with catalog.transaction():
        if not catalog.faces.exists(face):
            return PlainTextResponse("no such face", status_code=404)
        target = queries.find_person(catalog, form.get("target", ""))
        if target is None:
            return _answer(web, request, face, url, err="no such person")
        if action in ("accept", "assign"):
            catalog.people.move_faces([face], target)
            msg = f"face {face} now belongs to person {target}"
        elif action == "reject":
            catalog.people.remove_faces([face], target)   # records the exclusion; the face stays put
            msg = f"face {face} will not be suggested for person {target} again"
        else:
            return _answer(web, request, face, url, err=f"unknown action {action!r}")
    return _answer(web, request, face, url, msg=msg)


def _answer(web: Web, request: Request, face_id: int, url: str, msg: str = "", err: str = "") -> Response:
    """The face's card while it is still unsorted, and the count (htmx), else a redirect."""
    if not live(request):
        return back(url, msg=msg, err=err)
    catalog = web.catalog()
    face = catalog.faces.details([face_id]).get(face_id)
    person = catalog.people.get(face.person_id, with_count=True) if face and face.person_id else None
    still = face is not None and (person is None or person.n_faces == 1)
    return web.fragment(request, "_unsorted_answer.html", msg=msg, err=err, f=face if still else None,
                        suggestions=queries.suggest(catalog, [face]) if still else {},
                        total=catalog.faces.unsorted_count(), page=number(request.query_params.get("page"), 1))
