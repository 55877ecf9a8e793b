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


def _profile(cat):
    from facesets.profiles import profile_for

    model = cat.embedding_model()
    return profile_for(model.key if model else None)


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
            profile = _profile(cat)
            plan = analyze(cat, command, {k: v for k, v in params.items()}, lambda: run(cat, root, profile),
                           out=plan_out, html=html, root=root)
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
                  pixels: float = typer.Option(0.9, help="Pixel correlation that confirms a relaxed pair.")) -> None:
    """Group byte-identical files and near-duplicate faces; plan to drop lesser copies from facesets."""
    from facesets.curate import dedup

    def run(cat, root, profile):
        return dedup.analyze(cat, root, similarity or profile.near_duplicate_similarity, relaxed, pixels)
    _analyze(catalog, "dedup", {"similarity": similarity, "relaxed": relaxed, "pixels": pixels}, plan_out, html,
             export_root, run, need_tree=False)


@consolidate_app.command("analyze")
def consolidate_analyze(catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                        export_root: Optional[Path] = RootOpt,
                        edge: Optional[float] = typer.Option(None, help="Confident complete-linkage cut, cosine distance (default: profile)."),
                        confident: Optional[float] = typer.Option(None, help="Looser cut for uncertain groups (default: profile).")) -> None:
    """Propose merging people whose centroids are all within the cut of each other."""
    from facesets.curate import consolidate

    def run(cat, root, profile):
        return consolidate.analyze(cat, root, edge or profile.consolidate_edge, confident or profile.consolidate_confident)
    _analyze(catalog, "consolidate", {"edge": edge, "confident": confident}, plan_out, html, export_root, run,
             need_tree=False)


@prune_app.command("analyze")
def prune_analyze(catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                  export_root: Optional[Path] = RootOpt,
                  similarity: Optional[float] = typer.Option(None, help="Near-duplicate similarity (default: profile)."),
                  audit: bool = typer.Option(True, "--audit/--no-audit", help="Re-detect every PNG (multi-face audit)."),
                  models: Optional[Path] = typer.Option(None, "--models", help="InsightFace packs folder."),
                  quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Plan to drop cross-person duplicates, near-duplicates and crops without exactly one face."""
    from facesets.curate import prune

    def run(cat, root, profile):
        with progress_bars(not quiet) as hook:
            return prune.analyze(cat, root, similarity or profile.near_duplicate_similarity, audit,
                                 str(models) if models else None, progress=hook)
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
                      threshold: float = typer.Option(0.7, help="Image threshold on the mask/sunglasses probability."),
                      ratio: float = typer.Option(0.4, help="Quarantine a faceset when this share of crops is occluded."),
                      drop_occluded: bool = typer.Option(False, "--drop-occluded", help="Also drop occluded crops of facesets that stay."),
                      quiet: bool = typer.Option(False, "--quiet", "-q")) -> None:
    """Score masks and sunglasses; plan to quarantine mostly-occluded facesets to _masked/."""
    from facesets.curate import occlusion
    from facesets.curate.clip import load_clip

    def run(cat, root, profile):
        clip = load_clip(model, models, device, show_progress=not quiet)
        with progress_bars(not quiet) as hook:
            return occlusion.analyze(cat, root, clip, threshold, ratio, drop_occluded, progress=hook)
    _analyze(catalog, "occlusion", {"clip_model": model, "device": device, "threshold": threshold, "ratio": ratio,
                                    "drop_occluded": drop_occluded}, plan_out, html, export_root, run)


@age_app.command("analyze")
def age_analyze(person: str = typer.Argument(..., help="Person number, name or label."),
                catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                export_root: Optional[Path] = RootOpt,
                recover: Optional[float] = typer.Option(None, help="Recovery distance from the seed (default: profile)."),
                tighten: Optional[float] = typer.Option(None, help="Tighten distance after re-centring (default: profile)."),
                subcluster: Optional[float] = typer.Option(None, help="Average-linkage sub-cluster cut (default: profile)."),
                attach: Optional[float] = typer.Option(None, help="Fragment-to-anchor distance (default: profile)."),
                max_years: int = typer.Option(5, help="Fragments attach only within this many years of the anchor."),
                anchor_min: Optional[int] = typer.Option(None, help="Faces for an era anchor (default: 10% of the person, >= 5)."),
                min_era: int = typer.Option(20, help="Era sets under this many faces go to _thin/."),
                min_quality: Optional[float] = typer.Option(None, help="Quality gate on the composite (default: profile)."),
                min_short: float = typer.Option(0.0, help="Quality gate on the face short edge, pixels.")) -> None:
    """Plan era sets of one person (parent_id = the person), ordered by date."""
    from facesets.curate import age_split

    def run(cat, root, p):
        return age_split.analyze(cat, root, person, recover or p.age_recover, tighten or p.age_tighten,
                                 subcluster or p.age_subcluster, attach or p.age_attach, max_years, anchor_min,
                                 min_era, p.candidate_min_quality if min_quality is None else min_quality, min_short)
    _analyze(catalog, "age-split", {"person": person, "recover": recover, "tighten": tighten, "subcluster": subcluster,
                                    "attach": attach, "max_years": max_years, "anchor_min": anchor_min,
                                    "min_era": min_era, "min_quality": min_quality, "min_short": min_short},
             plan_out, html, export_root, run, need_tree=False)


@age_extend_app.command("analyze")
def age_extend_analyze(person: str = typer.Argument(..., help="Person number, name or label."),
                       catalog: Path = CatalogOpt, plan_out: Path = PlanOut, html: Optional[Path] = HtmlOpt,
                       export_root: Optional[Path] = RootOpt,
                       tighten: Optional[float] = typer.Option(None, help="Distance from the family centre (default: profile)."),
                       attach: Optional[float] = typer.Option(None, help="Face-to-era distance (default: profile)."),
                       max_years: int = typer.Option(5, help="Faces join only eras within this many years."),
                       min_quality: Optional[float] = typer.Option(None, help="Quality gate (default: profile)."),
                       min_short: float = typer.Option(0.0, help="Face short edge gate, pixels.")) -> None:
    """Plan which of the person's faces join which era set (eras are not re-centred)."""
    from facesets.curate import age_split

    def run(cat, root, p):
        return age_split.extend(cat, root, person, tighten or p.age_tighten, attach or p.age_attach, max_years,
                                p.candidate_min_quality if min_quality is None else min_quality, min_short)
    _analyze(catalog, "age-extend", {"person": person, "tighten": tighten, "attach": attach, "max_years": max_years,
                                     "min_quality": min_quality, "min_short": min_short},
             plan_out, html, export_root, run, need_tree=False)


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
