"""Find by photo: upload one (its faces detected and embedded with the catalog's engine) or start
from a catalog photo, choose a face, see the people and faces most like it."""
from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from facesets.media.decode import DecodeError
from facesets.web import queries
from facesets.web.state import Web, back, number

MAX_UPLOAD = 64 * 1024 * 1024


def page(web: Web, request: Request) -> Response:
    return web.page(request, "find.html", query=None, nav="find")


def upload(web: Web, request: Request, form) -> Response:
    photo = form.get("photo")
    if photo is None or isinstance(photo, str):
        return back("/find", err="choose a photo to upload")
    data = photo.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return back("/find", err=f"that file is over {MAX_UPLOAD // 2**20} MB")
    suffix = Path(photo.filename or "").suffix.lower()[:8] or ".jpg"
    try:
        query = web.finder.from_upload(web.catalog(), data, suffix)
    except (DecodeError, ValueError) as exc:
        return back("/find", err=f"cannot use that photo: {exc}")
    return back(f"/find/q/{query.id}", msg=f"{len(query.boxes)} face(s) found")


def catalog_photo(web: Web, request: Request) -> Response:
    try:
        query = web.finder.from_catalog(web.catalog(), request.path_params["file_id"])
    except DecodeError as exc:
        return back("/find", err=f"cannot read that photo: {exc}")
    if query is None:
        return PlainTextResponse("no such photo", status_code=404)
    return back(f"/find/q/{query.id}")


def results(web: Web, request: Request) -> Response:
    query = web.finder.get(request.path_params["qid"])
    if query is None:
        return back("/find", err="that search has expired; upload the photo again")
    chosen = number(request.query_params.get("face"), -1)
    if chosen < 0 and len(query.boxes) == 1:
        chosen = 0
    people = faces = None
    if 0 <= chosen < len(query.boxes):
        people, faces = queries.rank(web.catalog(), query.embeddings[chosen], skip_face=query.face_ids[chosen])
    return web.page(request, "find.html", query=query, chosen=chosen, people=people, faces=faces, nav="find")


def image(web: Web, request: Request) -> Response:
    query = web.finder.get(request.path_params["qid"])
    if query is None:
        return PlainTextResponse("expired", status_code=404)
    return Response(query.jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})
