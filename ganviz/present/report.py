"""Export a comparison as one self-contained HTML file: interactive Plotly charts with
plotly.js inlined, images as data URIs; opens with no server and no internet."""
from __future__ import annotations

import base64
import html
import re
from datetime import datetime, timezone

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ganviz import operators
from ganviz.config import EARLY_STEPS
from ganviz.measures.study import Study
from ganviz.present.charts import distance_histogram, loss_figure, study_figures
from ganviz.present.images import grid, png_bytes
from ganviz.present.verdicts import sections, study_table
from ganviz.store.bundle import Bundle, nearest_steps
from ganviz.view.compare import Comparison


def _img(image: np.ndarray, alt: str) -> str:
    data = base64.b64encode(png_bytes(image)).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" style="image-rendering:pixelated">'


def _figures(figs: list[go.Figure]) -> list[str]:
    """The figures' divs; plotly.js itself is inlined once, in the head, before any figure calls it.
    Each is drawn with plotly's own template (copied: the page may cache the figure): importing
    Streamlit makes its template the default, whose fixed margins clip the reports' axis labels."""
    return [go.Figure(f).update_layout(template="plotly").to_html(full_html=False, include_plotlyjs=False)
            for f in figs]


def _bold(markdown: str) -> str:
    """The page's markdown line as HTML: escaped, with its **bold** kept."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(markdown))


def _study_html(study: Study, charts: dict[str, str]) -> str:
    rows = study_table(study)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r.values()) + "</tr>" for r in rows)
    verdicts = "".join(f"<li>{_bold(headline)}<ul>"
                       + "".join(f"<li>{_bold(line[2:])}</li>" for line in every_measure.splitlines()) + "</ul></li>"
                       for _, headline, every_measure in sections(study))
    seeds = sorted({r.seed for r in study.runs})
    titles = {"forest": "The answer at a glance: the checkerboard, paired by seed",
              "ratio_maps": "Where the power moved: log10(generated / real) per frequency",
              "profiles": "Radial power, generated over real", "corner_over_training": "The checkerboard over training",
              "copying": "Copying"}
    return (f"<h2>Analysis over seeds: {html.escape(study.dataset)}</h2>"
            f"<p>{len(study.runs)} generators, seeds {seeds}. Each verdict is the paired per-seed difference "
            f"against {html.escape(operators.label(study.baseline))}: mean with its 95% t-interval and an exact "
            "sign-flip p-value. "
            f"Quality measures: {html.escape(study.classifier or 'no classifier for this data set')}.</p>"
            + (f"<h3>{titles['forest']}</h3>{charts['forest']}" if "forest" in charts else "")
            + f"<ul>{verdicts}</ul>"
            + "".join(f"<h3>{titles[k]}</h3>{c}" for k, c in charts.items() if k != "forest")
            + f'<h3>Every measure</h3><div class="wide"><table><tr>{head}</tr>{body}</table></div>'
            "<p>Artifacts: Odena et al., Distill 2016; Durall et al., CVPR 2020; Dzanic et al., NeurIPS 2020. "
            "KID: Binkowski et al., ICLR 2018; precision/recall: Kynkaanniemi et al., NeurIPS 2019; "
            "copying: Meehan et al., AISTATS 2020.</p>")


def _ordered(d: dict) -> dict:
    return {v: d[v] for v in sorted(d, key=lambda v: operators.order(v) if v in operators.names() else len(operators.names()))}


def _timeline_html(timelines: dict[str, tuple[np.ndarray, np.ndarray]], cols: int) -> str:
    """The probe batch of each variant at a few steps, early ones first."""
    out = []
    for variant, (steps, frames) in _ordered(timelines).items():
        chosen = nearest_steps(steps, [*EARLY_STEPS, steps[-1]])
        cells = "".join(f"<figure>{_img(grid(frames[list(steps).index(s)], cols=cols, scale=2), f'{variant} step {s}')}"
                        f"<figcaption>step {s}</figcaption></figure>" for s in chosen)
        out.append(f'<div class="col"><h3>{html.escape(operators.label(variant))}</h3>'
                   f'<div class="row">{cells}</div></div>')
    return f'<div class="row">{"".join(out)}</div>'


def build_report(title: str, comparison: Comparison, histories: dict[str, dict[str, np.ndarray]],
                 train_images: np.ndarray | None, notes: list[str] | None = None, cols: int = 8,
                 study: Study | None = None,
                 timelines: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> str:
    """The samples, loss curves and nearest-neighbour panels of one comparison (and, given a
    study, the analysis over seeds; given timelines, the probe batch over training), as HTML.
    Columns are in the page's order: the book's upsample first."""
    figs = [loss_figure(histories, smoothing=0.6)]
    if comparison.distances:
        figs.append(distance_histogram(comparison.distances))
    study_figs = study_figures(study) if study else {}
    charts = _figures(figs + list(study_figs.values()))
    columns = []
    for variant, samples in _ordered(comparison.samples).items():
        parts = [f"<h3>{html.escape(operators.label(variant))} <small>({variant})</small></h3>",
                 _img(grid(samples, cols=cols, scale=3), f"{variant} samples")]
        if variant in comparison.nearest and train_images is not None:
            d = comparison.distances[variant]
            parts += ["<p>Nearest training image of each sample (same positions), by mean |a - b| on [-1, 1]:</p>",
                      _img(grid(train_images[comparison.nearest[variant]], cols=cols, scale=3), f"{variant} nearest"),
                      f"<p>L1 distances: mean {d.mean():.4f}, min {d.min():.4f}, max {d.max():.4f}</p>"]
        columns.append(f'<div class="col">{"".join(parts)}</div>')
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes or [])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}}
.row{{display:flex;gap:2em;flex-wrap:wrap}}.col{{flex:1;min-width:300px}}small{{color:#777}}
img{{max-width:100%;height:auto}}figure{{margin:0}}figcaption{{color:#555;font-size:90%}}
table{{border-collapse:collapse}}.wide{{overflow-x:auto}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style>
<script>{get_plotlyjs()}</script></head>
<body><h1>{html.escape(title)}</h1>
<p>ganviz report, {stamp}. Samples use the same latent vectors z (seed {comparison.seed}) in every column.</p>
<ul>{note_html}</ul>
{_study_html(study, dict(zip(study_figs, charts[len(figs):]))) if study else ""}
<h2>Samples and nearest training images</h2><div class="row">{"".join(columns)}</div>
{"<h2>The probe batch over training</h2>" + _timeline_html(timelines, cols) if timelines else ""}
<h2>Loss curves</h2>{charts[0]}
{"<h2>Nearest-neighbour distances</h2>" + charts[1] if comparison.distances else ""}
</body></html>"""


def run_report(title: str, bundles: dict[str, Bundle], comparison: Comparison, train_images: np.ndarray | None,
               notes: list[str], study: Study | None = None) -> str:
    """The report of one run (the page's export, `ganviz report`): its bundles' loss curves and
    probe frames beside the comparison of its generators."""
    return build_report(title, comparison, {v: b.history for v, b in bundles.items()}, train_images, notes,
                        study=study, timelines={v: (b.timeline_steps, b.timeline) for v, b in bundles.items()})
