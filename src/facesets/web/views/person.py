"""A person's page (faces best first, paged) and what the user does there: remove, move or split
off faces, rename, merge another person in."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from facesets.web import queries
from facesets.web.state import Web, back, number


def page(web: Web, request: Request) -> Response:
    pid = request.path_params["pid"]
    page = number(request.query_params.get("page"), 1)
    catalog = web.catalog()
    current = catalog.people.resolve(pid)
    if current != pid:
        return back(f"/person/{current}", msg=f"person {pid} was merged into person {current}")
    person = catalog.people.stats(pid)
    if person is None:
        return PlainTextResponse("no such person", status_code=404)
    faces = catalog.faces.cards_of_person(pid, limit=queries.FACE_PAGE, offset=(max(1, page) - 1) * queries.FACE_PAGE)
    return web.page(request, "person.html", person=person, faces=faces, choices=catalog.people.move_targets(),
                    page=page, pages=queries.pages(person.n_faces, queries.FACE_PAGE),
                    removed=catalog.people.removed_count(pid), nav="people")


def face_action(web: Web, request: Request, form) -> Response:
    pid = request.path_params["pid"]
    faces = [number(v) for v in form.getlist("face") if number(v)]
    action = form.get("action", "")
    url = f"/person/{pid}"
    if not faces:
        return back(url, err="select one or more faces first")
    catalog = web.catalog()
    with catalog.transaction():
        faces = catalog.faces.held(pid, faces)
        if not faces:
            return back(url, err="those faces are no longer in this person")
        if action == "remove":
            catalog.people.remove_faces(faces, pid)
            return back(url, msg=f"removed {len(faces)} face(s); they will not rejoin this person")
        if action == "move":
            target = queries.find_person(catalog, form.get("target", ""))
            if target is None or target == pid:
                return back(url, err=f"no other person called {form.get('target', '')!r}")
            catalog.people.move_faces(faces, target)
            return back(url, msg=f"moved {len(faces)} face(s) to person {target}")
        if action == "split":
            new = catalog.people.split_faces(faces, name=(form.get("name") or "").strip() or None)
            return back(f"/person/{new}", msg=f"split {len(faces)} face(s) off into this new person")
    return back(url, err=f"unknown action {action!r}")


def rename(web: Web, request: Request, form) -> Response:
    pid = request.path_params["pid"]
    name = " ".join(str(form.get("name", "")).split())[:200]
    catalog = web.catalog()
    with catalog.transaction():
        if catalog.people.get(pid) is None:
            return PlainTextResponse("no such person", status_code=404)
        catalog.people.rename(pid, name or None)
    return back(f"/person/{pid}", msg=f"renamed to {name}" if name else "name cleared")


def merge_into(web: Web, request: Request, form) -> Response:
    """Another person (typed by number or name) folds into this one, which keeps a name the
    user gave either of them."""
    pid = request.path_params["pid"]
    catalog = web.catalog()
    with catalog.transaction():
        if catalog.people.resolve(pid) != pid or catalog.people.get(pid) is None:
            return PlainTextResponse("no such person (merged or never made)", status_code=404)
        other = queries.find_person(catalog, form.get("other", ""))
        if other is None or other == pid:
            return back(f"/person/{pid}", err=f"no other person called {form.get('other', '')!r}")
        catalog.people.merge([other], pid)
    return back(f"/person/{pid}", msg=f"merged person {other} into this person")
