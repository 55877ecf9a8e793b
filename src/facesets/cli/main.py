"""`facesets` command line. Every command is a few lines over a library function."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from facesets.catalog import Catalog, CatalogError
from facesets.cli.ui import attach_logging, fail, notice, out, progress_bars
from facesets.config import MIN_FACE
from facesets.engines import EngineOptions, EngineUnavailable

app = typer.Typer(
    help="Sort a photo library by the identity of the faces in it and export clean per-person face sets.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)

CatalogOpt = typer.Option(..., "--catalog", "-c", help="The library's catalog file (SQLite); created if absent.")
EngineOpt = typer.Option("auto", "--engine", help="auto (InsightFace if its weights are present, else dlib), dlib, insightface.")
PackOpt = typer.Option("buffalo_l", "--pack", help="InsightFace model pack: buffalo_l, buffalo_s, antelopev2.")
ModelsOpt = typer.Option(None, "--models", help="Folder holding InsightFace packs (<DIR>/<pack>/*.onnx).")
DeviceOpt = typer.Option("auto", "--device", help="onnxruntime device: auto, cpu, cuda, directml, coreml.")
DetectorOpt = typer.Option("hog", "--detector", help="dlib engine detector: hog or yunet.")
MinFaceOpt = typer.Option(MIN_FACE, "--min-face", min=1, metavar="PX",
                          help="Smallest face to find, as the short edge of its box in original pixels: "
                               "smaller faces are neither looked for nor kept. InsightFace looks again, at the "
                               "photo's own resolution, where its 640 px pass of a large photo saw a faint "
                               "face this big or bigger.")
ClusterOpt = typer.Option(
    None, "--cluster", metavar="local[:N]|tcp://HOST:PORT",
    help="Detect and embed on a Dask cluster (pip install 'facesets[cluster]'): local[:N] starts N worker "
         "processes here (default: one per core); tcp://HOST:8786 or tls://HOST:8786 joins a running scheduler, "
         "whose workers read the photos by path. This machine keeps the catalog and commits every result.")
PathMapOpt = typer.Option(None, "--path-map", metavar="LOCAL=REMOTE",
                          help="With --cluster: workers find the files of LOCAL under REMOTE (repeatable).")
TlsCaOpt = typer.Option(None, "--tls-ca-file", help="With --cluster tls://: the CA certificate (PEM).")
TlsCertOpt = typer.Option(None, "--tls-cert", help="With --cluster tls://: this client's certificate (PEM).")
TlsKeyOpt = typer.Option(None, "--tls-key", help="With --cluster tls://: this client's private key (PEM).")


def open_catalog(path: Path, create: bool = True) -> Catalog:
    try:
        return Catalog.open(path, create=create)
    except CatalogError as exc:
        fail(str(exc))


def engine_options(engine: str, pack: str, models: Optional[Path], device: str, detector: str,
                   yunet_model: Optional[Path] = None, threads: Optional[int] = None) -> EngineOptions:
    return EngineOptions(engine=engine, pack=pack, models=str(models) if models else None, device=device,
                         detector=detector, yunet_model=str(yunet_model) if yunet_model else None,
                         threads=threads)


def cluster_options(cluster: Optional[str], path_map: Optional[List[str]], tls_ca_file: Optional[Path],
                    tls_cert: Optional[Path], tls_key: Optional[Path]):
    """--cluster and its settings as ClusterOptions (None: this machine)."""
    from facesets.embed import ClusterOptions

    if cluster is None:
        if path_map or tls_ca_file or tls_cert or tls_key:
            fail("--path-map and --tls-* apply to --cluster only")
        return None
    pairs = []
    for item in path_map or []:
        local, sep, remote = item.partition("=")
        if not sep or not local or not remote:
            fail(f"--path-map {item}: expected LOCAL=REMOTE")
        pairs.append((local, remote))
    return ClusterOptions(cluster, tuple(pairs), *(str(p) if p else None for p in (tls_ca_file, tls_cert, tls_key)))


@app.command()
def embed(
    sources: List[Path] = typer.Argument(..., help="Folders or files of photos (read-only, never written)."),
    catalog: Path = CatalogOpt,
    engine: str = EngineOpt, pack: str = PackOpt, models: Optional[Path] = ModelsOpt,
    device: str = DeviceOpt, detector: str = DetectorOpt,
    yunet_model: Optional[Path] = typer.Option(None, help="YuNet ONNX file for --detector yunet."),
    input_mode: str = typer.Option("photos", "--input", help="photos, crops (one face per image) or aligned (no detection)."),
    workers: Optional[int] = typer.Option(None, help="Decode threads, or worker processes for dlib (default: number of cores)."),
    threads: Optional[int] = typer.Option(None, help="onnxruntime threads per model (default: cores)."),
    reduced_decode: Optional[bool] = typer.Option(
        None, "--reduced-decode/--full-decode",
        help="Decode JPEGs DCT-reduced to the detector's size (default for dlib) or at full "
             "resolution (default for insightface: the same faces and embeddings as insightface's own loop)."),
    video_step: float = typer.Option(1.0, "--video-step", help="Videos: a frame every this many seconds, plus one "
                                     "at each scene change (near-identical frames are skipped)."),
    max_video_seconds: Optional[float] = typer.Option(None, "--max-video-seconds",
                                                      help="Videos: read only their first this many seconds."),
    video_max_faces: int = typer.Option(50, "--video-max-faces", help="Videos: at most this many faces each, the "
                                        "best frame of each span of the video (one long clip cannot flood a person)."),
    xmp: bool = typer.Option(True, "--xmp/--no-xmp", help="Names from XMP face regions (embedded, photo.jpg.xmp or "
                             "photo.xmp sidecars; needs the xmp extra): they seed people."),
    min_face: int = MinFaceOpt,
    cluster: Optional[str] = ClusterOpt, path_map: Optional[List[str]] = PathMapOpt,
    tls_ca_file: Optional[Path] = TlsCaOpt, tls_cert: Optional[Path] = TlsCertOpt, tls_key: Optional[Path] = TlsKeyOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Detect and embed every face under SOURCES (photos and videos: .mp4 .mov .m4v .mkv .avi
    .webm .3gp). Re-run to resume or to add new files. Folders facesets wrote are skipped."""
    from facesets.embed import ClusterError, EmbedOptions, embed as run_embed

    missing = [str(s) for s in sources if not s.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    on = cluster_options(cluster, path_map, tls_ca_file, tls_cert, tls_key)
    with open_catalog(catalog) as cat:
        try:
            with progress_bars(not quiet) as hook:
                result = run_embed(cat, sources,
                                   engine_options=engine_options(engine, pack, models, device, detector, yunet_model, threads),
                                   options=EmbedOptions(input_mode=input_mode, workers=workers, reduced_decode=reduced_decode,
                                                        video_step=video_step, max_video_seconds=max_video_seconds,
                                                        video_max_faces=video_max_faces, read_xmp=xmp,
                                                        min_face=min_face, cluster=on),
                                   progress=hook)
        except (CatalogError, ClusterError, EngineUnavailable, ValueError) as exc:
            fail(str(exc))
    out.print(f"files {result.files_scanned} (new {result.files_new}, aliases {result.aliases_new}), "
              f"decoded {result.decoded}, faces {result.faces}, no face {result.no_face}, errors {result.errors}")
    for reason, count in sorted(result.error_reasons.items(), key=lambda kv: -kv[1]):
        out.print(f"  {count:6d}  {reason}", highlight=False)
    if result.interrupted:
        notice("interrupted: finished work is saved; run the same command again to resume")
        raise typer.Exit(130)


@app.command()
def status(catalog: Path = CatalogOpt,
           errors: bool = typer.Option(False, "--errors", help="List every file that failed, with its reason."),
           as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON.")) -> None:
    """Counts of files, aliases, faces, no-face images and errors by reason."""
    with open_catalog(catalog, create=False) as cat:
        counts = cat.counts()
        model = cat.embedding_model()
        reasons = cat.files.error_reasons()
        if as_json:
            out.print_json(json.dumps({**counts, "model": model.key if model else None, "errors_by_reason": reasons}))
        else:
            out.print(f"catalog  {cat.path}")
            out.print(f"model    {model.key if model else '-'}")
            for key, value in counts.items():
                out.print(f"{key:8s} {value}")
            for reason, count in reasons.items():
                out.print(f"  {count:6d}  {reason}", highlight=False)
        if errors:
            for path, reason in cat.errors():
                typer.echo(f"{path}\t{reason}")


@app.command()
def models(models_dir: Optional[Path] = ModelsOpt) -> None:
    """Engines, which weights are present, and their licences."""
    from facesets.engines.packs import pack_status

    out.print("dlib        ready (dlib-bin + face_recognition_models; models CC0)")
    for row in pack_status(str(models_dir) if models_dir else None):
        state = f"ready in {row['folder']}" if row["ready"] else "not present (downloaded on first use)"
        out.print(f"{row['pack']:11s} {state}; {row['licence']}", highlight=False)


# Each room of the pipeline registers its commands on `app` from its own module.
COMMAND_MODULES = ("cluster", "enrich", "export", "run", "serve", "curate", "maintain", "crops", "names")


def _register_rooms() -> None:
    import importlib
    import importlib.util

    for name in COMMAND_MODULES:
        module = f"facesets.cli.{name}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


_register_rooms()
attach_logging()


def main() -> None:  # pragma: no cover
    app()
