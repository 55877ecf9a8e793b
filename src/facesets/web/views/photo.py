"""A whole photo with every face's box drawn and named: a click on a box opens that person (or,
for a face in nobody, selects it to assign); a box drawn on a face the detector missed becomes
a new face of the catalog (`Finder.drawn_face`), selected, ready to assign, and the review
queue proposes it."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from facesets.media.decode import DecodeError
from facesets.web import queries
from facesets.web.state import Web, back, live, number


def page(web: Web, request: Request) -> Response:
    file_id = request.path_params["file_id"]
    context = _context(web, file_id, number(request.query_params.get("face"), 0))
    if context is None:
        return PlainTextResponse("no such photo", status_code=404)
    return web.page(request, "photo.html", **context, nav="")


def _context(web: Web, file_id: int, selected: int = 0) -> dict | None:
    catalog = web.catalog()
    photo = catalog.files.get(file_id)
    if photo is None or not photo.width or not photo.height:
        return None
    faces = catalog.faces.of_file(file_id)
    owners = catalog.faces.owners(face_id for face_id, _, _ in faces)
    labels = catalog.people.labels({p for p in owners.values() if p})
    hidden = catalog.people.hidden_ids()
    boxes = [{"id": face_id, "person": owners.get(face_id), "label": labels.get(owners.get(face_id), "in nobody"),
              "hidden": owners.get(face_id) in hidden,
              "left": 100 * x1 / photo.width, "top": 100 * y1 / photo.height,
              "width": 100 * (x2 - x1) / photo.width, "height": 100 * (y2 - y1) / photo.height}
             for face_id, (x1, y1, x2, y2), _ in faces]
    chosen = next((b for b in boxes if b["id"] == selected), None)
    return dict(photo=photo, boxes=boxes, chosen=chosen, photo_name=photo.path.replace("\\", "/").rsplit("/", 1)[-1],
                choices=catalog.people.move_targets() if chosen else [])


def _answer(web: Web, request: Request, file_id: int, selected: int = 0, msg: str = "", err: str = "") -> Response:
    url = f"/photo/{file_id}/view" + (f"?face={selected}" if selected else "")
    if not live(request):
        return back(url, msg=msg, err=err)
    context = _context(web, file_id, selected)
    if context is None:
        return PlainTextResponse("no such photo", status_code=404)
    return web.fragment(request, "_photo.html", msg=msg, err=err, **context)


def draw(web: Web, request: Request, form) -> Response:
    """A box drawn on the photo (fractions of its width and height) becomes a face in nobody."""
    file_id = request.path_params["file_id"]
    try:
        box = [float(form.get(k, "")) for k in ("x1", "y1", "x2", "y2")]
        face_id = web.finder.drawn_face(web.catalog(), file_id, box)
    except (ValueError, DecodeError) as exc:
        return _answer(web, request, file_id, err=f"no face added: {exc}")
    web.review.add_photos(web.catalog(), [file_id])
    return _answer(web, request, file_id, face_id, msg=f"added face {face_id}: assign it here, or find it in the review queue")


def assign(web: Web, request: Request, form) -> Response:
    """One face of the photo goes to a person typed by the user."""
    file_id = request.path_params["file_id"]
    face = number(form.get("face"))
    catalog = web.catalog()
    with catalog.transaction():
        if face not in {face_id for face_id, _, _ in catalog.faces.of_file(file_id)}:
            return PlainTextResponse("no such face in this photo", status_code=404)
        target = queries.find_person(catalog, form.get("target", ""))
        if target is None:
            return _answer(web, request, file_id, face, err=f"no person called {form.get('target', '')!r}")
        catalog.people.move_faces([face], target)
    return _answer(web, request, file_id, face, msg=f"face {face} now belongs to person {target}")
