"""The HTML review page of a plan: one section per group, thumbnails with paths and captions,
what the plan will do with each item. Static, no scripts, every string escaped."""
from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

STYLE = """body{font-family:sans-serif;margin:1em;background:#fafafa}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:0 0 1em;padding:.6em}
.items{display:flex;flex-wrap:wrap;gap:8px}.item{width:150px;font-size:11px;word-break:break-all}
.item img{width:150px;height:150px;object-fit:cover;background:#eee}.drop{outline:3px solid #c33}
.keep{outline:3px solid #3a3}h2{font-size:15px;margin:.2em 0}.meta{color:#555;font-size:12px}"""


def _src(path: str | None) -> str:
    if not path:
        return ""
    return "file://" + quote(os.path.abspath(path))


def render(plan: dict) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>facesets {e(plan['command'])} "
             f"plan {plan.get('operation_id', '')}</title><style>{STYLE}</style></head><body>",
             f"<h1>facesets {e(plan['command'])} — plan {plan.get('operation_id', '')}</h1>",
             f"<p class='meta'>catalog {e(str(plan.get('catalog')))} · export tree {e(str(plan.get('export_root')))} · "
             f"{len(plan['groups'])} groups · {len(plan['actions'])} actions · "
             f"apply: <code>facesets {e(plan['command'])} apply --plan PLAN.json</code>; "
             f"revert: <code>facesets undo --catalog C</code></p>",
             f"<p class='meta'>{e(', '.join(f'{k}: {v}' for k, v in sorted(plan.get('summary', {}).items())))}</p>"]
    for number, group in enumerate(plan["groups"], 1):
        parts.append(f"<section><h2>{number}. {e(str(group.get('title', group.get('kind', 'group'))))}</h2>")
        if group.get("note"):
            parts.append(f"<div class='meta'>{e(str(group['note']))}</div>")
        parts.append("<div class='items'>")
        for item in group.get("items", []):
            mark = item.get("mark", "")
            image = item.get("image")
            img = (f"<img class='{e(mark)}' src='{e(_src(image))}' alt='{e(Path(image).name)}' loading='lazy'>"
                   if image else "<div class='img'></div>")
            parts.append(f"<div class='item'>{img}<div>{e(str(item.get('caption', '')))}</div>"
                         f"<div class='meta'>{e(str(image or item.get('path', '')))}</div></div>")
        parts.append("</div></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_review(path: str | os.PathLike, plan: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render(plan), encoding="utf-8")
    os.replace(tmp, path)
