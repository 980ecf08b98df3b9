"""Plotly figures shared by the dashboard and the exported report."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ganviz.config import VARIANT_LABELS

COLORS = {"upsample": "#1f77b4", "transpose": "#d62728"}
PANELS = (  # (title, [(metric, line style)])
    ("Discriminator loss", [("d_loss", "solid"), ("d_loss_real", "dot"), ("d_loss_fake", "dash")]),
    ("Generator loss", [("g_loss", "solid")]),
    ("Discriminator accuracy", [("d_acc_real", "dot"), ("d_acc_fake", "dash")]),
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
    """Both variants' curves, one panel per quantity, shared axes so variants compare directly.

    `max_points` keeps every k-th step of the smoothed curves (and the last): a live chart
    redrawn every few seconds stays the same small message however long the run."""
    fig = make_subplots(rows=len(PANELS), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[title for title, _ in PANELS])
    for row, (_, metrics) in enumerate(PANELS, start=1):
        for variant, history in histories.items():
            for metric, dash in metrics:
                y = smooth(history[metric], smoothing)
                x = np.arange(1, len(y) + 1)
                if max_points and len(y) > max_points:
                    keep = np.unique(np.r_[np.arange(0, len(y), -(-len(y) // max_points)), len(y) - 1])
                    x, y = x[keep], y[keep]
                fig.add_trace(go.Scatter(
                    x=x, y=y, mode="lines", line={"color": COLORS.get(variant), "dash": dash},
                    name=f"{variant}: {metric}", legendgroup=variant,
                    hovertemplate=f"{variant} {metric}<br>step %{{x}}<br>%{{y:.4f}}<extra></extra>"), row=row, col=1)
    if marker_step is not None:
        fig.add_vline(x=marker_step, line={"color": "#444", "width": 1, "dash": "dot"})
    fig.update_xaxes(title_text="step", row=len(PANELS), col=1)
    fig.update_yaxes(range=[0, 1.05], row=3, col=1)
    fig.update_layout(height=640, margin={"l": 40, "r": 10, "t": 40, "b": 40}, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.08})
    return fig


def distance_histogram(distances: dict[str, np.ndarray]) -> go.Figure:
    """Distribution of nearest-training-image L1 distances per variant."""
    fig = go.Figure()
    for variant, d in distances.items():
        fig.add_trace(go.Histogram(x=d, name=VARIANT_LABELS.get(variant, variant), opacity=0.6,
                                   marker_color=COLORS.get(variant), nbinsx=30))
    fig.update_layout(barmode="overlay", height=300, margin={"l": 40, "r": 10, "t": 30, "b": 40},
                      xaxis_title="L1 distance to nearest training image (mean |a - b| on [-1, 1])",
                      yaxis_title="samples")
    return fig


def heatmap(values: np.ndarray, title: str, colorscale: str = "Greys_r", text: bool = False) -> go.Figure:
    """A small matrix as a heatmap (operator explainer), rows top to bottom like an image."""
    fig = go.Figure(go.Heatmap(z=values, colorscale=colorscale, showscale=False,
                               text=values if text else None, texttemplate="%{text}" if text else None))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title=title, height=260, margin={"l": 5, "r": 5, "t": 35, "b": 5})
    return fig


def spectrum_figure(spectra: dict[str, np.ndarray]) -> go.Figure:
    """log10 mean power spectra side by side; period-2 frequencies are the corners and edge midpoints."""
    fig = make_subplots(rows=1, cols=len(spectra), subplot_titles=list(spectra), horizontal_spacing=0.03)
    for col, s in enumerate(spectra.values(), start=1):
        fig.add_trace(go.Heatmap(z=np.log10(s + 1e-6), coloraxis="coloraxis",
                                 hovertemplate="fy %{y}, fx %{x}<br>log10 power %{z:.2f}<extra></extra>",
                                 x=np.arange(-14, 14), y=np.arange(-14, 14)), row=1, col=col)
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col)
    fig.update_layout(height=330, coloraxis={"colorscale": "Viridis", "colorbar": {"title": "log10"}},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def profile_figure(profiles: dict[str, np.ndarray]) -> go.Figure:
    fig = go.Figure()
    for name, p in profiles.items():
        variant = name.split()[0]
        fig.add_trace(go.Scatter(x=np.arange(len(p)), y=p, name=name, mode="lines",
                                 line={"color": COLORS.get(variant, "#444"), "dash": "solid" if variant in COLORS else "dot"}))
    fig.update_layout(height=300, yaxis_type="log", xaxis_title="spatial frequency (FFT bins from the centre; 14 = period 2)",
                      yaxis_title="mean power", margin={"l": 40, "r": 10, "t": 20, "b": 40})
    return fig


def timeline_figure(series: list[tuple[str, np.ndarray, np.ndarray]], title: str) -> go.Figure:
    """One line per run: (label 'variant seed', steps, values)."""
    fig = go.Figure()
    for label, steps, values in series:
        variant = label.split()[0]
        fig.add_trace(go.Scatter(x=np.maximum(steps, 1), y=values, name=label, mode="lines+markers",
                                 line={"color": COLORS.get(variant)}, marker={"size": 4}))
    fig.update_layout(height=300, xaxis_type="log", xaxis_title="step (probe batch; step 0 drawn at 1)",
                      yaxis_title=title, margin={"l": 40, "r": 10, "t": 20, "b": 40})
    return fig


def copy_figure(distances: dict[str, np.ndarray]) -> go.Figure:
    """Nearest-training distances: samples of each variant against held-out real images."""
    fig = go.Figure()
    for name, d in distances.items():
        fig.add_trace(go.Histogram(x=d, name=name, opacity=0.55, histnorm="probability", nbinsx=30,
                                   marker_color=COLORS.get(name.split()[0], "#777")))
    fig.update_layout(barmode="overlay", height=300, xaxis_title="L1 to nearest training image",
                      yaxis_title="share", margin={"l": 40, "r": 10, "t": 20, "b": 40})
    return fig
