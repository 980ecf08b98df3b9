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
                marker_step: int | None = None) -> go.Figure:
    """Both variants' curves, one panel per quantity, shared axes so variants compare directly."""
    fig = make_subplots(rows=len(PANELS), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[title for title, _ in PANELS])
    for row, (_, metrics) in enumerate(PANELS, start=1):
        for variant, history in histories.items():
            for metric, dash in metrics:
                y = smooth(history[metric], smoothing)
                fig.add_trace(go.Scatter(
                    x=np.arange(1, len(y) + 1), y=y, mode="lines", line={"color": COLORS.get(variant), "dash": dash},
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
