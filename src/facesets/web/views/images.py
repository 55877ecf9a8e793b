"""Images, always chosen by catalog id: a face's thumbnail (cut once, then served from the cache
without touching the catalog) and a whole photo."""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from facesets.web.images import LARGE, PLACEHOLDER, THUMB, cached_thumbnail, face_thumbnail, photo_jpeg
from facesets.web.state import Web


async def thumb(web: Web, request: Request) -> Response:
    return await _thumb(web, request.path_params["face_id"], THUMB)


async def large(web: Web, request: Request) -> Response:
    return await _thumb(web, request.path_params["face_id"], LARGE)


async def _thumb(web: Web, face_id: int, size: int) -> Response:
    cached = cached_thumbnail(web.catalog_path, face_id, size)
    data = cached.read_bytes() if cached else await run_in_threadpool(_cut, web, face_id, size)
    if data is None:
        return Response(PLACEHOLDER, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


def _cut(web: Web, face_id: int, size: int) -> bytes | None:
    path = face_thumbnail(web.catalog(), face_id, size)
    return path.read_bytes() if path else None


def photo(web: Web, request: Request) -> Response:
    result = photo_jpeg(web.catalog(), request.path_params["file_id"])
    if result is None:
        return PlainTextResponse("no such photo", status_code=404)
    return Response(result[0], media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})
