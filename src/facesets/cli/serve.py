"""`facesets serve`: the review UI in the browser, over one catalog."""
from __future__ import annotations

import errno
import os
import socket
import sys
import threading
import webbrowser
from pathlib import Path

import typer

from facesets.cli.main import app
from facesets.cli.ui import fail, notice, out

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def serve(
    catalog: Path = typer.Option(..., "--catalog", "-c", help="The library's catalog file (SQLite)."),
    port: int = typer.Option(8765, "--port", help="TCP port (0: any free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. Anything but loopback exposes "
                             "your photos to the network."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser."),
) -> None:
    """Review people in the browser: a keyboard review queue of suggestions, fix, rename, merge,
    split, hide strangers, faces on their photo (draw a missed one), find by photo, export.

    Every change is stored in the catalog at once, so closing and re-opening loses nothing and
    later CLI runs respect it."""
    import uvicorn

    from facesets.catalog import CatalogError
    from facesets.web import create_app

    if not catalog.exists():
        fail(f"no catalog at {catalog}")
    # DNS-rebinding guard: a page on another site cannot reach us through a name that resolves
    # to 127.0.0.1 (Starlette cannot parse an IPv6 Host header, so ::1 goes without it)
    allowed = ["127.0.0.1", "localhost"] if host in ("127.0.0.1", "localhost") else None
    try:   # opens the catalog once (fails early on a bad file; applies migrations)
        web_app = create_app(catalog, allowed_hosts=allowed, prewarm_pages=2)
    except CatalogError as exc:
        fail(str(exc))
    if host not in LOOPBACK:
        notice(f"warning: serving on {host}: anyone who can reach this address sees your photos and "
               "can change the catalog's people")
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    out.print(f"facesets serve: {url}  (catalog {Path(catalog).resolve()}; Ctrl+C to stop)",
              highlight=False, soft_wrap=True)
    sys.stdout.flush()
    if not no_browser and _has_display():
        threading.Timer(1.0, webbrowser.open, [url]).start()
    server = uvicorn.Server(uvicorn.Config(web_app, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=3))
    server.run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} is in use; pick another with --port")
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc})")
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _has_display() -> bool:
    """Open a browser only where one can appear (not on a headless box or over plain SSH)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                    or "microsoft" in os.uname().release.lower())
    return True
