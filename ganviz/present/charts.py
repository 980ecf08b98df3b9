"""Plotly figures shared by the dashboard and the exported report."""
from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ganviz import operators
from ganviz.readable import number
from ganviz.spectrum import radial_profile, ratio_map

from ganviz.measures.study import verdict_table

if TYPE_CHECKING:
    from ganviz.measures.study import Study

PANELS = (  # (title, [(metric, its name in the legend, line style)])
    ("Discriminator loss", [("d_loss", "D loss, mean", "solid"), ("d_loss_real", "D loss on real", "dot"),
                            ("d_loss_fake", "D loss on fakes", "dash")]),
    ("Generator loss", [("g_loss", "G loss", "solid")]),
    ("Discriminator accuracy", [("d_acc_real", "D accuracy on real", "dot"),
                                ("d_acc_fake", "D accuracy on fakes", "dash")]),
)


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average (TensorBoard-style, debiased); weight 0 = raw values."""
    values = np.asarray(values, dtype=np.float64)
    if weight <= 0 or len(values) == 0:
        return values
    out = np.empty_like(values)
    acc, norm = 0.0, 0.0
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out[i] = acc / norm
    return out


def loss_figure(histories: dict[str, dict[str, np.ndarray]], smoothing: float = 0.0,
                marker_step: int | None = None, max_points: int | None = None) -> go.Figure:
    """Each operator's curves, one panel per quantity, shared axes so operators compare directly.

    `max_points` keeps every k-th step of the smoothed curves (and the last): a live chart
    redrawn every few seconds stays the same small message however long the run."""
    fig = make_subplots(rows=len(PANELS), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[title for title, _ in PANELS])
    for row, (_, metrics) in enumerate(PANELS, start=1):
        for variant, history in histories.items():
            for metric, name, dash in metrics:
                y = smooth(history[metric], smoothing)
                x = np.arange(1, len(y) + 1)
                if max_points and len(y) > max_points:
                    keep = np.unique(np.r_[np.arange(0, len(y), -(-len(y) // max_points)), len(y) - 1])
                    x, y = x[keep], y[keep]
                fig.add_trace(go.Scatter(
                    x=x, y=y, mode="lines", line={"color": operators.colour(variant), "dash": dash},
                    name=f"{variant}: {name}", legendgroup=variant,
                    hovertemplate=f"{variant}, {name}<br>step %{{x}}<br>%{{y:.4f}}<extra></extra>"), row=row, col=1)
    if marker_step is not None:  # the step the replay shows
        fig.add_vline(x=marker_step, line={"color": "#444", "width": 1, "dash": "dot"})
        fig.add_annotation(x=marker_step, xref="x", y=1, yref="y domain", text=f"replay: step {marker_step}",
                           showarrow=False, xanchor="right", yanchor="bottom", font={"size": 11, "color": "#444"})
    fig.update_xaxes(title_text="step", row=len(PANELS), col=1)
    fig.update_yaxes(range=[0, 1.05], row=3, col=1)
    fig.update_layout(height=640, margin={"l": 40, "r": 10, "t": 40, "b": 40}, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.08})
    return fig


def shared_bins(values: list[np.ndarray], n: int = 30) -> dict[str, float]:
    """One set of n bins over every trace's values: overlaid histograms are only comparable bar
    for bar when their bins are the same (plotly picks each trace's own otherwise)."""
    finite = np.concatenate([np.ravel(np.asarray(v, float)) for v in values]) if values else np.zeros(0)
    finite = finite[np.isfinite(finite)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    size = (hi - lo) / n * (1 + 1e-9) if hi > lo else max(abs(lo), 1.0) / n  # the top value inside the last bin
    return {"start": lo, "end": lo + n * size, "size": size}


def distance_histogram(distances: dict[str, np.ndarray]) -> go.Figure:
    """Distribution of nearest-training-image L1 distances per variant, on shared bins."""
    fig = go.Figure()
    bins = shared_bins(list(distances.values()))
    for variant, d in distances.items():
        fig.add_trace(go.Histogram(x=d, name=operators.label(variant), opacity=0.6,
                                   marker_color=operators.colour(variant), xbins=bins))
    fig.update_layout(barmode="overlay", height=300, margin={"l": 40, "r": 10, "t": 30, "b": 40},
                      xaxis_title="L1 distance to the nearest training image",
                      yaxis_title="samples")
    return fig


def heatmap(values: np.ndarray, title: str, colorscale: str = "Greys_r", text: bool = False,
            limit: float | None = None) -> go.Figure:
    """A small matrix as a heatmap (operator explainer), rows top to bottom like an image, in a
    thin frame (white pixels at its edge stay visible). A signed map ("RdBu") is white at 0 and
    has a colour bar; `limit`: its scale from -limit to +limit, shared by maps that are compared."""
    signed = colorscale == "RdBu"
    scale = {"zmin": -limit, "zmax": limit} if limit is not None else {"zmid": 0} if signed else {}
    fig = go.Figure(go.Heatmap(z=values, colorscale=colorscale, showscale=signed, colorbar={"thickness": 10}, **scale,
                               text=values if text else None, texttemplate="%{text}" if text else None))
    frame = {"showline": True, "mirror": True, "linecolor": "#999", "showgrid": False, "zeroline": False,
             "constrain": "domain"}  # the frame hugs the map, not the square plot area
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, **frame)
    fig.update_xaxes(showticklabels=False, **frame)
    fig.update_layout(title=title, height=260, margin={"l": 5, "r": 5, "t": 35, "b": 5})
    return fig


MAP_COLUMNS, MAP_PX = 3, 280  # spectrum-ratio maps per row, and each map's height in pixels


def ratio_map_figure(maps: dict[str, np.ndarray]) -> go.Figure:
    """Spectrum-ratio maps log10(P_generated / P_real) side by side, on one diverging scale
    centred on 0 (white: as real; red: more power than real). Frequencies from the centre; the
    corners are (pi, pi), the checkerboard; the edges are the Nyquist lines."""
    # long operator names: wrapped, at most MAP_COLUMNS maps a row, or the titles run into each other
    titles = ["<br>".join(textwrap.wrap(t, 26)) for t in maps]
    cols = min(len(maps), MAP_COLUMNS)
    rows = -(-len(maps) // cols)
    title_px = 24 + 16 * max(t.count("<br>") + 1 for t in titles)
    height = rows * (MAP_PX + title_px) + 10
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.08,
                        vertical_spacing=title_px / height if rows > 1 else 0.0)
    fig.update_annotations(font_size=13)
    half = next(iter(maps.values())).shape[0] // 2
    limit = max(float(np.nanmax(np.abs(m))) for m in maps.values()) or 1.0
    for i, m in enumerate(maps.values()):
        row, col = divmod(i, cols)
        fig.add_trace(go.Heatmap(z=m, coloraxis="coloraxis", x=np.arange(-half, half), y=np.arange(-half, half),
                                 hovertemplate="fy %{y}, fx %{x}<br>log10 ratio %{z:.2f}<extra></extra>"),
                      row=row + 1, col=col + 1)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", constrain="domain",
                         row=row + 1, col=col + 1)
    fig.update_xaxes(constrain="domain")  # each map keeps its square, and its axes only its frequencies
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": title_px, "b": 10},
                      coloraxis={"colorscale": "RdBu_r", "cmid": 0, "cmin": -limit, "cmax": limit,
                                 "colorbar": {"title": "log10<br>gen/real"}})
    return fig


def profile_figure(profiles: dict[str, np.ndarray]) -> go.Figure:
    """Radial power of each operator's samples over that of real images (1 = as real), by
    operator name; ticks at powers of 2, so a doubling reads as one step."""
    fig = go.Figure()
    for variant, p in profiles.items():
        fig.add_trace(go.Scatter(x=np.arange(1, len(p)), y=p[1:], name=operators.label(variant), mode="lines+markers",
                                 line={"color": operators.colour(variant)}, marker={"size": 4}))
    fig.add_hline(y=1, line_dash="dot", line_color="#888")
    # a log axis places annotations by log10(y): 0 is the line at 1
    fig.add_annotation(x=0, xref="x domain", y=0, yref="y", text="real", showarrow=False, xanchor="left",
                       yanchor="bottom", font={"color": "#666"})
    fig.update_layout(height=300, yaxis={"type": "log", "dtick": float(np.log10(2)), "tickformat": ".3~g"},
                      yaxis_title="power, generated / real",
                      xaxis_title="spatial frequency (FFT bins from the centre; 14 = period 2)",
                      margin={"l": 40, "r": 10, "t": 20, "b": 40})
    return fig


def _band_colour(hex_colour: str, alpha: float = 0.18) -> str:
    r, g, b = (int(hex_colour.lstrip("#")[k:k + 2], 16) for k in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def over_training_figure(runs: list, title: str, reference: float | None = None) -> go.Figure:
    """Each operator's median over seeds, in a band from its lowest to its highest seed, on log
    axes; every seed's own value is in the hover. `runs`: (variant, seed, steps, values)."""
    fig = go.Figure()
    by_variant: dict[str, list] = {}
    for variant, seed, steps, values in runs:
        by_variant.setdefault(variant, []).append((seed, np.maximum(np.asarray(steps), 1), np.asarray(values)))
    for variant in sorted(by_variant, key=operators.order):
        seeds = by_variant[variant]
        steps = min((s for _, s, _ in seeds), key=len)  # runs of one recipe share their steps
        grid = np.stack([v[np.searchsorted(s, steps).clip(0, len(s) - 1)] for _, s, v in seeds])
        colour, label = operators.colour(variant), operators.label(variant)
        hover = ["<br>".join(f"seed {seed}: {number(float(x))}" for (seed, _, _), x in zip(seeds, col))
                 for col in grid.T]
        if len(seeds) > 1:
            fig.add_trace(go.Scatter(x=np.concatenate([steps, steps[::-1]]),
                                     y=np.concatenate([grid.max(axis=0), grid.min(axis=0)[::-1]]),
                                     fill="toself", fillcolor=_band_colour(colour), line={"width": 0},
                                     hoverinfo="skip", showlegend=False, legendgroup=variant))
        fig.add_trace(go.Scatter(
            x=steps, y=np.median(grid, axis=0), mode="lines+markers", legendgroup=variant,
            name=f"{label} ({len(seeds)} seed{'s' * (len(seeds) > 1)})", line={"color": colour},
            marker={"size": 4}, customdata=hover,
            hovertemplate=f"<b>{label}</b>, step %{{x}}<br>median %{{y:,.3r}}<br>%{{customdata}}<extra></extra>"))
    if reference is not None:
        fig.add_hline(y=reference, line_dash="dot", line_color="#888", annotation_text="real")
    fig.update_layout(height=340, xaxis_type="log", xaxis_title="step (step 0 drawn at 1)", yaxis_title=title,
                      yaxis_type="log", yaxis_tickformat="~r", legend={"orientation": "h", "y": -0.25},
                      margin={"l": 40, "r": 10, "t": 20, "b": 40})
    return fig


MOMENT_NAMES = {"final": "final generators"}


def forest_figure(rows: list[dict], measure: str = "corner") -> go.Figure:
    """The paired answer at a glance: per operator and moment, its ratio to the baseline with the
    95% interval on a log axis, the line of no difference at 1, seeds and agreement. Rows whose
    interval excludes 1 are drawn solid, the others hollow and grey. Each operator's name heads
    its rows inside the plot, so that the axis keeps only the moments and a phone's width goes
    to the intervals. `rows`: verdict_table rows."""
    chosen = [r for r in rows if r["measure"] == measure]
    fig, ticks, y, last = go.Figure(), {}, -1, None
    for r in chosen:
        if r["operator"] != last:  # a heading row
            y, last = y + 1, r["operator"]
            fig.add_annotation(x=0, xref="paper", y=y, yref="y", xanchor="left", showarrow=False,
                               text=f"<b>{operators.label(last)}</b>", font={"size": 12, "color": "#333"})
        y += 1
        moment = MOMENT_NAMES.get(r["moment"], r["moment"])
        ticks[y] = moment
        colour = operators.colour(r["operator"]) if r["differs"] else "#9a9a9a"
        mean, low, high = (float(np.exp(r[k])) for k in ("mean", "low", "high"))
        n = len(r["seeds"])
        text = f"{_ratio(mean)}x [{_ratio(low)}, {_ratio(high)}] · {r['agree']} of {n} agree" if n > 1 \
            else f"{_ratio(mean)}x · 1 seed, no interval"
        fig.add_trace(go.Scatter(
            x=[mean], y=[y], mode="markers+text", text=[text], textposition="top center",
            textfont={"size": 11, "color": "#333" if r["differs"] else "#888"},
            marker={"size": 11, "color": colour if r["differs"] else "white", "line": {"color": colour, "width": 2},
                    "symbol": "diamond"},
            error_x={"type": "data", "symmetric": False, "array": [high - mean], "arrayminus": [mean - low],
                     "color": colour, "thickness": 2, "width": 6},
            showlegend=False,
            hovertemplate=f"<b>{operators.label(r['operator'])}: {moment}</b><br>{text}<extra></extra>"))
    fig.add_vline(x=1, line_dash="dash", line_color="#555")
    baseline = operators.label(chosen[0]["baseline"]) if chosen else "baseline"
    fig.update_layout(height=100 + 40 * (y + 1),
                      xaxis=_decades([float(np.exp(r["mean"])) for r in chosen],
                                     [float(np.exp(r[k])) for r in chosen for k in ("low", "high")]),
                      xaxis_title=f"(pi, pi) power / {baseline}'s, same seed, 95% interval; 1: no difference",
                      yaxis={"range": [y + 0.6, -0.6], "tickvals": list(ticks), "ticktext": list(ticks.values()),
                             "showgrid": False, "zeroline": False, "automargin": True},
                      margin={"l": 10, "r": 20, "t": 20, "b": 50})
    return fig


def _ratio(x: float) -> str:
    """A ratio to two digits (0.0053, 28,000); below a thousandth, where a reader would count
    zeros, its bound."""
    return number(x, 2) if x >= 1e-3 else "<0.001"


def _decades(means: list[float], ends: list[float], reach: float = 3.0, most_ticks: int = 9) -> dict:
    """A log axis over the means, 1 and the intervals' `ends`, ticked at powers of ten (sparser
    where there are many). An interval reaching more than `reach` decades beyond the outermost
    mean (two seeds' 10^-13 to 10^8) runs off the axis, its numbers in its label, so that it does
    not squeeze every other row into a sliver."""
    def log10s(values: list[float]) -> np.ndarray:
        return np.log10([v for v in values if np.isfinite(v) and v > 0] + [1.0])
    centre, ends = log10s(means), log10s(ends)
    lo, hi = max(ends.min(), centre.min() - reach), min(ends.max(), centre.max() + reach)
    step = max(1, int(np.ceil((np.ceil(hi) - np.floor(lo)) / most_ticks)))
    ks = [k for k in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) if k % step == 0]
    return {"type": "log", "range": [lo - 0.25, hi + 0.25], "tickvals": [10.0**k for k in ks],
            "ticktext": [number(10.0**k) for k in ks]}


def mean_spectra(study: "Study") -> dict[str, tuple[int, np.ndarray]]:
    """Per variant: how many seeds, and their samples' power spectrum averaged over them."""
    by_variant: dict[str, list] = {}
    for r in study.runs:
        by_variant.setdefault(r.variant, []).append(r.spectrum)
    return {v: (len(s), np.mean(s, axis=0)) for v, s in by_variant.items()}


def ratio_maps(study: "Study") -> dict[str, np.ndarray]:
    """Each variant's spectrum-ratio map log10(P_generated / P_real), labelled with its seed count
    (the page's chart and the docs' picture)."""
    return {f"{operators.label(v)} ({'1 seed' if n == 1 else f'{n} seeds'})": ratio_map(s, study.real_spectrum)
            for v, (n, s) in mean_spectra(study).items()}


def study_figures(study: "Study") -> dict[str, go.Figure]:
    """The analysis charts, shared by the dashboard and the report."""
    spectra = mean_spectra(study)
    real_profile = radial_profile(study.real_spectrum)
    figures = {
        "forest": forest_figure(verdict_table(study)),
        "ratio_maps": ratio_map_figure(ratio_maps(study)),
        "profiles": profile_figure({v: radial_profile(s) / real_profile for v, (_, s) in spectra.items()}),
        "corner_over_training": over_training_figure(
            [(r.variant, r.seed, r.timeline_steps, np.exp(r.timeline_corner)) for r in study.runs],
            "power at (pi, pi), generated / real", reference=1.0),
    }
    if study.has_held_out:
        dist = {"held-out real": study.runs[0].copy.held_out}
        first = {}  # each variant's lowest seed (runs are sorted by variant, then seed)
        for r in study.runs:
            first.setdefault(r.variant, r)
        dist.update({f"{v} seed {r.seed}": r.copy.generated for v, r in first.items()})
        figures["copying"] = copy_figure(dist)
    return figures


def copy_figure(distances: dict[str, np.ndarray]) -> go.Figure:
    """Nearest-training distances: samples of each variant against held-out real images, on shared bins."""
    fig = go.Figure()
    bins = shared_bins(list(distances.values()))
    for name, d in distances.items():
        fig.add_trace(go.Histogram(x=d, name=name, opacity=0.55, histnorm="probability", xbins=bins,
                                   marker_color=operators.colour(name.split()[0])))
    fig.update_layout(barmode="overlay", height=300, xaxis_title="L1 to nearest training image",
                      yaxis_title="share", margin={"l": 40, "r": 10, "t": 20, "b": 40})
    return fig
