"""Issue 6, acceptance 4: how fast `facesets serve` shows the first screen of the people grid with
5,000 people. Builds a synthetic catalog (real lfw158 photos behind symlinks, so cover
thumbnails are really cut), serves it on a free port and measures:
- html_uncached_ms / html_cached_ms: the grid page's HTML (median of 10 requests) before and after
  the covers are cut (cached covers are inlined in the page, so the first screen is one request),
- first_screen_cold_ms: Chromium opening the grid until every image on screen has loaded, with no
  thumbnail cached yet (the page's performance.now(), i.e. from navigation start; *_wall_ms adds
  Playwright's own round trips),
- first_screen_warm_ms: the same again in a fresh browser context (thumbnails cached on disk,
  none in the browser): what a user sees, as `facesets serve` cuts the first pages' covers at start.
With --decisions N (issue 22), the review queue too, over --unassigned faces in nobody near the
people (some within the match distance, some in the review band, some beyond):
- queue_first_ms: server time of the first /review (the queue built: every face compared with
  every person's centroid, weak members, uncertain merges), queue_items what it holds,
- queue_next_ms_median / _p95 / _max: server time (Server-Timing) of N decisions in a row
  (accept, skip, reject, ...), each answered with the next item: what a key press waits for.
Last line: a JSON object.

    python benchmarks/serve_grid.py [--people 5000] [--faces 3]
    python benchmarks/serve_grid.py --people 5000 --faces 18 --unassigned 10000 --decisions 60
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from facesets.catalog import Catalog
from facesets.config import shared_dir
from facesets.web import create_app
from facesets.web.synthetic import add_synthetic_people

CHROMIUM = "/usr/bin/chromium"
FIRST_SCREEN = ("Array.from(document.images).filter(i => i.getBoundingClientRect().top < innerHeight)"
                ".every(i => i.complete && i.naturalWidth > 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--faces", type=int, default=3, help="faces per person")
    parser.add_argument("--unassigned", type=int, default=0, help="faces in nobody, near the people")
    parser.add_argument("--decisions", type=int, default=0, help="review queue decisions to time (0: none)")
    args = parser.parse_args()
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="serve-grid-") as tmp:
        db = Path(tmp) / "catalog.db"
        photos = sorted((shared_dir() / "data" / "faces" / "lfw158").glob("*/*.jpg"))
        started = time.perf_counter()
        with Catalog.open(db) as cat:
            add_synthetic_people(cat, args.people, args.faces, photos=photos, link_dir=Path(tmp) / "photos",
                                 unassigned=args.unassigned)
        build_s = time.perf_counter() - started
        app = create_app(db)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/"
        result = {"cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "people": args.people,
                  "faces": args.people * args.faces + args.unassigned, "build_s": round(build_s, 1)}
        result.update(_html(url, "uncached"))
        result.update(_browser(url))
        result.update(_html(url, "cached"))
        if args.decisions:
            result.update(_queue(url, app.state.web.token, args.decisions))
        result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
        server.should_exit = True
        thread.join(10)
    for key, value in result.items():
        print(f"{key:22s} {value}", file=sys.stderr)
    print(json.dumps(result))


def _html(url: str, label: str) -> dict:
    """Median time and size of the grid page's HTML (cached covers travel inside it)."""
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        body = urllib.request.urlopen(url, timeout=60).read()
        times.append((time.perf_counter() - t0) * 1000)
    return {f"html_{label}_ms": round(statistics.median(times), 1), f"html_{label}_bytes": len(body)}


def _queue(url: str, token: str, decisions: int) -> dict:
    """The review queue: its first page (built then), then decisions in a row, each answered with
    the next item as htmx asks for it; server times from the Server-Timing header."""
    def timed(response) -> tuple[float, str]:
        header = response.headers.get("Server-Timing", "")
        return float(header.split("dur=")[1]), response.read().decode()

    first, page = timed(urllib.request.urlopen(url + "review", timeout=600))
    items = int(re.search(r'<span id="left">(\d+)</span>', page).group(1))
    times, verbs = [], ("accept", "skip", "reject")
    for n in range(decisions):
        item = re.search(r'data-item="([^"]*)"', page).group(1)
        if not item:
            break
        stamp = re.search(r'name="stamp" value="([^"]*)"', page).group(1)
        person = re.search(r'data-key="1" data-person-id="(\d+)"', page)
        verb = verbs[n % 3] if person else ("merge", "skip", "apart")[n % 3]
        decision = f"{verb}:{person.group(1)}" if person and verb != "skip" else verb
        body = urllib.parse.urlencode({"item": item, "stamp": stamp, "decision": decision}).encode()
        request = urllib.request.Request(url + "review", data=body, headers={"X-Facesets-Token": token, "HX-Request": "true"})
        took, page = timed(urllib.request.urlopen(request, timeout=60))
        times.append(took)
    times.sort()
    return {"queue_first_ms": round(first, 1), "queue_left": items, "queue_decisions": len(times),
            "queue_next_ms_median": round(statistics.median(times), 1) if times else None,
            "queue_next_ms_p95": round(times[int(0.95 * (len(times) - 1))], 1) if times else None,
            "queue_next_ms_max": round(times[-1], 1) if times else None}


def _browser(url: str) -> dict:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"browser": "playwright not installed"}
    if not Path(CHROMIUM).exists():
        return {"browser": f"no {CHROMIUM}"}
    out = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        for label in ("cold", "warm"):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(url)
            while not page.evaluate(FIRST_SCREEN):   # polled from outside: the page's CSP forbids eval
                time.sleep(0.005)
            wall = (time.perf_counter() - t0) * 1000
            # milliseconds from the start of navigation (the browser's own clock)
            out[f"first_screen_{label}_ms"] = round(page.evaluate("performance.now()"), 1)
            out[f"first_screen_{label}_wall_ms"] = round(wall, 1)
            out["cards_on_page"] = page.locator("#people .card").count()
            context.close()
        browser.close()
    return out


if __name__ == "__main__":
    main()
