"""A person's page (faces best first, paged, each with the age at its photo's date when a birth
date is set) and what the user does there: remove, move or split off faces, rename, merge
another person in, hide or show the person, set a birth date. From htmx each action answers
with the person's part of the page; without scripts, with a redirect to the page."""
from __future__ import annotations

import datetime

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from facesets.curate.age_split import age_at
from facesets.web import queries
from facesets.web.state import Web, back, live, number


def page(web: Web, request: Request) -> Response:
    pid = request.path_params["pid"]
    current = web.catalog().people.resolve(pid)
    if current != pid:
        return back(f"/person/{current}", msg=f"person {pid} was merged into person {current}")
    context = _context(web, pid, number(request.query_params.get("page"), 1))
    if context is None:
        return PlainTextResponse("no such person", status_code=404)
    return web.page(request, "person.html", **context, nav="people")


def _context(web: Web, pid: int, page: int = 1) -> dict | None:
    """What the person's part of the page shows."""
    catalog = web.catalog()
    person = catalog.people.stats(pid)
    if person is None:
        return None
    facts = catalog.people.facts(pid)
    faces = catalog.faces.cards_of_person(pid, limit=queries.FACE_PAGE, offset=(max(1, page) - 1) * queries.FACE_PAGE)
    ages = {f.id: age_at(facts.birth_date, f.taken_at) for f in faces} if facts.birth_date else {}
    return dict(person=person, facts=facts, faces=faces, ages=ages, choices=catalog.people.move_targets(), page=page,
                pages=queries.pages(person.n_faces, queries.FACE_PAGE), removed=catalog.people.removed_count(pid))


def _answer(web: Web, request: Request, pid: int, msg: str = "", err: str = "", moved_to: bool = False) -> Response:
    """The person's part of the page (htmx), else a redirect to it. `moved_to`: the action
    landed on another person's page (a split): the address bar follows."""
    url = f"/person/{pid}"
    if not live(request):
        return back(url, msg=msg, err=err)
    context = _context(web, pid)
    if context is None:
        return PlainTextResponse("no such person", status_code=404)
    return web.fragment(request, "_person.html", msg=msg, err=err, push_url=url if moved_to else None, **context)


def face_action(web: Web, request: Request, form) -> Response:
    pid = request.path_params["pid"]
    faces = [number(v) for v in form.getlist("face") if number(v)]
    action = form.get("action", "")
    if not faces:
        return _answer(web, request, pid, err="select one or more faces first")
    catalog = web.catalog()
    with catalog.transaction():
        faces = catalog.faces.held(pid, faces)
        if not faces:
            return _answer(web, request, pid, err="those faces are no longer in this person")
        if action == "remove":
            catalog.people.remove_faces(faces, pid)
            # faces in nobody now: the queue may propose them elsewhere
            web.review.add_photos(catalog, {catalog.faces.box(f).file_id for f in faces})
            return _answer(web, request, pid, msg=f"removed {len(faces)} face(s); they will not rejoin this person")
        if action == "move":
            target = queries.find_person(catalog, form.get("target", ""))
            if target is None or target == pid:
                return _answer(web, request, pid, err=f"no other person called {form.get('target', '')!r}")
            catalog.people.move_faces(faces, target)
            return _answer(web, request, pid, msg=f"moved {len(faces)} face(s) to person {target}")
        if action == "split":
            new = catalog.people.split_faces(faces, name=(form.get("name") or "").strip() or None)
            return _answer(web, request, new, msg=f"split {len(faces)} face(s) off into this new person", moved_to=True)
    return _answer(web, request, pid, err=f"unknown action {action!r}")


def rename(web: Web, request: Request, form) -> Response:
    pid = request.path_params["pid"]
    name = " ".join(str(form.get("name", "")).split())[:200]
    catalog = web.catalog()
    with catalog.transaction():
        if catalog.people.get(pid) is None:
            return PlainTextResponse("no such person", status_code=404)
        catalog.people.rename(pid, name or None)
    return _answer(web, request, pid, msg=f"renamed to {name}" if name else "name cleared")


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
            return _answer(web, request, pid, err=f"no other person called {form.get('other', '')!r}")
        catalog.people.merge([other], pid)
    return _answer(web, request, pid, msg=f"merged person {other} into this person")


def facts(web: Web, request: Request, form) -> Response:
    """Hide or show the person, or set (or clear) its birth date."""
    pid = request.path_params["pid"]
    action = form.get("action", "")
    catalog = web.catalog()
    if catalog.people.get(pid) is None:
        return PlainTextResponse("no such person", status_code=404)
    if action in ("hide", "show"):
        with catalog.transaction():
            catalog.people.set_hidden([pid], hidden=action == "hide")
        if action == "hide":
            web.review.drop_people([pid])
        else:
            web.review.invalidate()
        return _answer(web, request, pid, msg="hidden: out of the grid, the review queue, exports and XMP tags"
                       if action == "hide" else "shown again")
    raw = str(form.get("birth_date", "")).strip()
    try:
        born = datetime.date.fromisoformat(raw).isoformat() if raw else None
    except ValueError:
        return _answer(web, request, pid, err=f"{raw!r} is not a date (YYYY-MM-DD)")
    with catalog.transaction():
        catalog.people.set_birth_date(pid, born)
    return _answer(web, request, pid, msg=f"born {born}: each face shows its age" if born else "birth date cleared")
