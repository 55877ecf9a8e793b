"""Curation commands: `facesets dedup|consolidate|prune|occlusion|age-split analyze|apply` and
`facesets undo`. Each analyze writes a plan JSON + HTML review page; apply runs a plan; undo
reverts the last applied plan. The work is in facesets.curate."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer

from facesets.cli.main import DeviceOpt, app, open_catalog
from facesets.cli.ui import fail, out, progress_bars
from facesets.curate.clip_files import DEFAULT_MODEL as DEFAULT_CLIP

CatalogOpt = typer.Option(..., "--catalog", "-c", help="The library's catalog file (SQLite).")
PlanOut = typer.Option(..., "--out", "-o", help="Where to write the plan JSON (the review page goes beside it as .html).")
HtmlOpt = typer.Option(None, "--html", help="Review page path (default: the plan path with .html).")
RootOpt = typer.Option(None, "--export-root", help="Export tree to curate (default: the latest export in the catalog).")


def _fail(exc) -> None:
    """One line on stderr, exit 2 (ui.fail escapes Rich markup: facesets[clip] stays text)."""
    fail(str(exc))


def _given(**options) -> dict:
    """The options the user set; the library fills the others from the catalog's profile."""
    return {name: value for name, value in options.items() if value is not None}


def _analyze(catalog: Path, command: str, params: dict, plan_out: Path, html: Optional[Path],
             export_root: Optional[Path], run: Callable, need_tree: bool = True) -> None:
    from facesets.catalog import CatalogError
    from facesets.curate import CurationError, analyze
    from facesets.curate.clip import ClipUnavailable
    from facesets.curate.tree import export_root as find_root

    with open_catalog(catalog, create=False) as cat:
        try:
            root = find_root(cat, export_root)
            if need_tree and (root is None or not root.is_dir()):
                raise CurationError("no export tree found: run `facesets export` first or pass --export-root")
            plan = analyze(cat, command, dict(params), lambda: run(cat, root), out=plan_out, html=html, root=root)
        except (CurationError, CatalogError, ClipUnavailable) as exc:
            _fail(exc)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(plan["summary"].items()))
    out.print(f"plan {plan['operation_id']} ({command}): {len(plan['actions'])} actions; {summary}", highlight=False,
              soft_wrap=True)
    out.print(f"review {html or plan_out.with_suffix('.html')}; apply: facesets {command} apply --plan {plan_out}",
              highlight=False, soft_wrap=True)


def _apply_command(sub: typer.Typer, command: str, uncertain: bool = False) -> None:
    @sub.command("apply")
    def apply_plan(plan: Path = typer.Option(..., "--plan", "-p", help="Plan JSON written by analyze."),
                   catalog: Optional[Path] = typer.Option(None, "--catalog", "-c", help="Catalog (default: the plan's)."),
                   include_uncertain: bool = typer.Option(False, "--include-uncertain",
                                                          help="consolidate: also merge the non-confident groups.")) -> None:
        """Execute a plan; `facesets undo` reverts it."""
        import json

        from facesets.catalog import CatalogError
        from facesets.curate import CurationError, apply
        from facesets.curate.tree import TreeError

        try:
            data = json.loads(plan.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _fail(f"cannot read plan {plan}: {exc}")
        if data.get("command") != command:
            fail(f"{plan} is a {data.get('command')} plan, not {command}")
        with open_catalog(catalog or Path(data.get("catalog", "")), create=False) as cat:
            try:
                result = apply(cat, plan, include_uncertain=include_uncertain)
            except (CurationError, CatalogError, TreeError, OSError) as exc:
                _fail(exc)
        out.print(f"applied plan {result['operation_id']} ({command}): {result['actions']} actions, "
                  f"{result['moved']} moved, {result['written']} written; undo: facesets undo --catalog C",
                  highlight=False, soft_wrap=True)


def _room(name: str, help_text: str) -> typer.Typer:
    sub = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(sub, name=name)
    _apply_command(sub, name)
    return sub


dedup_app = _room("dedup", "Byte-identical files and visual near-duplicates across the library.")
consolidate_app = _room("consolidate", "People who are the same identity (complete-linkage of centroids).")
prune_app = _room("prune", "Cross-person duplicates, in-faceset near-duplicates, crops without exactly one face.")
occlusion_app = _room("occlusion", "Masks and sunglasses (zero-shot CLIP; needs the clip extra: pip install facesets\\[clip]).")
age_app = _room("age-split", "Split one person into era sets (younger and older self).")
age_extend_app = _room("age-extend", "Slot a person's new faces into its existing era sets.")


@dedup_app.command("analyze")
def dedup_analyze(catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                  export_root: Optional[Path] = RootOpt,
                  similarity: Optional[float] = typer.Option(None, help="Near-duplicate cosine similarity (default: profile)."),
                  relaxed: Optional[float] = typer.Option(None, help="Below --similarity down to this, pairs count when "
                                                          "their pixels agree (default: 1 - 2 × (1 - similarity))."),
                  pixels: Optional[float] = typer.Option(None, help="Pixel correlation that confirms a relaxed pair (default: 0.9).")) -> None:
    """Group byte-identical files and near-duplicate faces; plan to drop lesser copies from facesets."""
    from facesets.curate import dedup

    options = {"similarity": similarity, "relaxed": relaxed, "pixels": pixels}
    _analyze(catalog, "dedup", options, plan_out, html, export_root,
             lambda cat, root: dedup.analyze(cat, root, **_given(**options)), need_tree=False)


@consolidate_app.command("analyze")
def consolidate_analyze(catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                        export_root: Optional[Path] = RootOpt,
                        edge: Optional[float] = typer.Option(None, help="Confident complete-linkage cut, cosine distance (default: profile)."),
                        confident: Optional[float] = typer.Option(None, help="Looser cut for uncertain groups (default: profile).")) -> None:
    """Propose merging people whose centroids are all within the cut of each other."""
    from facesets.curate import consolidate

    options = {"edge": edge, "confident": confident}
    _analyze(catalog, "consolidate", options, plan_out, html, export_root,
             lambda cat, root: consolidate.analyze(cat, root, **_given(**options)), need_tree=False)


@prune_app.command("analyze")
def prune_analyze(catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                  export_root: Optional[Path] = RootOpt,
                  similarity: Optional[float] = typer.Option(None, help="Near-duplicate similarity (default: profile)."),
                  audit: bool = typer.Option(True, "--audit/--no-audit", help="Re-detect every PNG (multi-face audit)."),
                  models: Optional[Path] = typer.Option(None, "--models", help="InsightFace packs folder."),
                  quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Plan to drop cross-person duplicates, near-duplicates and crops without exactly one face."""
    from facesets.curate import prune

    def run(cat, root):
        with progress_bars(not quiet) as hook:
            return prune.analyze(cat, root, **_given(similarity=similarity, models=str(models) if models else None),
                                 audit=audit, progress=hook)
    _analyze(catalog, "prune", {"similarity": similarity, "audit": audit}, plan_out, html, export_root, run)


@occlusion_app.command("analyze")
def occlusion_analyze(catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                      export_root: Optional[Path] = RootOpt,
                      model: str = typer.Option(
                          DEFAULT_CLIP, "--clip-model",
                          help="CLIP model, named as Immich's ONNX exports are (ARCH__PRETRAINED). Downloaded on first "
                               "use: ViT-B-32__laion2b-s34b-b79k (600 MB), ViT-L-14-quickgelu__dfn2b (1.7 GB); any other "
                               "export in Immich's layout is used from MODELS/clip/NAME/."),
                      models: Optional[Path] = typer.Option(
                          None, "--models", help="Models folder: CLIP files in DIR/clip/NAME/ (default: $FACESETS_MODELS, "
                                                 "then the default models folder; downloads go to the first)."),
                      device: str = DeviceOpt,
                      threshold: Optional[float] = typer.Option(None, help="Image threshold on the mask/sunglasses probability (default: 0.7)."),
                      ratio: Optional[float] = typer.Option(None, help="Quarantine a faceset when this share of crops is occluded (default: 0.4)."),
                      drop_occluded: bool = typer.Option(False, "--drop-occluded", help="Also drop occluded crops of facesets that stay."),
                      quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Score masks and sunglasses; plan to quarantine mostly-occluded facesets to _masked/."""
    from facesets.curate import occlusion
    from facesets.curate.clip import load_clip

    def run(cat, root):
        clip = load_clip(model, models, device, show_progress=not quiet)
        with progress_bars(not quiet) as hook:
            return occlusion.analyze(cat, root, clip, **_given(threshold=threshold, faceset_ratio=ratio),
                                     drop_occluded=drop_occluded, progress=hook)
    _analyze(catalog, "occlusion", {"clip_model": model, "device": device, "threshold": threshold,
                                    "ratio": ratio, "drop_occluded": drop_occluded}, plan_out, html, export_root, run)


@age_app.command("analyze")
def age_analyze(person: str = typer.Argument(..., help="Person number, name or label."),
                catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                export_root: Optional[Path] = RootOpt,
                recover: Optional[float] = typer.Option(None, help="Recovery distance from the seed (default: profile)."),
                tighten: Optional[float] = typer.Option(None, help="Tighten distance after re-centring (default: profile)."),
                subcluster: Optional[float] = typer.Option(None, help="Average-linkage sub-cluster cut (default: profile)."),
                attach: Optional[float] = typer.Option(None, help="Fragment-to-anchor distance (default: profile)."),
                max_years: Optional[int] = typer.Option(None, help="Fragments attach only within this many years of the anchor (default: 5)."),
                anchor_min: Optional[int] = typer.Option(None, help="Faces for an era anchor (default: 10% of the person, >= 5)."),
                min_era: Optional[int] = typer.Option(None, help="Era sets under this many faces go to _thin/ (default: 20)."),
                min_quality: Optional[float] = typer.Option(None, help="Quality gate on the composite (default: profile)."),
                min_short: Optional[float] = typer.Option(None, help="Quality gate on the face short edge, pixels (default: 0).")) -> None:
    """Plan era sets of one person (parent_id = the person), ordered by date."""
    from facesets.curate import age_split

    options = {"recover": recover, "tighten": tighten, "subcluster": subcluster, "attach": attach,
               "max_years": max_years, "anchor_min": anchor_min, "min_era": min_era, "min_quality": min_quality,
               "min_short": min_short}
    _analyze(catalog, "age-split", {"person": person, **options}, plan_out, html, export_root,
             lambda cat, root: age_split.analyze(cat, root, person, **_given(**options)), need_tree=False)


@age_extend_app.command("analyze")
def age_extend_analyze(person: str = typer.Argument(..., help="Person number, name or label."),
                       catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                       export_root: Optional[Path] = RootOpt,
                       tighten: Optional[float] = typer.Option(None, help="Distance from the family centre (default: profile)."),
                       attach: Optional[float] = typer.Option(None, help="Face-to-era distance (default: profile)."),
                       max_years: Optional[int] = typer.Option(None, help="Faces join only eras within this many years (default: 5)."),
                       min_quality: Optional[float] = typer.Option(None, help="Quality gate (default: profile)."),
                       min_short: Optional[float] = typer.Option(None, help="Face short edge gate, pixels (default: 0).")) -> None:
    """Plan which of the person's faces join which era set (eras are not re-centred)."""
    from facesets.curate import age_split

    options = {"tighten": tighten, "attach": attach, "max_years": max_years, "min_quality": min_quality,
               "min_short": min_short}
    _analyze(catalog, "age-extend", {"person": person, **options}, plan_out, html, export_root,
             lambda cat, root: age_split.extend(cat, root, person, **_given(**options)), need_tree=False)


@app.command()
def undo(catalog: Path = CatalogOpt) -> None:
    """Revert the last applied curation plan: files moved back, catalog rows restored."""
    from facesets.catalog import CatalogError
    from facesets.curate import CurationError, undo as run_undo
    from facesets.curate.tree import TreeError

    with open_catalog(catalog, create=False) as cat:
        try:
            result = run_undo(cat)
        except (CurationError, CatalogError, TreeError, OSError) as exc:
            _fail(exc)
    out.print(f"undone plan {result['operation_id']} ({result['command']}): {result['steps']} file steps reverted",
              highlight=False)
