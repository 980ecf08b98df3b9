"""The pictures in docs/, made from code and bundles: `python -m ganviz figures`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ganviz import operators
from ganviz.config import BASELINE
from ganviz.data import slug
from ganviz.data.doodles import CLASSES, make_doodles
from ganviz.measures import analysis
from ganviz.measures.study import (N_SAMPLES, Study, checkerboard_over_training, load_all_measures, run_study,
                                   verdict_table)
from ganviz.present.charts import forest_figure, ratio_maps
from ganviz.present.images import grid
from ganviz.present.verdicts import sections, size, study_table
from ganviz.readable import times
from ganviz.store.bundle import Bundle, find_bundles, load_bundle, nearest_steps
from ganviz_tools.browser import figure_png


def doodle_sheet(per_class: int = 12, scale: int = 3) -> np.ndarray:
    """A contact sheet of the embedded doodles: one row per class, as the model sees them."""
    rows = [make_doodles(per_class, c, seed=0).reshape(-1, 28, 28) for c in CLASSES]
    return grid(np.concatenate(rows), cols=per_class, scale=scale)


def _label(image: np.ndarray, text: str, width: int) -> np.ndarray:
    canvas = Image.new("L", (width, 18 + image.shape[0]), 255)
    canvas.paste(Image.fromarray(image), (0, 18))
    ImageDraw.Draw(canvas).text((4, 3), text, fill=0)
    return np.asarray(canvas)


def replay_sheet(bundles: list[Bundle], steps: list[int], n: int = 6, scale: int = 3) -> np.ndarray:
    """Probe samples of each variant (rows) at the recorded steps nearest `steps` (blocks), each
    labelled with the step it shows, from the stored timelines (the variants of a seed share them)."""
    blocks = []
    for shown in nearest_steps(bundles[0].timeline_steps, steps):
        pic = grid(np.concatenate([b.frame(shown)[:n] for b in bundles]), cols=n, scale=scale)
        blocks.append(_label(pic, f"step {shown}", pic.shape[1]))
    sheet = np.concatenate([np.pad(b, ((0, 0), (0, 12)), constant_values=255) for b in blocks], axis=1)
    legend = " / ".join(f"row {i + 1}: {operators.label(b.variant)}" for i, b in enumerate(bundles))
    return _label(sheet, legend, sheet.shape[1])


def save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _diverging(values: np.ndarray, limit: float) -> np.ndarray:
    """Blue (below 0) - white - red (above 0) RGB for values in [-limit, limit]; NaN is grey."""
    t = np.clip(np.nan_to_num(values / limit), -1, 1)[..., None]
    white, red, blue = np.array([255, 255, 255]), np.array([178, 24, 43]), np.array([33, 102, 172])
    rgb = np.where(t > 0, white + t * (red - white), white - t * (blue - white))
    return np.where(np.isnan(values)[..., None], 160, rgb).astype(np.uint8)


def ratio_sheet(maps: dict[str, np.ndarray], scale: int = 8) -> np.ndarray:
    """Spectrum-ratio maps log10(P_generated / P_real) side by side on one diverging scale
    (the docs' version of the Analysis chart; corners = (pi, pi), edges = the Nyquist lines)."""
    limit = max(float(np.nanmax(np.abs(m))) for m in maps.values()) or 1.0
    tiles = []
    for name, m in maps.items():
        pic = np.repeat(np.repeat(_diverging(m, limit), scale, axis=0), scale, axis=1)
        # a long name widens its tile
        width = max(pic.shape[1] + 12, int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(name)) + 12)
        canvas = Image.new("RGB", (width, pic.shape[0] + 18), (255, 255, 255))
        canvas.paste(Image.fromarray(pic), (0, 18))
        ImageDraw.Draw(canvas).text((4, 3), name, fill=(0, 0, 0))
        tiles.append(np.asarray(canvas))
    sheet = np.concatenate(tiles, axis=1)
    canvas = Image.new("RGB", (sheet.shape[1], sheet.shape[0] + 18), (255, 255, 255))
    canvas.paste(Image.fromarray(sheet), (0, 0))
    legend = f"log10(generated / real) from -{limit:.2g} (blue) through 0 (white) to {limit:.2g} (red)"
    ImageDraw.Draw(canvas).text((4, sheet.shape[0] + 3), legend, fill=(0, 0, 0))
    return np.asarray(canvas)


def checkerboard_table(study: Study, variants: list[str], others: list[str]) -> list[str]:
    """Power at (pi, pi) over real during training, per variant, and each operator paired with the
    book's operator at each step: where the checkerboard lives."""
    lines = ["Power at (pi, pi) over real during training (the recorded steps nearest 0, 50, 200, 800 and the last; "
             "geometric mean over seeds), and each variant's paired ratio to the book's operator:", "",
             "| step | " + " | ".join([*(operators.label(v) for v in variants),
                                      *(f"{v} / {BASELINE}, paired (95%), seeds agreeing" for v in others)]) + " |",
             "|---" * (1 + len(variants) + len(others)) + "|"]
    for step, means, pairs in checkerboard_over_training(study, (0, 50, 200, 800, int(study.runs[0].timeline_steps[-1]))):
        by_variant = {p.b: p for p in pairs}
        cells = [times(means[v]) for v in variants] + \
                [f"{size(p)}, {p.agree} of {p.interval.n}" if (p := by_variant.get(v)) else "" for v in others]
        lines.append(f"| {step} | {' | '.join(cells)} |")
    return [*lines, ""]


def results_tables(bundles: list[Bundle], out: Path | None = None, n: int = N_SAMPLES,
                   stored: dict | None = None) -> str:
    """Markdown tables over seeds, per data set: a column per variant (final losses, speed, the
    study's measures), then each variant's paired difference from the book's operator, and the
    verdicts in words as on the page; with `out`, also each data set's spectrum-ratio sheet. `n`: samples per
    generator; `stored`: measures kept beside the runs, by data set (measured anew where missing)."""
    lines = []
    for spec in sorted({b.config.dataset for b in bundles}):
        group = [b for b in bundles if b.config.dataset == spec]
        seeds = sorted({b.config.seed for b in group})
        variants = [v for v in operators.names() if any(b.variant == v for b in group)]
        others = [v for v in variants if v != BASELINE]
        paired_cols = [f"{v} vs {BASELINE}, paired (95%), sign-flip p" for v in others]
        lines += [f"### {spec} ({len(group)} generators, seeds {seeds})", "",
                  "| measure | " + " | ".join([*(operators.label(v) for v in variants), *paired_cols]) + " |",
                  "|---" * (1 + len(variants) + len(others)) + "|"]
        rows = {"final D loss (mean of last 100 steps)": lambda b: float(b.history["d_loss"][-100:].mean()),
                "final G loss (mean of last 100 steps)": lambda b: float(b.history["g_loss"][-100:].mean()),
                "final D accuracy on fakes (last 100 steps)": lambda b: float(b.history["d_acc_fake"][-100:].mean()),
                "training speed, steps/s (the variants of a run in lockstep)":
                    lambda b: float(b.meta["steps_per_s"])}
        for label, f in rows.items():
            cells = [str(analysis.interval([f(b) for b in group if b.variant == v])) for v in variants]
            lines.append(f"| {label} | {' | '.join(cells)} |{' |' * len(others)}")
        try:
            study = run_study(group, n, stored=(stored or {}).get(spec))
        except ValueError as exc:  # training images not installed here
            lines += ["", f"(analysis left out: {exc})", ""]
            continue
        for row in study_table(study):
            cells = [row.get(operators.label(v), "") for v in variants] + \
                [row.get(f"{operators.label(v)}, paired (95%)", "") for v in others]
            lines.append(f"| {row['measure']} | {' | '.join(cells)} |")
        lines += ["", f"Quality measures on the {study.classifier or 'no classifier'}.", ""]
        if out is not None:
            name = f"forest-{slug(spec)}.png"
            figure_png(forest_figure(verdict_table(study)), out / name, width=1000)
            lines += [f"![The answer at a glance, {spec}: each operator's paired (pi, pi) ratio to "
                      f"UpSampling2D + Conv2D, 95% interval]({name})", ""]
        lines += checkerboard_table(study, variants, others)
        for _, headline, every_measure in sections(study):  # as the page: headline, then each measure
            lines += [f"- {headline}", *(f"    {b}" for b in every_measure.splitlines())]
        lines.append("")
        if out is not None:
            name = f"spectrum-ratio-{slug(spec)}.png"
            save(ratio_sheet(ratio_maps(study)), out / name)
            lines += [f"![Spectrum-ratio maps, {spec}]({name})", ""]
    return "\n".join(lines)


def write_all(out: Path, pretrained: Path) -> list[Path]:
    """Every picture in docs/ drawn from the shipped runs, and results-tables.md, which shows them
    all (the replay of every seed included, so that none goes unlinked as seeds are added)."""
    written, replays = [out / "doodles.png"], ["## Replays", ""]
    save(doodle_sheet(), written[0])
    for run in sorted((p for p in pretrained.iterdir() if p.is_dir()), key=lambda p: _run_order(p.name)):
        bundles = [load_bundle(run / v) for v in operators.names() if (run / v / "config.json").exists()]
        if bundles:
            path = out / f"replay-{run.name}.png"
            save(replay_sheet(bundles, [0, 50, 200, 800, bundles[0].meta["steps_done"]]), path)
            written.append(path)
            replays += [f"{bundles[0].config.dataset}, seed {bundles[0].config.seed}:", "",
                        f"![{run.name}: the probe batch over training]({path.name})", ""]
    everything = [load_bundle(p) for p in find_bundles(pretrained)]
    if everything:
        written.append(out / "results-tables.md")
        written[-1].write_text("<!-- written by `python -m ganviz figures`; do not edit -->\n\n"
                               + results_tables(everything, out, stored=load_all_measures(pretrained)) + "\n"
                               + "\n".join(replays))
    return written


def _run_order(name: str) -> tuple[str, int]:
    """Run folders by data set, then by seed as a number (s10 after s9)."""
    stem, _, seed = name.rpartition("-s")
    return (stem, int(seed)) if seed.isdigit() else (name, -1)
