"""Export from the browser: the export runs as a background job (writer lock held) whose progress
the page polls; earlier exports are listed from the catalog."""
from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from facesets.web.settings import EXPORT_TARGETS
from facesets.web.state import Web, back


def page(web: Web, request: Request) -> Response:
    catalog = web.catalog()
    history = catalog.exports.history(20)
    job = web.jobs.latest("export")
    default_out = (job.detail if job else history[0].out if history
                   else str(web.catalog_path.with_name(web.catalog_path.stem + "-export")))
    return web.page(request, "export.html", history=history, default_out=default_out,
                    facesets=catalog.people.facesets_count(), job=job, nav="export")


def start(web: Web, request: Request, form) -> Response:
    out = str(form.get("out", "")).strip()
    targets = tuple(t for t in form.getlist("target") if t in EXPORT_TARGETS) or ("roop", "folders")
    if not out or not Path(out).expanduser().is_absolute():
        return back("/export", err="give an absolute output folder")
    out_path = Path(out).expanduser()

    def work(catalog, hook):
        from facesets.export import export
        return export(catalog, out_path, targets=targets, progress=hook)
    try:
        job = web.jobs.start("export", work, detail=str(out_path))
    except RuntimeError as exc:
        return back("/export", err=str(exc))
    return back("/export", msg=f"export started (job {job.id})")


def job_status(web: Web, request: Request) -> Response:
    """A background job's progress (export or re-cluster), polled by the page that started it."""
    job = web.jobs.get(request.path_params["job_id"])
    if job is None:
        return JSONResponse({"error": "no such job"}, status_code=404)
    return JSONResponse(job.as_dict())
